/**
 * Put a Jellyfin database back after Duplicati restored the staging folder to /restore/staging.
 *
 * Stop Jellyfin first (`systemctl stop jellyfin`, `docker stop jellyfin`): the target refuses
 * while the API answers or the database is held open. It refuses a snapshot from a newer
 * Jellyfin than the installed one, keeps a safety copy of the current files until everything is
 * verified, and rolls back to it on any failure.
 *
 *   node jellyfin-restore.js 10.11.11
 */
import { createRestorePlan } from 'duplicati-kit';
import { jellyfinTarget } from 'duplicati-kit/jellyfin';

const installedVersion = process.argv[2];
if (!installedVersion) throw new Error('usage: jellyfin-restore <installed Jellyfin version, e.g. 10.11.11>');

const plan = createRestorePlan({
  targets: [
    jellyfinTarget({
      install: 'debian',
      database: { installedVersion, api: { baseUrl: 'http://127.0.0.1:8096' } },
    }),
  ],
});
const report = await plan.run({ from: '/restore/staging', dryRun: process.env.DRY_RUN === '1' });
console.error(JSON.stringify(report, null, 2));
