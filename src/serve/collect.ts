/**
 * Reads everything the dashboard shows: each Duplicati server's jobs and their logs, the 3-2-1
 * audit, drill evidence, restore records, local copies and certificates. Reuses the ops it shows
 * (auditBackups, listRestorePoints, selectRetained, the nginx engine's certificate reader);
 * judges nothing itself. Keeps no secret: settings are read for retention only.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { throwIfAborted } from '../core/abort.js';
import {
  isDuplicatiAuthenticationError,
  isDuplicatiAPIError,
  isDuplicatiPermissionDeniedError,
} from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { silentLogger } from '../core/logger.js';
import { readManifest } from '../core/manifest.js';
import type { BackupSource } from '../contracts/types.js';
import type { DuplicatiClient } from '../duplicati/client.js';
import { isNoLogYet, parseResultRow } from '../duplicati/outcome.js';
import type { BackupSummary, LogEntry } from '../duplicati/types.js';
import { type AuditReport, auditBackups } from '../ops/audit.js';
import type { AuditRule } from '../ops/audit-rules.js';
import { classifyTarget, jobOptions, parseMetadataTime } from '../ops/audit-rules.js';
import type { DrillEvidence } from '../ops/drill-report.js';
import { listRestorePoints } from '../ops/restore-points.js';
import { parseCopyName, type RetentionPolicy, selectRetained } from '../ops/retention.js';
import type {
  CertificateRow,
  DashboardSnapshot,
  DrillRow,
  JobView,
  Light,
  LocalCopyRow,
  PlanRow,
  RestorePointRow,
  RunPoint,
  ServerView,
} from './types.js';

/** A Duplicati server the dashboard reads. */
export interface DashboardServer {
  /** Shown on every page and as the `server` label of the metrics. */
  readonly name: string;
  readonly client: DuplicatiClient;
}

/** What {@link collectSnapshot} reads. Every path is optional: what is not given is not shown. */
export interface CollectOptions {
  readonly servers: readonly DashboardServer[];
  /** Live data (copy 1): each source's preflight check. */
  readonly sources?: readonly BackupSource[];
  readonly workDir?: string;
  /** Local copies (copy 2). `verify` re-hashes the newest copy on every refresh (default false). */
  readonly localCopies?: {
    readonly dir: string;
    readonly keep?: RetentionPolicy;
    readonly maxAgeMs?: number;
    readonly verify?: boolean;
  };
  /** Folders holding drill evidence (`drill-*.json`). */
  readonly evidenceDirs?: readonly string[];
  /** Where restore records are kept. */
  readonly restoreStateDir?: string;
  /** Jobs to show (names or ids). @default all */
  readonly jobs?: readonly string[];
  readonly maxAgeMs?: number;
  readonly graceMs?: number;
  readonly timeZone?: string;
  readonly checkTimeoutMs?: number;
  /** Days of job history to read. @default 365 */
  readonly historyDays?: number;
  /**
   * Job logs kept between reads ({@link createHistoryCache}): with one, a read fetches only the
   * log rows written since the previous read. Without, every read reads the whole window.
   */
  readonly history?: HistoryCache;
  /** Lists the certificates of the sources (the CLI passes the nginx engine's reader). */
  readonly certificates?: (sources: readonly BackupSource[]) => Promise<readonly CertificateInfoLike[]>;
  readonly now?: Date;
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
}

/** The fields of the nginx engine's `CertificateInfo` the dashboard shows. */
export interface CertificateInfoLike {
  readonly file: string;
  readonly subject: string;
  readonly sans: readonly string[];
  readonly notAfter: string;
  readonly daysLeft: number;
}

const DAY = 86_400_000;
/** At most this many runs per job are kept (a year of hourly runs would be 8760). */
const MAX_RUNS = 2_000;
const MAX_DRILLS = 100;

const oneLine = (s: string): string => (s.split('\n')[0] ?? '').slice(0, 300);

