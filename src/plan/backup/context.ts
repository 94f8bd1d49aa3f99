/**
 * What one `prepare` of a backup plan shares between its steps (check, prepare, manifest), and
 * the context a plan hands each source.
 *
 * @module
 */
import path from 'node:path';
import { ArtifactWriter } from '../../core/artifact-writer.js';
import { DuplicatiKitError, PlanError, SourceError } from '../../core/errors.js';
import { childLogger, type Logger } from '../../core/logger.js';
import type { Manifest } from '../../core/manifest.js';
import type { BackupSource, ProgressEvent, SourceContext } from '../../contracts/types.js';
import { BACKUP_PLAN_DEFAULTS, type PrepareOptions, type PrepareResult, type SourceResult } from './options.js';

/**
 * Build the context a plan hands a source: a child logger, the work directory, an artifact writer
 * for `<workDir>/<name>/` and a progress callback stamped with the source's name.
 */
export function sourceContext(
  source: { readonly name: string },
  base: {
    workDir: string;
    signal: AbortSignal;
    logger: Logger;
    dryRun: boolean;
    onProgress?: ((e: ProgressEvent) => void) | undefined;
  },
): SourceContext {
  const onProgress = base.onProgress;
  return {
    signal: base.signal,
    logger: childLogger(base.logger, { source: source.name }),
    workDir: base.workDir,
    sourceDir: path.join(base.workDir, source.name),
    dryRun: base.dryRun,
    artifacts: new ArtifactWriter(base.workDir, source.name),
    onProgress: (e) => onProgress?.({ ...e, source: e.source ?? source.name }),
  };
}

/** Any thrown value as an Error of `source` in `phase`. */
export function errorOf(e: unknown, source: BackupSource, phase: 'check' | 'prepare' | 'cleanup'): Error {
  if (e instanceof DuplicatiKitError || e instanceof Error) return e;
  return new SourceError(String(e), { source: source.name, kind: source.kind, phase });
}

/** One `prepare` call: the plan's settings, this call's options, and the results so far. */
export interface PrepareRun {
  readonly workDir: string;
  readonly sources: readonly BackupSource[];
  readonly logger: Logger;
  readonly concurrency: number;
  readonly opts: PrepareOptions;
  readonly signal: AbortSignal;
  /** What `sourceContext` needs besides the source. */
  readonly base: {
    workDir: string;
    signal: AbortSignal;
    logger: Logger;
    dryRun: boolean;
    onProgress: ((e: ProgressEvent) => void) | undefined;
  };
  /** The empty artifact fields of a result that prepared nothing. */
  readonly blank: Pick<SourceResult, 'artifacts' | 'includePaths' | 'excludePatterns' | 'metadata'>;
  readonly results: SourceResult[];
}

/** The result of a source that failed in `phase`. */
export function failedResult(
  run: PrepareRun,
  s: BackupSource,
  phase: 'check' | 'prepare',
  durationMs: number,
  error: Error,
): SourceResult {
  return { name: s.name, kind: s.kind, ok: false, phase, durationMs, error, ...run.blank };
}

/** The result of a `prepare`; a failure throws PlanError unless `reject: false`. */
export function finish(run: PrepareRun, ok: boolean, manifest?: Manifest, manifestFile?: string): PrepareResult {
  const { results, workDir } = run;
  const includePaths = [...new Set(results.flatMap((r) => r.includePaths))];
  const excludePatterns = [...new Set(results.flatMap((r) => r.excludePatterns))];
  const out: PrepareResult = {
    ok,
    manifest,
    manifestFile,
    includePaths,
    excludePatterns,
    backupPaths: [workDir, ...includePaths],
    results,
  };
  if (!ok && (run.opts.reject ?? BACKUP_PLAN_DEFAULTS.reject) !== false) {
    throw new PlanError(`backup plan failed; no manifest was written to ${workDir}`, results);
  }
  return out;
}
