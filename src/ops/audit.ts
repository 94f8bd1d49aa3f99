/**
 * `auditBackups`: the 3-2-1 audit, judged from real state rather than configuration alone —
 * the live data answers its preflight check (copy 1), the newest local copy is fresh and its
 * files still match their manifest (copy 2), and every Duplicati job (copy 3) succeeded
 * recently, encrypts, targets an off-site backend, keeps a retention, runs the duplicati-kit hook
 * and has not missed a scheduled run.
 *
 * @module
 */
import { constants as fsConstants, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { raceSignal, throwIfAborted, withTimeout } from '../core/abort.js';
import { describeError } from '../core/errors.js';
import { isInside } from '../core/fs.js';
import { type Logger, silentLogger } from '../core/logger.js';
import { MANIFEST_FILE, readManifest } from '../core/manifest.js';
import type { DuplicatiClient } from '../duplicati/client.js';
import { isNoLogYet } from '../duplicati/outcome.js';
import type { Backup, BackupSummary, LogEntry } from '../duplicati/types.js';
import { sourceContext } from '../plan/backup-plan.js';
import { configErrorFrom } from '../core/validate.js';
import { verifyArtifacts } from '../plan/restore-plan.js';
import type { BackupSource, JsonValue } from '../contracts/types.js';
import {
  type AuditRule,
  type AuditStatus,
  classifyTarget,
  formatAge,
  type HookScriptInfo,
  isSuccessfulBackupRow,
  judgeEncryption,
  judgeHooks,
  judgeRetention,
  judgeSchedule,
  jobOptions,
  type MountEntry,
  parseMountInfo,
  type RunSummary,
  runTime,
  scheduleSpec,
  shortIso,
  summarizeRuns,
  type Verdict,
} from './audit-rules.js';
import { notifyAll } from './notify.js';
import type { Notifier } from '../contracts/notifier.js';
import { parseCopyName } from './retention.js';
import { hostTimeZone, longestGapMs } from './schedule-math.js';

/** The per-job rules, reported `unknown` when Duplicati cannot be read. */
const JOB_RULES = [
  'job.last-success',
  'job.schedule',
  'job.encryption',
  'job.offsite',
  'job.retention',
  'job.hooks',
] as const;

/** Rule ids of the audit, in report order. */
export const AUDIT_RULE_IDS = ['live.data', 'local.fresh', 'local.verified', 'job.present', ...JOB_RULES] as const;

const isSource = (v: unknown) => typeof v === 'object' && v !== null && typeof (v as BackupSource).name === 'string';

const optionsSchema = z
  .object({
    /** Live data (copy 1): each source's preflight `check()` is run. */
    sources: z.array(z.custom<BackupSource>(isSource, 'must be a BackupSource')).optional(),
    /** Work folder handed to the checks (they write nothing). @default the system temp folder */
    workDir: z.string().optional(),
    /** Per-source check limit. @default 30000 */
    checkTimeoutMs: z.number().int().positive().optional(),
    /** Local copies (copy 2), as `keepLocalCopy` writes them. */
    localCopies: z
      .object({
        dir: z.string().refine((p) => path.isAbsolute(p), 'must be an absolute path'),
        /** Oldest acceptable newest copy. @default the longest gap of the jobs' schedules plus the grace */
        maxAgeMs: z.number().int().positive().optional(),
        /** Re-hash the newest copy's files against its manifest. @default true */
        verify: z.boolean().optional(),
      })
      .strict()
      .optional(),
    /** Duplicati (copy 3). Without it the job rules are not evaluated. */
    client: z
      .custom<DuplicatiClient>((v) => typeof v === 'object' && v !== null && 'backups' in v, 'a DuplicatiClient')
      .optional(),
    /** Jobs to audit, by name (case-insensitive) or id. @default every job on the server */
    jobs: z.array(z.string().min(1)).optional(),
    /** Oldest acceptable last successful run. @default the schedule's longest gap plus the grace */
    maxAgeMs: z.number().int().positive().optional(),
    /** How late a scheduled run may finish before it counts as missed. @default 3600000 (1 h) */
    graceMs: z.number().int().min(0).optional(),
    /** The Duplicati server's time zone (IANA). @default this host's */
    timeZone: z.string().min(1).optional(),
    /** The mount table to classify `file://` targets with. @default `/proc/self/mountinfo` */
    mounts: z.array(z.object({ mountPoint: z.string(), fsType: z.string(), source: z.string() })).optional(),
    /**
     * Rules waived for one job each: `{ job, rule, reason }` (a files-only job with no hook, a
     * job kept on a local disk on purpose). An exempt rule passes and says so. At most one per job.
     */
    exempt: z
      .array(z.object({ job: z.string().min(1), rule: z.enum(JOB_RULES), reason: z.string().optional() }).strict())
      .refine(
        (list) => new Set(list.map((x) => x.job.toLowerCase())).size === list.length,
        'at most one exempt rule per job',
      )
      .optional(),
    /** Notifiers for the alert. */
    notifiers: z.array(z.custom<Notifier>((v) => typeof v === 'object' && v !== null && 'notify' in v)).optional(),
    /** Send one alert listing missed runs, failed and unchecked rules when any rule fails or is unknown. @default false */
    notify: z.boolean().optional(),
    /** The audit's "now". @default the current time */
    now: z.date().optional(),
    signal: z.custom<AbortSignal>((s) => s instanceof AbortSignal).optional(),
    logger: z.custom<Logger>((l) => typeof l === 'object' && l !== null).optional(),
  })
  .strict();

/** Options of {@link auditBackups}. */
export type AuditOptions = z.input<typeof optionsSchema>;

/** A scheduled run with no successful run after it. */
export interface MissedRun {
  readonly job: string;
  readonly dueAt: string;
  readonly lastSuccessAt: string | null;
  /** Scheduled runs since the last success (at least 1). */
  readonly missed: number;
}

/** What {@link auditBackups} found. Plain JSON. */
export interface AuditReport {
  /** No rule failed (warnings and unknowns do not make it false). */
  readonly ok: boolean;
  readonly checkedAt: string;
  readonly counts: Readonly<Record<AuditStatus, number>>;
  readonly rules: readonly AuditRule[];
  readonly missedRuns: readonly MissedRun[];
  /** The alert, when `notify` asked for one and a rule failed. */
  readonly notifications: readonly { readonly notifier: string; readonly ok: boolean; readonly error?: string }[];
}

type Opts = z.output<typeof optionsSchema>;

const HOUR = 3_600_000;

function rule(id: string, subject: string, v: Verdict): AuditRule {
  return { id, subject, status: v.status, reason: v.reason, evidence: v.evidence };
}

const oneLine = (e: unknown): string => (e instanceof Error ? e.message : describeError(e)).split('\n')[0] ?? '';

async function auditSource(s: BackupSource, o: Opts, logger: Logger): Promise<AuditRule> {
  const evidence = { kind: s.kind };
  if (!s.check) {
    return rule('live.data', s.name, {
      status: 'warn',
      reason: `${s.kind} source has no preflight check: presence not verified`,
      evidence,
    });
  }
  const limit = o.checkTimeoutMs ?? 30_000;
  const signal = withTimeout(o.signal, limit, `check of ${s.name}`);
  const ctx = sourceContext(s, { workDir: o.workDir ?? os.tmpdir(), signal, logger, dryRun: true });
  const t0 = performance.now();
  try {
    // Raced as well: a check that ignores its signal still cannot hold the audit.
    await raceSignal(s.check(ctx), signal);
    const durationMs = Math.round(performance.now() - t0);
    return rule('live.data', s.name, {
      status: 'pass',
      reason: `${s.kind} answered its check in ${durationMs} ms`,
      evidence: { ...evidence, durationMs },
    });
  } catch (e) {
    throwIfAborted(o.signal);
    const durationMs = Math.round(performance.now() - t0);
    const timedOut = signal.aborted;
    return rule('live.data', s.name, {
      status: 'fail',
      reason: timedOut ? `${s.kind} check did not answer within ${limit} ms` : `${s.kind} unreachable: ${oneLine(e)}`,
      evidence: { ...evidence, durationMs, timedOut },
    });
  }
}

async function newestCopy(dir: string): Promise<{ name: string; time: Date } | null | 'missing-dir'> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'missing-dir';
    throw e;
  }
  let best: { name: string; time: Date } | null = null;
  for (const name of names) {
    const time = parseCopyName(name);
    if (!time || (best && best.time.getTime() >= time.getTime())) continue;
    const complete = await fsp
      .access(path.join(dir, name, MANIFEST_FILE))
      .then(() => true)
      .catch(() => false);
    if (complete) best = { name, time };
  }
  return best;
}

