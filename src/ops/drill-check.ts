/**
 * Consistency checks of a restore drill: checks that run after the targets and compare what the
 * restored version says with what that same Duplicati version holds (an app database's file
 * references against the version's file listing, for example). The drill core knows only this
 * contract; apps provide the checks (Immich: `ImmichLibraryCheck`), either passed to the drill as
 * `checks` or offered by a target through `drillChecks()`.
 *
 * @module
 */
import { asFolderPath } from '../core/fs.js';
import type { DuplicatiClient } from '../duplicati/client.js';
import { restoreFilters } from '../duplicati/resources/backups.js';
import type {
  DrillCheck,
  DrillCheckContext,
  DrillCheckProvider,
  DrillCheckResult,
  DrillConsistency,
} from '../contracts/drill.js';
import type { RestoreTarget } from '../contracts/types.js';

/**
 * The checks a target offers, if it offers any.
 *
 * @example
 * ```ts
 * const checks = targets.flatMap((t) => checksOfTarget(t));
 * ```
 */
export function checksOfTarget(target: RestoreTarget): readonly DrillCheck[] {
  const provider = target as Partial<DrillCheckProvider>;
  return typeof provider.drillChecks === 'function' ? provider.drillChecks() : [];
}

/**
 * The files of one version below `folder`, through the server's search (a regex filter on the
 * folder, as Duplicati's own UI restores folders).
 *
 * @example
 * ```ts
 * const files = await listVersionFiles(dup, '1', fileset.time, '/srv/immich/library/', signal);
 * ```
 */
export async function listVersionFiles(
  client: DuplicatiClient,
  jobId: string,
  time: string,
  folder: string,
  signal: AbortSignal,
): Promise<string[]> {
  const root = asFolderPath(folder);
  const [filter] = restoreFilters([root]);
  const { files } = await client.backups.files(jobId, { time, search: filter as string, signal });
  return files.filter((f) => !f.isFolder && f.path.startsWith(root)).map((f) => f.path);
}

/**
 * Run the checks one after another. A check that throws is a `fail` with its message; a caller's
 * abort is rethrown. `restoreDrill` calls it after the targets.
 *
 * @example
 * ```ts
 * const results = await runDrillChecks([new ImmichLibraryCheck({ target })], ctx);
 * ```
 */
export async function runDrillChecks(
  checks: readonly DrillCheck[],
  ctx: DrillCheckContext,
): Promise<DrillConsistency[]> {
  const out: DrillConsistency[] = [];
  for (const check of checks) {
    const t0 = performance.now();
    let result: DrillCheckResult;
    try {
      result = await check.run(ctx);
    } catch (e) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      result = { status: 'fail', detail: `the check failed: ${(e as Error)?.message ?? String(e)}` };
    }
    out.push({
      name: check.name,
      ok: result.status !== 'fail',
      durationMs: Math.round(performance.now() - t0),
      ...result,
    });
    ctx.logger.info('drill consistency check', { check: check.name, status: result.status });
  }
  return out;
}
