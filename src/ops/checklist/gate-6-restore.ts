/**
 * Gate 6: restore with plan B — the restore plan's automatic rollback on failure; the restore
 * points are kept (unless `finalize`) for a later rollback or drop by hand.
 *
 * @module
 */
import type { RestoreReport } from '../../contracts/restore-report.js';
import type { RecordedTarget, RestoreRecordStatus } from '../restore-points.js';
import { recordOutput, recoverInterruptedRestores, withHistory } from '../restore-points.js';
import { recordJournal } from './journal.js';
import { type ChecklistState, firstLine, GateFailure, planRunBase, runGate, saveRecord } from './state.js';
import type { ChecklistRestoreOptions } from './types.js';

/** Run gate 6; false when it failed. */
export function restoreGate(state: ChecklistState): Promise<boolean> {
  const { options } = state;
  return runGate(state, 'restore', async (g) => {
    if (state.dryRun) {
      g.status = 'would-run';
      g.reason = `would restore ${state.routed.map((r) => `${r.entry} -> ${r.target.name}`).join(', ')}; on failure roll back automatically${options.finalize ? '' : '; keep the restore points for restore-points rollback/drop'}`;
      return;
    }
    await recoverInterrupted(state, g.evidence);
    const report = await state.plan.run({
      ...planRunBase(state),
      dryRun: false,
      reject: false,
      finalize: options.finalize === true,
      verifyTargets: false,
      journal: recordJournal(state),
    });
    state.restore = report;
    const recorded = withWrittenAhead(recordedTargets(report, options), state.record?.targets ?? []);
    for (const e of report.entries) {
      g.evidence.push(
        `${e.name}${e.target ? ` -> ${e.target}` : ''}: ${e.status}${e.output?.safetyCopy ? ` (way back: ${e.output.safetyCopy})` : ''}${e.error ? ` — ${firstLine(e.error)}` : ''}`,
      );
    }
    const stuck = recorded.filter((t) => t.state === 'rollback-failed');
    const status = recordStatus(report, options, stuck.length, recorded.length);
    if (state.record) {
      await saveRecord(state, {
        ...withHistory(
          state.record,
          status,
          report.ok
            ? 'restored'
            : `restore failed; automatic rollback: ${stuck.length ? 'FAILED for some targets' : 'done'}`,
        ),
        targets: recorded,
      });
      g.evidence.push(`restore record ${state.record.id}: ${status}`);
    }
    if (!report.ok) {
      state.rolledBack = stuck.length === 0;
      const failed = report.entries.find((e) => e.status === 'failed');
      throw new GateFailure(
        `${failed ? `${failed.name} failed: ${firstLine(failed.error)}` : 'the restore failed'}; ${stuck.length ? `rollback FAILED for ${stuck.map((t) => `${t.name} (safety copy: ${t.output.safetyCopy ?? 'none'})`).join(', ')}` : 'every applied target was rolled back'}`,
      );
    }
  });
}

/** Roll back what restores a dead process left pending, before anything new is applied. */
async function recoverInterrupted(state: ChecklistState, evidence: string[]): Promise<void> {
  if (state.interrupted.length === 0) return;
  const results = await recoverInterruptedRestores({
    stateDir: state.stateDir,
    targets: state.options.targets,
    lockHeld: true,
    ...(state.record ? { except: state.record.id } : {}),
    signal: state.signal,
    logger: state.logger,
  });
  for (const r of results) evidence.push(`interrupted restore ${r.record.id}: ${r.record.status}`);
  const stuck = results.filter((r) => !r.ok);
  if (stuck.length) {
    throw new GateFailure(
      `interrupted restore ${stuck.map((r) => r.record.id).join(', ')} could not be rolled back (${stuck.flatMap((r) => r.record.targets.filter((t) => t.error).map((t) => `${t.name}: ${t.error}`)).join('; ')}); nothing was restored`,
    );
  }
}

/**
 * Targets that wrote ahead but whose restore then failed: the plan reports them as failed (a
 * failing restore undoes its own step); the record keeps them, rolled back, with their way back.
 */
function withWrittenAhead(recorded: RecordedTarget[], ahead: readonly RecordedTarget[]): RecordedTarget[] {
  const extra = ahead
    .filter((a) => a.state === 'applying' && !recorded.some((r) => r.name === a.name && r.entry === a.entry))
    .map((a): RecordedTarget => ({ ...a, state: 'rolled-back', error: 'its restore failed and undid its own step' }));
  return [...recorded, ...extra];
}

/** The targets the restore record keeps: each applied, rolled back or stuck entry with its way back. */
function recordedTargets(report: RestoreReport, options: ChecklistRestoreOptions): RecordedTarget[] {
  return report.entries
    .filter((e) => e.output && e.target && ['restored', 'rolled-back', 'rollback-failed'].includes(e.status))
    .map((e) => ({
      name: e.target as string,
      kind: options.targets.find((t) => t.name === e.target)?.kind ?? e.kind,
      entry: e.name,
      output: recordOutput(e.output as NonNullable<typeof e.output>),
      state:
        e.status === 'restored'
          ? options.finalize
            ? 'dropped'
            : 'applied'
          : e.status === 'rolled-back'
            ? 'rolled-back'
            : 'rollback-failed',
      ...(e.error ? { error: firstLine(e.error) } : {}),
    }));
}

/** The record's status after the restore. */
function recordStatus(
  report: RestoreReport,
  options: ChecklistRestoreOptions,
  stuck: number,
  recorded: number,
): RestoreRecordStatus {
  if (report.ok) return options.finalize ? 'dropped' : 'applied';
  if (stuck) return 'rollback-failed';
  return recorded ? 'rolled-back' : 'failed';
}
