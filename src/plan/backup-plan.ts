/**
 * Backup plans: cleanup → check all → prepare (bounded concurrency) → manifest, under the work
 * directory's lock. The manifest is written last and atomically, only when every source succeeded.
 *
 * The steps live in `./backup/` (check, prepare, manifest, cleanup); this module wires them
 * together under the lock and keeps the public names where they always were.
 *
 * @module
 */
import path from 'node:path';
import { neverAborted } from '../core/abort.js';
import { PlanError } from '../core/errors.js';
import { exists } from '../core/fs.js';
import { acquireLock, type LockHandle } from '../core/lock.js';
import { type Logger, silentLogger } from '../core/logger.js';
import type { ManifestSource } from '../core/manifest.js';
import { configErrorFrom } from '../core/validate.js';
import type { BackupSource } from '../contracts/types.js';
import { checkOnly, preflight } from './backup/check.js';
import { cleanupResults, cleanupSources } from './backup/cleanup.js';
import { finish, type PrepareRun } from './backup/context.js';
import { writePlanManifest } from './backup/manifest.js';
import {
  BACKUP_PLAN_DEFAULTS,
  type BackupPlan,
  type BackupPlanOptions,
  checkPlanLayout,
  optionsSchema,
  type PrepareOptions,
  type PrepareResult,
} from './backup/options.js';
import { prepareSources } from './backup/prepare.js';
import { claimWorkDir, emptyWorkDir, type SetAside, setAsideWorkDir } from './workdir.js';

export { sourceContext } from './backup/context.js';
export type {
  BackupPlan,
  BackupPlanOptions,
  PrepareOptions,
  PrepareResult,
  SourceResult,
} from './backup/options.js';

/** The plan's fixed settings, shared by prepare and cleanup. */
interface PlanSettings {
  readonly workDir: string;
  readonly sources: readonly BackupSource[];
  readonly logger: Logger;
  readonly concurrency: number;
  readonly lockWaitMs: number;
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
  checkPlanLayout(options);
  const plan: PlanSettings = {
    workDir: path.resolve(options.workDir),
    sources: [...options.sources],
    logger: options.logger ?? silentLogger,
    concurrency: options.concurrency ?? BACKUP_PLAN_DEFAULTS.concurrency,
    lockWaitMs: options.lockWaitMs ?? BACKUP_PLAN_DEFAULTS.lockWaitMs,
  };
  const prepare = (opts: PrepareOptions = {}): Promise<PrepareResult> => prepareAll(plan, opts);
  const cleanup = (opts: { readonly signal?: AbortSignal } = {}): Promise<void> => cleanupAll(plan, opts);
  return {
    workDir: plan.workDir,
    sources: plan.sources,
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

/**
 * Clean the work folder while checking every source, prepare them, write the manifest — under the
 * lock.
 */
async function prepareAll(plan: PlanSettings, opts: PrepareOptions): Promise<PrepareResult> {
  const { workDir, logger, sources } = plan;
  const signal = opts.signal ?? neverAborted();
  const dryRun = opts.dryRun ?? BACKUP_PLAN_DEFAULTS.dryRun;
  const run: PrepareRun = {
    workDir,
    sources,
    logger,
    concurrency: plan.concurrency,
    opts,
    signal,
    base: { workDir, signal, logger, dryRun, onProgress: opts.onProgress },
    blank: { artifacts: [], includePaths: [], excludePatterns: [], metadata: {} },
    results: [],
  };
  const startedAt = new Date();
  if (dryRun) {
    await checkOnly(run);
    return finish(
      run,
      run.results.every((r) => r.ok),
    );
  }

  // The checks only read (connectivity, versions, paths): they run beside the folder's claim and
  // lock (a database's connection takes longer than both; the claim's first system call is queued
  // before the checks load their drivers) and beside the setting aside of the previous run's files.
  // Nothing is prepared before all of them are done, a failure of either is reported only once both
  // have settled, and a plan that cannot take the folder returns once its checks have ended. The
  // set-aside files are freed while the sources prepare (freeing a large dump is a wait on the
  // disk) and are gone before the manifest.
  const taken = (async () => {
    await claimWorkDir(workDir, signal);
    return acquireLock(workDir, { waitMs: plan.lockWaitMs, signal, logger, purpose: 'prepare' });
  })();
  const checked = preflight(run);
  // Read below, once the folder is ours: until then a failed check must not count as unhandled.
  checked.catch(() => {});
  let lock: LockHandle;
  try {
    lock = await taken;
  } catch (e) {
    await checked.catch(() => {});
    throw e;
  }
  let aside: SetAside | undefined;
  try {
    const emptied = (async () => {
      aside = await setAsideWorkDir(workDir, signal);
      if (aside.removed.length) {
        logger.info('removing leftovers of an earlier run', { workDir, entries: aside.removed.length });
      }
      const cleanupErrors = await cleanupSources(sources, plan, signal);
      for (const e of cleanupErrors) logger.warn('source cleanup failed before prepare', { error: e.message });
    })();
    const [empty, check] = await Promise.allSettled([emptied, checked]);
    if (empty.status === 'rejected') throw empty.reason;
    if (check.status === 'rejected') throw check.reason;
    if (!check.value) return finish(run, false);
    const entries = await prepareSources(run);
    if (entries.some((e) => e === undefined)) return finish(run, false);
    const leftover = await aside?.done;
    if (leftover) throw leftover;

    const { manifest, manifestFile } = await writePlanManifest(run, startedAt, entries as ManifestSource[]);
    logger.info('backup prepared', { workDir, sources: sources.length });
    return finish(run, true, manifest, manifestFile);
  } finally {
    await aside?.done;
    await lock.release();
  }
}

/** Remove everything the plan wrote and run each source's cleanup (under the lock when the folder exists). */
async function cleanupAll(plan: PlanSettings, opts: { readonly signal?: AbortSignal }): Promise<void> {
  const { workDir, sources } = plan;
  const signal = opts.signal ?? neverAborted();
  if (!(await exists(workDir))) {
    const errors = await cleanupSources(sources, plan, signal);
    if (errors.length) throw new PlanError('source cleanup failed', cleanupResults(errors));
    return;
  }
  const lock = await acquireLock(workDir, { waitMs: plan.lockWaitMs, signal, logger: plan.logger, purpose: 'cleanup' });
  try {
    await emptyWorkDir(workDir, signal);
    const errors = await cleanupSources(sources, plan, signal);
    if (errors.length) throw new PlanError('source cleanup failed', cleanupResults(errors));
  } finally {
    await lock.release();
  }
}
