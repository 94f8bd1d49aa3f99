/**
 * Declare the three Duplicati jobs of a home server's 3-2-1 plan as code and apply them:
 *
 * - Immich database: daily at 02:00, kept 14 days (the dumps a before-hook writes).
 * - Immich files: daily at 03:00, kept 30 days, encrypted, off-site.
 * - Configurations: weekly on Sunday at 04:00, kept 90 days.
 *
 * Run it with `DUPLICATI_URL`, `DUPLICATI_PASSWORD_FILE` (or `DUPLICATI_PASSWORD`), and for the
 * off-site copy `OFFSITE_URL` and `OFFSITE_PASSPHRASE_FILE`. `--dry-run` only prints the diff.
 * Running it twice changes nothing the second time.
 *
 *   node --import tsx examples/seed-schedule.ts --dry-run
 */
import { readFile } from 'node:fs/promises';
import { DuplicatiClient, type JobSpec } from 'duplicati-kit/duplicati';

const env = process.env;
const dryRun = process.argv.includes('--dry-run');
const staging = env.STAGING_DIR ?? '/srv/backup/staging/';
const hook = env.HOOK_PATH ?? '/usr/local/bin/duplicati-kit-hook';

async function secretFrom(file: string | undefined, name: string): Promise<string> {
  if (!file) throw new Error(`${name} is not set`);
  return (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
}

const jobs: JobSpec[] = [
  {
    name: 'Immich database',
    description: 'pg_dump of the Immich database, written by the before-hook',
    sources: [`${staging}immich-db/`],
    target: env.LOCAL_TARGET_DB ?? 'file:///mnt/backup/immich-db',
    passphrase: null,
    schedule: { time: '02:00', repeat: '1D' },
    retention: { keepTime: '14D' },
    hooks: { beforeRequired: hook, after: hook, timeout: '30m' },
  },
  {
    name: 'Immich files',
    description: 'photo library and uploads, encrypted off-site',
    sources: ['/srv/immich/library/'],
    target: env.OFFSITE_URL ?? 'ssh://backup@offsite.example/immich-files',
    passphrase: await secretFrom(env.OFFSITE_PASSPHRASE_FILE, 'OFFSITE_PASSPHRASE_FILE'),
    schedule: { time: '03:00', repeat: '1D' },
    retention: { keepTime: '30D' },
    filters: [
      { include: false, expression: '*/thumbs/*' },
      { include: false, expression: '*/encoded-video/*' },
    ],
    options: { 'dblock-size': '100mb' },
  },
  {
    name: 'Configurations',
    description: 'Nginx, TLS certificates, Jellyfin and Immich configuration',
    sources: ['/etc/nginx/', '/etc/letsencrypt/', '/etc/jellyfin/', `${staging}configs/`],
    target: env.LOCAL_TARGET_CONFIG ?? 'file:///mnt/backup/configs',
    passphrase: null,
    schedule: { time: '04:00', repeat: '1W', days: ['sun'] },
    retention: { keepTime: '90D' },
    hooks: { before: hook, after: hook },
  },
];

const dup = DuplicatiClient.fromEnv(env);
for (const result of await dup.jobs.applyAll(jobs, { dryRun })) {
  process.stderr.write(`${result.action.padEnd(9)} ${result.name}${result.id ? ` (#${result.id})` : ''}\n`);
  for (const c of result.changes) process.stderr.write(`  ${c.field}: ${c.before ?? '∅'} -> ${c.after ?? '∅'}\n`);
  for (const m of result.maskedKept) process.stderr.write(`  ${m}: kept as stored (the server masks it)\n`);
}
