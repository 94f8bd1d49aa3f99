/**
 * The pure judgements of the 3-2-1 audit: a Duplicati job's settings (encryption, retention,
 * hooks), its target URL (off-site or not), and its runs (the newest success, the newest failure).
 * No I/O here; `audit.ts` gathers the state and calls these.
 *
 * @module
 */
import { redactUrl } from '../core/redact.js';
import { type ParsedResultRow, parseResultRow } from '../duplicati/outcome.js';
import type { BackupSetting, LogEntry, OperationResult, Schedule } from '../duplicati/types.js';
import type { JsonValue } from '../contracts/types.js';
import { runsDuplicatiKitHook } from './hook-install.js';
import {
  lastOccurrence,
  occurrencesBetween,
  parseAllowedDays,
  parseRepeat,
  parseServerTime,
  type ScheduleSpec,
  TimeZoneCalendar,
} from './schedule-math.js';

/** How a rule came out. `unknown`: the state it needs could not be read. */
export type AuditStatus = 'pass' | 'fail' | 'warn' | 'unknown';

/** One judged rule of the audit. */
export interface AuditRule {
  /** Stable id, e.g. `job.encryption`. */
  readonly id: string;
  /** What it is about: a source name, the local copies folder, a Duplicati job name. */
  readonly subject: string;
  readonly status: AuditStatus;
  /** One line for a human, saying why. */
  readonly reason: string;
  /** The facts the verdict rests on (times, values, paths; never a secret). */
  readonly evidence: Readonly<Record<string, JsonValue>>;
}

/** A verdict before it is given an id and a subject. */
export type Verdict = Omit<AuditRule, 'id' | 'subject'>;

/**
 * A job's effective options, the way the server applies them (`Runner.ApplyOptions`): the
 * server-wide default options (`--` keys of `GET /serversettings`) first, then the job's names
 * without `--`, then its names with `--` as overrides. Keys lose their dashes and are
 * lower-cased; filter-scoped settings are left out.
 *
 * @example
 * ```ts
 * jobOptions([{ name: 'passphrase', value: 's', filter: null }]).get('passphrase'); // 's'
 * ```
 */
export function jobOptions(
  settings: readonly Pick<BackupSetting, 'name' | 'value' | 'filter'>[],
  serverDefaults: Readonly<Record<string, string | null>> = {},
): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(serverDefaults)) {
    if (k.startsWith('--')) out.set(k.replace(/^-+/, '').toLowerCase(), v ?? '');
  }
  const plain = settings.filter((s) => !s.filter && !s.name.startsWith('--'));
  const dashed = settings.filter((s) => !s.filter && s.name.startsWith('--'));
  for (const s of [...plain, ...dashed]) out.set(s.name.replace(/^-+/, '').toLowerCase(), s.value ?? '');
  return out;
}

/**
 * A boolean option as Duplicati reads it (`Utility.ParseBoolOption`): absent is false; present
 * and empty, `true`, `1`, `on`, `yes` (or anything unrecognised) is true; `false`, `0`, `off`,
 * `no` is false.
 */
export function optionIsTrue(options: ReadonlyMap<string, string>, name: string): boolean {
  const v = options.get(name);
  if (v === undefined) return false;
  return !['false', '0', 'off', 'no'].includes(v.trim().toLowerCase());
}

/**
 * Encryption on: a passphrase is set and `--no-encryption` is not. A masked passphrase counts as set.
 *
 * @example
 * ```ts
 * judgeEncryption(jobOptions(backup.settings)).status; // 'fail' for a job with --no-encryption
 * ```
 */
export function judgeEncryption(options: ReadonlyMap<string, string>): Verdict {
  const noEncryption = optionIsTrue(options, 'no-encryption');
  const passphrase = (options.get('passphrase') ?? '') !== '';
  const module = options.get('encryption-module') ?? null;
  const evidence = { noEncryption, passphraseSet: passphrase, encryptionModule: module };
  if (noEncryption) {
    return { status: 'fail', reason: '--no-encryption is set: the off-site copy is not encrypted', evidence };
  }
  if (!passphrase) {
    return {
      status: 'fail',
      reason: "no passphrase in the job's settings: Duplicati cannot encrypt (runs fail or were never set up)",
      evidence,
    };
  }
  return { status: 'pass', reason: `encrypted (${module || 'aes'}) with a stored passphrase`, evidence };
}

/**
 * Retention set: `keep-versions` (above 0), `keep-time` or `retention-policy`.
 *
 * @example
 * ```ts
 * judgeRetention(jobOptions([{ name: 'keep-time', value: '3M', filter: null }])).reason; // 'keep-time=3M'
 * ```
 */
