/**
 * Restore drills: prove a Duplicati version restores. Duplicati restores the staged work folder
 * (dumps, archives, `manifest.json`) of one version into a scratch folder; the restore plan then
 * verifies every checksum and runs each target's checks (integrity, row and file counts against
 * the manifest) — optionally a full restore into throwaway targets — and the drill returns and
 * writes the evidence. A failed drill notifies.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { neverAborted } from '../core/abort.js';
import { ConfigError } from '../core/errors.js';
import { isInside } from '../core/fs.js';
import { childLogger, type Logger, silentLogger } from '../core/logger.js';
import type { DuplicatiClient } from '../duplicati/client.js';
import type { WaitOptions } from '../duplicati/resources/tasks.js';
import type { Fileset } from '../duplicati/types.js';
import { configErrorFrom } from '../core/validate.js';
import type { RestoreReport } from '../contracts/restore-report.js';
import { createRestorePlan } from '../plan/restore-plan.js';
import type { RestoreTarget } from '../contracts/types.js';
import { checksOfTarget, listVersionFiles, runDrillChecks } from './drill-check.js';
import type { DrillConsistency } from '../contracts/drill.js';
import type { DrillCheck } from '../contracts/drill.js';
import { type DrillEvidence, type DrillEvidenceFiles, writeDrillEvidence } from './drill-report.js';
import { type NotifyResult, notifyAll } from './notify.js';
import type { Notifier } from '../contracts/notifier.js';
import { chooseVersion, findJob, locateWorkDir, notStagedError, restoreStagedFolder } from './staged-version.js';

export { pickVersion } from './staged-version.js';

export type { DrillEntry, DrillEvidence, DrillEvidenceFiles } from './drill-report.js';

/** Options of {@link restoreDrill}. */
export interface RestoreDrillOptions {
  /** Client of the Duplicati server that holds the job. */
  readonly client: DuplicatiClient;
  /** The job: its id or its name (case-insensitive). */
  readonly job: string;
  /** Version to drill (0 = newest). Exclusive with `time`. @default 0 */
  readonly version?: number;
  /** Drill the newest version at or before this time. Exclusive with `version`. */
  readonly time?: Date | string;
  /**
   * Restore targets. **Build them in scratch mode** (`SqliteTarget({ scratch: true })`,
   * `PostgresTarget({ scratch: true })`, `ImmichDatabaseTarget({ scratch: true })`, folder targets
   * with a `dest` inside `scratchDir`): with `scratchRestore` their restore step runs for real.
   */
  readonly targets: readonly RestoreTarget[];
  /** Folder the drill may use; it creates (and removes, unless `keep`) a `drill-*` folder inside. */
  readonly scratchDir: string;
  /**
   * The plan's work folder (the folder holding `manifest.json`) as Duplicati saw it. Default: the
   * job's source folder whose listing in that version holds a `manifest.json`.
   */
  readonly workDir?: string;
  /**
   * Besides verifying, run each target's restore step (`dryRun: false`): scratch targets load the
   * dumps into a throwaway database or copy and check it. A target that shows it would write
   * outside `scratchDir` (a folder target's `dest`, `configDir`, a `scratch: false` option) is
   * refused. `false`: verify the files only (checksums, headers, counts in the manifest); the
   * evidence's `mode` says which ran. @default true
   */
  readonly scratchRestore?: boolean;
  /**
   * Consistency checks run after the targets, against the same version (e.g. an app database's
   * file references against the version's file listing). A failing check fails the drill.
   */
  readonly checks?: readonly DrillCheck[];
  /** Also run the checks the targets offer (`drillChecks()`, e.g. `ImmichDatabaseTarget`'s). @default true */
  readonly targetChecks?: boolean;
  /** Keep the scratch folder (restored files) for inspection. @default false */
  readonly keep?: boolean;
  /** Write `drill-<time>.json`, `drill-<time>.md` and `last-drill.json` here. */
  readonly evidenceDir?: string;
  /** Told when the drill fails (never when it passes). A notifier failure never fails the drill. */
  readonly notifiers?: readonly Notifier[];
  /** Passed to `restoreAndWait` (e.g. `totalTimeout`). */
  readonly wait?: Omit<WaitOptions, 'signal'>;
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
}

