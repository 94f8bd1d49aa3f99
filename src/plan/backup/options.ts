/**
 * A backup plan's options, their defaults (in one table), its results and the plan's shape.
 *
 * @module
 */
import path from 'node:path';
import { z } from 'zod';
import type { ArtifactRef } from '../../core/artifact-writer.js';
import { ConfigError, type StepResult } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { MANIFEST_FILE, type Manifest } from '../../core/manifest.js';
import type { BackupSource, JsonValue, ProgressEvent } from '../../contracts/types.js';

/** What a backup plan and its `prepare` do when an option is left out. */
export const BACKUP_PLAN_DEFAULTS = {
  /** How many sources check and prepare at once. */
  concurrency: 1,
  /** How long to wait for another run's lock: not at all. */
  lockWaitMs: 0,
  dryRun: false,
  /** Failures throw PlanError. */
  reject: true,
} as const;

/** Options of `createBackupPlan`. */
export interface BackupPlanOptions {
  /** The sources to back up. Names must be unique and usable as folder names. */
  readonly sources: readonly BackupSource[];
  /** Absolute path of the staging folder the plan owns; Duplicati backs it up. */
  readonly workDir: string;
  /** How many sources prepare at once. @default 1 (BACKUP_PLAN_DEFAULTS) */
  readonly concurrency?: number;
  readonly logger?: Logger;
  /** How long to wait for another run's lock before failing with LockedError. @default 0 (BACKUP_PLAN_DEFAULTS) */
  readonly lockWaitMs?: number;
}

/** Per-call options of {@link BackupPlan.prepare}. */
export interface PrepareOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (event: ProgressEvent) => void;
  /** With `false`, failures are returned in `results` instead of thrown as PlanError. @default true */
  readonly reject?: boolean;
  /** Run the checks only; prepare nothing, write nothing. @default false */
  readonly dryRun?: boolean;
}

/** Outcome of one source in a plan. */
export interface SourceResult extends StepResult {
  /** The phase it reached or failed in. */
  readonly phase: 'check' | 'prepare' | 'cleanup';
  readonly artifacts: readonly ArtifactRef[];
  readonly includePaths: readonly string[];
  readonly excludePatterns: readonly string[];
  readonly metadata: Readonly<Record<string, JsonValue>>;
}

/** What {@link BackupPlan.prepare} returns. */
export interface PrepareResult {
  /** True when every source succeeded and the manifest was written. */
  readonly ok: boolean;
  /** The manifest written, when `ok`. */
  readonly manifest: Manifest | undefined;
  readonly manifestFile: string | undefined;
  /** Live paths Duplicati should back up besides the work directory. */
  readonly includePaths: readonly string[];
  readonly excludePatterns: readonly string[];
  /** Everything Duplicati should back up: the work directory first, then `includePaths`. */
  readonly backupPaths: readonly string[];
  readonly results: readonly SourceResult[];
}

/** A backup plan. */
export interface BackupPlan {
  readonly workDir: string;
  readonly sources: readonly BackupSource[];
  /** Clean the work directory, check every source, prepare them, write the manifest. */
  prepare(options?: PrepareOptions): Promise<PrepareResult>;
  /**
   * Remove everything the plan wrote and run each source's cleanup. Works from the work directory
   * alone, in another process (Duplicati's after-script).
   */
  cleanup(options?: { readonly signal?: AbortSignal }): Promise<void>;
  /** Prepare, run `fn` with the result, and clean up afterwards whatever happened. */
  run<T>(fn: (prepared: PrepareResult) => Promise<T>, options?: PrepareOptions): Promise<T>;
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export const optionsSchema = z
  .object({
    sources: z
      .array(
        z.custom<BackupSource>(
          (s) =>
            typeof s === 'object' &&
            s !== null &&
            typeof (s as BackupSource).name === 'string' &&
            typeof (s as BackupSource).kind === 'string' &&
            typeof (s as BackupSource).prepare === 'function',
          { message: 'must be a BackupSource (name, kind, prepare)' },
        ),
      )
      .min(1, 'at least one source is needed'),
    workDir: z.string().min(1),
    concurrency: z.number().int().min(1).max(64).optional(),
    logger: z.custom<Logger>((l) => typeof l === 'object' && l !== null).optional(),
    lockWaitMs: z.number().int().min(0).optional(),
  })
  .strict();

/**
 * What the schema cannot say: an absolute work folder, and source names that are unique and
 * usable as folder names.
 *
 * @throws {ConfigError} listing every problem.
 */
export function checkPlanLayout(options: BackupPlanOptions): void {
  const issues: { path: string; message: string }[] = [];
  if (!path.isAbsolute(options.workDir)) issues.push({ path: 'workDir', message: 'must be an absolute path' });
  const seen = new Set<string>();
  options.sources.forEach((s, i) => {
    if (!SAFE_NAME.test(s.name) || s.name === MANIFEST_FILE) {
      issues.push({
        path: `sources.${i}.name`,
        message: 'must start with a letter or digit and use only letters, digits, ".", "_" and "-" (at most 100)',
      });
    }
    if (seen.has(s.name)) issues.push({ path: `sources.${i}.name`, message: `duplicate source name "${s.name}"` });
    seen.add(s.name);
  });
  if (issues.length) throw new ConfigError('invalid backup plan options', issues);
}
