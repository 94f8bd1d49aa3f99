/**
 * Restore step 4's plan B: roll back the targets already applied, newest first.
 *
 * @module
 */
import { RestoreError } from '../../core/errors.js';
import type { EntryResult } from '../../contracts/restore-report.js';
import type { RestoreOutput } from '../../contracts/types.js';
import { asError, entryResult, type RestoreRun, type TargetContexts } from './context.js';
import type { VerifiedEntry } from './verify.js';

/** A target that restored its entry, with its way back. */
export interface AppliedEntry {
  readonly v: VerifiedEntry;
  readonly output: RestoreOutput;
  readonly ms: number;
}

/**
 * Roll back every applied target, newest first — even when the caller aborted: a half-applied
 * restore is the worst outcome. Returns the outcomes in apply order; never throws.
 */
export async function rollbackApplied(
  run: RestoreRun,
  tc: TargetContexts,
  applied: readonly AppliedEntry[],
): Promise<EntryResult[]> {
  const rolled: EntryResult[] = [];
  for (const a of [...applied].reverse()) {
    try {
      if (!a.v.target.rollback)
        throw new RestoreError('target cannot roll back', {
          source: a.v.entry.name,
          kind: a.v.entry.kind,
          phase: 'rollback',
        });
      await a.v.target.rollback(a.output, tc.cleanupCtxFor(a.v.target));
      rolled.push(entryResult(a.v.entry, a.v.target, 'rolled-back', a.ms, { output: a.output }));
    } catch (re) {
      run.logger.error('rollback failed; manual action needed', {
        source: a.v.entry.name,
        safetyCopy: a.output.safetyCopy,
        error: (re as Error).message,
      });
      rolled.push(
        entryResult(a.v.entry, a.v.target, 'rollback-failed', a.ms, { output: a.output, error: asError(re) }),
      );
    }
  }
  return rolled.reverse();
}