/** Scheme, host and path of a target URL: no userinfo, no query (where backends keep keys). */
export function displayTarget(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)(?:[^/?#@]*@)?([^?#]*)/i.exec(url);
  return m ? `${m[1]}${m[2]}` : (url.split('?')[0] ?? '');
}

/** Scheme, host and port of a server URL. */
export function displayServer(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return displayTarget(url);
  }
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** A run of the job log as a chart point; null for rows that are not a backup's result. */
export function runPoint(row: LogEntry): RunPoint | null {
  const p = parseResultRow(row);
  if (!p || (p.operation !== null && p.operation !== 'Backup')) return null;
  const begin = p.beginTime ?? p.endTime ?? row.timestamp;
  const end = p.endTime ?? row.timestamp;
  const raw = p.raw;
  const stats = (raw.BackendStatistics ?? {}) as Record<string, unknown>;
  const failed = p.result !== 'Success';
  const line = failed ? (p.errors[0] ?? p.warnings[0] ?? row.exception ?? undefined) : undefined;
  return {
    t: Math.floor(begin.getTime() / 1000),
    result: p.interrupted ? 'Interrupted' : p.result,
    durationS: Math.max(0, (end.getTime() - begin.getTime()) / 1000),
    examinedFiles: num(raw.ExaminedFiles),
    sizeExamined: num(raw.SizeOfExaminedFiles),
    bytesUploaded: num(stats.BytesUploaded),
    addedFiles: num(raw.AddedFiles),
    modifiedFiles: num(raw.ModifiedFiles),
    ...(line ? { error: oneLine(line.replace(/^\S+ \S+ [+-]\d+ - \[[^\]]*\]: /, '')) } : {}),
  };
}

/**
 * What the dashboard keeps of one job's log between refreshes: the compact runs and a marker (the
 * newest row read), so the next refresh reads only the rows written since. Owned by the caller
 * (the dashboard server keeps one per process); nothing global.
 */
export interface JobLog {
  /** The job's local database when it was read: another path under the same id is another job. */
  readonly dbPath: string | null;
  /** Id and time (ms) of the newest log row read; null when the log was empty. */
  readonly newest: { readonly id: number; readonly at: number } | null;
  /** Backup runs, oldest first, at most {@link MAX_RUNS}. */
  readonly runs: readonly RunPoint[];
}

/** The job logs the dashboard keeps between refreshes, by `<server>/<job id>`. */
export interface HistoryCache {
  readonly jobs: Map<string, JobLog>;
  /** Log rows and pages read (counters for the refresh's own report and the tests). */
  rowsRead: number;
  pagesRead: number;
  /** Characters of log text read since `reclaim` last ran. */
  charsSinceReclaim: number;
  /**
   * Called after every {@link RECLAIM_CHARS} of log text read (the dashboard server passes a full
   * GC): a response body lives in a Buffer outside the JS heap, and V8 lets ~64 MB of dead ones
   * pile up before it collects them on its own.
   */
  readonly reclaim: (() => void) | undefined;
}

/**
 * Log text read between two {@link HistoryCache.reclaim} calls. Measured on a year of history for
 * 2 servers × 10 jobs: 8 MiB let the first full read peak at 128 MiB RSS, 2 MiB at 109 MiB (the
 * read takes ~0.4 s longer), 512 KiB at 100 MiB (~1.3 s longer).
 */
export const RECLAIM_CHARS = 2 * 1024 * 1024;

/** A new, empty {@link HistoryCache}. */
export function createHistoryCache(o: { reclaim?: (() => void) | undefined } = {}): HistoryCache {
  return { jobs: new Map(), rowsRead: 0, pagesRead: 0, charsSinceReclaim: 0, reclaim: o.reclaim };
}

/** The server's smallest page (2.0.7.3 clamps `pagesize` to 10…500). */
const MIN_PAGE = 10;
const MAX_PAGE = 100;
/** A page's log text is kept near this size (a 2.0.7.3 Result row is ~5-7 KB): few requests, bounded strings. */
const PAGE_CHARS = 256 * 1024;

/** A page's size guess: Message and Exception dominate a row. */
function pageChars(rows: readonly LogEntry[]): number {
  let chars = 0;
  for (const r of rows) chars += 96 + (r.message?.length ?? 0) + (r.exception?.length ?? 0);
  return chars;
}

