/**
 * `recoverServer()`: disaster recovery on a new host, from the off-site copy and its passphrase
 * to a verified, running server.
 *
 * Steps (each recorded in `recover-state.json`; a second run continues after the last one done):
 * 1. select-version — list the versions (direct read, no job, no local database), pick one;
 * 2. restore-staged — restore the staged folder (dumps, manifest, `recovery/`) into scratch;
 * 3. verify-checksums — every artifact against the manifest (a damaged version is refused);
 * 4. preflight — before anything is written on the host: each live folder's destination (after the
 *    path map) empty or absent, free space for the dumps, and the restore targets' own checks in a
 *    dry run (database servers reachable, major versions, the vector extension a dump needs,
 *    Jellyfin stopped);
 * 5. restore-folders — the live folders through Duplicati, with the path map applied (first: a
 *    database may live inside a restored folder, as Jellyfin's does);
 * 6. restore-databases — through the restore targets of the new host's config;
 * 7. rewrite-paths — paths stored inside the apps, under the map (a rewriter supplied by the caller);
 * 8. app-checks — the caller's app checks;
 * 9. recreate-jobs — the Duplicati jobs from `recovery/jobs.json`, sources mapped.
 * The evidence report (`recover-report.json`) has the time each step took.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { neverAborted, throwIfAborted } from '../../core/abort.js';
import { hashFile } from '../../core/artifact-writer.js';
import { describeError } from '../../core/errors.js';
import { asFolderPath, exists, isInside, writeFileAtomic } from '../../core/fs.js';
import type { JsonValue } from '../../core/json.js';
import { type Logger, silentLogger } from '../../core/logger.js';
import { type Manifest, readManifest } from '../../core/manifest.js';
import { commonFolderPrefix, mappingOf, mapPath as mapThrough, type PathMapping } from '../../core/path-map.js';
import type { RecoveryContext, VerificationReport } from '../../contracts/types.js';
import type { RestorePlan } from '../../plan/restore-plan.js';
import type { DuplicatiClient } from '../../duplicati/client.js';
import { RECOVERY_KIND, RECOVERY_SOURCE, type RecoveryJobsFile } from './types.js';
import { type BackupReader, type FolderRestore, RecoveryError, type RecoveryVersion } from './reader.js';
import {
  isDone,
  type RecoverState,
  type RecoverStepName,
  type RecoverStepRecord,
  RECOVER_STEPS,
  readRecoverState,
  record,
  writeRecoverState,
} from './state.js';
import { recreateJobs } from './jobs.js';

export type { PathMapping } from '../../core/path-map.js';

/** What a caller-supplied step gets. */
export interface RecoverStepContext {
  readonly manifest: Manifest;
  /** The restored staged folder. */
  readonly stagedDir: string;
  readonly pathMap: readonly PathMapping[];
  mapPath(p: string): string;
  readonly signal: AbortSignal;
  readonly logger: Logger;
}

/** Options of {@link recoverServer}. */
export interface RecoverOptions {
  /** Where the backup is read from (see `duplicatiDirectReader`). */
  readonly reader: BackupReader;
  /** The recovery work folder: scratch, state file, evidence report. */
  readonly workDir: string;
  /** Version number (0 = newest). */
  readonly version?: number;
  /** Or the newest version at or before this time (ISO-8601). */
  readonly time?: string;
  readonly pathMap?: readonly PathMapping[];
  /** The new host's restore plan (its config's restore targets) for the databases. */
  readonly restorePlan?: RestorePlan;
  /** Rewrites the paths stored inside the apps under the map (Jellyfin, Immich). */
  readonly rewritePaths?: (ctx: RecoverStepContext) => Promise<JsonValue>;
  /** App checks after the restore (Immich database against the library, Jellyfin counts). */
  readonly appChecks?: (ctx: RecoverStepContext) => Promise<JsonValue>;
  /** The new host's Duplicati server, to re-create the jobs on. */
  readonly client?: DuplicatiClient;
  /** The passphrase the re-created encrypted jobs get (the backup's own). */
  readonly passphrase?: string | null;
  /** The target URL with credentials, for jobs whose stored URL had them removed. */
  readonly targetUrl?: string;
  /** Run steps 1–4 (nothing outside `workDir` is written) and describe the rest. */
  readonly dryRun?: boolean;
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
  /** Called as each step starts and ends. */
  readonly onStep?: (step: RecoverStepName, phase: 'start' | 'done' | 'skipped' | 'failed', detail?: string) => void;
}

