/**
 * The backup plan's check step: every source's `check`, before any of them writes.
 *
 * @module
 */
import { throwIfAborted } from '../../core/abort.js';
import { mapLimit } from '../../core/concurrency.js';
import { errorOf, failedResult, type PrepareRun, sourceContext } from './context.js';

/** A dry run: check every source and record each outcome; prepare nothing, write nothing. */
export async function checkOnly(run: PrepareRun): Promise<void> {
  const { signal, results, blank } = run;
  await mapLimit(
    run.sources,
    run.concurrency,
    async (s) => {
      const t0 = performance.now();
      try {
        await s.check?.(sourceContext(s, run.base));
        results.push({
          name: s.name,
          kind: s.kind,
          ok: true,
          phase: 'check',
          durationMs: performance.now() - t0,
          ...blank,
        });
      } catch (e) {
        throwIfAborted(signal);
        results.push(failedResult(run, s, 'check', performance.now() - t0, errorOf(e, s, 'check')));
      }
    },
    signal,
  );
}

/**
 * Preflight every source before any of them writes: a dead database stops the run early. False
 * when a check failed (then every source has its result, in source order).
 */
export async function preflight(run: PrepareRun): Promise<boolean> {
  const { signal, sources, blank } = run;
  const checks = await mapLimit(
    sources,
    run.concurrency,
    async (s) => {
      const t0 = performance.now();
      try {
        await s.check?.(sourceContext(s, run.base));
        return undefined;
      } catch (e) {
        throwIfAborted(signal);
        return { s, error: errorOf(e, s, 'check'), durationMs: performance.now() - t0 };
      }
    },
    signal,
  );
  const failedChecks = checks.filter((c) => c !== undefined);
  if (failedChecks.length === 0) return true;
  for (const s of sources) {
    const f = failedChecks.find((c) => c.s === s);
    run.results.push(
      f
        ? failedResult(run, s, 'check', f.durationMs, f.error)
        : { name: s.name, kind: s.kind, ok: true, phase: 'check', durationMs: 0, ...blank },
    );
  }
  return false;
}
