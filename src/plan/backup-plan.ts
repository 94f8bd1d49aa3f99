/**
 * Backup plans: cleanup → check all → prepare (bounded concurrency) → manifest, under the work
 * directory's lock. The manifest is written last and atomically, only when every source succeeded.
 *
 * @module
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { neverAborted, throwIfAborted } from '../core/abort.js';
import { type ArtifactRef, ArtifactWriter } from '../core/artifact-writer.js';
import { mapLimit } from '../core/concurrency.js';
import { ConfigError, DuplicatiKitError, PlanError, type StepResult, SourceError } from '../core/errors.js';
import { exists } from '../core/fs.js';
import { acquireLock } from '../core/lock.js';
import { childLogger, type Logger, silentLogger } from '../core/logger.js';
import {
  MANIFEST_FILE,
  MANIFEST_VERSION,
  type Manifest,
  type ManifestSource,
  writeManifest,
} from '../core/manifest.js';
import { PACKAGE_NAME, VERSION } from '../core/version.js';
import type { BackupSource, JsonValue, PreparedSource, ProgressEvent, SourceContext } from '../contracts/types.js';
import { configErrorFrom } from '../core/validate.js';
import { claimWorkDir, emptyWorkDir } from './workdir.js';

/** Options of {@link createBackupPlan}. */
export interface BackupPlanOptions {
  /** The sources to back up. Names must be unique and usable as folder names. */
  readonly sources: readonly BackupSource[];
  /** Absolute path of the staging folder the plan owns; Duplicati backs it up. */
  readonly workDir: string;
  /** How many sources prepare at once. @default 1 */
  readonly concurrency?: number;
  readonly logger?: Logger;
  /** How long to wait for another run's lock before failing with LockedError. @default 0 */
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

const optionsSchema = z
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

function errorOf(e: unknown, source: BackupSource, phase: 'check' | 'prepare' | 'cleanup'): Error {
  if (e instanceof DuplicatiKitError || e instanceof Error) return e;
  return new SourceError(String(e), { source: source.name, kind: source.kind, phase });
}

/**
 * Create a backup plan.
 *
 * @throws {ConfigError} when the options are invalid or two sources share a name.
 * @example
 * ```ts
 * const plan = createBackupPlan({
 *   workDir: '/srv/backup/staging',
 *   sources: [new SqliteSource({ name: 'app', path: '/var/lib/app/app.db' }),
 *             new DirectorySource({ name: 'photos', paths: ['/srv/photos'] })],
 * });
 * const { manifest, backupPaths } = await plan.prepare({ signal });
 * ```
 */
export function createBackupPlan(options: BackupPlanOptions): BackupPlan {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) throw configErrorFrom('invalid backup plan options', parsed.error);
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

  const workDir = path.resolve(options.workDir);
  const sources = [...options.sources];
  const logger = options.logger ?? silentLogger;
  const concurrency = options.concurrency ?? 1;
  const lockWaitMs = options.lockWaitMs ?? 0;

  const cleanupSources = async (signal: AbortSignal): Promise<Error[]> => {
    const errors: Error[] = [];
    for (const s of sources) {
      if (!s.cleanup) continue;
      try {
        await s.cleanup(sourceContext(s, { workDir, signal, logger, dryRun: false }));
      } catch (e) {
        throwIfAborted(signal);
        errors.push(errorOf(e, s, 'cleanup'));
      }
    }
    return errors;
  };