/** The evidence report (also written to `recover-report.json`). */
export interface RecoverReport {
  readonly ok: boolean;
  readonly dryRun: boolean;
  readonly source: string;
  readonly time: string | null;
  readonly version: number | null;
  readonly stagedFolder: string | null;
  readonly steps: readonly RecoverStepRecord[];
  /** Steps a dry run would perform next. */
  readonly planned: readonly { readonly step: RecoverStepName; readonly would: string }[];
  readonly totalMs: number;
  readonly error?: string;
}

/** File name of the evidence report inside the recovery work folder. */
export const RECOVER_REPORT_FILE = 'recover-report.json';

/** Map a path through the longest matching entry of the map; unchanged when none matches. */
export function mapPath(map: readonly PathMapping[], p: string): string {
  const mapped = mapThrough(map, p);
  // Folder paths keep their trailing slash (Duplicati's form).
  return p.endsWith('/') && !mapped.endsWith('/') ? `${mapped}/` : mapped;
}

/** Pick the version: `time` (newest at or before), `version`, or the newest. */
export function pickRecoveryVersion(
  versions: readonly RecoveryVersion[],
  sel: { version?: number; time?: string },
): RecoveryVersion {
  if (versions.length === 0)
    throw new RecoveryError('the target holds no backup versions', { code: 'ERR_RECOVERY_EMPTY' });
  const sorted = [...versions].sort((a, b) => a.version - b.version);
  if (sel.time !== undefined) {
    const t = Date.parse(sel.time);
    if (Number.isNaN(t)) throw new RecoveryError(`--time ${sel.time} is not a date`, { code: 'ERR_RECOVERY_TIME' });
    const hit = sorted.find((v) => Date.parse(v.time) <= t);
    if (!hit) throw new RecoveryError(`no version at or before ${sel.time} (oldest: ${sorted.at(-1)?.time})`);
    return hit;
  }
  const want = sel.version ?? 0;
  const hit = sorted.find((v) => v.version === want);
  if (!hit) throw new RecoveryError(`no version ${want}: the target has ${sorted.length} (0 = newest)`);
  return hit;
}

/** The deepest existing folder at or above `dir` (where a folder to be created would live). */
async function nearestExisting(dir: string): Promise<string> {
  let d = path.resolve(dir);
  for (;;) {
    try {
      await fsp.stat(d);
      return d;
    } catch {
      const up = path.dirname(d);
      if (up === d) return d;
      d = up;
    }
  }
}

/** The folder a live path restores to, and whether it is empty (or absent). */
async function isEmptyOrAbsent(dir: string): Promise<boolean> {
  try {
    return (await fsp.readdir(dir)).length === 0;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true;
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
    throw e;
  }
}

interface Run {
  readonly o: RecoverOptions;
  readonly state: RecoverState;
  readonly signal: AbortSignal;
  readonly logger: Logger;
  readonly map: readonly PathMapping[];
  readonly stagedDir: string;
  /** Folder (true) or file, per include path without a trailing `/`. */
  readonly kinds: Map<string, boolean>;
  manifest?: Manifest;
}

async function step(
  run: Run,
  name: RecoverStepName,
  fn: () => Promise<JsonValue | { skipped: string }>,
): Promise<void> {
  if (isDone(run.state, name)) {
    run.o.onStep?.(name, 'skipped', 'done in an earlier run');
    return;
  }
  throwIfAborted(run.signal);
  run.o.onStep?.(name, 'start');
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  try {
    const detail = await fn();
    const skipped = detail !== null && typeof detail === 'object' && !Array.isArray(detail) && 'skipped' in detail;
    record(run.state, {
      step: name,
      status: skipped ? 'skipped' : 'done',
      startedAt,
      durationMs: Math.round(performance.now() - t0),
      detail: detail as JsonValue,
    });
    await writeRecoverState(run.o.workDir, run.state);
    run.o.onStep?.(
      name,
      skipped ? 'skipped' : 'done',
      skipped ? String((detail as { skipped: string }).skipped) : undefined,
    );
  } catch (e) {
    record(run.state, {
      step: name,
      status: 'failed',
      startedAt,
      durationMs: Math.round(performance.now() - t0),
      detail: null,
      error: describeError(e),
    });
    await writeRecoverState(run.o.workDir, run.state);
    run.o.onStep?.(name, 'failed', describeError(e));
    throw e;
  }
}