/** The next page's size, so that it holds about {@link PAGE_CHARS} of text. */
function nextPageSize(rows: readonly LogEntry[]): number {
  const perRow = rows.length ? pageChars(rows) / rows.length : 4096;
  return Math.max(MIN_PAGE, Math.min(MAX_PAGE, Math.floor(PAGE_CHARS / perRow)));
}

/**
 * Read a job's log newest first, only as far as needed: down to the held marker (the newest row
 * of the previous read) when the log still holds it, else down to the held runs' time (the
 * database was recreated: its ids start again), else (another job under this id, or nothing held)
 * down to `since`. One page is parsed at a time and only its RunPoints are kept.
 */
export async function readJobLog(
  client: DuplicatiClient,
  id: string,
  dbPath: string | null,
  held: JobLog | undefined,
  since: number,
  o: { signal?: AbortSignal | undefined; cache?: HistoryCache | undefined } = {},
): Promise<JobLog> {
  const signal = o.signal;
  const fresh: RunPoint[] = [];
  let newest: JobLog['newest'] = null;
  // incremental: stop at the marker; resync: the marker is gone, stop at the held time; full: read to `since`.
  let mode: 'incremental' | 'resync' | 'full' = held?.newest ? 'incremental' : held ? 'resync' : 'full';
  const lastHeld = held?.runs.at(-1);
  const heldAt = held?.newest?.at ?? (lastHeld ? lastHeld.t * 1000 : Number.NEGATIVE_INFINITY);
  let offset: number | undefined;
  let pageSize = held ? MIN_PAGE : 20;
  read: for (;;) {
    let rows: LogEntry[];
    try {
      rows = await client.backups.logPage(id, {
        pageSize,
        ...(offset === undefined ? {} : { offset }),
        ...(signal ? { signal } : {}),
      });
    } catch (e) {
      if (!isNoLogYet(e)) throw e;
      rows = [];
    }
    const cache = o.cache;
    if (cache) {
      cache.pagesRead++;
      cache.rowsRead += rows.length;
      cache.charsSinceReclaim += pageChars(rows);
      if (cache.reclaim && cache.charsSinceReclaim >= RECLAIM_CHARS) {
        cache.charsSinceReclaim = 0;
        cache.reclaim();
      }
    }
    for (const row of rows) {
      const at = row.timestamp.getTime();
      newest ??= { id: row.id, at };
      if (mode === 'incremental' && held?.newest) {
        if (row.id === held.newest.id && at === held.newest.at) break read;
        if (row.id <= held.newest.id) mode = held.dbPath === dbPath ? 'resync' : 'full';
      }
      if (mode === 'resync' && at <= heldAt) break read;
      if (at < since || fresh.length >= MAX_RUNS) break read;
      const p = runPoint(row);
      if (p) fresh.push(p);
    }
    const last = rows.at(-1);
    // A short page is the end; a server that ignored the offset would repeat the page forever.
    if (!last || rows.length < pageSize || (offset !== undefined && last.id >= offset)) break;
    offset = last.id;
    pageSize = nextPageSize(rows);
  }
  fresh.reverse();
  // An empty log under another database path: another job took this id; what was held is not its history.
  const keep = held && mode !== 'full' && !(newest === null && held.dbPath !== dbPath) ? held.runs : [];
  const sinceS = since / 1000;
  let runs = keep.length ? [...keep.filter((r) => r.t >= sinceS), ...fresh] : fresh;
  if (runs.length > MAX_RUNS) runs = runs.slice(runs.length - MAX_RUNS);
  return { dbPath, newest: newest ?? (keep.length ? (held?.newest ?? null) : null), runs };
}

/** `14D`, `10 versions`, `1W:1D,4W:1W` — the job's retention as Duplicati settings say it. */
function retentionText(options: ReadonlyMap<string, string>): string {
  const parts: string[] = [];
  const time = options.get('keep-time');
  const versions = options.get('keep-versions');
  const policy = options.get('retention-policy');
  if (time) parts.push(`keep ${time}`);
  if (versions && versions !== '0') parts.push(`keep ${versions} versions`);
  if (policy) parts.push(`policy ${policy}`);
  return parts.join(', ') || 'all versions (no retention)';
}