/** What {@link restoreDrill} returns: the evidence, and where it was written. */
export interface DrillResult extends DrillEvidence {
  /** The evidence files, when `evidenceDir` was given. */
  readonly files: DrillEvidenceFiles | undefined;
  /** Outcome of each notifier, when the drill failed. */
  readonly notified: readonly NotifyResult[];
}

const optionsSchema = z
  .object({
    client: z.custom<DuplicatiClient>(
      (c) => typeof c === 'object' && c !== null && typeof (c as DuplicatiClient).backups === 'object',
      { message: 'must be a DuplicatiClient' },
    ),
    job: z.string().min(1),
    version: z.number().int().min(0).optional(),
    time: z.union([z.date(), z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO time')]).optional(),
    targets: z.array(z.custom<RestoreTarget>((t) => typeof t === 'object' && t !== null)).min(1, 'at least one target'),
    scratchDir: z.string().refine((p) => path.isAbsolute(p), 'must be an absolute path'),
    workDir: z
      .string()
      .refine((p) => p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p), 'must be an absolute path')
      .optional(),
    scratchRestore: z.boolean().optional(),
    checks: z
      .array(
        z.custom<DrillCheck>(
          (c) =>
            typeof c === 'object' &&
            c !== null &&
            typeof (c as DrillCheck).run === 'function' &&
            !!(c as DrillCheck).name,
          { message: 'must be a DrillCheck (name, run)' },
        ),
      )
      .optional(),
    targetChecks: z.boolean().optional(),
    keep: z.boolean().optional(),
    evidenceDir: z.string().min(1).optional(),
    notifiers: z.array(z.custom<Notifier>((n) => typeof n === 'object' && n !== null)).optional(),
    wait: z.record(z.string(), z.unknown()).optional(),
    signal: z.custom<AbortSignal>((s) => s instanceof AbortSignal).optional(),
    logger: z.custom<Logger>((l) => typeof l === 'object' && l !== null).optional(),
  })
  .strict()
  .refine((o) => o.version === undefined || o.time === undefined, {
    message: 'give version or time, not both',
    path: ['time'],
  });

/**
 * Why a target may not run its restore step in a drill, if it shows it: a folder target whose
 * `dest` lies outside the scratch folder, or a target whose options say `scratch: false`.
 * Targets that do not expose their options cannot be checked and are trusted.
 */
export function scratchRefusal(target: RestoreTarget, scratchDir: string): string | undefined {
  const o = (target as { options?: unknown }).options;
  if (typeof o !== 'object' || o === null) return undefined;
  const opts = o as Record<string, unknown>;
  for (const key of ['dest', 'configDir', 'letsencryptDir', 'extraCertsDir']) {
    const where = opts[key];
    if (typeof where === 'string' && !isInside(path.resolve(scratchDir), path.resolve(where))) {
      return `${target.name} would write to ${where}, outside the scratch folder ${scratchDir}`;
    }
  }
  if ('scratch' in opts && opts.scratch !== true) return `${target.name} is not in scratch mode (set scratch: true)`;
  return undefined;
}

function entriesOf(report: RestoreReport): DrillEvidence['entries'] {
  return report.entries.map((e) => ({
    name: e.name,
    kind: e.kind,
    target: e.target ?? null,
    status: e.status,
    ok: e.ok,
    durationMs: Math.round(e.durationMs),
    checks: (e.verification?.checks ?? []).map((c) => ({
      name: c.name,
      ok: c.ok,
      ...(c.detail !== undefined ? { detail: c.detail } : {}),
    })),
    ...(e.error ? { error: e.error.message } : {}),
  }));
}

/**
 * Run a restore drill: pick a version of a Duplicati job (newest, a number, or the newest at or
 * before a time), have Duplicati restore the plan's work folder of that version into a scratch
 * folder, verify every checksum and run each target's verification (and, with `scratchRestore`,
 * its restore into throwaway targets), clean up, and return the evidence — written as JSON and
 * Markdown into `evidenceDir` (plus `last-drill.json`). A failed drill notifies `notifiers`.
 *
 * Failures of the drill itself (Duplicati unreachable, the restore failing, a missing manifest, a
 * bad checksum) are a `fail` verdict with `errors`, not exceptions; invalid options throw a
 * ConfigError and a caller's abort is rethrown.
 *
 * @example
 * ```ts
 * import { DuplicatiClient } from 'duplicati-kit/duplicati';
 * import { SqliteTarget, PostgresTarget } from 'duplicati-kit';
 * import { restoreDrill } from 'duplicati-kit/ops';
 *
 * const drill = await restoreDrill({
 *   client: new DuplicatiClient({ baseUrl: 'http://127.0.0.1:8200', auth: { type: 'password', password } }),
 *   job: 'Home server',
 *   workDir: '/srv/backup/staging',
 *   targets: [new SqliteTarget({ path: '/srv/app/app.db', scratch: true })],
 *   scratchDir: '/var/tmp',
 *   evidenceDir: '/var/lib/duplicati-kit/drills',
 *   scratchRestore: true,
 * });
 * if (drill.verdict === 'fail') console.error(drill.errors.join('\n'));
 * ```
 */
export async function restoreDrill(options: RestoreDrillOptions): Promise<DrillResult> {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) throw configErrorFrom('invalid restore drill options', parsed.error);
  const scratchDir = path.resolve(options.scratchDir);
  if (options.scratchRestore !== false) refuseLiveTargets(options.targets, scratchDir);
  const signal = options.signal ?? neverAborted();
  const logger = childLogger(options.logger ?? silentLogger, { drill: options.job });
  const startedAt = new Date();
  const t0 = performance.now();
  const checks = [
    ...(options.checks ?? []),
    ...(options.targetChecks === false ? [] : options.targets.flatMap((t) => checksOfTarget(t))),
  ];
  await fsp.mkdir(scratchDir, { recursive: true, mode: 0o700 });
  const runDir = await fsp.mkdtemp(path.join(scratchDir, 'drill-'));
  const run: DrillRun = {
    options,
    signal,
    logger,
    runDir,
    checks,
    errors: [],
    job: { id: null, name: options.job },
    chosen: undefined,
    workDir: options.workDir ?? null,
    duplicati: null,
    restoredFiles: 0,
    restoredBytes: 0,
    report: undefined,
    restoreMs: 0,
    verifyMs: 0,
    checksMs: 0,
    consistency: [],
  };

  try {
    await drillSteps(run);
  } catch (e) {
    if (signal.aborted) {
      await cleanupRun(runDir, options.keep, logger);
      throw signal.reason;
    }
    run.errors.push(e instanceof Error ? e.message : String(e));
    logger.error('restore drill failed', { error: run.errors[run.errors.length - 1] });
  }

  const kept = options.keep === true;
  await cleanupRun(runDir, kept, logger);
  const evidence = evidenceOf(run, { startedAt, finishedAt: new Date(), t0, kept });
  const files = await keepEvidence(run, evidence);
  const notified = await notifyFailure(run, evidence, files);
  return { ...evidence, files, notified };
}