/**
 * The live folders (and single files, such as Immich's `.immich` markers of folders left out) of
 * the backup, each with its destination on the new host. A path written without a trailing `/`
 * is looked up in the backup: folder or file.
 */
async function folderPlan(run: Run, manifest: Manifest): Promise<FolderRestore[]> {
  const staged = run.state.stagedFolder ?? '';
  const out: FolderRestore[] = [];
  for (const p of manifest.includePaths) {
    if (isInside(staged, asFolderPath(p))) continue;
    let folder = p.endsWith('/');
    if (!folder) {
      const known = run.kinds.get(p);
      folder =
        known ?? (run.o.reader.isFolder ? await run.o.reader.isFolder(run.state.time as string, p, run.signal) : true);
      run.kinds.set(p, folder);
    }
    out.push(
      folder
        ? { from: asFolderPath(p), to: asFolderPath(mapPath(run.map, asFolderPath(p))) }
        : { from: p, to: mapPath(run.map, p), file: true },
    );
  }
  return out;
}

/** Names of the manifest sources the restore plan handles (dumps), recovery kit excluded. */
function databaseSources(manifest: Manifest): string[] {
  return manifest.sources.filter((s) => s.kind !== RECOVERY_KIND && s.artifacts.length > 0).map((s) => s.name);
}

function ctxOf(run: Run): RecoverStepContext {
  if (!run.manifest) throw new RecoveryError('internal: the manifest is not read yet');
  return {
    manifest: run.manifest,
    stagedDir: run.stagedDir,
    pathMap: run.map,
    mapPath: (p) => mapPath(run.map, p),
    signal: run.signal,
    logger: run.logger,
  };
}

async function verifyChecksums(run: Run): Promise<JsonValue> {
  const manifest = await readManifest(run.stagedDir, { signal: run.signal });
  if (!manifest.sources.some((s) => s.name === RECOVERY_SOURCE && s.kind === RECOVERY_KIND)) {
    throw new RecoveryError('this version has no recovery kit in its manifest', { code: 'ERR_RECOVERY_NO_KIT' });
  }
  const bad: string[] = [];
  let files = 0;
  let bytes = 0;
  for (const s of manifest.sources) {
    for (const a of s.artifacts) {
      const file = path.join(run.stagedDir, ...a.path.split('/'));
      try {
        const h = await hashFile(file, run.signal);
        if (h.bytes !== a.bytes || h.sha256 !== a.sha256) bad.push(`${a.path} (sha256 differs from the manifest)`);
      } catch (e) {
        if (run.signal.aborted) throw e;
        bad.push(`${a.path} (${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : describeError(e)})`);
      }
      files += 1;
      bytes += a.bytes;
    }
  }
  if (bad.length > 0) {
    throw new RecoveryError(
      `the version at ${run.state.time} is damaged, nothing was written: ${bad.join('; ')}. Pick an older version (--version N)`,
      { code: 'ERR_RECOVERY_DAMAGED' },
    );
  }
  run.manifest = manifest;
  return { files, bytes, host: manifest.host, backedUpAt: manifest.finishedAt };
}