const LIGHT: Record<AuditRule['status'], Light> = { pass: 'green', warn: 'amber', fail: 'red', unknown: 'grey' };

/** The audit's light for a rule and subject. */
function ruleOf(audit: AuditReport | null, id: string, subject: string): AuditRule | undefined {
  return audit?.rules.find((r) => r.id === id && r.subject === subject);
}

function jobView(
  server: string,
  summary: BackupSummary,
  runs: readonly RunPoint[],
  options: ReadonlyMap<string, string> | null,
  targetUrl: string,
  audit: AuditReport | null,
  drills: readonly DrillRow[],
  now: Date,
): JobView {
  const last = runs.at(-1);
  const success = [...runs].reverse().find((r) => r.result === 'Success' || r.result === 'Warning');
  const failure = [...runs].reverse().find((r) => r.result !== 'Success' && r.result !== 'Warning');
  const metaSuccess = parseMetadataTime(summary.metadata.LastBackupStarted);
  const successAt = success ? new Date(success.t * 1000) : metaSuccess;
  const fresh = ruleOf(audit, 'job.last-success', summary.name);
  const maxAge =
    fresh?.evidence && typeof fresh.evidence === 'object' && !Array.isArray(fresh.evidence)
      ? (fresh.evidence as Record<string, unknown>).maxAgeMs
      : undefined;
  const verified = drills.find((d) => d.verdict === 'pass' && (d.job === summary.name || d.job === summary.id));
  const cls = classifyTarget(targetUrl);
  const size = Number(summary.metadata.SourceFilesSize);
  return {
    server,
    id: summary.id,
    name: summary.name,
    schedule: summary.schedule
      ? {
          repeat: summary.schedule.repeat,
          nextRunAt: summary.schedule.time,
          allowedDays: [...summary.schedule.allowedDays],
        }
      : null,
    lastRun: last ? { at: new Date(last.t * 1000).toISOString(), result: last.result } : null,
    lastSuccessAt: successAt?.toISOString() ?? null,
    ageMs: successAt ? now.getTime() - successAt.getTime() : null,
    maxAgeMs: typeof maxAge === 'number' ? maxAge : null,
    freshness: fresh ? LIGHT[fresh.status] : 'grey',
    freshnessReason: fresh?.reason ?? 'not audited',
    lastFailure: failure
      ? {
          at: new Date(failure.t * 1000).toISOString(),
          result: failure.result,
          reason: failure.error ?? failure.result,
        }
      : null,
    lastVerified: verified
      ? { at: verified.finishedAt, version: verified.version, recoveryMs: verified.recoveryMs }
      : null,
    retention: options ? retentionText(options) : 'unknown (settings unreadable)',
    target: { kind: cls.kind, where: displayTarget(targetUrl) },
    sourceBytes: Number.isFinite(size) && summary.metadata.SourceFilesSize !== undefined ? size : null,
    runs: runs.length,
  };
}

async function readDrills(dirs: readonly string[], signal: AbortSignal | undefined): Promise<DrillRow[]> {
  const rows: DrillRow[] = [];
  for (const [i, dir] of dirs.entries()) {
    const names = (await fsp.readdir(dir).catch(() => [] as string[]))
      .filter((n) => /^drill-[\w-]+\.json$/.test(n))
      .sort()
      .reverse()
      .slice(0, MAX_DRILLS);
    for (const n of names) {
      throwIfAborted(signal);
      let e: DrillEvidence;
      try {
        e = JSON.parse(await fsp.readFile(path.join(dir, n), 'utf8')) as DrillEvidence;
      } catch {
        continue;
      }
      if (typeof e?.startedAt !== 'string' || !e.job) continue;
      const md = n.replace(/\.json$/, '.md');
      const hasMd = await fsp
        .access(path.join(dir, md))
        .then(() => true)
        .catch(() => false);
      const okChecks = (e.checksums ?? []).filter((c) => c.ok).length;
      rows.push({
        job: e.job.name,
        verdict: e.verdict,
        version: e.version,
        mode: e.mode,
        startedAt: e.startedAt,
        finishedAt: e.finishedAt,
        recoveryMs: e.durations?.totalMs ?? 0,
        checks: `${okChecks}/${(e.checksums ?? []).length} checksums, ${(e.entries ?? []).filter((x) => x.ok).length}/${(e.entries ?? []).length} entries`,
        errors: (e.errors ?? []).map(oneLine),
        evidence: hasMd ? `/evidence/${i}/${md}` : null,
      });
    }
  }
  return rows.sort((a, b) => b.finishedAt.localeCompare(a.finishedAt)).slice(0, MAX_DRILLS);
}

