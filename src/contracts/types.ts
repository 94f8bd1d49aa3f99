/**
 * The contracts every backup source and restore target implements. They carry no driver: a
 * source for PostgreSQL and one for a folder look the same to a plan.
 *
 * @module
 */
import type { ArtifactRef, ArtifactWriter } from '../core/artifact-writer.js';
import type { Logger } from '../core/logger.js';
import type { JsonValue } from '../core/json.js';
import type { Manifest, ManifestSource } from '../core/manifest.js';

export type { JsonValue } from '../core/json.js';

/** Progress of a long operation, reported through `onProgress`. */
export interface ProgressEvent {
  /** Name of the source or target reporting. */
  readonly source: string;
  readonly phase: 'check' | 'prepare' | 'verify' | 'restore' | 'cleanup';
  /** Units done so far. */
  readonly completed: number;
  /** Units in all, when known. */
  readonly total?: number;
  readonly unit: 'bytes' | 'rows' | 'pages' | 'files' | 'items';
  readonly description?: string;
}

/** What a plan hands a source or target for every call. */
export interface SourceContext {
  /** Always present: the plan supplies one that never aborts when the caller gave none. */
  readonly signal: AbortSignal;
  /** Already a child logger with `{ source: name }`. */
  readonly logger: Logger;
  /** The work directory the plan owns. */
  readonly workDir: string;
  /** The folder of this source inside the work directory (`<workDir>/<source name>`). */
  readonly sourceDir: string;
  /** When true, report what would be done and change nothing. */
  readonly dryRun: boolean;
  /** Streams artifacts into `sourceDir`, counting bytes and computing sha256 as they are written. */
  readonly artifacts: ArtifactWriter;
  readonly onProgress: (event: Omit<ProgressEvent, 'source'> & { source?: string }) => void;
  /**
   * Only at `restore`, when the caller keeps a restore record (the checklist restore and the CLI
   * do): where the target writes ahead each destructive step. See {@link RestoreJournal}.
   */
  readonly restoreJournal?: RestoreJournal;
}

/**
 * A restore target's write-ahead log, handed to `restore` through its context. Before each step
 * that changes something live (a rename, a replace, a drop, a database swap), the target calls
 * {@link RestoreJournal.record} with the output its `rollback` needs to undo that step from any
 * point — the safety copy's path, the temp file, the scratch and plan-B database names — and
 * waits for it: once it resolves the record is on disk, so a SIGKILL during the step leaves a
 * record that `restore-points rollback` (or the next restore) can undo. `rollback` must therefore
 * accept an output recorded before the step finished (a safety copy that does not exist yet means
 * the live data was never moved).
 *
 * @example
 * ```ts
 * // inside a target's restore(input, ctx):
 * const safety = `${live}.safety`;
 * await ctx.restoreJournal?.record({ restored: [live], safetyCopy: safety, state: { live, safety } });
 * // ...now rename live -> safety, then the new file -> live
 * ```
 */
export interface RestoreJournal {
  /**
   * A folder for ways back that must outlive the run (a safety dump): inside the restore state
   * folder, never removed with the run's work folder. Created on first use by the target.
   */
  readonly keepDir: string;
  /** Write ahead: the output `rollback` needs, recorded (and fsynced) before the step is taken. */
  record(output: RestoreOutput): Promise<void>;
}

/** What a source's `prepare` returns. */
export interface PreparedSource {
  /** Files the source wrote through `ctx.artifacts`. */
  readonly artifacts: readonly ArtifactRef[];
  /** Live paths Duplicati should back up directly (photo libraries are never copied). */
  readonly includePaths?: readonly string[];
  /** Duplicati filter expressions excluding parts of `includePaths` (`*` and `?` globs). */
  readonly excludePatterns?: readonly string[];
  /** Versions, row counts, file counts: whatever a restore needs to verify against. */
  readonly metadata?: Readonly<Record<string, JsonValue>>;
}

/**
 * Something to back up: a database, a folder, an app.
 *
 * - `check` is a preflight (connectivity, versions, paths) run for every source before any prepares.
 *   It only reads: a plan runs it while it removes the previous run's files from the work folder.
 * - `prepare` writes artifacts through `ctx.artifacts` and returns include paths and metadata.
 * - `cleanup` is idempotent and stateless, keyed on the work directory alone: Duplicati runs the
 *   before- and after-script as two separate processes.
 */
export interface BackupSource {
  /** Unique within a plan; the key in the manifest and the name of the source's folder. */
  readonly name: string;
  /** What it is, e.g. `sqlite`, `directory`, `archive`, `immich.postgres`. */
  readonly kind: string;
  check?(ctx: SourceContext): Promise<void>;
  prepare(ctx: SourceContext): Promise<PreparedSource>;
  cleanup?(ctx: SourceContext): Promise<void>;
}

/** One source entry of a manifest, as a restore target sees it. */
export type ManifestEntry = ManifestSource;