async function preflight(run: Run): Promise<JsonValue> {
  const manifest = run.manifest as Manifest;
  const problems: string[] = [];
  const folders = await folderPlan(run, manifest);
  for (const f of folders) {
    if (run.state.foldersDone.includes(f.from)) continue;
    if (f.file) {
      if (await exists(f.to)) problems.push(`${f.to} (for ${f.from}) exists: the recovery never overwrites a file`);
    } else if (!(await isEmptyOrAbsent(f.to))) {
      problems.push(`${f.to} (for ${f.from}) is not empty: the recovery writes only into empty or absent folders`);
    }
  }
  // Free space, per file system: the staged dumps are already in the work folder (a database
  // restore reads them from there); each folder needs the size of its files in this version.
  const dumpBytes = manifest.sources.reduce((n, s) => n + s.artifacts.reduce((m, a) => m + a.bytes, 0), 0);
  const space = new Map<string, { free: number; need: number; what: string[] }>();
  const fsOf = async (dir: string) => {
    const existing = await nearestExisting(dir);
    const st = await fsp.statfs(existing);
    const key = `${st.type}:${st.blocks}:${st.bsize}:${(await fsp.stat(existing)).dev}`;
    let e = space.get(key);
    if (!e) {
      e = { free: st.bavail * st.bsize, need: 0, what: [] };
      space.set(key, e);
    }
    return e;
  };
  const folderBytes: { folder: string; bytes: number | null }[] = [];
  for (const f of folders) {
    if (run.state.foldersDone.includes(f.from)) continue;
    const bytes = run.o.reader.folderBytes
      ? await run.o.reader.folderBytes(run.state.time as string, f.from, run.signal, f.file)
      : null;
    folderBytes.push({ folder: f.to, bytes });
    if (bytes === null) continue;
    const e = await fsOf(f.to);
    e.need += bytes;
    e.what.push(`${f.to} (${bytes} bytes)`);
  }
  for (const e of space.values()) {
    if (e.need > e.free)
      problems.push(`not enough free space: ${e.what.join(' + ')} need ${e.need} bytes, ${e.free} free`);
  }
  const work = await fsp.statfs(run.o.workDir);
  const free = work.bavail * work.bsize;
  const dbs = databaseSources(manifest);
  let verified: JsonValue = { skipped: 'no restore plan given' };
  if (run.o.restorePlan && dbs.length > 0) {
    const r = await run.o.restorePlan.run({
      from: run.stagedDir,
      only: dbs,
      dryRun: true,
      reject: false,
      signal: run.signal,
    });
    for (const e of r.entries) {
      if (!e.ok) problems.push(`${e.name}: ${e.error?.message.split('\n')[0] ?? 'verification failed'}`);
      for (const c of e.verification?.checks ?? [])
        if (!c.ok) problems.push(`${e.name}: ${c.name}: ${c.detail ?? 'failed'}`);
    }
    if (!r.ok && problems.length === 0) problems.push('the restore targets refused the dumps');
    verified = r.entries.map((e) => ({ source: e.name, status: e.status, ok: e.ok }));
  }
  if (problems.length > 0) {
    throw new RecoveryError(
      `preflight failed, nothing was written on this host:\n  - ${[...new Set(problems)].join('\n  - ')}`,
      {
        code: 'ERR_RECOVERY_PREFLIGHT',
      },
    );
  }
  return {
    folders: folders.map((f) => ({ from: f.from, to: f.to })),
    folderBytes,
    dumpBytes,
    freeBytes: free,
    targets: verified,
  };
}

async function restoreDatabases(run: Run): Promise<JsonValue> {
  const manifest = run.manifest as Manifest;
  const dbs = databaseSources(manifest);
  if (dbs.length === 0) return { skipped: 'the backup has no dumps' };
  if (!run.o.restorePlan) return { skipped: 'no restore targets configured for this host (config restore.targets)' };
  const r = await run.o.restorePlan.run({ from: run.stagedDir, only: dbs, reject: false, signal: run.signal });
  if (!r.ok) {
    const why = r.entries.filter((e) => !e.ok).map((e) => `${e.name}: ${e.error?.message.split('\n')[0] ?? 'failed'}`);
    throw new RecoveryError(`restoring the databases failed (rolled back): ${why.join('; ')}`, {
      code: 'ERR_RECOVERY_DATABASES',
    });
  }
  return r.entries.map((e) => ({ source: e.name, status: e.status, durationMs: Math.round(e.durationMs) }));
}

async function restoreFolders(run: Run): Promise<JsonValue> {
  const folders = await folderPlan(run, run.manifest as Manifest);
  if (folders.length === 0) return { skipped: 'the backup has no live folders' };
  const pending = folders.filter((f) => !run.state.foldersDone.includes(f.from));
  // Folders moved by the same map entry go in one restore (the reader reads the volumes once):
  // below their common folder, each lands where the map puts it.
  const groups = new Map<string, FolderRestore[]>();
  for (const f of pending) {
    const m = mappingOf(run.map, f.from);
    const key = m ? `${m.from}\0${m.to}` : '';
    groups.set(key, [...(groups.get(key) ?? []), f]);
  }
  const passes: JsonValue[] = [];
  for (const group of groups.values()) {
    // A pass cut short by a crash: start its folders again from empty (they were empty before we began).
    for (const f of group) await fsp.rm(f.to, { recursive: true, force: true });
    if (run.o.reader.restoreMany && group.length > 1) {
      const prefix = commonFolderPrefix(group.map((f) => f.from));
      const to = asFolderPath(mapPath(run.map, prefix));
      await run.o.reader.restoreMany(run.state.time as string, group, prefix, to, run.signal);
      passes.push({ from: prefix, to, items: group.length });
    } else {
      for (const f of group) {
        await run.o.reader.restoreFolders(run.state.time as string, [f], run.signal);
        passes.push({ from: f.from, to: f.to, items: 1 });
      }
    }
    run.state.foldersDone.push(...group.map((f) => f.from));
    await writeRecoverState(run.o.workDir, run.state);
  }
  return { folders: folders.map((f) => ({ from: f.from, to: f.to, file: f.file === true })), passes };
}

