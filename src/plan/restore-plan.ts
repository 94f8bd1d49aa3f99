/**
 * Restore plans: read the manifest, verify every checksum, route entries to targets, verify all,
 * then restore in order — and roll back the targets already applied when one fails.
 *
 * Each step lives in `./restore/` (route, verify, apply, rollback); this module wires them
 * together and keeps the public names where they always were.
 *
 * @module
 */
import path from 'node:path';
import { neverAborted } from '../core/abort.js';
import { ConfigError } from '../core/errors.js';
import { type Logger, silentLogger } from '../core/logger.js';
import { readManifest } from '../core/manifest.js';
import { configErrorFrom } from '../core/validate.js';
import type { RestoreReport } from '../contracts/restore-report.js';
import type { RestoreTarget } from '../contracts/types.js';
import { applyAll } from './restore/apply.js';
import { entryResult, fail, type RestoreRun, succeed, targetContexts, type VerifiedFiles } from './restore/context.js';
import {
  optionsSchema,
  RESTORE_PLAN_DEFAULTS,
  type RestorePlan,
  type RestorePlanOptions,
  type RestoreRunOptions,
} from './restore/options.js';
import { lockRestoreTargets } from './restore/locks.js';
import { type RoutedEntry, routeEntries } from './restore/route.js';
import { checkArtifacts, discardStaged, verifyTargets } from './restore/verify.js';

export { isRestorePlanError, RestorePlanError, restoreInputOf } from './restore/context.js';
export type { RestorePlan, RestorePlanOptions, RestoreRunOptions } from './restore/options.js';
export { verifyArtifacts } from './restore/verify.js';
export { lockRestoreTargets, type RestoreLocks, restoreLockOf } from './restore/locks.js';
export type { RestoreJournalSink } from './restore/options.js';

/**
 * Create a restore plan.
 *
 * @example
 * ```ts
 * const restore = createRestorePlan({ targets: [new SqliteTarget({ path: '/var/lib/app/app.db' })] });
 * const report = await restore.run({ from: '/restore/staging', dryRun: true });
 * ```
 */
export function createRestorePlan(options: RestorePlanOptions): RestorePlan {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) throw configErrorFrom('invalid restore plan options', parsed.error);
  const targets = [...options.targets];
  const logger = options.logger ?? silentLogger;
  // Per plan, not global: a second run (the checklist's restore after its dry run) skips re-hashing
  // a file whose identity is unchanged since the first run hashed it.
  const verified: VerifiedFiles = new Map();
  const run = (opts: RestoreRunOptions): Promise<RestoreReport> => runRestore(options, targets, logger, opts, verified);
  return { targets, run };
}

/** One run: checksums → route → verify all → (unless a dry run) apply, with rollback on failure. */
async function runRestore(
  options: RestorePlanOptions,
  targets: readonly RestoreTarget[],
  logger: Logger,
  opts: RestoreRunOptions,
  verified: VerifiedFiles,
): Promise<RestoreReport> {
  if (!opts || typeof opts.from !== 'string' || !opts.from) {
    throw new ConfigError('restore needs a folder to restore from', [{ path: 'from', message: 'required' }]);
  }
  const t0 = performance.now();
  const signal = opts.signal ?? neverAborted();
  const from = path.resolve(opts.from);
  const manifest = await readManifest(from, { signal });
  const run: RestoreRun = {
    opts,
    targets,
    logger,
    requireAllEntries: options.requireAllEntries ?? RESTORE_PLAN_DEFAULTS.requireAllEntries,
    t0,
    signal,
    dryRun: opts.dryRun ?? RESTORE_PLAN_DEFAULTS.dryRun,
    from,
    manifest,
    entries: [],
    verified,
  };

  // 1. Every checksum, before any target sees anything.
  const { checks, failed } = await checkArtifacts(run);
  if (failed) return failed;

  // 2. Route entries to targets.
  const routed = routeEntries(run);
  if (run.requireAllEntries && run.entries.some((e) => e.status === 'skipped')) {
    return fail(run, 'some manifest entries have no restore target', checks);
  }

  // Two restores of the same live path never interleave: lock them all before anything is staged.
  const locks = run.dryRun
    ? undefined
    : await lockRestoreTargets([...new Set(routed.map((r) => r.target))], { purpose: 'restore', signal, logger });
  try {
    return await verifyAndApply(run, routed, checks);
  } finally {
    await locks?.release();
  }
}

/** Steps 3 to 5. */
async function verifyAndApply(
  run: RestoreRun,
  routed: readonly RoutedEntry[],
  checks: RestoreReport['checksums'],
): Promise<RestoreReport> {
  // 3. Verify all before anything live is touched.
  const tc = targetContexts(run);
  const verify = await verifyTargets(run, tc, routed);
  if (verify.failed) {
    await discardStaged(run, tc, verify.verified);
    for (const v of verify.verified) {
      if (v.report.ok) run.entries.push(entryResult(v.entry, v.target, 'verified', v.ms, { verification: v.report }));
    }
    return fail(run, 'verification failed; nothing was restored', checks);
  }
  if (run.dryRun) {
    for (const v of verify.verified) {
      run.entries.push(entryResult(v.entry, v.target, 'verified', v.ms, { verification: v.report }));
    }
    return succeed(run, checks);
  }

  // 4 and 5. Restore in order, roll back on failure; drop the ways back once all are applied.
  return applyAll(run, tc, verify.verified, checks);
}
