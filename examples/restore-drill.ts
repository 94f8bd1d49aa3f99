/**
 * A monthly restore drill: have Duplicati restore the newest version of the staged dumps into a
 * scratch folder, restore the SQLite database into a throwaway copy and the PostgreSQL dump into
 * a throwaway database, compare every checksum and count with the manifest, keep the evidence,
 * and page someone when it fails.
 *
 *   DUPLICATI_PASSWORD_FILE=/run/secrets/duplicati node --import tsx examples/restore-drill.ts "Home server"
 */
import { PostgresTarget, SqliteTarget } from 'duplicati-kit';
import { DuplicatiClient } from 'duplicati-kit/duplicati';
import { NtfyNotifier, restoreDrill } from 'duplicati-kit/ops';

const [job = 'Home server'] = process.argv.slice(2);
const ctl = new AbortController();
process.once('SIGINT', () => ctl.abort(new Error('interrupted')));

const drill = await restoreDrill({
  client: DuplicatiClient.fromEnv(process.env),
  job,
  // The folder the backup plan stages into, as the Duplicati job backs it up.
  workDir: '/srv/backup/staging',
  // Scratch mode: nothing live is touched, even with scratchRestore.
  targets: [
    new SqliteTarget({ source: 'vaultwarden', path: '/srv/vaultwarden/db.sqlite3', scratch: true }),
    new PostgresTarget({ connection: { url: 'postgres://postgres@127.0.0.1:5432/nextcloud' }, scratch: true }),
  ],
  scratchRestore: true,
  scratchDir: '/var/tmp',
  evidenceDir: '/var/lib/duplicati-kit/drills',
  notifiers: [new NtfyNotifier({ url: 'https://ntfy.sh/my-backups' })],
  signal: ctl.signal,
});

process.stderr.write(`drill of ${drill.job.name}, version ${drill.version} (${drill.versionTime}): ${drill.verdict}\n`);
for (const e of drill.errors) process.stderr.write(`  ${e}\n`);
if (drill.files) process.stderr.write(`evidence: ${drill.files.markdown}\n`);
process.exitCode = drill.ok ? 0 : 4;