/**
 * Recover a server on a new host from its off-site backup.
 *
 * @throws {RecoveryError} with a clear message (wrong passphrase, no duplicati-kit backup, a
 *   damaged version, a non-empty destination); the state file records how far it got.
 * @example
 * ```ts
 * const reader = duplicatiDirectReader({ client, targetUrl, passphrase });
 * const report = await recoverServer({ reader, workDir: '/var/tmp/recover', pathMap: [{ from: '/srv', to: '/data' }],
 *   restorePlan: cfg.restorePlan(), client, passphrase, signal });
 * ```
 */
export async function recoverServer(o: RecoverOptions): Promise<RecoverReport> {
  const signal = o.signal ?? neverAborted();
  const logger = o.logger ?? silentLogger;
  const t0 = performance.now();
  await fsp.mkdir(o.workDir, { recursive: true, mode: 0o700 });
  const state = await readRecoverState(o.workDir);
  const run: Run = {
    o,
    state,
    signal,
    logger,
    map: o.pathMap ?? [],
    stagedDir: path.join(o.workDir, 'staged'),
    kinds: new Map(),
  };
  const planned: { step: RecoverStepName; would: string }[] = [];
  let error: string | undefined;
  let shownSteps: readonly RecoverStepRecord[] | undefined;
  try {
    await step(run, 'select-version', async () => {
      const versions = await o.reader.versions(signal);
      const v = pickRecoveryVersion(versions, {
        ...(o.version !== undefined ? { version: o.version } : {}),
        ...(o.time ? { time: o.time } : {}),
      });
      state.time = v.time;
      state.version = v.version;
      return { version: v.version, time: v.time, versions: versions.length };
    });
    await step(run, 'restore-staged', async () => {
      const staged = await o.reader.findStagedFolder(state.time as string, signal);
      state.stagedFolder = staged;
      await fsp.rm(run.stagedDir, { recursive: true, force: true });
      await o.reader.restoreFolders(state.time as string, [{ from: staged, to: run.stagedDir }], signal);
      return { stagedFolder: staged, to: run.stagedDir };
    });
    if (isDone(state, 'verify-checksums')) run.manifest = await readManifest(run.stagedDir, { signal });
    await step(run, 'verify-checksums', () => verifyChecksums(run));
    // Preflight runs again on every run that still has writing steps ahead: the host may have changed.
    if (!isDone(state, 'restore-folders')) {
      state.steps.splice(0, state.steps.length, ...state.steps.filter((s) => s.step !== 'preflight'));
    }
    await step(run, 'preflight', () => preflight(run));
    if (o.dryRun) {
      const folders = await folderPlan(run, run.manifest as Manifest);
      const describe: Partial<Record<RecoverStepName, string>> = {
        'restore-databases': `restore ${databaseSources(run.manifest as Manifest).join(', ') || 'no dumps'} through the restore targets`,
        'restore-folders': folders.map((f) => `${f.from} -> ${f.to}`).join(', ') || 'no live folders',
        'rewrite-paths': o.rewritePaths ? `rewrite stored paths under ${JSON.stringify(run.map)}` : 'no path rewriter',
        'app-checks': o.appChecks ? 'run the app checks' : 'no app checks',
        'recreate-jobs': o.client
          ? 're-create the jobs of recovery/jobs.json on the new server'
          : 'no Duplicati server given',
      };
      for (const s of RECOVER_STEPS.slice(4))
        if (!isDone(state, s)) planned.push({ step: s, would: describe[s] ?? '' });
      // A dry run leaves no "done" preflight behind: the real run checks again.
      shownSteps = [...state.steps];
      state.steps.splice(0, state.steps.length, ...state.steps.filter((s) => s.step !== 'preflight'));
      await writeRecoverState(o.workDir, state);
    } else {
      // Folders first: a database target may write inside a restored folder (Jellyfin's database
      // lives in its data folder, which the folder restore starts from empty).
      await step(run, 'restore-folders', () => restoreFolders(run));
      await step(run, 'restore-databases', () => restoreDatabases(run));
      await step(run, 'rewrite-paths', async () =>
        o.rewritePaths && run.map.length > 0
          ? o.rewritePaths(ctxOf(run))
          : { skipped: run.map.length ? 'no path rewriter' : 'no path map' },
      );
      await step(run, 'app-checks', async () =>
        o.appChecks ? o.appChecks(ctxOf(run)) : { skipped: 'no app checks configured' },
      );
      await step(run, 'recreate-jobs', async () => {
        if (!o.client) return { skipped: 'no Duplicati server given' };
        const file = path.join(run.stagedDir, RECOVERY_SOURCE, 'jobs.json');
        const jobs = JSON.parse(await fsp.readFile(file, 'utf8')) as RecoveryJobsFile;
        return recreateJobs(o.client, jobs, {
          mapPath: (p) => mapPath(run.map, p),
          passphrase: o.passphrase ?? null,
          ...(o.targetUrl ? { targetUrl: o.targetUrl } : {}),
          signal,
        });
      });
    }
  } catch (e) {
    if (signal.aborted) throw e;
    error = describeError(e);
    logger.error('recovery failed', { error });
  }
  const report: RecoverReport = {
    ok: error === undefined,
    dryRun: o.dryRun ?? false,
    source: o.reader.describe,
    time: state.time ?? null,
    version: state.version ?? null,
    stagedFolder: state.stagedFolder ?? null,
    steps: shownSteps ?? state.steps,
    planned,
    totalMs: Math.round(performance.now() - t0),
    ...(error ? { error } : {}),
  };
  await writeFileAtomic(path.join(o.workDir, RECOVER_REPORT_FILE), `${JSON.stringify(report, null, 2)}\n`);
  return report;
}