export function judgeRetention(options: ReadonlyMap<string, string>): Verdict {
  const keepVersions = options.get('keep-versions') ?? '';
  const keepTime = options.get('keep-time') ?? '';
  const policy = options.get('retention-policy') ?? '';
  const evidence = {
    keepVersions: keepVersions || null,
    keepTime: keepTime || null,
    retentionPolicy: policy || null,
  };
  const set: string[] = [];
  if (/^\d+$/.test(keepVersions.trim()) && Number(keepVersions) > 0) set.push(`keep-versions=${keepVersions.trim()}`);
  if (keepTime.trim()) set.push(`keep-time=${keepTime.trim()}`);
  if (policy.trim()) set.push(`retention-policy=${policy.trim()}`);
  if (set.length === 0) {
    return {
      status: 'fail',
      reason: 'no keep-versions, keep-time or retention-policy: every version is kept and the target only grows',
      evidence,
    };
  }
  return { status: 'pass', reason: set.join(', '), evidence };
}

/** One line of the host's mount table. */
export interface MountEntry {
  readonly mountPoint: string;
  readonly fsType: string;
  readonly source: string;
}

const NETWORK_FS =
  /^(nfs4?|cifs|smb3?|smbfs|ncpfs|afs|ceph|glusterfs|lustre|gpfs|davfs|fuse\.(sshfs|rclone|s3fs|goofys|davfs2?|glusterfs|cephfs|gcsfuse|juicefs|mergerfs-remote))$/i;

/**
 * Parse `/proc/self/mountinfo` (octal escapes such as `\040` decoded).
 *
 * @example
 * ```ts
 * const mounts = parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8'));
 * classifyTarget('file:///mnt/nas/backup', mounts).kind; // 'network-mount' on an NFS mount
 * ```
 */
export function parseMountInfo(text: string): MountEntry[] {
  const decode = (s: string) =>
    s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const parts = line.trim().split(' ');
    const dash = parts.indexOf('-');
    if (dash < 5 || parts.length < dash + 3) continue;
    out.push({
      mountPoint: decode(parts[4] as string),
      fsType: parts[dash + 1] as string,
      source: decode(parts[dash + 2] as string),
    });
  }
  return out;
}

