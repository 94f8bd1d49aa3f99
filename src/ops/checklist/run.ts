/**
 * The checklist restore's runner: validates the options, runs the gates in the order 1, 2, 4, 5,
 * 3, 6, always starts services again, tells whoever was warned how it ended, and builds the report.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import { configErrorFrom } from '../../core/validate.js';
import { checkMaintenanceOptions, type MaintenanceLog } from '../maintenance.js';
import { notifyAll } from '../notify.js';
import { identifyGate } from './gate-1-identify.js';
import { verifyGate } from './gate-2-verify.js';
import { maintenanceGate } from './gate-3-maintenance.js';
import { wayBackGate } from './gate-4-way-back.js';
import { warnGate } from './gate-5-warn.js';
import { restoreGate } from './gate-6-restore.js';
import { optionsSchema } from './options.js';
import { withHistory } from '../restore-points.js';
import { type ChecklistState, createChecklistState, gateOut, saveRecord, skipRest } from './state.js';
import { CHECKLIST_GATES, type ChecklistReport, type ChecklistRestoreOptions, type GateId } from './types.js';

/** The order the gates run in: the way back is proven and users warned before anything stops. */
const RUN_ORDER: readonly GateId[] = ['identify', 'verify', 'record', 'warn', 'maintenance', 'restore'];

/**
 * Restore through the six-gate checklist (see the module description). Never throws for a
 * failed gate: the report says which gate failed and why; invalid options throw a ConfigError
 * and a caller's abort is rethrown (after services are started again).
 *
 * @example
 * ```ts
 * import { DuplicatiClient } from 'duplicati-kit/duplicati';
 * import { PostgresTarget } from 'duplicati-kit';
 * import { restoreWithChecklist } from 'duplicati-kit/ops';
 *
 * const report = await restoreWithChecklist({
 *   duplicati: { client: new DuplicatiClient({ baseUrl, auth }), job: 'Home server', time: '2026-11-20T00:00Z' },
 *   targets: [new PostgresTarget({ connection: { url: 'postgres://postgres@127.0.0.1/app' } })],
 *   stateDir: '/var/lib/duplicati-kit/restores',
 *   maintenance: { stop: [['systemctl', 'stop', 'app']], start: [['systemctl', 'start', 'app']] },
 * });
 * for (const g of report.gates) console.log(g.number, g.status, g.reason ?? '');
 * // later: rollbackRestore({ stateDir, id: report.record!.id, targets }) or dropRestorePoints(...)
 * ```
 */
export async function restoreWithChecklist(options: ChecklistRestoreOptions): Promise<ChecklistReport> {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) throw configErrorFrom('invalid checklist restore options', parsed.error);
  if (options.maintenance) checkMaintenanceOptions(options.maintenance, 'maintenance');
  const state = createChecklistState(options, performance.now());
  try {
    await runGates(state);
  } catch (e) {
    // Only the caller's abort gets here; the restore plan rolled back whatever it had applied.
    const rec = state.record;
    if (rec?.status === 'pending') {
      await saveRecord(
        state,
        withHistory(rec, 'failed', 'aborted by the caller; anything applied was rolled back'),
      ).catch((w: unknown) => state.logger.error('could not update the restore record', { error: String(w) }));
    }
    throw e;
  } finally {
    await closeRun(state);
  }
  await notifyOutcome(state);
  return finish(state);
}

/** Gates 1, 2, 4, 5, 3, 6; a failed gate ends the run (gate 5 never fails it). */
async function runGates(state: ChecklistState): Promise<void> {
  if (!(await identifyGate(state))) return;
  if (!(await verifyGate(state))) return;
  if (!(await wayBackGate(state))) return;
  await warnGate(state);
  if (!(await maintenanceGate(state))) return;
  await restoreGate(state);
}

/** Start services again and remove the staged copy, whatever happened. */
async function closeRun(state: ChecklistState): Promise<void> {
  const { logger, runDir } = state;
  if (state.window) {
    const log = await state.window.close();
    state.servicesLog = log;
    const started = log.started.every((c) => c.ok) && log.queuesResumed !== false;
    const m = state.drafts.get('maintenance');
    if (m && !started) m.warnings.push('some services could not be started again: see services.log');
  }
  if (runDir && !state.options.keepStaging) {
    await fsp
      .rm(runDir, { recursive: true, force: true })
      .catch((e: unknown) => logger.warn('could not remove the staging folder', { dir: runDir, error: String(e) }));
  }
  await state.stateLock
    ?.release()
    .catch((e: unknown) => logger.warn('could not release the state folder lock', { error: String(e) }));
}

/** Whoever was warned hears how it ended. */
async function notifyOutcome(state: ChecklistState): Promise<void> {
  const { notified, job } = state;
  const restoreGate = state.drafts.get('restore');
  if (state.dryRun || !notified.some((n) => n.ok) || !restoreGate || restoreGate.ranAs === null) return;
  const ok = restoreGate.status === 'passed';
  const rec = state.record;
  notified.push(
    ...(await notifyAll(
      state.options.notifiers ?? [],
      {
        kind: ok ? 'success' : 'failure',
        title: ok ? 'Restore finished' : 'Restore failed',
        message: [
          ok
            ? 'The restore finished and was verified.'
            : `The restore failed: ${restoreGate.reason ?? 'see the report'}`,
          ...(rec ? [`Restore point: ${rec.id} (${rec.status})`] : []),
        ].join('\n'),
        durationMs: Math.round(performance.now() - state.t0),
        ...(job ? { job: job.name } : {}),
      },
      { logger: state.logger },
    )),
  );
}

/** The report: gates after the failed one are skipped because of it. */
function finish(state: ChecklistState): ChecklistReport {
  const failedAt = RUN_ORDER.find((id) => state.drafts.get(id)?.status === 'failed');
  if (failedAt) skipRest(state, RUN_ORDER, `gate ${CHECKLIST_GATES.find((g) => g.id === failedAt)?.number} failed`);
  const gates = CHECKLIST_GATES.map((g) => gateOut(state, g.id));
  const ok = !gates.some((g) => g.status === 'failed');
  const log: MaintenanceLog | null = state.servicesLog;
  const stopped = log !== null && (log.stopped.length > 0 || log.pausedQueues.length > 0);
  const { record: rec, recordFile, manifest: m } = state;
  return {
    ok,
    dryRun: state.dryRun,
    gates,
    backup: {
      job: state.job,
      version: state.versionNo,
      versionTime: state.versionTime,
      from: state.from,
      manifest: m ? { host: m.host, startedAt: m.startedAt, sources: m.sources.map((s) => s.name) } : null,
    },
    verification: state.verification,
    restore: state.restore,
    record: rec && recordFile ? { id: rec.id, file: recordFile, status: rec.status } : null,
    services: {
      stopped,
      restarted: log && stopped ? log.started.every((c) => c.ok) && log.queuesResumed !== false : null,
      log,
    },
    rolledBack: state.rolledBack,
    notified: state.notified,
    durationMs: Math.round(performance.now() - state.t0),
  };
}
