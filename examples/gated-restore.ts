/**
 * Restore an Immich database from the newest Duplicati version at or before a date, through the
 * six-gate checklist: dry run first, then the real restore with Immich's queues paused and the
 * server container stopped; the plan-B database is kept until you drop it.
 *
 *   DUPLICATI_PASSWORD_FILE=/run/secrets/duplicati IMMICH_API_KEY=… \
 *     node --import tsx examples/gated-restore.ts 2026-11-20T00:00Z
 */
import { DuplicatiClient } from 'duplicati-kit/duplicati';
import { ImmichClient, ImmichDatabaseTarget } from 'duplicati-kit/immich';
import { dropRestorePoints, restoreWithChecklist } from 'duplicati-kit/ops';

const [time = new Date().toISOString(), confirm] = process.argv.slice(2);
const ctl = new AbortController();
process.once('SIGINT', () => ctl.abort(new Error('interrupted')));

const connection = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'immich' };
const targets = [new ImmichDatabaseTarget({ connection })];
const options = {
  duplicati: { client: DuplicatiClient.fromEnv(process.env), job: 'Immich', time },
  targets,
  stateDir: '/var/lib/duplicati-kit/restores',
  maintenance: {
    immich: new ImmichClient({ baseUrl: 'http://127.0.0.1:2283', apiKey: process.env.IMMICH_API_KEY ?? '' }),
    stop: [['docker', 'stop', 'immich_server', 'immich_machine_learning'] as [string, ...string[]]],
    start: [['docker', 'start', 'immich_server', 'immich_machine_learning'] as [string, ...string[]]],
  },
  signal: ctl.signal,
};

const dry = await restoreWithChecklist({ ...options, dryRun: true });
for (const g of dry.gates)
  process.stderr.write(`${g.number} ${g.title}: ${g.status}${g.reason ? ` — ${g.reason}` : ''}\n`);
if (!dry.ok || confirm !== '--yes') process.exit(dry.ok ? 0 : 1);

const done = await restoreWithChecklist(options);
for (const g of done.gates)
  process.stderr.write(`${g.number} ${g.title}: ${g.status}${g.reason ? ` — ${g.reason}` : ''}\n`);
process.stderr.write(`services started again: ${done.services.restarted}\n`);
if (done.ok && done.record && process.env.DROP_PLAN_B === '1') {
  // Only once Immich works on the restored database: drop <db>_before_restore_<ts>.
  await dropRestorePoints({
    stateDir: options.stateDir,
    id: done.record.id,
    targets: [new ImmichDatabaseTarget({ connection, keepSafetyCopy: false })],
  });
}
process.exitCode = done.ok ? 0 : 1;
