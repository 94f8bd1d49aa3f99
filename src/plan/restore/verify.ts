/**
 * Restore steps 1 and 3: every checksum before any target sees anything, then each target's
 * `verify` before anything live is touched.
 *
 * @module
 */
import { type BigIntStats, promises as fsp } from 'node:fs';
import path from 'node:path';
import { throwIfAborted } from '../../core/abort.js';
import { hashFile } from '../../core/artifact-writer.js';
import { fileTypeOf, VerificationError, type VerificationProblem } from '../../core/errors.js';
import { isInside } from '../../core/fs.js';
import type { Manifest } from '../../core/manifest.js';
import type { RestoreReport } from '../../contracts/restore-report.js';
import type {
  ManifestEntry,
  ProgressEvent,
  RestoreInput,
  RestoreTarget,
  SourceContext,
  VerificationReport,
} from '../../contracts/types.js';
import { asError, entryResult, fail, type RestoreRun, type TargetContexts, type VerifiedFiles } from './context.js';
import { RESTORE_PLAN_DEFAULTS } from './options.js';
import type { RoutedEntry } from './route.js';

/** What identifies one state of a file: any write changes the ctime, a replacement the inode. */
function fileIdentity(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

/**
 * Verify every artifact of a manifest against the files in `from`: existence, size, sha256, and
 * that no path leads outside `from` (through `..` or a symbolic link).
 */
export async function verifyArtifacts(
  from: string,
  manifest: Manifest,
  options: { signal?: AbortSignal; onProgress?: (e: ProgressEvent) => void; verified?: VerifiedFiles } = {},
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
    // Only a regular file of the declared size is read: a FIFO or a device would block the read.
    const st = await fsp.lstat(real, { bigint: true });
    const unread = !st.isFile()
      ? `is a ${fileTypeOf(st)}, not a regular file`
      : st.size !== BigInt(a.bytes)
        ? `size differs: ${st.size} bytes, manifest says ${a.bytes}`
        : undefined;
    if (unread) {
      problems.push({ check: `artifact ${a.path}`, message: unread, expected: a.bytes, actual: Number(st.size) });
      checks.push({ path: a.path, ok: false, bytes: st.isFile() ? Number(st.size) : 0, problem: unread });
      continue;
    }
    const id = fileIdentity(st);
    const known = options.verified?.get(real);
    const got =
      known && known.id === id && known.sha256 === a.sha256
        ? { bytes: a.bytes, sha256: known.sha256 }
        : await hashFile(real, options.signal);
    // Remembered only when the file did not change while it was read.
    if (options.verified && got.sha256 === a.sha256 && fileIdentity(await fsp.lstat(real, { bigint: true })) === id) {
      options.verified.set(real, { id, sha256: got.sha256 });
    }
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

/**
 * Step 1: every checksum. Undefined when all match; otherwise the failed report (or, unless
 * `reject: false`, the VerificationError thrown).
 */
export async function checkArtifacts(
  run: RestoreRun,
): Promise<{ checks: RestoreReport['checksums']; failed?: RestoreReport }> {
  const { from, manifest, opts } = run;
  const { checks, problems } = await verifyArtifacts(from, manifest, {
    signal: run.signal,
    verified: run.verified,
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  });
  if (problems.length === 0) return { checks };
  const err = new VerificationError(
    `the backup in ${from} is damaged: ${problems.length} artifact(s) failed verification`,
    { source: 'manifest', kind: 'manifest', phase: 'verify' },
    problems,
  );
  if ((opts.reject ?? RESTORE_PLAN_DEFAULTS.reject) !== false) throw err;
  run.entries.push(entryResult({ name: 'manifest', kind: 'manifest' }, undefined, 'failed', 0, { error: err }));
  return { checks, failed: fail(run, err.message, checks) };
}

/**
 * Add the target's prechecks of the live side to a passing verification. A check that fails only
 * because a service the caller stops first is running passes, with a note saying so.
 */
async function withPrecheck(
  report: VerificationReport,
  target: RestoreTarget,
  input: RestoreInput,
  ctx: SourceContext,
  opts: RestoreRun['opts'],
): Promise<VerificationReport> {
  if (!report.ok || !target.precheck) return report;
  const pre = await target.precheck(input, ctx);
  const stopping = new Set(opts.servicesStopping ?? []);
  const checks = pre.checks.map((c) =>
    !c.ok && c.service !== undefined && (stopping.has(c.service) || stopping.has('*'))
      ? {
          ...c,
          ok: true,
          detail: `${c.detail ?? 'fails now'} — the maintenance window stops ${c.service === '*' ? 'it' : c.service} first`,
        }
      : c,
  );
  return { ...report, ok: checks.every((c) => c.ok), checks: [...report.checks, ...checks] };
}

/** An entry its target verified, with the report and how long it took. */
export interface VerifiedEntry {
  readonly entry: ManifestEntry;
  readonly target: RestoreTarget;
  readonly report: VerificationReport;
  readonly ms: number;
}

/**
 * Step 3: verify all before anything live is touched. Unless this is a dry run, a restore
 * follows, so targets may keep what verifying built (a loaded scratch database) for it.
 */
export async function verifyTargets(
  run: RestoreRun,
  tc: TargetContexts,
  routed: readonly RoutedEntry[],
): Promise<{ verified: VerifiedEntry[]; failed: boolean }> {
  const { opts, signal, dryRun } = run;
  const verified: VerifiedEntry[] = [];
  let failed = false;
  for (const { entry, target } of routed) {
    const t1 = performance.now();
    try {
      const verifiedReport =
        (opts.verifyTargets ?? RESTORE_PLAN_DEFAULTS.verifyTargets) === false
          ? { ok: true, checks: [{ name: 'verify', ok: true, detail: 'verified by the caller before' }] }
          : await target.verify({ ...tc.inputOf(entry), stage: !dryRun }, tc.ctxFor(target));
      const report = await withPrecheck(verifiedReport, target, tc.inputOf(entry), tc.ctxFor(target), opts);
      verified.push({ entry, target, report, ms: performance.now() - t1 });
      if (!report.ok) {
        failed = true;
        run.entries.push(
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
      if (signal.aborted) await discardStaged(run, tc, verified);
      throwIfAborted(signal);
      failed = true;
      run.entries.push(entryResult(entry, target, 'failed', performance.now() - t1, { error: asError(e) }));
    }
  }
  return { verified, failed };
}

/** Hand back what staged verifies kept, for entries no restore will use. Never throws. */
export async function discardStaged(
  run: RestoreRun,
  tc: TargetContexts,
  list: readonly VerifiedEntry[],
): Promise<void> {
  for (const v of list) {
    if (!v.report.staged || !v.target.discard) continue;
    await v.target
      .discard(v.report, tc.cleanupCtxFor(v.target))
      .catch((e: unknown) =>
        run.logger.warn('could not discard what verify staged', { source: v.entry.name, error: String(e) }),
      );
  }
}
