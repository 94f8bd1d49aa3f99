/**
 * Restore plans: read the manifest, verify every checksum, route entries to targets, verify all,
 * then restore in order — and roll back the targets already applied when one fails.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { neverAborted, throwIfAborted } from '../core/abort.js';
import { hashFile } from '../core/artifact-writer.js';
import {
  ConfigError,
  DuplicatiKitError,
  errorGuard,
  PlanError,
  RestoreError,
  VerificationError,
  type VerificationProblem,
} from '../core/errors.js';
import { isInside } from '../core/fs.js';
import { type Logger, silentLogger } from '../core/logger.js';
import { type Manifest, readManifest } from '../core/manifest.js';
import { expandEntry } from './compose.js';
import { sourceContext } from './backup-plan.js';
import { configErrorFrom } from '../core/validate.js';
import type { EntryResult, EntryStatus, RestoreReport } from '../contracts/restore-report.js';
import type {
  ManifestEntry,
  ProgressEvent,
  ResolvedArtifact,
  RestoreInput,
  RestoreOutput,
  RestoreTarget,
  VerificationReport,
} from '../contracts/types.js';

export type { EntryResult, EntryStatus, RestoreReport } from '../contracts/restore-report.js';

/** Options of {@link createRestorePlan}. */
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
}

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

/** A restore plan. */
export interface RestorePlan {
  readonly targets: readonly RestoreTarget[];
  /** Verify and (unless `dryRun`) restore what `from` holds. */
  run(options: RestoreRunOptions): Promise<RestoreReport>;
}

const optionsSchema = z
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

/**
 * Verify every artifact of a manifest against the files in `from`: existence, size, sha256, and
 * that no path leads outside `from` (through `..` or a symbolic link).
 */