async function auditLocalCopies(
  lc: NonNullable<Opts['localCopies']>,
  derivedMaxAgeMs: number | undefined,
  o: Opts,
  now: Date,
): Promise<AuditRule[]> {
  const subject = lc.dir;
  let newest: Awaited<ReturnType<typeof newestCopy>>;
  try {
    newest = await newestCopy(lc.dir);
  } catch (e) {
    const v: Verdict = { status: 'fail', reason: `cannot read ${lc.dir}: ${oneLine(e)}`, evidence: { dir: lc.dir } };
    return [rule('local.fresh', subject, v), rule('local.verified', subject, v)];
  }
  if (newest === null || newest === 'missing-dir') {
    const v: Verdict = {
      status: 'fail',
      reason: newest === null ? `no complete local copy in ${lc.dir}` : `${lc.dir} does not exist: no local copy`,
      evidence: { dir: lc.dir, newest: null },
    };
    return [rule('local.fresh', subject, v), rule('local.verified', subject, v)];
  }
  const copyDir = path.join(lc.dir, newest.name);
  const ageMs = now.getTime() - newest.time.getTime();
  const maxAgeMs = lc.maxAgeMs ?? derivedMaxAgeMs;
  const base = { dir: lc.dir, newest: newest.name, newestAt: newest.time.toISOString(), ageMs };
  const fresh: Verdict =
    maxAgeMs === undefined
      ? {
          status: 'warn',
          reason: `newest copy ${formatAge(ageMs)} old; no max age to judge it (set localCopies.maxAgeMs or give the jobs a schedule)`,
          evidence: { ...base, maxAgeMs: null },
        }
      : ageMs > maxAgeMs
        ? {
            status: 'fail',
            reason: `newest copy ${formatAge(ageMs)} old, older than ${formatAge(maxAgeMs)}`,
            evidence: { ...base, maxAgeMs },
          }
        : {
            status: 'pass',
            reason: `newest copy ${formatAge(ageMs)} old (max ${formatAge(maxAgeMs)})`,
            evidence: { ...base, maxAgeMs },
          };
  let verified: Verdict;
  if (lc.verify === false) {
    verified = {
      status: 'warn',
      reason: `not verified: re-hashing ${newest.name} was skipped`,
      evidence: { copy: copyDir, method: 'skipped' },
    };
  } else {
    const t0 = performance.now();
    try {
      const manifest = await readManifest(copyDir, o.signal ? { signal: o.signal } : {});
      const { checks, problems } = await verifyArtifacts(copyDir, manifest, o.signal ? { signal: o.signal } : {});
      const bytes = checks.reduce((n, c) => n + c.bytes, 0);
      const evidence = {
        copy: copyDir,
        method: 'rehash',
        artifacts: checks.length,
        bytes,
        durationMs: Math.round(performance.now() - t0),
        problems: problems.map((p) => `${p.check}: ${p.message}`),
      };
      verified =
        problems.length === 0
          ? {
              status: 'pass',
              reason: `${checks.length} artifact(s), ${bytes} bytes re-hashed: sha256 matches the manifest`,
              evidence,
            }
          : {
              status: 'fail',
              reason: `${problems.length} artifact(s) do not match the manifest: ${problems
                .slice(0, 3)
                .map((p) => `${p.check.replace(/^artifact /, '')} ${p.message}`)
                .join('; ')}`,
              evidence,
            };
    } catch (e) {
      throwIfAborted(o.signal);
      verified = { status: 'fail', reason: oneLine(e), evidence: { copy: copyDir, method: 'rehash' } };
    }
  }
  return [rule('local.fresh', subject, fresh), rule('local.verified', subject, verified)];
}

