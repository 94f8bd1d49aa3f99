/**
 * The backup plan's clean-up of its sources: stateless, keyed on the work folder alone, so
 * Duplicati's after-script (another process) can run it.
 *
 * @module
 */
import { throwIfAborted } from '../../core/abort.js';
import { SourceError, type StepResult } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { BackupSource } from '../../contracts/types.js';
import { errorOf, sourceContext } from './context.js';

/** Run every source's `cleanup`; the errors of those that failed (an abort is rethrown). */
export async function cleanupSources(
  sources: readonly BackupSource[],
  base: { workDir: string; logger: Logger },
  signal: AbortSignal,
): Promise<Error[]> {
  const errors: Error[] = [];
  for (const s of sources) {
    if (!s.cleanup) continue;
    try {
      await s.cleanup(sourceContext(s, { workDir: base.workDir, signal, logger: base.logger, dryRun: false }));
    } catch (e) {
      throwIfAborted(signal);
      errors.push(errorOf(e, s, 'cleanup'));
    }
  }
  return errors;
}

/** Clean-up errors as the step results of a PlanError. */
export function cleanupResults(errors: readonly Error[]): StepResult[] {
  return errors.map((e) => ({
    name: e instanceof SourceError ? e.source : 'cleanup',
    kind: e instanceof SourceError ? e.kind : 'cleanup',
    ok: false,
    durationMs: 0,
    error: e,
  }));
}
