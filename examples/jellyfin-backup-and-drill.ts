/**
 * Back up a Jellyfin server (Debian package) into a Duplicati staging folder: consistent online
 * snapshots of its databases while it keeps running, plus the config, metadata, plugins and
 * library definitions for Duplicati to back up directly. Then prove the snapshots restore: a
 * scratch restore into a temporary folder, checked against the manifest's counts. The live
 * server is never stopped and never touched.
 *
 * With JELLYFIN_API_KEY set, the backup records the exact server version, warns while someone is
 * watching something, and waits for a running library scan.
 *
 *   JELLYFIN_API_KEY=… node jellyfin-backup-and-drill.js
 */
import { createBackupPlan, createRestorePlan } from 'duplicati-kit';
import { JellyfinDatabaseTarget, jellyfinSource } from 'duplicati-kit/jellyfin';

const STAGING = '/srv/backup/jellyfin-staging';
const apiKey = process.env.JELLYFIN_API_KEY;

const backup = createBackupPlan({
  workDir: STAGING,
  sources: [
    jellyfinSource({
      install: 'debian', // or { install: 'docker' | 'linuxserver', root: '/srv/jellyfin/config' }
      ...(apiKey ? { api: { baseUrl: 'http://127.0.0.1:8096', apiKey } } : {}),
      whilePlaying: 'warn',
    }),
  ],
});
const prepared = await backup.prepare({
  onProgress: (e) => {
    if (e.unit === 'pages' && e.completed === e.total) console.error(`${e.description}: ${e.total} pages copied`);
  },
});
console.error(`Duplicati should back up: ${prepared.backupPaths.join(', ')}`);
console.error(`and exclude: ${prepared.excludePatterns.join(', ')}`);

// The drill: restore the database part into a temporary folder, verify, delete it.
const drill = createRestorePlan({ targets: [new JellyfinDatabaseTarget({ install: 'debian', scratch: true })] });
const report = await drill.run({ from: STAGING, dryRun: false });
console.error(JSON.stringify(report, null, 2));