async function readMounts(o: Opts): Promise<MountEntry[]> {
  if (o.mounts) return o.mounts;
  try {
    return parseMountInfo(await fsp.readFile('/proc/self/mountinfo', 'utf8'));
  } catch {
    return [];
  }
}

/** What the audit can tell about a run-script path on this machine (first 64 KiB read). */
async function inspectScript(file: string): Promise<HookScriptInfo> {
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(file, 'r');
    const buf = Buffer.alloc(65_536);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    const executable = await fsp
      .access(file, fsConstants.X_OK)
      .then(() => true)
      .catch(() => false);
    return { readable: true, executable, text: buf.subarray(0, bytesRead).toString('utf8') };
  } catch {
    return { readable: false, executable: false, text: '' };
  } finally {
    await handle?.close();
  }
}

/**
 * Log rows, newest first, up to the newest successful backup (at most 500 rows). The first page is
 * the server's smallest (10 rows): the newest run is usually that success, and a row is ~5-7 KB.
 */
async function recentLog(client: DuplicatiClient, id: string, signal: AbortSignal | undefined): Promise<LogEntry[]> {
  const rows: LogEntry[] = [];
  let offset: number | undefined;
  for (let pageSize = 10; ; pageSize = 100) {
    const page = await client.backups
      .logPage(id, { pageSize, ...(offset === undefined ? {} : { offset }), ...(signal ? { signal } : {}) })
      .catch((e: unknown) => {
        // A job that never ran has no log yet (2.0.7.3: HTTP 500 "no such table: LogData").
        if (isNoLogYet(e)) return [];
        throw e;
      });
    for (const row of page) {
      rows.push(row);
      if (rows.length >= 500 || isSuccessfulBackupRow(row)) return rows;
    }
    const last = page.at(-1);
    if (!last || page.length < pageSize || (offset !== undefined && last.id >= offset)) return rows;
    offset = last.id;
  }
}