function mountOf(p: string, mounts: readonly MountEntry[]): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const m of mounts) {
    const mp = m.mountPoint.endsWith('/') ? m.mountPoint : `${m.mountPoint}/`;
    const inside = p === m.mountPoint || p.startsWith(mp) || m.mountPoint === '/';
    if (inside && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

/** Where a job's target is, as far as its URL tells. */
export type TargetKind = 'local-path' | 'local-folder' | 'network-mount' | 'same-host' | 'local-network' | 'remote';

/** {@link classifyTarget}'s answer: a verdict plus the kind of place. */
export interface TargetClass extends Verdict {
  readonly kind: TargetKind;
}

function isLoopback(host: string): boolean {
  return /^(localhost|localhost\.localdomain|127(\.\d{1,3}){3}|\[?::1\]?|0\.0\.0\.0)$/i.test(host);
}

function isPrivate(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return (
    /^10\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) ||
    /^192\.168\.\d{1,3}\.\d{1,3}$/.test(h) ||
    /^172\.(1[6-9]|2\d|3[01])\.\d{1,3}\.\d{1,3}$/.test(h) ||
    /^169\.254\./.test(h) ||
    /^f[cd][0-9a-f]{2}:/i.test(h) ||
    /^fe80:/i.test(h) ||
    /\.(local|lan|home|internal|home\.arpa)$/i.test(h) ||
    !h.includes('.')
  );
}

/**
 * Is the target off-site? A plain path or a `file://` URL is a folder on this machine (fail);
 * one on a network file system mount (NFS, SMB, sshfs…) may be elsewhere (warn), as may a remote
 * protocol pointed at this host or the local network (warn); anything else is remote (pass).
 * `mounts` is the mount table of the host the check runs on (see {@link parseMountInfo}).
 *
 * @example
 * ```ts
 * classifyTarget('file:///mnt/usb/backup', []).status;             // 'fail'
 * classifyTarget('b2://bucket/folder?auth-username=…', []).status; // 'pass'
 * ```
 */
export function classifyTarget(url: string, mounts: readonly MountEntry[] = []): TargetClass {
  const shown = redactUrl(url);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (!scheme || /^[a-z]:[\\/]/i.test(url)) {
    if (/^(\\\\|\/\/)[^\\/]/.test(url)) {
      return {
        kind: 'network-mount',
        status: 'warn',
        reason: `${shown} is a network share: off-site only if that share is in another place`,
        evidence: { target: shown, scheme: null },
      };
    }
    return {
      kind: 'local-path',
      status: 'fail',
      reason: `${shown} is a folder on this machine, not an off-site copy`,
      evidence: { target: shown, scheme: null },
    };
  }
  const rest = url.slice(scheme.length + 3);
  if (scheme === 'file') {
    let p = rest.split('?')[0] ?? '';
    try {
      p = decodeURIComponent(p);
    } catch {
      /* keep it as written */
    }
    if (/^\/[a-z]:/i.test(p)) p = p.slice(1);
    const m = mountOf(p, mounts);
    const evidence = { target: shown, scheme, path: p, mount: m ? { ...m } : null };
    if (m && NETWORK_FS.test(m.fsType)) {
      return {
        kind: 'network-mount',
        status: 'warn',
        reason: `${p} is on a ${m.fsType} mount of ${m.source}: off-site only if that server is in another place`,
        evidence,
      };
    }
    return {
      kind: 'local-folder',
      status: 'fail',
      reason: `file:// target ${p} is a folder on this machine${m && m.mountPoint !== '/' ? ` (${m.fsType} at ${m.mountPoint})` : ''}, not an off-site copy`,
      evidence,
    };
  }
  let host = '';
  try {
    host = new URL(url).hostname;
  } catch {
    host = /^(?:[^@/?#]*@)?([^:/?#]*)/.exec(rest)?.[1] ?? '';
  }
  const evidence = { target: shown, scheme, host: host || null };
  if (host && isLoopback(host)) {
    return {
      kind: 'same-host',
      status: 'warn',
      reason: `${scheme}:// to ${host}: this machine (a tunnel or a local server?), not off-site as far as the URL tells`,
      evidence,
    };
  }
  // Cloud backends put a bucket or container where a host would be; only look at real hosts.
  const hostBased = /^(ssh|sftp|ftp|ftps|aftp|webdav|dav|davs|http|https|smb|cifs|rsync|tahoe|rclone|s3)$/.test(scheme);
  if (host && hostBased && isPrivate(host) && !(scheme === 's3' && !host.includes('.'))) {
    return {
      kind: 'local-network',
      status: 'warn',
      reason: `${scheme}:// to ${host} on the local network: off-site only if that machine is in another place`,
      evidence,
    };
  }
  const at = host && hostBased ? ` at ${host}` : '';
  return { kind: 'remote', status: 'pass', reason: `${scheme}:// backend${at}: off-site`, evidence };
}

/** A run of a job as its log tells it. */
export interface RunRecord {
  readonly result: OperationResult;
  readonly interrupted: boolean;
  readonly beginAt: Date | null;
  readonly endAt: Date | null;
  readonly errors: readonly string[];
  /** `log` (a Result row) or `metadata` (the server's LastBackup… keys). */
  readonly from: 'log' | 'metadata';
}

/** What {@link summarizeRuns} found. */
export interface RunSummary {
  /** The newest backup run, whatever its result. */
  readonly lastRun: RunRecord | null;
  /** The newest backup run that stored a version: Success or Warning, not interrupted. */
  readonly lastSuccess: RunRecord | null;
}

/** A backup run that stored a version: Success or Warning, not interrupted. */
export function storedVersion(p: Pick<ParsedResultRow, 'result' | 'interrupted'>): boolean {
  return !p.interrupted && (p.result === 'Success' || p.result === 'Warning');
}

/** True when a log row is the `Result` of a backup run that stored a version. */
export function isSuccessfulBackupRow(row: LogEntry): boolean {
  const p = parseResultRow(row);
  return p !== null && (p.operation === null || p.operation === 'Backup') && storedVersion(p);
}

/** `20261129T065858Z` (the server's metadata format) or ISO text. */
export function parseMetadataTime(v: string | undefined): Date | null {
  if (!v) return null;
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(v);
  const d = m
    ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])))
    : new Date(v);
  return Number.isNaN(d.getTime()) || d.getUTCFullYear() < 1971 ? null : d;
}

/** The moment a run counts from: its start, else its end. */
export function runTime(r: RunRecord): Date | null {
  return r.beginAt ?? r.endAt;
}

