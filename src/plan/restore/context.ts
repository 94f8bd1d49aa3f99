/**
 * What one run of a restore plan shares between its steps (route, verify, apply, rollback), and
 * the helpers every step uses to report an entry.
 *
 * @module
 */
import path from 'node:path';
import { neverAborted } from '../../core/abort.js';
import { DuplicatiKitError, errorGuard, PlanError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { Manifest } from '../../core/manifest.js';
import type { EntryResult, EntryStatus, RestoreReport } from '../../contracts/restore-report.js';
import type {
  ManifestEntry,
  ResolvedArtifact,
  RestoreInput,
  RestoreOutput,
  RestoreTarget,
  SourceContext,
  VerificationReport,
} from '../../contracts/types.js';
import { sourceContext } from '../backup/context.js';
import { RESTORE_PLAN_DEFAULTS, type RestoreRunOptions } from './options.js';

/** A restore failed; `report` holds every entry's outcome (and `results` the same entries). */
export class RestorePlanError extends PlanError<EntryResult> {
  static override readonly errorName: string = 'RestorePlanError';
  static override readonly defaultCode: string = 'ERR_RESTORE_PLAN';
  readonly report: RestoreReport;
  constructor(message: string, report: RestoreReport) {
    super(message, report.entries);
    this.report = report;
  }
}

/**
 * True when `e` is a {@link RestorePlanError}, from this copy of the package or another.
 *
 * @example
 * ```ts
 * if (isRestorePlanError(e)) console.table(e.report.entries);
 * ```
 */
export const isRestorePlanError = errorGuard<RestorePlanError>('RestorePlanError');

/** One run of a restore plan: its options and what the steps have reported so far. */
export interface RestoreRun {
  readonly opts: RestoreRunOptions;
  readonly targets: readonly RestoreTarget[];
  readonly logger: Logger;
  readonly requireAllEntries: boolean;
  readonly t0: number;
  readonly signal: AbortSignal;
  readonly dryRun: boolean;
  readonly from: string;
  readonly manifest: Manifest;
  /** Each entry's outcome, in the order the steps settle them. */
  readonly entries: EntryResult[];
  /** Files an earlier run of the same plan hashed and found matching (see {@link VerifiedFiles}). */
  readonly verified: VerifiedFiles;
}

/**
 * Artifacts a plan has hashed and found matching the manifest, by real path, with the identity of
 * the file then (device, inode, size, mtime and ctime in nanoseconds). A later run of the same plan
 * (the checklist's restore after its dry run) hashes a file again only when that identity changed:
 * any write to it, or a rename of another file into its place, changes the ctime or the inode.
 */
export type VerifiedFiles = Map<string, { readonly id: string; readonly sha256: string }>;

/** A failed run: thrown as RestorePlanError, or returned with `reject: false`. */
export function fail(run: RestoreRun, message: string, checksums: RestoreReport['checksums']): RestoreReport {
  const report: RestoreReport = {
    ok: false,
    dryRun: run.dryRun,
    from: run.from,
    manifest: run.manifest,
    checksums,
    entries: run.entries,
    durationMs: performance.now() - run.t0,
  };
  if ((run.opts.reject ?? RESTORE_PLAN_DEFAULTS.reject) !== false) throw new RestorePlanError(message, report);
  return report;
}

/** A successful run's report. */
export function succeed(run: RestoreRun, checksums: RestoreReport['checksums']): RestoreReport {
  const { dryRun, from, manifest, entries } = run;
  return { ok: true, dryRun, from, manifest, checksums, entries, durationMs: performance.now() - run.t0 };
}

/** A target's input for one manifest entry of the restored work folder `from`. */
export function restoreInputOf(from: string, manifest: Manifest, entry: ManifestEntry): RestoreInput {
  return {
    entry,
    from,
    manifest,
    artifacts: entry.artifacts.map((a): ResolvedArtifact => ({ ...a, file: path.join(from, ...a.path.split('/')) })),
  };
}

/** How the steps hand a target its context and its input. */
export interface TargetContexts {
  readonly ctxFor: (t: RestoreTarget) => SourceContext;
  /** For clean-up that must run even after the caller aborted (rollback, discarding staged work). */
  readonly cleanupCtxFor: (t: RestoreTarget) => SourceContext;
  readonly inputOf: (entry: ManifestEntry) => RestoreInput;
}

/** Contexts over the run's scratch folder (`workDir`, by default inside the folder restored from). */
export function targetContexts(run: RestoreRun): TargetContexts {
  const { opts, from, manifest, logger, dryRun } = run;
  const workDir = path.resolve(opts.workDir ?? path.join(from, RESTORE_PLAN_DEFAULTS.workDirName));
  return {
    ctxFor: (t) => sourceContext(t, { workDir, signal: run.signal, logger, dryRun, onProgress: opts.onProgress }),
    cleanupCtxFor: (t) =>
      sourceContext(t, { workDir, signal: neverAborted(), logger, dryRun, onProgress: opts.onProgress }),
    inputOf: (entry) => restoreInputOf(from, manifest, entry),
  };
}

/** One entry's outcome; `ok` follows the status (verified, restored) unless `extra` says otherwise. */
export function entryResult(
  entry: { readonly name: string; readonly kind: string },
  target: RestoreTarget | undefined,
  status: EntryStatus,
  durationMs: number,
  extra: { ok?: boolean; error?: Error; verification?: VerificationReport; output?: RestoreOutput } = {},
): EntryResult {
  return {
    name: entry.name,
    kind: entry.kind,
    ok: status === 'verified' || status === 'restored',
    durationMs,
    target: target?.name,
    status,
    ...extra,
  };
}

/** Any thrown value as an Error. */
export const asError = (e: unknown): Error => (e instanceof Error ? e : new DuplicatiKitError(String(e)));