interface JobState {
  readonly summary: BackupSummary;
  readonly backup: Backup | Error;
  readonly runs: RunSummary | Error;
}

function unknownJobRules(subject: string, reason: string): AuditRule[] {
  return JOB_RULES.map((id) => rule(id, subject, { status: 'unknown', reason, evidence: {} }));
}

async function auditJob(
  state: JobState,
  o: Opts,
  now: Date,
  env: { mounts: readonly MountEntry[]; serverDefaults: Readonly<Record<string, string | null>> },
  missed: MissedRun[],
): Promise<AuditRule[]> {
  const { mounts, serverDefaults } = env;
  const { summary } = state;
  const subject = summary.name;
  const graceMs = o.graceMs ?? HOUR;
  const timeZone = o.timeZone ?? hostTimeZone();
  const rules: AuditRule[] = [];
  const schedule = (state.backup instanceof Error ? null : state.backup.schedule) ?? summary.schedule;
  const spec = scheduleSpec(schedule, timeZone);

  if (state.runs instanceof Error) {
    const reason = `cannot read the job log: ${oneLine(state.runs)}`;
    rules.push(rule('job.last-success', subject, { status: 'unknown', reason, evidence: {} }));
    rules.push(rule('job.schedule', subject, { status: 'unknown', reason, evidence: {} }));
  } else {
    const { lastRun, lastSuccess } = state.runs;
    const successAt = lastSuccess ? runTime(lastSuccess) : null;
    const maxAgeMs = o.maxAgeMs ?? (spec && !('error' in spec) ? longestGapMs(spec, now) + graceMs : undefined);
    const evidence: Record<string, JsonValue> = {
      lastRunAt: lastRun ? (runTime(lastRun)?.toISOString() ?? null) : null,
      lastRunResult: lastRun ? (lastRun.interrupted ? 'Interrupted' : lastRun.result) : null,
      lastSuccessAt: successAt?.toISOString() ?? null,
      lastSuccessEndAt: lastSuccess?.endAt?.toISOString() ?? null,
      from: lastRun?.from ?? null,
      maxAgeMs: maxAgeMs ?? null,
    };
    const ago = (d: Date | null) => (d ? `${formatAge(now.getTime() - d.getTime())} ago (${shortIso(d)})` : 'never');
    let v: Verdict;
    if (!lastRun) {
      v = { status: 'fail', reason: 'never backed up: no backup run on record', evidence };
    } else if (lastRun !== lastSuccess) {
      const why = lastRun.interrupted ? 'was interrupted' : `ended ${lastRun.result}`;
      const err = lastRun.errors[0] ? `: ${lastRun.errors[0].split('\n')[0]}` : '';
      v = {
        status: 'fail',
        reason: `newest run ${ago(runTime(lastRun))} ${why}${err}; last success ${ago(successAt)}`,
        evidence,
      };
    } else {
      const ageMs = successAt ? now.getTime() - successAt.getTime() : Number.POSITIVE_INFINITY;
      evidence.ageMs = Number.isFinite(ageMs) ? ageMs : null;
      const result = lastSuccess?.result === 'Warning' ? ' with warnings' : '';
      if (maxAgeMs === undefined) {
        v = {
          status: 'warn',
          reason: `last success${result} ${ago(successAt)}; no schedule or maxAge to judge its age`,
          evidence,
        };
      } else if (ageMs > maxAgeMs) {
        v = {
          status: 'fail',
          reason: `last success ${ago(successAt)}, older than ${formatAge(maxAgeMs)}`,
          evidence,
        };
      } else {
        v = { status: 'pass', reason: `last success${result} ${ago(successAt)}`, evidence };
      }
    }
    rules.push(rule('job.last-success', subject, v));
    const s = judgeSchedule(schedule, successAt, now, graceMs, timeZone);
    if (s.missed) {
      missed.push({
        job: subject,
        dueAt: s.missed.dueAt,
        lastSuccessAt: successAt?.toISOString() ?? null,
        missed: s.missed.count,
      });
    }
    rules.push(rule('job.schedule', subject, s));
  }

  if (state.backup instanceof Error) {
    const reason = `cannot read the job's settings: ${oneLine(state.backup)}`;
    for (const id of ['job.encryption', 'job.retention', 'job.hooks'] as const) {
      rules.push(rule(id, subject, { status: 'unknown', reason, evidence: {} }));
    }
    rules.push(rule('job.offsite', subject, classifyTarget(summary.targetUrl, mounts)));
  } else {
    const options = jobOptions(state.backup.settings, serverDefaults);
    rules.push(rule('job.encryption', subject, judgeEncryption(options)));
    rules.push(rule('job.offsite', subject, classifyTarget(state.backup.targetUrl, mounts)));
    rules.push(rule('job.retention', subject, judgeRetention(options)));
    const scripts = new Map<string, HookScriptInfo>();
    for (const key of ['run-script-before-required', 'run-script-before', 'run-script-after']) {
      const file = options.get(key);
      if (file && path.isAbsolute(file) && !scripts.has(file)) scripts.set(file, await inspectScript(file));
    }
    const workDir = o.workDir;
    const stages =
      workDir === undefined || state.backup.sources.some((src) => isInside(src, workDir) || isInside(workDir, src));
    rules.push(
      rule(
        'job.hooks',
        subject,
        stages
          ? judgeHooks(options, scripts)
          : {
              status: 'pass',
              reason: `the job does not back up the work folder ${workDir}: nothing to stage, no hook needed`,
              evidence: { sources: state.backup.sources.join(', ') },
            },
      ),
    );
  }
  const order = (id: string) => AUDIT_RULE_IDS.indexOf(id as (typeof AUDIT_RULE_IDS)[number]);
  return rules.map((r) => exempted(r, summary, o.exempt)).sort((a, b) => order(a.id) - order(b.id));
}