async function readRestorePoints(stateDir: string, signal: AbortSignal | undefined): Promise<RestorePointRow[]> {
  const records = await listRestorePoints({ stateDir, ...(signal ? { signal } : {}) });
  return records.map((r) => {
    const applied = r.targets.filter((t) => t.state === 'applied');
    const rollback =
      r.status === 'applied' && applied.length
        ? `rollback puts back ${applied
            .map((t) => `${t.name}${t.output.safetyCopy ? ` from ${t.output.safetyCopy}` : ''}`)
            .join('; ')}`
        : `nothing to roll back (${r.status})`;
    return {
      id: r.id,
      createdAt: r.createdAt,
      status: r.status,
      source:
        r.source.type === 'duplicati'
          ? `${r.source.job} version ${r.source.version} (${r.source.time})`
          : `folder ${r.source.from}`,
      targets: r.targets.map((t) => ({
        name: t.name,
        kind: t.kind,
        state: t.state,
        safetyCopy: t.output.safetyCopy ?? null,
      })),
      rollback,
    };
  });
}

async function readLocalCopies(
  lc: NonNullable<CollectOptions['localCopies']>,
  now: Date,
  signal: AbortSignal | undefined,
): Promise<NonNullable<DashboardSnapshot['localCopies']>> {
  const names = await fsp.readdir(lc.dir).catch(() => [] as string[]);
  const found: { name: string; time: Date }[] = [];
  for (const name of names) {
    const time = parseCopyName(name);
    if (time) found.push({ name, time });
  }
  const kept = lc.keep ? selectRetained(found, lc.keep, now) : new Set(found.map((c) => c.name));
  const copies: LocalCopyRow[] = [];
  for (const c of found.sort((a, b) => b.time.getTime() - a.time.getTime())) {
    throwIfAborted(signal);
    let bytes = 0;
    let artifacts = 0;
    let complete = true;
    try {
      const m = await readManifest(path.join(lc.dir, c.name), signal ? { signal } : {});
      for (const a of m.sources.flatMap((x) => x.artifacts)) {
        bytes += a.bytes;
        artifacts++;
      }
    } catch {
      complete = false;
    }
    copies.push({ name: c.name, at: c.time.toISOString(), bytes, artifacts, complete, kept: kept.has(c.name) });
  }
  const keep = lc.keep
    ? Object.entries(lc.keep)
        .map(([k, v]) => `${k} ${String(v)}`)
        .join(', ')
    : 'no policy';
  return { dir: lc.dir, retention: keep, copies };
}

function certificateRows(certs: readonly CertificateInfoLike[]): CertificateRow[] {
  return certs
    .map((c) => ({
      subject: c.subject,
      sans: [...c.sans],
      file: c.file,
      notAfter: c.notAfter,
      daysLeft: c.daysLeft,
      light: (c.daysLeft < 7 ? 'red' : c.daysLeft < 21 ? 'amber' : 'green') as Light,
    }))
    .sort((a, b) => a.daysLeft - b.daysLeft);
}

/** `daily`, `every 6h`, `weekly on mon, thu`. */
export function frequencyText(repeat: string | null, days: readonly string[]): string {
  const r = (repeat ?? '').trim();
  const base = r === '1D' ? 'daily' : r === '1W' ? 'weekly' : r === '1M' ? 'monthly' : r ? `every ${r}` : 'manual';
  return days.length && days.length < 7 ? `${base} on ${days.join(', ')}` : base;
}