/** One drill's inputs and what its steps found; the evidence is built from it. */
interface DrillRun {
  readonly options: RestoreDrillOptions;
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** The drill's own `drill-*` folder inside the scratch folder. */
  readonly runDir: string;
  readonly checks: readonly DrillCheck[];
  /** Why the drill fails, one line each; empty when it passes. */
  readonly errors: string[];
  job: { id: string | null; name: string };
  chosen: Fileset | undefined;
  workDir: string | null;
  duplicati: DrillEvidence['duplicati'];
  restoredFiles: number;
  restoredBytes: number;
  report: RestoreReport | undefined;
  restoreMs: number;
  verifyMs: number;
  checksMs: number;
  consistency: DrillConsistency[];
}

/** With `scratchRestore`, refuse targets that show they would write outside the scratch folder. */
function refuseLiveTargets(targets: readonly RestoreTarget[], scratchDir: string): void {
  const refused = targets.map((t) => scratchRefusal(t, scratchDir)).filter((r) => r !== undefined);
  if (refused.length) {
    throw new ConfigError(
      'a restore drill only restores into scratch targets (build them in scratch mode, or pass scratchRestore: false to verify the files only)',
      refused.map((message) => ({ path: 'targets', message })),
    );
  }
}

/** Pick the version, have Duplicati restore its work folder, verify it, run the consistency checks. */
async function drillSteps(run: DrillRun): Promise<void> {
  const { options, signal, logger } = run;
  const dup = options.client;
  const found = await findJob(dup, options.job, signal);
  run.job = found;
  const chosen = await chooseVersion(dup, found, { version: options.version, time: options.time }, signal);
  run.chosen = chosen;
  logger.info('drilling version', { job: found.name, version: chosen.version, time: chosen.time });
  run.workDir ??= await locateWorkDir(dup, found, chosen, signal);
  const workDir = run.workDir;
  const staged = await restoreStagedFolder(dup, found, {
    version: chosen,
    workDir,
    restoreDir: path.join(run.runDir, 'restore'),
    wait: options.wait,
    signal,
    onOutcome: (outcome, ms) => {
      run.restoreMs = ms;
      run.duplicati = {
        result: outcome.result,
        taskId: outcome.taskId,
        warnings: [...outcome.warnings],
        errors: [...outcome.errors],
      };
    },
  });
  run.restoredFiles = staged.restoredFiles;
  run.restoredBytes = staged.restoredBytes;
  const from = staged.from;
  if (!from) throw notStagedError(workDir, run.restoredFiles);

  const report = await verifyStaged(run, from);
  // Consistency checks compare verified material with the version; after a checksum failure
  // there is nothing trustworthy to compare.
  if (run.checks.length && report.checksums.every((c) => c.ok)) {
    const c0 = performance.now();
    const jobId = found.id;
    const time = chosen.time;
    let dbPath: string | null | undefined;
    run.consistency = await runDrillChecks(run.checks, {
      client: dup,
      job: { id: found.id, name: found.name },
      version: chosen.version,
      versionTime: time,
      workDir,
      from,
      manifest: report.manifest,
      report,
      scratchDir: path.join(run.runDir, 'checks'),
      signal,
      logger,
      // On the Duplicati host the job database answers in a fraction of a second; the server's
      // search takes ~14 ms a file (2.0.7.3), minutes for a photo library.
      listVersionFiles: async (folder) => {
        dbPath ??= await dup.backups.get(jobId, { signal }).then(
          (b) => b.dbPath,
          () => null,
        );
        return listVersionFiles(dup, jobId, time, folder, signal, { dbPath });
      },
    });
    run.checksMs = performance.now() - c0;
    for (const c of run.consistency) if (!c.ok) run.errors.push(`${c.name}: ${c.detail}`);
  }
}

