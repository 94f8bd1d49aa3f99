/**
 * Restore steps 4 and 5: restore in order (rolling back what was applied when one fails), then
 * drop the ways back once everything is applied.
 *
 * @module
 */
import { throwIfAborted } from '../../core/abort.js';
import type { RestoreReport } from '../../contracts/restore-report.js';
import { asError, entryResult, fail, type RestoreRun, succeed, type TargetContexts } from './context.js';
import { RESTORE_PLAN_DEFAULTS } from './options.js';
import { type AppliedEntry, rollbackApplied } from './rollback.js';
import { discardStaged, type VerifiedEntry } from './verify.js';

/** Restore every verified entry in order; on failure roll back what was applied, newest first. */
export async function applyAll(
  run: RestoreRun,
  tc: TargetContexts,
  verified: readonly VerifiedEntry[],
  checks: RestoreReport['checksums'],
): Promise<RestoreReport> {
  const { signal, logger } = run;
  const applied: AppliedEntry[] = [];
  for (let i = 0; i < verified.length; i++) {
    const v = verified[i] as VerifiedEntry;
    const t1 = performance.now();
    try {
      throwIfAborted(signal);
      logger.info('restoring', { source: v.entry.name, target: v.target.name });
      const journal = run.opts.journal;
      const ctx = tc.ctxFor(v.target);
      const output = await v.target.restore(
        { ...tc.inputOf(v.entry), verified: v.report },
        journal ? { ...ctx, restoreJournal: journal.forTarget(v.target, v.entry) } : ctx,
      );
      applied.push({ v, output, ms: performance.now() - t1 });
      await journal?.applied(v.target, v.entry, output);
    } catch (e) {
      const error = asError(e);
      logger.error('restore failed; rolling back', { source: v.entry.name, error: error.message });
      const rolled = await rollbackApplied(run, tc, applied);
      run.entries.push(...rolled);
      // This entry's own staged work too: its restore may have failed before taking it over.
      await discardStaged(run, tc, verified.slice(i));
      run.entries.push(entryResult(v.entry, v.target, 'failed', performance.now() - t1, { error }));
      for (const rest of verified.slice(i + 1)) run.entries.push(entryResult(rest.entry, rest.target, 'not-run', 0));
      if (signal.aborted) throw signal.reason;
      const stuck = rolled.filter((r) => r.status === 'rollback-failed');
      return fail(
        run,
        stuck.length
          ? `restore failed and ${stuck.length} target(s) could not be rolled back — see safety copies: ${stuck.map((s) => s.output?.safetyCopy ?? s.name).join(', ')}`
          : 'restore failed; every applied target was rolled back',
        checks,
      );
    }
  }
  await finalizeApplied(run, tc, applied);
  return succeed(run, checks);
}

/** Step 5: all applied, drop the ways back. A failure here leaves an extra copy, not a broken restore. */
async function finalizeApplied(run: RestoreRun, tc: TargetContexts, applied: readonly AppliedEntry[]): Promise<void> {
  const finalize = run.opts.finalize ?? RESTORE_PLAN_DEFAULTS.finalize;
  for (const a of applied) {
    try {
      if (finalize !== false) await a.v.target.finalize?.(a.output, tc.ctxFor(a.v.target));
    } catch (e) {
      run.logger.warn('finalize failed; a safety copy may remain', {
        source: a.v.entry.name,
        safetyCopy: a.output.safetyCopy,
        error: (e as Error).message,
      });
    }
    run.entries.push(
      entryResult(a.v.entry, a.v.target, 'restored', a.ms, { verification: a.v.report, output: a.output }),
    );
  }
}