function timeOfDay(iso: string | null, timeZone: string | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  return new Intl.DateTimeFormat('en-GB', {
    hour: '2-digit',
    minute: '2-digit',
    ...(timeZone ? { timeZone } : {}),
  }).format(d);
}

/** The backup plan table, generated from the jobs on the servers. */
export function planRows(servers: readonly ServerView[], timeZone?: string): PlanRow[] {
  return servers.flatMap((s) =>
    s.jobs.map((j) => ({
      server: s.name,
      service: j.name,
      frequency: frequencyText(j.schedule?.repeat ?? null, j.schedule?.allowedDays ?? []),
      time: j.schedule ? timeOfDay(j.schedule.nextRunAt, timeZone) : '—',
      retention: j.retention,
      where: `${j.target.where} (${j.target.kind})`,
    })),
  );
}

/** The audit's local rules (live data, local copies) and the rest. */
function splitAudit(a: AuditReport): { local: AuditReport; jobs: AuditReport } {
  const isLocal = (r: AuditRule) => r.id.startsWith('live.') || r.id.startsWith('local.');
  const part = (rules: AuditRule[]): AuditReport => {
    const counts = { pass: 0, fail: 0, warn: 0, unknown: 0 };
    for (const r of rules) counts[r.status]++;
    return { ...a, ok: counts.fail === 0, counts, rules, notifications: [] };
  };
  return { local: part(a.rules.filter(isLocal)), jobs: part(a.rules.filter((r) => !isLocal(r))) };
}

interface ServerRead {
  readonly view: ServerView;
  readonly history: Record<string, readonly RunPoint[]>;
  readonly localAudit: AuditReport | null;
}

async function readServer(
  s: DashboardServer,
  o: CollectOptions,
  withLocal: boolean,
  drills: readonly DrillRow[],
  now: Date,
): Promise<ServerRead> {
  const signal = o.signal;
  const req = signal ? { signal } : {};
  const audited = await auditBackups({
    client: s.client,
    now,
    ...(o.jobs?.length ? { jobs: [...o.jobs] } : {}),
    ...(o.maxAgeMs ? { maxAgeMs: o.maxAgeMs } : {}),
    ...(o.graceMs !== undefined ? { graceMs: o.graceMs } : {}),
    ...(o.timeZone ? { timeZone: o.timeZone } : {}),
    ...(o.checkTimeoutMs ? { checkTimeoutMs: o.checkTimeoutMs } : {}),
    ...(withLocal && o.sources ? { sources: [...o.sources] } : {}),
    ...(withLocal && o.workDir ? { workDir: o.workDir } : {}),
    ...(withLocal && o.localCopies
      ? {
          localCopies: {
            dir: o.localCopies.dir,
            verify: o.localCopies.verify ?? false,
            ...(o.localCopies.maxAgeMs ? { maxAgeMs: o.localCopies.maxAgeMs } : {}),
          },
        }
      : {}),
    ...(signal ? { signal } : {}),
    ...(o.logger ? { logger: o.logger } : {}),
  });
  const { local, jobs: audit } = splitAudit(audited);
  const list = await s.client.backups.list(req);
  const wanted = o.jobs?.length
    ? list.filter((b) => o.jobs?.some((j) => j === b.id || j.toLowerCase() === b.name.toLowerCase()))
    : list;
  const since = now.getTime() - (o.historyDays ?? 365) * DAY;
  const serverDefaults = await s.client.server.settings(req).catch(() => ({}));
  const jobs: JobView[] = [];
  const history: Record<string, readonly RunPoint[]> = {};
  const cache = o.history;
  const keys = new Set<string>();
  for (const summary of wanted) {
    throwIfAborted(signal);
    const key = `${s.name}/${summary.id}`;
    keys.add(key);
    const backup = await s.client.backups.get(summary.id, req).catch(() => null);
    const held = cache?.jobs.get(key);
    let runs: readonly RunPoint[];
    try {
      const log = await readJobLog(s.client, summary.id, summary.dbPath, held, since, { signal, cache });
      cache?.jobs.set(key, log);
      runs = log.runs;
    } catch (e) {
      // One job's log that cannot be read (2.3.1+ answers 400 while the job runs, a job deleted
      // meanwhile) keeps its last good read; a server that is down or refuses us fails the whole read.
      const refused = isDuplicatiAuthenticationError(e) || isDuplicatiPermissionDeniedError(e);
      if (!isDuplicatiAPIError(e) || refused) throw e;
      o.logger?.warn('dashboard: cannot read a job log; keeping the last read', {
        server: s.name,
        job: summary.name,
        error: oneLine(String((e as Error).message)),
      });
      runs = held?.runs ?? [];
    }
    history[key] = runs;
    const options = backup ? jobOptions(backup.settings, serverDefaults) : null;
    jobs.push(jobView(s.name, summary, runs, options, backup?.targetUrl ?? summary.targetUrl, audit, drills, now));
  }
  // Jobs gone from the server leave the cache (bounded by the jobs that exist).
  if (cache) for (const k of cache.jobs.keys()) if (k.startsWith(`${s.name}/`) && !keys.has(k)) cache.jobs.delete(k);
  return {
    view: {
      name: s.name,
      url: displayServer(s.client.baseUrl),
      ok: true,
      error: null,
      readAt: now.toISOString(),
      jobs,
      audit,
    },
    history,
    localAudit: withLocal ? local : null,
  };
}