/** Run the restore plan over the staged folder (a dry run, unless `scratchRestore`); record what failed. */
async function verifyStaged(run: DrillRun, from: string): Promise<RestoreReport> {
  const { options, errors } = run;
  const v0 = performance.now();
  const report = await createRestorePlan({ targets: options.targets, logger: run.logger }).run({
    from,
    dryRun: options.scratchRestore === false,
    reject: false,
    signal: run.signal,
    workDir: path.join(run.runDir, 'work'),
  });
  run.report = report;
  run.verifyMs = performance.now() - v0;
  const bad = report.checksums.filter((c) => !c.ok);
  if (bad.length) {
    errors.push(
      `${bad.length} artifact(s) failed their checksum: ${bad.map((c) => `${c.path} (${c.problem ?? 'differs'})`).join(', ')}`,
    );
  }
  for (const e of report.entries) {
    if (e.ok) continue;
    const failed = e.verification?.checks.filter((c) => !c.ok) ?? [];
    const why = failed.length
      ? failed.map((c) => `${c.name}: ${c.detail ?? 'failed'}`).join('; ')
      : (e.error?.message.split('\n')[0] ?? e.status);
    errors.push(`${e.name}${e.target ? ` (${e.target})` : ''}: ${why}`);
  }
  if (!report.ok && errors.length === 0) errors.push('the restore plan failed');
  if (report.entries.length > 0 && report.entries.every((e) => e.status === 'skipped')) {
    errors.push('no target accepted any manifest entry: nothing was checked beyond checksums');
  }
  return report;
}