export async function verifyArtifacts(
  from: string,
  manifest: Manifest,
  options: { signal?: AbortSignal; onProgress?: (e: ProgressEvent) => void } = {},
): Promise<{ checks: RestoreReport['checksums']; problems: VerificationProblem[] }> {
  const checks: { path: string; ok: boolean; bytes: number; problem?: string }[] = [];
  const problems: VerificationProblem[] = [];
  const root = await fsp.realpath(from);
  const all = manifest.sources.flatMap((s) => s.artifacts);
  const total = all.reduce((n, a) => n + a.bytes, 0);
  let done = 0;
  for (const a of all) {
    throwIfAborted(options.signal);
    const file = path.join(root, ...a.path.split('/'));
    let real: string;
    try {
      real = await fsp.realpath(file);
    } catch {
      problems.push({ check: `artifact ${a.path}`, message: 'missing' });
      checks.push({ path: a.path, ok: false, bytes: 0, problem: 'missing' });
      continue;
    }
    if (!isInside(root, real)) {
      problems.push({ check: `artifact ${a.path}`, message: 'resolves outside the restore folder' });
      checks.push({ path: a.path, ok: false, bytes: 0, problem: 'resolves outside the restore folder' });
      continue;
    }
    const got = await hashFile(real, options.signal);
    done += got.bytes;
    options.onProgress?.({ source: 'manifest', phase: 'verify', completed: done, total, unit: 'bytes' });
    let problem: string | undefined;
    if (got.bytes !== a.bytes) {
      problem = `size differs: ${got.bytes} bytes, manifest says ${a.bytes}`;
      problems.push({ check: `artifact ${a.path}`, message: 'size differs', expected: a.bytes, actual: got.bytes });
    } else if (got.sha256 !== a.sha256) {
      problem = 'sha256 differs from the manifest';
      problems.push({ check: `artifact ${a.path}`, message: 'sha256 differs', expected: a.sha256, actual: got.sha256 });
    }
    checks.push({ path: a.path, ok: problem === undefined, bytes: got.bytes, ...(problem ? { problem } : {}) });
  }
  return { checks, problems };
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

/** One entry's outcome; `ok` follows the status (verified, restored) unless `extra` says otherwise. */
function entryResult(
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

const asError = (e: unknown): Error => (e instanceof Error ? e : new DuplicatiKitError(String(e)));

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

  const run = async (opts: RestoreRunOptions): Promise<RestoreReport> => {
    if (!opts || typeof opts.from !== 'string' || !opts.from) {
      throw new ConfigError('restore needs a folder to restore from', [{ path: 'from', message: 'required' }]);
    }
    const t0 = performance.now();
    const signal = opts.signal ?? neverAborted();
    const dryRun = opts.dryRun ?? false;
    const from = path.resolve(opts.from);
    const manifest = await readManifest(from, { signal });
    const entries: EntryResult[] = [];
    const fail = (message: string, checksums: RestoreReport['checksums']): RestoreReport => {
      const report: RestoreReport = {
        ok: false,
        dryRun,
        from,
        manifest,
        checksums,
        entries,
        durationMs: performance.now() - t0,
      };
      if (opts.reject !== false) throw new RestorePlanError(message, report);
      return report;
    };

    // 1. Every checksum, before any target sees anything.
    const { checks, problems } = await verifyArtifacts(from, manifest, {
      signal,
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    });
    if (problems.length > 0) {
      const err = new VerificationError(
        `the backup in ${from} is damaged: ${problems.length} artifact(s) failed verification`,
        { source: 'manifest', kind: 'manifest', phase: 'verify' },
        problems,
      );
      if (opts.reject !== false) throw err;
      entries.push(entryResult({ name: 'manifest', kind: 'manifest' }, undefined, 'failed', 0, { error: err }));
      return fail(err.message, checks);
    }

    // 2. Route entries to targets; a composite entry no target takes whole is split into its parts.
    const selected = manifest.sources.filter((s) => !opts.only || opts.only.includes(s.name));
    if (opts.only) {
      const missing = opts.only.filter((n) => !manifest.sources.some((s) => s.name === n));
      if (missing.length) {
        throw new ConfigError(`the manifest has no source named ${missing.join(', ')}`, [
          { path: 'only', message: `known: ${manifest.sources.map((s) => s.name).join(', ')}` },
        ]);
      }
    }
    const routed: { entry: ManifestEntry; target: RestoreTarget }[] = [];
    const route = (entry: ManifestEntry): void => {
      const target = targets.find((t) => t.accepts(entry));
      if (target) {
        routed.push({ entry, target });
        return;
      }
      const parts = expandEntry(entry);
      if (parts.length > 0) {
        for (const p of parts) route(p);
        return;
      }
      entries.push(
        entryResult(entry, undefined, 'skipped', 0, {
          ok: !options.requireAllEntries,
          ...(options.requireAllEntries
            ? {
                error: new RestoreError('no restore target accepts this entry', {
                  source: entry.name,
                  kind: entry.kind,
                  phase: 'restore',
                }),
              }
            : {}),
        }),
      );
    };
    for (const e of selected) route(e);
    if (options.requireAllEntries && entries.some((e) => e.status === 'skipped')) {
      return fail('some manifest entries have no restore target', checks);
    }

    const workDir = path.resolve(opts.workDir ?? path.join(from, '.restore-work'));
    const ctxFor = (t: RestoreTarget) =>
      sourceContext(t, { workDir, signal, logger, dryRun, onProgress: opts.onProgress });
    /** For clean-up that must run even after the caller aborted (rollback, discarding staged work). */
    const cleanupCtxFor = (t: RestoreTarget) =>
      sourceContext(t, { workDir, signal: neverAborted(), logger, dryRun, onProgress: opts.onProgress });
    const inputOf = (entry: ManifestEntry): RestoreInput => restoreInputOf(from, manifest, entry);

    // 3. Verify all before anything live is touched. Unless this is a dry run, a restore follows,
    // so targets may keep what verifying built (a loaded scratch database) for it.
    const verified: { entry: ManifestEntry; target: RestoreTarget; report: VerificationReport; ms: number }[] = [];
    /** Hand back what staged verifies kept, for entries no restore will use. Never throws. */
    const discard = async (list: readonly (typeof verified)[number][]): Promise<void> => {
      for (const v of list) {
        if (!v.report.staged || !v.target.discard) continue;
        await v.target
          .discard(v.report, cleanupCtxFor(v.target))
          .catch((e: unknown) =>
            logger.warn('could not discard what verify staged', { source: v.entry.name, error: String(e) }),
          );
      }
    };
    let verifyFailed = false;
    for (const { entry, target } of routed) {
      const t1 = performance.now();
      try {
        const report =
          opts.verifyTargets === false
            ? { ok: true, checks: [{ name: 'verify', ok: true, detail: 'verified by the caller before' }] }
            : await target.verify({ ...inputOf(entry), stage: !dryRun }, ctxFor(target));
        verified.push({ entry, target, report, ms: performance.now() - t1 });
        if (!report.ok) {
          verifyFailed = true;
          entries.push(
            entryResult(entry, target, 'failed', performance.now() - t1, {
              verification: report,
              error: new VerificationError(
                'restored material failed verification',
                { source: entry.name, kind: entry.kind, phase: 'verify' },
                report.checks.filter((c) => !c.ok).map((c) => ({ check: c.name, message: c.detail ?? 'failed' })),
              ),
            }),
          );
        }
      } catch (e) {
        if (signal.aborted) await discard(verified);
        throwIfAborted(signal);
        verifyFailed = true;
        entries.push(entryResult(entry, target, 'failed', performance.now() - t1, { error: asError(e) }));
      }
    }
    if (verifyFailed) {
      await discard(verified);
      for (const v of verified) {
        if (v.report.ok) entries.push(entryResult(v.entry, v.target, 'verified', v.ms, { verification: v.report }));
      }
      return fail('verification failed; nothing was restored', checks);
    }
    if (dryRun) {
      for (const v of verified) {
        entries.push(entryResult(v.entry, v.target, 'verified', v.ms, { verification: v.report }));
      }
      return { ok: true, dryRun, from, manifest, checksums: checks, entries, durationMs: performance.now() - t0 };
    }

    // 4. Restore in order; on failure roll back what was applied, newest first.
    const applied: { v: (typeof verified)[number]; output: RestoreOutput; ms: number }[] = [];
    for (let i = 0; i < verified.length; i++) {
      const v = verified[i] as (typeof verified)[number];
      const t1 = performance.now();
      try {
        throwIfAborted(signal);
        logger.info('restoring', { source: v.entry.name, target: v.target.name });
        const output = await v.target.restore({ ...inputOf(v.entry), verified: v.report }, ctxFor(v.target));
        applied.push({ v, output, ms: performance.now() - t1 });
      } catch (e) {
        const error = asError(e);
        logger.error('restore failed; rolling back', { source: v.entry.name, error: error.message });
        // Roll back even when the caller aborted: a half-applied restore is the worst outcome.
        const rolled: EntryResult[] = [];
        for (const a of [...applied].reverse()) {
          try {
            if (!a.v.target.rollback)
              throw new RestoreError('target cannot roll back', {
                source: a.v.entry.name,
                kind: a.v.entry.kind,
                phase: 'rollback',
              });
            await a.v.target.rollback(a.output, cleanupCtxFor(a.v.target));
            rolled.push(entryResult(a.v.entry, a.v.target, 'rolled-back', a.ms, { output: a.output }));
          } catch (re) {
            logger.error('rollback failed; manual action needed', {
              source: a.v.entry.name,
              safetyCopy: a.output.safetyCopy,
              error: (re as Error).message,
            });
            rolled.push(
              entryResult(a.v.entry, a.v.target, 'rollback-failed', a.ms, { output: a.output, error: asError(re) }),
            );
          }
        }
        entries.push(...rolled.reverse());
        // This entry's own staged work too: its restore may have failed before taking it over.
        await discard(verified.slice(i));
        entries.push(entryResult(v.entry, v.target, 'failed', performance.now() - t1, { error }));
        for (const rest of verified.slice(i + 1)) entries.push(entryResult(rest.entry, rest.target, 'not-run', 0));
        if (signal.aborted) throw signal.reason;
        const stuck = rolled.filter((r) => r.status === 'rollback-failed');
        return fail(
          stuck.length
            ? `restore failed and ${stuck.length} target(s) could not be rolled back — see safety copies: ${stuck.map((s) => s.output?.safetyCopy ?? s.name).join(', ')}`
            : 'restore failed; every applied target was rolled back',
          checks,
        );
      }
    }

    // 5. All applied: drop the ways back. A failure here leaves an extra copy, not a broken restore.
    for (const a of applied) {
      try {
        if (opts.finalize !== false) await a.v.target.finalize?.(a.output, ctxFor(a.v.target));
      } catch (e) {
        logger.warn('finalize failed; a safety copy may remain', {
          source: a.v.entry.name,
          safetyCopy: a.output.safetyCopy,
          error: (e as Error).message,
        });
      }
      entries.push(
        entryResult(a.v.entry, a.v.target, 'restored', a.ms, { verification: a.v.report, output: a.output }),
      );
    }
    return { ok: true, dryRun, from, manifest, checksums: checks, entries, durationMs: performance.now() - t0 };
  };

  return { targets, run };
}