/**
 * Read one snapshot. A server that cannot be read is reported with its error, and its last good
 * read (from `previous`) is kept, so a page never goes blank because Duplicati is down.
 */
export async function collectSnapshot(o: CollectOptions, previous?: DashboardSnapshot): Promise<DashboardSnapshot> {
  const now = o.now ?? new Date();
  const logger = o.logger ?? silentLogger;
  const signal = o.signal;
  const drills = o.evidenceDirs?.length ? await readDrills(o.evidenceDirs, signal) : [];
  const servers: ServerView[] = [];
  const history: Record<string, readonly RunPoint[]> = {};
  let localAudit: AuditReport | null = null;
  for (const [i, s] of o.servers.entries()) {
    try {
      const read = await readServer(s, o, i === 0, drills, now);
      servers.push(read.view);
      Object.assign(history, read.history);
      if (read.localAudit) localAudit = read.localAudit;
    } catch (e) {
      throwIfAborted(signal);
      const error = oneLine(e instanceof Error ? e.message : String(e));
      logger.warn('dashboard: cannot read a Duplicati server', { server: s.name, error });
      const old = previous?.servers.find((x) => x.name === s.name);
      servers.push({
        name: s.name,
        url: displayServer(s.client.baseUrl),
        ok: false,
        error,
        readAt: old?.readAt ?? null,
        jobs: old?.jobs ?? [],
        audit: old?.audit ?? null,
      });
      for (const [k, v] of Object.entries(previous?.history ?? {})) if (k.startsWith(`${s.name}/`)) history[k] = v;
    }
  }
  if (o.servers.length === 0 && (o.sources?.length || o.localCopies)) {
    localAudit = await auditBackups({
      now,
      ...(o.sources ? { sources: [...o.sources] } : {}),
      ...(o.workDir ? { workDir: o.workDir } : {}),
      ...(o.localCopies ? { localCopies: { dir: o.localCopies.dir, verify: o.localCopies.verify ?? false } } : {}),
      ...(signal ? { signal } : {}),
    });
  }
  const restorePoints = o.restoreStateDir ? await readRestorePoints(o.restoreStateDir, signal).catch(() => []) : [];
  const localCopies = o.localCopies ? await readLocalCopies(o.localCopies, now, signal) : null;
  const certs = o.certificates && o.sources?.length ? await o.certificates(o.sources).catch(() => []) : [];
  return {
    generatedAt: now.toISOString(),
    refreshMs: 0,
    servers,
    localAudit,
    plan: planRows(servers, o.timeZone),
    drills,
    restorePoints,
    localCopies,
    certificates: certificateRows(certs),
    history,
  };
}
