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
import { filesFromJobDatabase } from '../duplicati/job-database.js';
import { restoreFilters } from '../duplicati/resources/backups.js';
import type {
  DrillCheck,
  DrillCheckContext,
  DrillCheckProvider,
  DrillCheckResult,
  DrillConsistency,
} from '../contracts/drill.js';
import type { RestoreTarget } from '../contracts/types.js';

export { filesFromJobDatabase };

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

/** How long one listing request may take: Duplicati 2.0.7.3 answers a search in ~14 ms per file. */
export const VERSION_LISTING_TIMEOUT_MS = 60 * 60_000;

/** Options of {@link listVersionFiles}. */
export interface ListVersionFilesOptions {
  /**
   * The job's local database (`Backup.DBPath`), when the drill runs on the Duplicati host: the
   * version's files are then read from it directly (read-only), the same rows the server's search
   * reads. Unreadable, locked or of an unknown layout: the server is asked instead.
   */
  readonly dbPath?: string | null | undefined;
}

/**
 * The files of one version below `folder`. Read from the job's local database when `dbPath` is
 * given and readable (0.2 s for 100 k files), otherwise through the server's search (a regex
 * filter on the folder, as Duplicati's own UI restores folders), which Duplicati 2.0.7.3 answers
 * in about 14 ms per file: 23 minutes for 100 k photos on a 2-core host, so that request gets
 * {@link VERSION_LISTING_TIMEOUT_MS} and no retry.
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
  options: ListVersionFilesOptions = {},
): Promise<string[]> {
  const root = asFolderPath(folder);
  if (options.dbPath) {
    const local = await filesFromJobDatabase(options.dbPath, time, root, signal);
    if (local) return local;
  }
  const [filter] = restoreFilters([root]);
  const { files } = await client.backups.files(jobId, {
    time,
    search: filter as string,
    signal,
    timeout: VERSION_LISTING_TIMEOUT_MS,
    maxRetries: 0,
  });
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
