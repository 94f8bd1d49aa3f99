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
import type { Logger } from '../core/logger.js';
import type { Manifest } from '../core/manifest.js';
import type { DuplicatiClient } from '../duplicati/client.js';
import { restoreFilters } from '../duplicati/resources/backups.js';
import type { RestoreReport } from '../sources/restore-plan.js';
import type { RestoreTarget } from '../sources/types.js';

/** What a consistency check is given: the drilled version, what was restored, and the client. */
export interface DrillCheckContext {
  readonly client: DuplicatiClient;
  readonly job: { readonly id: string; readonly name: string };
  /** The drilled version (0 = newest) and its exact time as the server listed it. */
  readonly version: number;
  readonly versionTime: string;
  /** The plan's work folder as Duplicati saw it. */
  readonly workDir: string;
  /** The restored work folder (holding `manifest.json` and the artifacts, checksums verified). */
  readonly from: string;
  readonly manifest: Manifest;
  /** The restore plan's report (targets' outcomes). */
  readonly report: RestoreReport;
  /** A folder the check may use; removed with the drill's scratch folder. */
  readonly scratchDir: string;
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /**
   * Every file (not folder) of the drilled version below `folder` (absolute, as Duplicati shows
   * paths), listed by the server. One request per call.
   */
  listVersionFiles(folder: string): Promise<string[]>;
}

/** The outcome of one consistency check. */
export interface DrillCheckResult {
  /** `skipped` (nothing to check in this version) does not fail the drill. */
  readonly status: 'pass' | 'fail' | 'skipped';
  /** One line: what was compared and what came out. */
  readonly detail: string;
  /** Counts worth keeping (e.g. `checked`, `missing`). */
  readonly figures?: Readonly<Record<string, number>>;
  /** The first offending items (e.g. missing paths), for the evidence. */
  readonly samples?: readonly string[];
}

/**
 * A check a drill runs after its targets.
 *
 * @example
 * ```ts
 * const manifestHasDb: DrillCheck = {
 *   name: 'has-db',
 *   run: async (ctx) =>
 *     ctx.manifest.sources.some((s) => s.name === 'app-db')
 *       ? { status: 'pass', detail: 'the app database is in the version' }
 *       : { status: 'fail', detail: 'no app database in the version' },
 * };
 * ```
 */
export interface DrillCheck {
  readonly name: string;
  run(ctx: DrillCheckContext): Promise<DrillCheckResult>;
}

/** A target that brings its own drill checks (found by duck typing: `drillChecks()`). */
export interface DrillCheckProvider {
  drillChecks(): readonly DrillCheck[];
}

/** One consistency check as kept in the drill's evidence. */
export interface DrillConsistency extends DrillCheckResult {
  readonly name: string;
  readonly ok: boolean;
  readonly durationMs: number;
}

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
