/**
 * A restore plan's options, their defaults (in one table), and the plan's shape.
 *
 * @module
 */
import { z } from 'zod';
import type { Logger } from '../../core/logger.js';
import type { RestoreReport } from '../../contracts/restore-report.js';
import type {
  ManifestEntry,
  ProgressEvent,
  RestoreJournal,
  RestoreOutput,
  RestoreTarget,
} from '../../contracts/types.js';

/** What a restore plan and its runs do when an option is left out. */
export const RESTORE_PLAN_DEFAULTS = {
  /** A manifest entry without a target is reported as skipped, not a failure. */
  requireAllEntries: false,
  dryRun: false,
  /** Failures throw RestorePlanError (or VerificationError for a damaged backup). */
  reject: true,
  /** Drop each target's way back once everything is applied. */
  finalize: true,
  /** Run each target's `verify` before restoring. */
  verifyTargets: true,
  /** The scratch folder targets may use, inside the folder restored from. */
  workDirName: '.restore-work',
} as const;

/** Options of `createRestorePlan`. */
export interface RestorePlanOptions {
  /** Targets, asked in order; the first whose `accepts(entry)` is true gets the entry. */
  readonly targets: readonly RestoreTarget[];
  readonly logger?: Logger;
  /** Fail when a manifest entry has no target (instead of reporting it as skipped). @default false */
  readonly requireAllEntries?: boolean;
}

/** Per-call options of {@link RestorePlan.run}. */
export interface RestoreRunOptions {
  /** Folder holding the restored work directory (`manifest.json` and the artifacts). */
  readonly from: string;
  readonly signal?: AbortSignal;
  /** Verify everything, restore nothing. @default false */
  readonly dryRun?: boolean;
  /** Restore only these manifest sources (by name). */
  readonly only?: readonly string[];
  readonly onProgress?: (event: ProgressEvent) => void;
  /** With `false`, failures are returned in the report instead of thrown as PlanError. @default true */
  readonly reject?: boolean;
  /** Scratch folder targets may use; defaults to `<from>/.restore-work`. */
  readonly workDir?: string;
  /**
   * Call each target's `finalize` (drop its way back) once everything is applied. With `false`
   * the restore points stay (entries keep their `output` for a later `rollback` or `finalize`).
   * @default true
   */
  readonly finalize?: boolean;
  /**
   * Run each target's `verify` before restoring. `false` only when the caller has just verified
   * the same folder with the same targets (a dry run); checksums are always checked again.
   * @default true
   */
  readonly verifyTargets?: boolean;
  /**
   * Where targets write ahead each destructive step (see `RestoreJournal`), and where each
   * finished target is recorded. The checklist restore passes one backed by its restore record.
   */
  readonly journal?: RestoreJournalSink;
  /**
   * Services the caller stops before it restores (the checklist's maintenance window: `jellyfin`,
   * `*` for its stop commands). A precheck that fails only because one of them still runs is
   * reported as passing, with a note; any other failing precheck fails the entry.
   */
  readonly servicesStopping?: readonly string[];
}

/** What keeps a restore's write-ahead record (the checklist restore's record, for one). */
export interface RestoreJournalSink {
  /** The journal handed to `target` (in its context) while it restores `entry`. */
  forTarget(target: RestoreTarget, entry: ManifestEntry): RestoreJournal;
  /** `target` restored `entry` with `output`; awaited before the next target starts. */
  applied(target: RestoreTarget, entry: ManifestEntry, output: RestoreOutput): Promise<void>;
}

/** A restore plan. */
export interface RestorePlan {
  readonly targets: readonly RestoreTarget[];
  /** Verify and (unless `dryRun`) restore what `from` holds. */
  run(options: RestoreRunOptions): Promise<RestoreReport>;
}

export const optionsSchema = z
  .object({
    targets: z.array(
      z.custom<RestoreTarget>(
        (t) =>
          typeof t === 'object' &&
          t !== null &&
          typeof (t as RestoreTarget).accepts === 'function' &&
          typeof (t as RestoreTarget).restore === 'function' &&
          typeof (t as RestoreTarget).verify === 'function',
        { message: 'must be a RestoreTarget (name, kind, accepts, verify, restore)' },
      ),
    ),
    logger: z.custom<Logger>((l) => typeof l === 'object' && l !== null).optional(),
    requireAllEntries: z.boolean().optional(),
  })
  .strict();