/**
 * The newest backup run and the newest successful one, from the job log's `Result` rows (newest
 * first), else from the job's metadata. A run that ended Error or Fatal, or was interrupted (a
 * hook or a user stopped it), is not a success; Warning is (the version was stored).
 *
 * @example
 * ```ts
 * const rows = [];
 * for await (const row of dup.backups.log(id)) rows.push(row);
 * const { lastRun, lastSuccess } = summarizeRuns(rows, job.metadata);
 * ```
 */
export function summarizeRuns(rows: readonly LogEntry[], metadata: Readonly<Record<string, string>>): RunSummary {
  let lastRun: RunRecord | null = null;
  let lastSuccess: RunRecord | null = null;
  for (const row of rows) {
    const p = parseResultRow(row);
    if (!p || (p.operation !== null && p.operation !== 'Backup')) continue;
    const rec: RunRecord = {
      result: p.result,
      interrupted: p.interrupted,
      beginAt: p.beginTime,
      endAt: p.endTime ?? row.timestamp,
      errors: p.errors.slice(0, 3),
      from: 'log',
    };
    lastRun ??= rec;
    if (storedVersion(p)) {
      lastSuccess = rec;
      break;
    }
  }
  if (lastRun) return { lastRun, lastSuccess };
  // No Result row (the local database was recreated, or the log was cleaned): the server's
  // metadata. LastError* are only set when a run throws and never cleared (compare the dates).
  const finished = parseMetadataTime(metadata.LastBackupFinished);
  const started = parseMetadataTime(metadata.LastBackupStarted);
  const errorAt = parseMetadataTime(metadata.LastErrorDate);
  const success: RunRecord | null = finished
    ? { result: 'Success', interrupted: false, beginAt: started, endAt: finished, errors: [], from: 'metadata' }
    : null;
  if (errorAt && (!finished || errorAt.getTime() > finished.getTime())) {
    return {
      lastRun: {
        result: 'Fatal',
        interrupted: false,
        beginAt: null,
        endAt: errorAt,
        errors: metadata.LastErrorMessage ? [metadata.LastErrorMessage] : [],
        from: 'metadata',
      },
      lastSuccess: success,
    };
  }
  return { lastRun: success, lastSuccess: success };
}

/** `2026-11-29T02:00:00Z`: an ISO time to the second, for reasons (evidence keeps full ISO). */
export function shortIso(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `3d 4h`, `25m`, `40s`: an age for a human. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return h ? `${d}d ${h}h` : `${d}d`;
  if (h > 0) return m ? `${h}h ${m}m` : `${h}h`;
  if (m > 0) return `${m}m`;
  return `${s}s`;
}

/** What the audit could read of a run-script file on this machine. */
export interface HookScriptInfo {
  readonly readable: boolean;
  readonly executable: boolean;
  /** The start of the file. */
  readonly text: string;
}

/**
 * Hooks installed: `run-script-before(-required)` and `run-script-after` both run
 * `duplicati-kit hook` — a wrapper written by `installHook`, a script calling the CLI, or (with
 * `run-script-with-arguments`) the command line itself. A script that cannot be read here
 * (Duplicati in a container, on another host) is a warning, not a pass.
 *
 * @example
 * ```ts
 * const o = jobOptions(backup.settings);
 * judgeHooks(o, new Map([[o.get('run-script-after') ?? '', { readable: true, executable: true, text: script }]]));
 * ```
 */
export function judgeHooks(
  options: ReadonlyMap<string, string>,
  scripts: ReadonlyMap<string, HookScriptInfo>,
): Verdict {
  const required = options.get('run-script-before-required') || '';
  const before = required || options.get('run-script-before') || '';
  const after = options.get('run-script-after') || '';
  const evidence = {
    before: before || null,
    beforeRequired: required !== '',
    after: after || null,
    timeout: options.get('run-script-timeout') ?? null,
  };
  const missing = [before ? '' : 'run-script-before', after ? '' : 'run-script-after'].filter(Boolean);
  if (missing.length) {
    return {
      status: 'fail',
      reason: `no ${missing.join(' and no ')}: the dumps are not prepared/cleaned around the backup (run duplicati-kit hook install)`,
      evidence,
    };
  }
  const problems: string[] = [];
  const unreadable: string[] = [];
  for (const [what, value] of [
    ['before', before],
    ['after', after],
  ] as const) {
    if (runsDuplicatiKitHook(value)) continue;
    const info = scripts.get(value);
    if (!info?.readable) unreadable.push(`${what} script ${value}`);
    else if (!runsDuplicatiKitHook(info.text)) problems.push(`${what} script ${value} does not run duplicati-kit hook`);
    else if (!info.executable) problems.push(`${what} script ${value} is not executable`);
  }
  if (problems.length) return { status: 'fail', reason: problems.join('; '), evidence };
  if (unreadable.length) {
    return {
      status: 'warn',
      reason: `${unreadable.join(' and ')} not readable here (Duplicati in a container or on another host?): set, not verified`,
      evidence,
    };
  }
  return {
    status: 'pass',
    reason: `duplicati-kit hook runs before${required ? ' (required)' : ''} and after each operation`,
    evidence,
  };
}