  const prepare = async (opts: PrepareOptions = {}): Promise<PrepareResult> => {
    const signal = opts.signal ?? neverAborted();
    const dryRun = opts.dryRun ?? false;
    const base = { workDir, signal, logger, dryRun, onProgress: opts.onProgress };
    const startedAt = new Date();
    const results: SourceResult[] = [];
    const blank = { artifacts: [], includePaths: [], excludePatterns: [], metadata: {} };

    const finish = (ok: boolean, manifest?: Manifest, manifestFile?: string): PrepareResult => {
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
      if (!ok && opts.reject !== false) {
        throw new PlanError(`backup plan failed; no manifest was written to ${workDir}`, results);
      }
      return out;
    };

    if (dryRun) {
      await mapLimit(
        sources,
        concurrency,
        async (s) => {
          const t0 = performance.now();
          try {
            await s.check?.(sourceContext(s, base));
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
            results.push({
              name: s.name,
              kind: s.kind,
              ok: false,
              phase: 'check',
              durationMs: performance.now() - t0,
              error: errorOf(e, s, 'check'),
              ...blank,
            });
          }
        },
        signal,
      );
      return finish(results.every((r) => r.ok));
    }

    await claimWorkDir(workDir, signal);
    const lock = await acquireLock(workDir, { waitMs: lockWaitMs, signal, logger, purpose: 'prepare' });
    try {
      const removed = await emptyWorkDir(workDir, signal);
      if (removed.length) logger.info('removed leftovers of an earlier run', { workDir, entries: removed.length });
      const cleanupErrors = await cleanupSources(signal);
      for (const e of cleanupErrors) logger.warn('source cleanup failed before prepare', { error: e.message });

      // Preflight every source before any of them writes: a dead database stops the run early.
      const checks = await mapLimit(
        sources,
        concurrency,
        async (s) => {
          const t0 = performance.now();
          try {
            await s.check?.(sourceContext(s, base));
            return undefined;
          } catch (e) {
            throwIfAborted(signal);
            return { s, error: errorOf(e, s, 'check'), durationMs: performance.now() - t0 };
          }
        },
        signal,
      );
      const failedChecks = checks.filter((c) => c !== undefined);
      if (failedChecks.length > 0) {
        for (const s of sources) {
          const f = failedChecks.find((c) => c.s === s);
          results.push(
            f
              ? {
                  name: s.name,
                  kind: s.kind,
                  ok: false,
                  phase: 'check',
                  durationMs: f.durationMs,
                  error: f.error,
                  ...blank,
                }
              : { name: s.name, kind: s.kind, ok: true, phase: 'check', durationMs: 0, ...blank },
          );
        }
        return finish(false);
      }

      const entries: (ManifestSource | undefined)[] = await mapLimit(
        sources,
        concurrency,
        async (s) => {
          const t0 = performance.now();
          const started = new Date();
          const ctx = sourceContext(s, base);
          try {
            throwIfAborted(signal);
            logger.info('preparing source', { source: s.name, kind: s.kind });
            const prepared: PreparedSource = await s.prepare(ctx);
            throwIfAborted(signal);
            await assertArtifacts(workDir, s, prepared, ctx.artifacts.written);
            const r: SourceResult = {
              name: s.name,
              kind: s.kind,
              ok: true,
              phase: 'prepare',
              durationMs: performance.now() - t0,
              artifacts: prepared.artifacts,
              includePaths: [...(prepared.includePaths ?? [])],
              excludePatterns: [...(prepared.excludePatterns ?? [])],
              metadata: { ...(prepared.metadata ?? {}) },
            };
            results.push(r);
            return {
              name: s.name,
              kind: s.kind,
              artifacts: [...r.artifacts],
              includePaths: [...r.includePaths],
              excludePatterns: [...r.excludePatterns],
              metadata: { ...r.metadata },
              startedAt: started.toISOString(),
              finishedAt: new Date().toISOString(),
              durationMs: Math.round(r.durationMs),
            };
          } catch (e) {
            throwIfAborted(signal);
            results.push({
              name: s.name,
              kind: s.kind,
              ok: false,
              phase: 'prepare',
              durationMs: performance.now() - t0,
              error: errorOf(e, s, 'prepare'),
              ...blank,
            });
            logger.error('source failed', { source: s.name, error: (e as Error).message });
            return undefined;
          }
        },
        signal,
      );
      // Results in source order, whatever order they finished in.
      results.sort((a, b) => sources.findIndex((s) => s.name === a.name) - sources.findIndex((s) => s.name === b.name));
      if (entries.some((e) => e === undefined)) return finish(false);

      const manifestSources = entries as ManifestSource[];
      const manifest: Manifest = {
        manifestVersion: MANIFEST_VERSION,
        tool: { name: PACKAGE_NAME, version: VERSION },
        host: os.hostname(),
        startedAt: startedAt.toISOString(),
        finishedAt: new Date().toISOString(),
        sources: manifestSources,
        includePaths: [...new Set(manifestSources.flatMap((s) => s.includePaths))],
        excludePatterns: [...new Set(manifestSources.flatMap((s) => s.excludePatterns))],
      };
      throwIfAborted(signal);
      const manifestFile = await writeManifest(workDir, manifest, { signal });
      logger.info('backup prepared', { workDir, sources: sources.length });
      return finish(true, manifest, manifestFile);
    } finally {
      await lock.release();
    }
  };

  const cleanup = async (opts: { readonly signal?: AbortSignal } = {}): Promise<void> => {
    const signal = opts.signal ?? neverAborted();
    if (!(await exists(workDir))) {
      const errors = await cleanupSources(signal);
      if (errors.length) throw new PlanError('source cleanup failed', cleanupResults(errors));
      return;
    }
    const lock = await acquireLock(workDir, { waitMs: lockWaitMs, signal, logger, purpose: 'cleanup' });
    try {
      await emptyWorkDir(workDir, signal);
      const errors = await cleanupSources(signal);
      if (errors.length) throw new PlanError('source cleanup failed', cleanupResults(errors));
    } finally {
      await lock.release();
    }
  };

  const cleanupResults = (errors: Error[]): StepResult[] =>
    errors.map((e) => ({
      name: e instanceof SourceError ? e.source : 'cleanup',
      kind: e instanceof SourceError ? e.kind : 'cleanup',
      ok: false,
      durationMs: 0,
      error: e,
    }));

  return {
    workDir,
    sources,
    prepare,
    cleanup,
    run: async (fn, opts) => {
      try {
        const prepared = await prepare(opts);
        return await fn(prepared);
      } finally {
        await cleanup(opts?.signal ? { signal: opts.signal } : {});
      }
    },
  };
}

/** A source may only report artifacts its writer finished, under its own folder. */
async function assertArtifacts(
  workDir: string,
  s: BackupSource,
  prepared: PreparedSource,
  written: readonly ArtifactRef[],
): Promise<void> {
  for (const a of prepared.artifacts) {
    const ok = written.some((w) => w.path === a.path && w.sha256 === a.sha256 && w.bytes === a.bytes);
    if (!ok || !(await exists(path.join(workDir, ...a.path.split('/'))))) {
      throw new SourceError(
        `source returned artifact ${a.path} that its artifact writer did not finish`,
        { source: s.name, kind: s.kind, phase: 'prepare' },
        { code: 'ERR_ARTIFACT_UNKNOWN' },
      );
    }
  }
}
