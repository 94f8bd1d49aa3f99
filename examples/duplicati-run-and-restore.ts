/**
 * Run a Duplicati job, report its true outcome, and restore its newest version into a scratch
 * folder (a tiny restore drill).
 *
 *   DUPLICATI_PASSWORD_FILE=/run/secrets/duplicati node --import tsx examples/duplicati-run-and-restore.ts "Immich database" /tmp/drill
 */
import { DuplicatiClient, isDuplicatiError } from 'duplicati-kit/duplicati';

const [jobName = 'Immich database', scratch = '/tmp/duplicati-drill'] = process.argv.slice(2);
const ctl = new AbortController();
process.once('SIGINT', () => ctl.abort(new Error('interrupted')));
const signal = ctl.signal;

const dup = DuplicatiClient.fromEnv(process.env);
try {
  const job = await dup.backups.findByName(jobName, { signal });
  if (!job) throw new Error(`no job named ${jobName}`);

  const run = await dup.backups.runAndWait(job.id, { signal, totalTimeout: 6 * 3_600_000 });
  process.stderr.write(`backup ${jobName}: ${run.result} (task ${run.taskId ?? '?'}, ${run.status})\n`);
  for (const w of run.warnings) process.stderr.write(`  warning: ${w}\n`);
  for (const e of run.errors) process.stderr.write(`  error: ${e}\n`);
  if (run.result === 'Error' || run.result === 'Fatal') process.exit(1);

  const [newest] = await dup.backups.versions(job.id, { signal, withSizes: true });
  process.stderr.write(`newest version: ${newest?.time} (${newest?.fileCount ?? '?'} files)\n`);
  const restore = await dup.backups.restoreAndWait(job.id, { version: 0, to: scratch, signal });
  process.stderr.write(`restore into ${scratch}: ${restore.result}\n`);
  process.exitCode = restore.result === 'Success' ? 0 : 1;
} catch (e) {
  process.stderr.write(`${isDuplicatiError(e) ? `${e.code}: ` : ''}${(e as Error).message}\n`);
  process.exitCode = 1;
}
