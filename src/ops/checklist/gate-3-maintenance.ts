/**
 * Gate 3 (runs after 4 and 5): the maintenance window — pause Immich's queues, stop Jellyfin and
 * other services. The runner closes the window (starts everything again) in a `finally`.
 *
 * @module
 */
import { MaintenanceError, openMaintenanceWindow } from '../maintenance.js';
import { withHistory } from '../restore-points.js';
import { type ChecklistState, type GateDraft, runGate, saveRecord } from './state.js';

/** Run gate 3; false when it failed (then the pending record is marked failed). */
export async function maintenanceGate(state: ChecklistState): Promise<boolean> {
  const ok = await runGate(state, 'maintenance', async (g) => {
    if (!state.hasMaintenance) {
      g.status = 'skipped';
      g.reason = 'no maintenance configured (no Immich API, Jellyfin or stop/start commands)';
      return;
    }
    if (state.dryRun) {
      describeWindow(state, g);
      return;
    }
    try {
      state.window = await openMaintenanceWindow(
        { ...state.maintenance, logger: state.logger },
        { signal: state.signal },
      );
    } catch (e) {
      if (e instanceof MaintenanceError) state.servicesLog = e.log;
      throw e;
    }
    const log = state.window.log;
    if (log.pausedQueues.length) g.evidence.push(`paused Immich queues: ${log.pausedQueues.join(', ')}`);
    for (const c of log.stopped)
      g.evidence.push(`ran ${c.argv.join(' ')} (exit ${c.exitCode}, ${Math.round(c.durationMs)} ms)`);
  });
  if (!ok && state.record) {
    await saveRecord(
      state,
      withHistory(state.record, 'failed', 'maintenance window could not be opened; nothing restored'),
    );
  }
  return ok;
}

/** A dry run's gate 3: what would be stopped, and started again afterwards. */
function describeWindow(state: ChecklistState, g: GateDraft): void {
  const { maintenance } = state;
  const describe = [
    ...(maintenance.immich ? ['pause the Immich job queues'] : []),
    ...(maintenance.jellyfin?.stop ? [`stop Jellyfin: ${maintenance.jellyfin.stop.join(' ')}`] : []),
    ...(maintenance.stop ?? []).map((c) => `stop: ${c.join(' ')}`),
  ];
  g.status = 'would-run';
  g.reason = describe.join('; ') || 'nothing to stop';
  g.evidence.push(
    ...[...(maintenance.start ?? []), ...(maintenance.jellyfin?.start ? [maintenance.jellyfin.start] : [])].map(
      (c) => `afterwards start: ${c.join(' ')}`,
    ),
    ...(maintenance.immich ? ['afterwards resume the Immich queues'] : []),
  );
}