/**
 * The recovery hooks of a restore plan's targets (Immich, Jellyfin: `rewriteStoredPaths`,
 * `recoveryCheck`), as the `rewritePaths` and `appChecks` options of {@link recoverServer}.
 * A failed app check fails the step (the evidence names it); the next run runs the checks again.
 *
 * @example
 * ```ts
 * const plan = cfg.restorePlan();
 * await recoverServer({ reader, workDir, restorePlan: plan, ...recoveryHooksOf(plan) });
 * ```
 */
export function recoveryHooksOf(plan: RestorePlan): Pick<RecoverOptions, 'rewritePaths' | 'appChecks'> {
  const rewriters = plan.targets.filter((t) => typeof t.rewriteStoredPaths === 'function');
  const checkers = plan.targets.filter((t) => typeof t.recoveryCheck === 'function');
  const ctxOf = (c: RecoverStepContext): RecoveryContext => ({ signal: c.signal, logger: c.logger });
  return {
    ...(rewriters.length
      ? {
          rewritePaths: async (c: RecoverStepContext) => {
            const out: Record<string, JsonValue> = {};
            for (const t of rewriters) {
              out[t.name] = await (t.rewriteStoredPaths as NonNullable<typeof t.rewriteStoredPaths>)(
                c.pathMap,
                ctxOf(c),
              );
            }
            return out;
          },
        }
      : {}),
    ...(checkers.length
      ? {
          appChecks: async (c: RecoverStepContext) => {
            const out: Record<string, JsonValue> = {};
            const failed: string[] = [];
            for (const t of checkers) {
              const r: VerificationReport = await (t.recoveryCheck as NonNullable<typeof t.recoveryCheck>)(ctxOf(c));
              out[t.name] = {
                ok: r.ok,
                checks: r.checks.map((x) => ({ name: x.name, ok: x.ok, detail: x.detail ?? null })),
              };
              for (const x of r.checks) if (!x.ok) failed.push(`${t.name}: ${x.name}: ${x.detail ?? 'failed'}`);
            }
            if (failed.length) {
              throw new RecoveryError(`app checks failed after the restore:\n  - ${failed.join('\n  - ')}`, {
                code: 'ERR_RECOVERY_APP_CHECKS',
              });
            }
            return out;
          },
        }
      : {}),
  };
}
