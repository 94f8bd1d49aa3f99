/**
 * Gate 5 (runs before 3): warn users — the notifiers, and Jellyfin's sessions while Jellyfin can
 * still show them a message. A notifier that fails only warns; this gate never fails the restore.
 *
 * @module
 */
import { notifyAll } from '../notify.js';
import { type ChecklistState, firstLine, type GateDraft, runGate } from './state.js';

/** The warning text: the caller's, or a line naming the backup and the targets. */
export function warningText(state: ChecklistState): string {
  const { job } = state;
  const targetsText = [...new Set(state.routed.map((r) => r.target.name))].join(', ');
  const what = job
    ? `version ${state.versionNo} (${state.versionTime}) of "${job.name}"`
    : `the backup in ${state.from}`;
  return (
    state.options.warning ??
    `A restore of ${what} is starting: ${targetsText} will be replaced and services may be stopped for a while.`
  );
}

/** Run gate 5. */
export function warnGate(state: ChecklistState): Promise<boolean> {
  const { options, dryRun, signal, logger, job } = state;
  const warning = warningText(state);
  return runGate(state, 'warn', async (g) => {
    const notifiers = options.notifiers ?? [];
    if (notifiers.length === 0 && !options.jellyfin) {
      g.status = 'skipped';
      g.reason = 'no notifiers and no Jellyfin API configured';
      return;
    }
    if (dryRun) {
      g.status = 'would-run';
      g.reason = `would tell ${[...notifiers.map((n) => n.name), ...(options.jellyfin ? ['Jellyfin sessions'] : [])].join(', ')}: ${warning}`;
      return;
    }
    const sent = await notifyAll(
      notifiers,
      { kind: 'warning', title: 'Restore starting', message: warning, ...(job ? { job: job.name } : {}) },
      { signal, logger },
    );
    state.notified.push(...sent);
    for (const n of sent) {
      if (n.ok) g.evidence.push(`told ${n.notifier}`);
      else g.warnings.push(`${n.notifier}: ${firstLine(n.error)}`);
    }
    await messageJellyfin(state, g, warning);
  });
}

/** Show the warning on Jellyfin's sessions, when its API is configured; a failure only warns. */
async function messageJellyfin(state: ChecklistState, g: GateDraft, warning: string): Promise<void> {
  const { jellyfin } = state.options;
  if (!jellyfin) return;
  const { signal } = state;
  try {
    const r = await jellyfin.messageSessions({ header: 'Maintenance', text: warning, timeoutMs: 30_000 }, { signal });
    g.evidence.push(`Jellyfin: message shown on ${r.sent} session(s)`);
    for (const f of r.failed) g.warnings.push(`Jellyfin session ${f.session}: ${f.error}`);
  } catch (e) {
    if (signal.aborted) throw e;
    g.warnings.push(`Jellyfin message failed: ${firstLine(e)}`);
  }
}