/**
 * A job's rule the options exempt (`exempt: [{ job, rule, reason }]`) passes, saying so and
 * keeping what it would have been in its evidence. One rule per job, by the job's name or id.
 */
function exempted(r: AuditRule, job: { id: string; name: string }, exempt: Opts['exempt']): AuditRule {
  const hit = exempt?.find(
    (x) => x.rule === r.id && (x.job === job.id || x.job.toLowerCase() === job.name.toLowerCase()),
  );
  if (!hit || r.status === 'pass') return r;
  return {
    ...r,
    status: 'pass',
    reason: `exempt (audit.exempt${hit.reason ? `: ${hit.reason}` : ''}); would be ${r.status}: ${r.reason}`,
    evidence: { ...r.evidence, exempt: true, wouldBe: r.status },
  };
}

async function auditDuplicati(
  client: DuplicatiClient,
  o: Opts,
  now: Date,
  missed: MissedRun[],
): Promise<{ rules: AuditRule[]; schedules: ReturnType<typeof scheduleSpec>[] }> {
  const signal = o.signal;
  const req = signal ? { signal } : {};
  let all: BackupSummary[];
  try {
    all = await client.backups.list(req);
  } catch (e) {
    throwIfAborted(signal);
    const reason = `Duplicati at ${client.baseUrl} unreachable: ${oneLine(e)}`;
    const subjects = o.jobs?.length ? o.jobs : ['(all jobs)'];
    return { rules: subjects.flatMap((s) => unknownJobRules(s, reason)), schedules: [] };
  }
  const rules: AuditRule[] = [];
  let chosen = all;
  if (o.jobs?.length) {
    chosen = [];
    for (const ref of o.jobs) {
      const hit = all.find((b) => b.id === ref) ?? all.find((b) => b.name.toLowerCase() === ref.toLowerCase());
      if (hit) chosen.push(hit);
      else {
        rules.push(
          rule('job.present', ref, {
            status: 'fail',
            reason: `no Duplicati job "${ref}" on the server (it has: ${all.map((b) => b.name).join(', ') || 'none'})`,
            evidence: { jobs: all.map((b) => b.name) },
          }),
        );
      }
    }
  } else if (all.length === 0) {
    rules.push(
      rule('job.present', '(all jobs)', {
        status: 'fail',
        reason: 'the Duplicati server has no backup job: there is no off-site copy',
        evidence: { jobs: [] },
      }),
    );
  }
  const mounts = await readMounts(o);
  // Server-wide default options apply to every job (a global --no-encryption turns encryption
  // off for all). Unreadable (an old server, a proxy): judged on the job's own settings.
  const serverDefaults = await client.server.settings(req).catch((e: unknown) => {
    throwIfAborted(signal);
    o.logger?.warn('cannot read the server-wide options; judging job settings alone', { error: oneLine(e) });
    return {};
  });
  const timeZone = o.timeZone ?? hostTimeZone();
  const schedules: ReturnType<typeof scheduleSpec>[] = [];
  for (const summary of chosen) {
    throwIfAborted(signal);
    const settle = async <T>(p: Promise<T>): Promise<T | Error> =>
      p.catch((e: unknown) => {
        throwIfAborted(signal);
        return e instanceof Error ? e : new Error(String(e));
      });
    const backup = await settle(client.backups.get(summary.id, req));
    const rows = await settle(recentLog(client, summary.id, signal));
    const runs = rows instanceof Error ? rows : summarizeRuns(rows, summary.metadata);
    schedules.push(scheduleSpec((backup instanceof Error ? null : backup.schedule) ?? summary.schedule, timeZone));
    rules.push(...(await auditJob({ summary, backup, runs }, o, now, { mounts, serverDefaults }, missed)));
  }
  return { rules, schedules };
}