/** A manifest artifact resolved against the folder a restore reads from. */
export interface ResolvedArtifact extends ArtifactRef {
  /** Absolute path of the restored file. */
  readonly file: string;
}

/** Input of {@link RestoreTarget.verify} and {@link RestoreTarget.restore}. */
export interface RestoreInput {
  /** The manifest entry this target was routed. */
  readonly entry: ManifestEntry;
  /** The entry's artifacts with absolute paths under `from`; checksums already verified. */
  readonly artifacts: readonly ResolvedArtifact[];
  /** The folder holding the restored work directory (manifest and artifacts). */
  readonly from: string;
  /** The whole manifest, for cross-checks. */
  readonly manifest: Manifest;
  /**
   * Set by a restore plan on `verify` when a `restore` of the same entry follows: the target may
   * keep what it built while verifying (a loaded scratch database) in the report's `staged`, and
   * gets it back in `verified` at restore, or through `discard` when the restore does not happen.
   */
  readonly stage?: boolean;
  /** At `restore`: this entry's verification report from the same plan run. */
  readonly verified?: VerificationReport;
}

/** Outcome of a verification. */
export interface VerificationReport {
  readonly ok: boolean;
  /**
   * Named checks with their outcome, e.g. `{ name: 'integrity_check', ok: true }`. A `precheck`
   * that fails only because a service is still running names it in `service` (`jellyfin`, or `*`
   * for "whatever the maintenance window's stop commands stop").
   */
  readonly checks: readonly {
    readonly name: string;
    readonly ok: boolean;
    readonly detail?: string;
    readonly service?: string;
  }[];
  /** What verify built and kept for the restore that follows (only when `input.stage` was set). */
  readonly staged?: Readonly<Record<string, JsonValue>>;
}

/** What a target's `restore` returns; handed back to `rollback` or `finalize`. */
export interface RestoreOutput {
  /** What was written where. */
  readonly restored: readonly string[];
  /** Where the previous state was kept (safety copy, restore point), if any. */
  readonly safetyCopy?: string;
  /** Anything the target needs later to roll back or finalize. */
  readonly state?: Readonly<Record<string, JsonValue>>;
  readonly metadata?: Readonly<Record<string, JsonValue>>;
}

/**
 * Somewhere restored material goes: a database, a folder, an app.
 *
 * - `accepts` routes manifest entries (Velero's AppliesTo).
 * - `verify` checks restored material before anything live is touched.
 * - `precheck` checks the live side before anything is touched (the application that owns the
 *   data is stopped, the version gate): a restore plan runs it for every entry, in a dry run too,
 *   before the first target restores, so a restore never fails halfway on what could be known.
 * - `restore` applies it, keeping a way back until the result is verified.
 * - `rollback` undoes an applied restore when a later target of the same plan fails.
 * - `finalize` drops the way back once the whole plan succeeded.
 * - `discard` drops what a staged `verify` kept when the restore that would use it never runs.
 */
/** What a target's recovery hooks get: a recovery on a new host runs them after the restore. */
export interface RecoveryContext {
  readonly signal: AbortSignal;
  readonly logger: Logger;
}

/** One entry of a recovery path map: what was under `from` on the old host is under `to` now. */
export interface StoredPathMapping {
  readonly from: string;
  readonly to: string;
}

export interface RestoreTarget {
  readonly name: string;
  readonly kind: string;
  accepts(entry: ManifestEntry): boolean;
  /**
   * Absolute paths of the live files or folders `restore` replaces. A restore plan (and
   * `restore-points rollback`) locks each one (a `.<name>.dk-restore.lock` beside it) from before
   * the first target is restored until the last, so two restores of the same path never interleave.
   */
  replaces?(): readonly string[];
  verify(input: RestoreInput, ctx: SourceContext): Promise<VerificationReport>;
  /** The live side's checks, read-only (see above); its failures fail the entry before any restore. */
  precheck?(input: RestoreInput, ctx: SourceContext): Promise<VerificationReport>;
  restore(input: RestoreInput, ctx: SourceContext): Promise<RestoreOutput>;
  rollback?(output: RestoreOutput, ctx: SourceContext): Promise<void>;
  finalize?(output: RestoreOutput, ctx: SourceContext): Promise<void>;
  /** Drop what a staged verify kept (`report.staged`) when no restore will use it. */
  discard?(report: VerificationReport, ctx: SourceContext): Promise<void>;
  /**
   * Recovery on a new host: rewrite the absolute paths the application stores (in its database,
   * its config files) under the path map, after the restore, all or nothing. Returns what changed.
   */
  rewriteStoredPaths?(map: readonly StoredPathMapping[], ctx: RecoveryContext): Promise<JsonValue>;
  /** Recovery on a new host: the application's checks on the restored live data (read-only). */
  recoveryCheck?(ctx: RecoveryContext): Promise<VerificationReport>;
}
