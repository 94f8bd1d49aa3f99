/**
 * Back up a small home server with a plan, then prove the backup restores.
 *
 *   node --import tsx examples/home-server-backup.ts /srv/backup/staging
 *
 * Point Duplicati at the work folder plus the printed include paths, and run
 * `duplicati-kit cleanup` (or plan.cleanup()) after the upload.
 */
import {
  ArchiveSource,
  ArchiveTarget,
  createBackupPlan,
  createRestorePlan,
  DirectorySource,
  DirectoryTarget,
  isPlanError,
  SqliteSource,
  SqliteTarget,
  streamLogger,
} from 'duplicati-kit';

const workDir = process.argv[2] ?? '/srv/backup/staging';
const logger = streamLogger({ level: 'info' });
const ctl = new AbortController();
process.once('SIGINT', () => ctl.abort(new Error('interrupted')));

const plan = createBackupPlan({
  workDir,
  logger,
  sources: [
    new SqliteSource({ name: 'vaultwarden', path: '/srv/vaultwarden/db.sqlite3', counts: ['users', 'ciphers'] }),
    new ArchiveSource({ name: 'configs', root: '/etc/homeserver', gzip: true, exclude: ['*.log'] }),
    new DirectorySource({ name: 'photos', paths: ['/srv/photos'], exclude: ['*/.thumbnails/'] }),
  ],
});

try {
  const prepared = await plan.prepare({ signal: ctl.signal });
  console.log('Duplicati should back up:', prepared.backupPaths.join(' '));
  console.log('with filters:', prepared.excludePatterns.join(' '));
} catch (e) {
  if (isPlanError(e)) {
    for (const r of e.results) console.error(r.name, r.ok ? 'ok' : `FAILED: ${r.error?.message}`);
    process.exit(5);
  }
  throw e;
}

// Later, after Duplicati restored the staged folder into /restore/staging and the photos under /restore/files:
const restore = createRestorePlan({
  logger,
  targets: [
    new SqliteTarget({ source: 'vaultwarden', path: '/srv/vaultwarden/db.sqlite3', scratch: true }),
    new ArchiveTarget({ source: 'configs', dest: '/restore/configs' }),
    new DirectoryTarget({ source: 'photos', restoredRoot: '/restore/files' }),
  ],
});
const report = await restore.run({ from: '/restore/staging', dryRun: true, signal: ctl.signal, reject: false });
console.log(
  report.ok ? 'the backup verifies' : 'the backup does NOT verify',
  report.entries.map((e) => `${e.name}: ${e.status}`),
);