/**
 * Audit the 3-2-1 state: live data, local copies, Duplicati jobs. Never throws for what it finds
 * (an unreachable database is a failed rule, an unreachable Duplicati makes the job rules
 * `unknown`); throws only for bad options or the caller's abort.
 *
 * @example
 * ```ts
 * import { auditBackups } from 'duplicati-kit/ops';
 * const report = await auditBackups({
 *   sources: cfg.sources,
 *   localCopies: { dir: '/srv/backup/copies' },
 *   client: dup,
 *   notifiers: cfg.notifiers,
 *   notify: true,
 * });
 * for (const r of report.rules) console.log(r.status, r.id, r.subject, r.reason);
 * ```
 */
export async function auditBackups(options: AuditOptions = {}): Promise<AuditReport> {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) throw configErrorFrom('invalid audit options', parsed.error);
  const o = parsed.data;
  const logger = o.logger ?? silentLogger;
  const now = o.now ?? new Date();
  // A bad time zone is a configuration error, reported before any work.
  scheduleSpec(
    { id: null, tags: [], time: null, repeat: '1D', lastRun: null, rule: null, allowedDays: [] },
    o.timeZone ?? hostTimeZone(),
  );
  throwIfAborted(o.signal);

  const rules: AuditRule[] = [];
  for (const s of o.sources ?? []) rules.push(await auditSource(s, o, logger));

  const missed: MissedRun[] = [];
  const dup = o.client ? await auditDuplicati(o.client, o, now, missed) : undefined;
  if (o.localCopies) {
    // Local copies are made by the hook after every backup: the jobs' schedules say how old the
    // newest may be.
    const gaps = (dup?.schedules ?? []).flatMap((s) => (s && !('error' in s) ? [longestGapMs(s, now)] : []));
    const derived = gaps.length ? Math.min(...gaps) + (o.graceMs ?? HOUR) : undefined;
    rules.push(...(await auditLocalCopies(o.localCopies, derived, o, now)));
  }
  if (dup) rules.push(...dup.rules);

  const counts = { pass: 0, fail: 0, warn: 0, unknown: 0 };
  for (const r of rules) counts[r.status]++;
  const failed = rules.filter((r) => r.status === 'fail');
  const unknown = rules.filter((r) => r.status === 'unknown');
  let notifications: AuditReport['notifications'] = [];
  if (o.notify && failed.length + unknown.length > 0 && (o.notifiers?.length ?? 0) > 0) {
    const lines = [
      ...missed.map(
        (m) =>
          `missed: ${m.job} — ${m.missed} scheduled run(s) without success, the last due ${m.dueAt}; last success ${m.lastSuccessAt ?? 'never'}`,
      ),
      ...failed.map((r) => `✗ ${r.id} ${r.subject}: ${r.reason}`),
      ...unknown.map((r) => `? ${r.id} ${r.subject}: ${r.reason}`),
    ];
    const what = [
      failed.length ? `${failed.length} rule(s) failed` : '',
      missed.length ? `${missed.length} job(s) missed runs` : '',
      unknown.length ? `${unknown.length} rule(s) could not be checked` : '',
    ].filter(Boolean);
    const brief = (r: AuditRule) => ({ id: r.id, subject: r.subject, reason: r.reason });
    const results = await notifyAll(
      o.notifiers ?? [],
      {
        // Unchecked rules alone (Duplicati down) warn; a failed rule is a failure.
        kind: failed.length ? 'failure' : 'warning',
        title: `Backup audit: ${what.join(', ')}`,
        message: lines.join('\n'),
        details: {
          failed: failed.map(brief),
          unknown: unknown.map(brief),
          missedRuns: missed.map((m) => ({ ...m })),
        },
      },
      { ...(o.signal ? { signal: o.signal } : {}), logger },
    );
    notifications = results.map((r) => ({
      notifier: r.notifier,
      ok: r.ok,
      ...(r.error ? { error: r.error.message } : {}),
    }));
  }
  return { ok: counts.fail === 0, checkedAt: now.toISOString(), counts, rules, missedRuns: missed, notifications };
}