/** A Duplicati schedule made ready for the arithmetic; null without one, `{error}` when unusable. */
export function scheduleSpec(schedule: Schedule | null, timeZone: string): ScheduleSpec | null | { error: string } {
  new TimeZoneCalendar(timeZone);
  if (!schedule) return null;
  const repeat = parseRepeat(schedule.repeat ?? '');
  if (!repeat) return { error: `unreadable repeat "${schedule.repeat ?? ''}"` };
  const anchor = parseServerTime(schedule.time) ?? parseServerTime(schedule.lastRun);
  if (!anchor) return { error: 'the schedule has no time' };
  return { anchor, repeat, allowedDays: parseAllowedDays(schedule.allowedDays, schedule.rule), timeZone };
}

/** A schedule verdict; `missed` is set when a scheduled run has no successful run. */
export interface ScheduleVerdict extends Verdict {
  readonly missed?: { readonly dueAt: string; readonly count: number };
}

/** Runs that began up to this long before their due time still count for it (clock skew). */
const EARLY_TOLERANCE_MS = 60_000;

/**
 * Missed runs: the newest run the schedule had due (at least `graceMs` ago) must have a
 * successful run that began at or after its due time. Before the scheduler ever ran the job
 * (`LastRun` empty) only runs from its first due time on are expected.
 *
 * @example
 * ```ts
 * judgeSchedule(job.schedule, lastSuccessAt, new Date(), 3_600_000, 'Europe/Berlin').status;
 * ```
 */
export function judgeSchedule(
  schedule: Schedule | null,
  lastSuccessAt: Date | null,
  now: Date,
  graceMs: number,
  timeZone: string,
): ScheduleVerdict {
  const spec = scheduleSpec(schedule, timeZone);
  if (spec === null) {
    return {
      status: 'warn',
      reason: 'no Duplicati schedule: runs only when started by hand or by an external timer',
      evidence: { schedule: null },
    };
  }
  if ('error' in spec) return { status: 'warn', reason: spec.error, evidence: { repeat: schedule?.repeat ?? null } };
  const cutoff = new Date(now.getTime() - graceMs);
  const lastRunAt = parseServerTime(schedule?.lastRun);
  const dueAt = lastOccurrence(spec, cutoff);
  const evidence: Record<string, JsonValue> = {
    repeat: spec.repeat.text,
    allowedDays: spec.allowedDays.map((d) => ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'][d] as string),
    timeZone,
    nextRunAt: parseServerTime(schedule?.time)?.toISOString() ?? null,
    scheduledLastRunAt: lastRunAt?.toISOString() ?? null,
    dueAt: dueAt?.toISOString() ?? null,
    lastSuccessAt: lastSuccessAt?.toISOString() ?? null,
    graceMs,
  };
  const firstDue = spec.anchor;
  if (!dueAt || (!lastRunAt && firstDue.getTime() > cutoff.getTime())) {
    return {
      status: 'pass',
      reason: `no scheduled run due yet (first at ${shortIso(firstDue)})`,
      evidence,
    };
  }
  if (lastSuccessAt && lastSuccessAt.getTime() >= dueAt.getTime() - EARLY_TOLERANCE_MS) {
    return {
      status: 'pass',
      reason: `no run missed: the last one due (${shortIso(dueAt)}, every ${spec.repeat.text}) is covered by the success at ${shortIso(lastSuccessAt)}`,
      evidence,
    };
  }
  const count = lastSuccessAt
    ? Math.max(
        1,
        occurrencesBetween(spec, cutoff, { after: new Date(lastSuccessAt.getTime() + EARLY_TOLERANCE_MS) }).length,
      )
    : 1;
  evidence.missed = count;
  const since = lastSuccessAt ? `last success ${shortIso(lastSuccessAt)}` : 'no successful run ever';
  return {
    status: 'fail',
    reason: `missed ${count === 1 ? 'the scheduled run' : `${count} scheduled runs`}: due ${shortIso(dueAt)} (every ${spec.repeat.text}), ${since}`,
    evidence,
    missed: { dueAt: dueAt.toISOString(), count },
  };
}