/** The drill's evidence: verdict, version, what was restored and checked, and how long each part took. */
function evidenceOf(
  run: DrillRun,
  times: { startedAt: Date; finishedAt: Date; t0: number; kept: boolean },
): DrillEvidence {
  const { report, chosen, errors } = run;
  const ok = errors.length === 0 && report?.ok === true;
  return {
    ok,
    verdict: ok ? 'pass' : 'fail',
    job: run.job,
    version: chosen?.version ?? null,
    versionTime: chosen?.time ?? null,
    workDir: run.workDir,
    mode: run.options.scratchRestore === false ? 'verify' : 'scratch-restore',
    duplicati: run.duplicati,
    restoredFiles: run.restoredFiles,
    restoredBytes: run.restoredBytes,
    manifest: report
      ? {
          host: report.manifest.host,
          tool: `${report.manifest.tool.name} ${report.manifest.tool.version}`,
          startedAt: report.manifest.startedAt,
          finishedAt: report.manifest.finishedAt,
          sources: report.manifest.sources.map((s) => s.name),
        }
      : null,
    checksums: report
      ? report.checksums.map((c) => ({
          path: c.path,
          ok: c.ok,
          bytes: c.bytes,
          ...(c.problem ? { problem: c.problem } : {}),
        }))
      : [],
    entries: report ? entriesOf(report) : [],
    consistency: run.consistency,
    durations: {
      restoreMs: Math.round(run.restoreMs),
      verifyMs: Math.round(run.verifyMs),
      checksMs: Math.round(run.checksMs),
      totalMs: Math.round(performance.now() - times.t0),
    },
    startedAt: times.startedAt.toISOString(),
    finishedAt: times.finishedAt.toISOString(),
    scratch: { dir: run.runDir, kept: times.kept },
    errors,
  };
}

/** Write the evidence into `evidenceDir`, when given; a failure to write is one more error. */
async function keepEvidence(run: DrillRun, evidence: DrillEvidence): Promise<DrillEvidenceFiles | undefined> {
  const { options, signal } = run;
  if (!options.evidenceDir) return undefined;
  try {
    return await writeDrillEvidence(options.evidenceDir, evidence, { signal });
  } catch (e) {
    if (signal.aborted) throw signal.reason;
    // The verdict still stands; a drill whose evidence cannot be kept must say so loudly.
    run.logger.error('could not write the drill evidence', { dir: options.evidenceDir, error: (e as Error).message });
    run.errors.push(`could not write the evidence to ${options.evidenceDir}: ${(e as Error).message}`);
    return undefined;
  }
}

/** Tell the notifiers when the drill failed (never when it passed). */
async function notifyFailure(
  run: DrillRun,
  evidence: DrillEvidence,
  files: DrillEvidenceFiles | undefined,
): Promise<NotifyResult[]> {
  const { options, errors, job } = run;
  if (evidence.ok || !options.notifiers?.length) return [];
  return notifyAll(
    options.notifiers,
    {
      kind: 'failure',
      title: `Restore drill of ${job.name} failed`,
      message: [
        `Version ${evidence.version ?? '?'}${evidence.versionTime ? ` (${evidence.versionTime})` : ''} did not pass:`,
        ...errors.slice(0, 5).map((x) => `- ${x}`),
        ...(files ? [`Evidence: ${files.markdown}`] : []),
      ].join('\n'),
      job: job.name,
      durationMs: evidence.durations.totalMs,
      details: {
        verdict: evidence.verdict,
        version: evidence.version,
        versionTime: evidence.versionTime,
        errors: errors.slice(0, 20),
      },
    },
    { signal: run.signal, logger: run.logger },
  );
}

async function cleanupRun(runDir: string, keep: boolean | undefined, logger: Logger): Promise<void> {
  if (keep) return;
  await fsp.rm(runDir, { recursive: true, force: true }).catch((e: unknown) => {
    logger.warn('could not remove the drill scratch folder', { dir: runDir, error: (e as Error).message });
  });
}
