/**
 * The `/api/v1` routes of the fake, in the response shapes of 2.0.x and 2.1+ servers.
 *
 * @module
 */
import { compareVersions, isoSecondsOffset, isoSecondsZ, parseTimeArgument, parseTimeSpan } from './format.js';
import type {
  FakeBackup,
  FakeOperation,
  FakeSchedule,
  FakeSetting,
  FakeState,
  FakeTask,
  FakeVersion,
  JobSpec,
} from './state.js';
import { RemoteReadError } from './remote.js';
import { type JobFilter, matchesExpression } from './store.js';
import { boolParam, type Exchange, type FakeGeneration, prop, type Reply } from './wire.js';

/** Per-server facts the routes depend on. */
export interface RouteContext {
  readonly state: FakeState;
  readonly generation: FakeGeneration;
  readonly version: string;
  readonly now: () => Date;
}

const PLACEHOLDER_20 = '**********';
const PLACEHOLDER_21 = '***************';
const MIN_DATE = '0001-01-01T00:00:00';

function atLeast(ctx: RouteContext, v: string): boolean {
  return compareVersions(ctx.version, v) >= 0;
}

/** A JSON success in the generation's shape. */
function ok(json: unknown): Reply {
  return { status: 200, json };
}

/** `{"Status":"OK"}` on 2.0, an empty 200 on 2.1+. */
function done(ctx: RouteContext): Reply {
  return ctx.generation === '2.0' ? ok({ Status: 'OK' }) : { status: 200 };
}

/** An error in the generation's shape: reason phrase + `{"Error"}` / `{"Error","Code"}`. */
export function fail(ctx: RouteContext, status: number, message: string): Reply {
  if (ctx.generation === '2.0') return { status, reason: message, json: { Error: message } };
  return { status, json: { Error: message, Code: status } };
}

function notFoundBackup(ctx: RouteContext): Reply {
  return ctx.generation === '2.0' ? fail(ctx, 404, 'Invalid or missing backup id') : fail(ctx, 404, 'Backup not found');
}

function timeText(ctx: RouteContext, d: Date): string {
  return ctx.generation === '2.0' ? isoSecondsOffset(d) : isoSecondsZ(d);
}

// ----------------------------------------------------------------------------- job input

/** Secrets a 2.3+ server masks in `GET backup/{id}`. */
function isSecretSetting(name: string): boolean {
  return /passphrase|password|secret|auth-?key|access-?key/i.test(name.replace(/^--/, ''));
}

function maskUrl(url: string): string {
  return url
    .replace(/(\/\/[^:/@]+:)([^@/]+)@/, `$1${PLACEHOLDER_21}@`)
    .replace(/([?&](?:[^=&]*(?:pass|secret|key)[^=&]*)=)([^&]*)/gi, `$1${PLACEHOLDER_21}`);
}

/**
 * The request's data: 2.0 takes form field `data` (JSON text, or a plain string for a single
 * setting) or a raw JSON body; 2.1+ a JSON body.
 */
function requestData(ctx: RouteContext, x: Exchange): unknown {
  if (ctx.generation === '2.0') {
    const data = x.params.get('data');
    if (data !== undefined) {
      try {
        return JSON.parse(data);
      } catch {
        return data;
      }
    }
  }
  return x.json;
}

function readJob(ctx: RouteContext, body: unknown, existing?: FakeBackup): JobSpec | Reply {
  const backup = prop(body, 'Backup');
  if (typeof backup !== 'object' || backup === null) {
    return fail(ctx, 400, 'No backup data found in request body');
  }
  const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
  const name = str(prop(backup, 'Name')).trim();
  let targetUrl = str(prop(backup, 'TargetURL'));
  const rawSources = prop(backup, 'Sources');
  const sources = Array.isArray(rawSources)
    ? rawSources.filter((s): s is string => typeof s === 'string' && s !== '')
    : [];
  const rawSettings = prop(backup, 'Settings');
  const settings: FakeSetting[] = (Array.isArray(rawSettings) ? rawSettings : []).map((s) => ({
    Name: str(prop(s, 'Name')),
    Value: prop(s, 'Value') === null ? null : str(prop(s, 'Value')),
    Filter: prop(s, 'Filter') === null || prop(s, 'Filter') === undefined ? '' : str(prop(s, 'Filter')),
    Argument: null,
  }));
  const rawFilters = prop(backup, 'Filters');
  const filters: JobFilter[] = (Array.isArray(rawFilters) ? rawFilters : []).map((f, i) => ({
    Order: Number(prop(f, 'Order') ?? i),
    Include: prop(f, 'Include') === true || prop(f, 'Include') === 'true',
    Expression: str(prop(f, 'Expression')),
  }));
  if (existing && atLeast(ctx, '2.3')) {
    if (targetUrl === maskUrl(existing.targetUrl)) targetUrl = existing.targetUrl;
    for (const s of settings) {
      if (s.Value === PLACEHOLDER_21) s.Value = existing.settings.find((o) => o.Name === s.Name)?.Value ?? '';
    }
  }
  const placeholder = ctx.generation === '2.0' ? PLACEHOLDER_20 : PLACEHOLDER_21;
  if (!name) return fail(ctx, 400, 'Missing a name');
  if (!targetUrl) return fail(ctx, 400, 'Missing a target');
  if (targetUrl.includes(placeholder)) return fail(ctx, 400, 'TargetURL is password placeholder value');
  if (sources.length === 0) return fail(ctx, 400, 'Invalid source list');
  if (settings.some((s) => s.Value === placeholder)) return fail(ctx, 400, 'Settings is password placeholder value');
  const value = (n: string): string | undefined => {
    const s = settings.find((o) => o.Name.replace(/^--/, '') === n);
    return s ? (s.Value ?? '') : undefined;
  };
  const keepVersions = value('keep-versions');
  if (keepVersions !== undefined && keepVersions !== '' && !/^[1-9]\d*$/.test(keepVersions)) {
    return fail(ctx, 400, 'Retention value must be a positive integer');
  }
  const keepTime = value('keep-time');
  if (keepTime !== undefined && keepTime !== '') {
    const ms = parseTimeSpan(keepTime);
    if (ms === undefined) return fail(ctx, 400, 'Retention value must be a valid timespan');
    if (ms <= 5 * 60_000) return fail(ctx, 400, 'Retention value must be more than 5 minutes');
  }
  const noEncryption = value('no-encryption');
  const encryptionOff = noEncryption !== undefined && (noEncryption === '' || noEncryption.toLowerCase() === 'true');
  if (!encryptionOff && !value('passphrase') && value('encrypt') === undefined) {
    return fail(ctx, 400, 'Missing passphrase');
  }
  const rawSchedule = prop(body, 'Schedule');
  let schedule: FakeSchedule | null = null;
  if (typeof rawSchedule === 'object' && rawSchedule !== null) {
    const repeat = str(prop(rawSchedule, 'Repeat')) || '1D';
    const repeatMs = parseTimeSpan(repeat);
    if (repeatMs === undefined) return fail(ctx, 400, 'Schedule repetition value must be a valid timespan');
    if (repeatMs <= 5 * 60_000) return fail(ctx, 400, 'Schedule repetition time must be more than 5 minutes');
    schedule = {
      ID: Number(prop(rawSchedule, 'ID') ?? 0) || 0,
      Tags: null,
      Time: prop(rawSchedule, 'Time') === undefined ? null : str(prop(rawSchedule, 'Time')) || null,
      Repeat: repeat,
      LastRun: null,
      ...scheduleDays(prop(rawSchedule, 'Rule'), prop(rawSchedule, 'AllowedDays')),
    };
  }
  const rawTags = prop(backup, 'Tags');
  const rawMeta = prop(backup, 'Metadata');
  return {
    name,
    description: str(prop(backup, 'Description')),
    tags: Array.isArray(rawTags) ? rawTags.map(String) : [],
    targetUrl,
    sources,
    settings,
    filters,
    metadata:
      typeof rawMeta === 'object' && rawMeta !== null
        ? Object.fromEntries(Object.entries(rawMeta).map(([k, v]) => [k, String(v)]))
        : undefined,
    schedule,
  };
}

function isReply(v: unknown): v is Reply {
  return typeof v === 'object' && v !== null && 'status' in v;
}

// ----------------------------------------------------------------------------- job output

function backupDto(ctx: RouteContext, b: FakeBackup, full: boolean): Record<string, unknown> {
  const mask = full && atLeast(ctx, '2.3');
  const sources = full ? [...b.sources] : atLeast(ctx, '2.3') ? [] : null;
  const settings = full
    ? b.settings.map((s) => ({
        Filter: s.Filter ?? '',
        Name: s.Name,
        Value: mask && isSecretSetting(s.Name) && s.Value ? PLACEHOLDER_21 : s.Value,
        Argument: null,
      }))
    : null;
  const base: Record<string, unknown> = {
    ID: b.id,
    Name: b.name,
    Description: b.description,
    Tags: [...b.tags],
    TargetURL: mask ? maskUrl(b.targetUrl) : b.targetUrl,
    DBPath: b.dbPath,
    Sources: sources,
    Settings: settings,
    Filters: full ? b.filters.map((f) => ({ Order: f.Order, Include: f.Include, Expression: f.Expression })) : null,
    Metadata: { ...b.metadata },
    IsTemporary: false,
  };
  if (ctx.generation === '2.1') {
    if (atLeast(ctx, '2.1.2')) base.DBPathExists = b.versions.length > 0 || b.log.length > 0;
    base.IsUnencryptedOrPassphraseStored = true;
  }
  return base;
}

function scheduleDto(b: FakeBackup): FakeSchedule | null {
  return b.schedule ? { ...b.schedule } : null;
}

function listBackups(ctx: RouteContext): Reply {
  return ok(
    ctx.state
      .listBackups()
      .map((b) =>
        ctx.generation === '2.0'
          ? { IsUnencryptedOrPassphraseStored: true, Schedule: scheduleDto(b), Backup: backupDto(ctx, b, false) }
          : { Backup: backupDto(ctx, b, false), Schedule: scheduleDto(b) },
      ),
  );
}

function getBackup(ctx: RouteContext, b: FakeBackup): Reply {
  const displayNames = Object.fromEntries(
    b.sources.map((s) => [s, s.replace(/\/$/, '').split('/').pop() || s] as const),
  );
  const data = { Schedule: scheduleDto(b), Backup: backupDto(ctx, b, true), DisplayNames: displayNames };
  return ok(ctx.generation === '2.0' ? { success: true, data } : data);
}

/** The reply 2.0.7.3 gives for a failed read of the target (captured live); 2.1+: its generic error. */
function remoteFailure(ctx: RouteContext, e: unknown): Reply {
  if (!(e instanceof RemoteReadError)) throw e;
  if (ctx.generation !== '2.0' || e.type === null) return fail(ctx, 500, e.message);
  return { status: 500, reason: e.message, json: { Message: e.message, Type: e.type } };
}

/** `POST /backups?temporary=true`: an in-memory backup with a GUID id, no validation, no name check. */
function createTemporary(ctx: RouteContext, x: Exchange): Reply {
  const backup = prop(requestData(ctx, x), 'Backup');
  const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
  const rawSettings = prop(backup, 'Settings');
  const rawSources = prop(backup, 'Sources');
  const b = ctx.state.addBackup(
    {
      name: str(prop(backup, 'Name')),
      description: '',
      tags: [],
      targetUrl: str(prop(backup, 'TargetURL')),
      sources: Array.isArray(rawSources) ? rawSources.map(String) : [],
      settings: (Array.isArray(rawSettings) ? rawSettings : []).map((st) => ({
        Name: str(prop(st, 'Name')),
        Value: prop(st, 'Value') === null ? null : str(prop(st, 'Value')),
        Filter: '',
        Argument: null,
      })),
      filters: [],
      metadata: {},
      schedule: null,
    },
    true,
  );
  return ok(ctx.generation === '2.0' ? { status: 'OK', ID: b.id } : { ID: b.id, Temporary: true });
}

/** `copytotemp`: a temporary copy of the backup's configuration (not its database). */
function copyToTemp(ctx: RouteContext, b: FakeBackup): Reply {
  const copy = ctx.state.addBackup(
    {
      name: b.name,
      description: b.description,
      tags: [...b.tags],
      targetUrl: b.targetUrl,
      sources: [...b.sources],
      settings: b.settings.map((st) => ({ ...st })),
      filters: b.filters.map((f) => ({ ...f })),
      metadata: {},
      schedule: null,
    },
    true,
  );
  return ok({ ID: copy.id, Temporary: true });
}

function createBackup(ctx: RouteContext, x: Exchange): Reply {
  if (boolParam(x.params.get('temporary')) === true) return createTemporary(ctx, x);
  const input = readJob(ctx, requestData(ctx, x));
  if (isReply(input)) return input;
  if (ctx.state.findByName(input.name)) {
    return fail(ctx, 409, `There already exists a backup with the name: ${input.name}`);
  }
  const b = ctx.state.addBackup({ ...input, metadata: input.metadata ?? {} });
  return ok(ctx.generation === '2.0' ? { status: 'OK', ID: b.id } : { ID: b.id, Temporary: false });
}

function updateBackup(ctx: RouteContext, x: Exchange, b: FakeBackup): Reply {
  const input = readJob(ctx, requestData(ctx, x), b);
  if (isReply(input)) return input;
  const clash = ctx.state.findByName(input.name);
  if (clash && clash.id !== b.id) return fail(ctx, 409, `There already exists a backup with the name: ${input.name}`);
  b.name = input.name;
  b.description = input.description;
  b.tags = input.tags;
  b.targetUrl = input.targetUrl;
  b.sources = input.sources;
  b.settings = input.settings;
  b.filters = input.filters;
  // An object replaces the stored metadata (recording 40 shows a 2.0 PUT with `{}` wiping it); null keeps it.
  if (input.metadata) b.metadata = input.metadata;
  b.schedule = input.schedule ? { ...input.schedule, Tags: [`ID=${b.id}`] } : null;
  ctx.state.signal('data');
  return done(ctx);
}

function deleteBackup(ctx: RouteContext, x: Exchange, b: FakeBackup): Reply {
  const running = ctx.state.activeTaskFor(b.id);
  if (running && !boolParam(x.params.get('force'))) {
    return ctx.generation === '2.0'
      ? { status: 500, reason: 'backup-in-progress', json: { status: 'failed', reason: 'backup-in-progress' } }
      : { status: 500, json: { Status: 'failed', Reason: 'backup-in-progress', ID: running.id } };
  }
  if (running) ctx.state.stopTask(running, 'abort');
  b.deleted = true;
  const task = ctx.state.enqueue(b.id, 'Remove', false);
  return ok(ctx.generation === '2.0' ? { Status: 'OK', ID: task.id } : { Status: 'OK', Reason: null, ID: task.id });
}

// ----------------------------------------------------------------------------- versions and files

function filesetDto(ctx: RouteContext, version: number, v: FakeVersion, withMeta: boolean): Record<string, unknown> {
  return {
    Version: version,
    IsFullBackup: v.isFull ? 1 : 0,
    Time: timeText(ctx, v.time),
    FileCount: withMeta ? v.fileCount : -1,
    FileSizes: withMeta ? v.fileSizes : -1,
  };
}

async function filesets(ctx: RouteContext, x: Exchange, b: FakeBackup): Promise<Reply> {
  ctx.state.consumeListOperation(b);
  if (boolParam(x.params.get('from-remote-only')) === true || !b.hasLocalDb) {
    // Read from the target's files alone: counts and sizes are unknown (-1), as 2.0.7.3 answers.
    try {
      return ok((await ctx.state.remoteVersionsOf(b)).map(({ version, v }) => filesetDto(ctx, version, v, false)));
    } catch (e) {
      return remoteFailure(ctx, e);
    }
  }
  const withMeta = boolParam(x.params.get('include-metadata')) === true;
  return ok(ctx.state.versionsOf(b).map(({ version, v }) => filesetDto(ctx, version, v, withMeta)));
}

/** Duplicati's weekday names by their short form. */
export const WEEKDAYS: Readonly<Record<string, string>> = {
  sun: 'Sunday',
  mon: 'Monday',
  tue: 'Tuesday',
  wed: 'Wednesday',
  thu: 'Thursday',
  fri: 'Friday',
  sat: 'Saturday',
};

/**
 * `Rule` and `AllowedDays` as 2.0.7.3 stores them: the days live in the Rule
 * (`AllowedWeekDays=Monday,Wednesday`), a Rule sent is stored as sent (an empty one wipes the
 * days), and without one the Rule is built from `AllowedDays`.
 */
function scheduleDays(rule: unknown, days: unknown): { Rule: string; AllowedDays: string[] } {
  const short = (d: unknown) => String(d).trim().slice(0, 3).toLowerCase();
  if (typeof rule === 'string') {
    const named = /AllowedWeekDays=([^;]*)/i.exec(rule)?.[1]?.split(',') ?? [];
    return { Rule: rule, AllowedDays: named.map(short).filter((d) => d in WEEKDAYS) };
  }
  const list = (Array.isArray(days) ? days : []).map(short).filter((d) => d in WEEKDAYS);
  return { Rule: list.length ? `AllowedWeekDays=${list.map((d) => WEEKDAYS[d]).join(',')}` : '', AllowedDays: list };
}

async function files(ctx: RouteContext, x: Exchange, b: FakeBackup, filter: string): Promise<Reply> {
  ctx.state.consumeListOperation(b);
  const allVersions = boolParam(x.params.get('all-versions')) === true;
  const timeArg = x.params.get('time');
  let list: { version: number; v: FakeVersion }[];
  try {
    // Without a local database the server lists from the target's files (a temporary database).
    list = b.hasLocalDb ? ctx.state.versionsOf(b) : await ctx.state.remoteVersionsOf(b);
  } catch (e) {
    return remoteFailure(ctx, e);
  }
  let chosen: { version: number; v: FakeVersion }[];
  if (allVersions) {
    chosen = list;
  } else {
    if ((timeArg === undefined || timeArg === '') && ctx.generation === '2.1') {
      return fail(ctx, 400, 'Invalid or missing time');
    }
    const time = parseTimeArgument(timeArg, ctx.now());
    const at =
      time === undefined
        ? list[0]
        : Number.isNaN(time.getTime())
          ? undefined
          : list.find(({ v }) => v.time.getTime() <= time.getTime() + 999);
    if (!at) return fail(ctx, 400, 'Invalid or missing time');
    chosen = [at];
  }
  const union = new Map<string, boolean>();
  for (const { v } of chosen) for (const e of v.entries) union.set(e.path, e.size < 0);
  let paths = [...union.keys()];
  if (boolParam(x.params.get('prefix-only')) && filter === '' && ctx.generation === '2.0') {
    // 2.0.7.3 cannot list the roots without a filter, and logs the failed List as Fatal.
    ctx.state.logFatalList(b, 'Cannot extract simple list when the type is: Empty');
    return fail(ctx, 500, 'Cannot extract simple list when the type is: Empty');
  }
  if (boolParam(x.params.get('prefix-only'))) {
    paths = paths.filter((p) => {
      const parent = p.slice(0, p.slice(0, -1).lastIndexOf('/') + 1);
      return !union.has(parent);
    });
  } else if (boolParam(x.params.get('folder-contents'))) {
    const folder = filter.endsWith('/') ? filter : `${filter}/`;
    paths = paths.filter((p) => {
      if (!p.startsWith(folder) || p === folder) return false;
      const rest = p.slice(folder.length);
      const slash = rest.indexOf('/');
      return slash < 0 || slash === rest.length - 1;
    });
  } else if (filter !== '') {
    paths = paths.filter((p) => matchesExpression(filter, p));
  }
  paths.sort((a, b2) => {
    const fa = a.endsWith('/') ? 0 : 1;
    const fb = b2.endsWith('/') ? 0 : 1;
    return fa !== fb ? fa - fb : a < b2 ? -1 : a > b2 ? 1 : 0;
  });
  // One map per version: a search over a large library must not be quadratic.
  const sizes = chosen.map(({ v }) => new Map(v.entries.map((e) => [e.path, e.size])));
  const out = {
    Filesets: chosen.map(({ version, v }) => filesetDto(ctx, version, v, true)),
    Files: paths.map((p) => ({
      Path: p,
      Sizes: sizes.map((m) => m.get(p) ?? -1),
    })),
  };
  if (ctx.generation === '2.1') return ok(out);
  return ok({ ...Object.fromEntries(x.queryList), ...out });
}

/** A whole number as .NET's `long.TryParse` reads it, else undefined. */
function longParam(v: string | undefined): number | undefined {
  const t = v?.trim();
  return t && /^[+-]?\d+$/.test(t) ? Number(t) : undefined;
}

/**
 * `GET backup/{id}/log` as 2.0.7.3 answers it (checked against the real server): newest first,
 * `pagesize` clamped to 10…500 (100 when missing or not a number), `offset` = rows with an id
 * below it (ignored when missing or not a number; 0 or less gives no rows). A job that never ran
 * has no database: HTTP 500 with SQLite's `no such table: LogData`.
 */
function log(ctx: RouteContext, x: Exchange, b: FakeBackup): Reply {
  if (ctx.generation === '2.0' && b.log.length === 0 && b.versions.length === 0) {
    return {
      status: 500,
      reason: 'Error',
      json: { Message: 'SQLite error\r\nno such table: LogData', Type: 'SqliteException' },
    };
  }
  const pageSize = Math.min(500, Math.max(10, longParam(x.params.get('pagesize')) ?? 100));
  const offset = longParam(x.params.get('offset'));
  const out: FakeBackup['log'] = [];
  for (let i = b.log.length - 1; i >= 0 && out.length < pageSize; i--) {
    const r = b.log[i] as FakeBackup['log'][number];
    if (offset === undefined || r.ID < offset) out.push(r);
  }
  return ok(out);
}

function restore(ctx: RouteContext, x: Exchange, b: FakeBackup): Reply {
  let paths: string[] = [];
  let time: string | undefined;
  let restorePath: string | undefined;
  let overwrite = false;
  if (ctx.generation === '2.0') {
    const raw = x.params.get('paths') ?? '';
    if (raw.trim().startsWith('[')) {
      try {
        const parsed: unknown = JSON.parse(raw);
        paths = Array.isArray(parsed) ? parsed.map(String) : [];
      } catch {
        return fail(ctx, 400, 'Invalid paths');
      }
    } else if (raw !== '') {
      paths = raw.split(':');
    }
    time = x.params.get('time');
    restorePath = x.params.get('restore-path');
    overwrite = boolParam(x.params.get('overwrite')) === true;
  } else {
    const rawPaths = prop(x.json, 'paths');
    paths = Array.isArray(rawPaths) ? rawPaths.map(String) : [];
    const t = prop(x.json, 'time');
    time = typeof t === 'string' ? t : undefined;
    const rp = prop(x.json, 'restore_path');
    restorePath = typeof rp === 'string' ? rp : undefined;
    overwrite = prop(x.json, 'overwrite') === true;
  }
  const parsedTime = parseTimeArgument(time, ctx.now());
  if (parsedTime && Number.isNaN(parsedTime.getTime())) return fail(ctx, 400, `Invalid time: ${time}`);
  const task = ctx.state.enqueue(b.id, 'Restore', false, {
    paths,
    time: parsedTime,
    restorePath: restorePath === '' ? undefined : restorePath,
    overwrite,
  });
  return ok(ctx.generation === '2.0' ? { TaskID: task.id } : { Status: 'OK', ID: task.id });
}

// ----------------------------------------------------------------------------- tasks and state

function iso(d: Date | undefined): string | null {
  return d ? d.toISOString() : null;
}

function taskDto(ctx: RouteContext, t: FakeTask): Record<string, unknown> {
  if (ctx.generation === '2.0') {
    return t.status === 'Running' || t.status === 'Waiting'
      ? { Status: t.status }
      : { Status: t.status, ErrorMessage: t.errorMessage, Exception: t.exception };
  }
  if (!atLeast(ctx, '2.1.2')) {
    return { Status: t.status, ID: t.id, ErrorMessage: t.errorMessage, Exception: t.exception };
  }
  return {
    Status: t.status,
    ID: t.id,
    TaskStarted: iso(t.startedAt),
    TaskFinished: iso(t.finishedAt),
    ErrorMessage: t.errorMessage,
    Exception: t.exception,
  };
}

function listTasks(ctx: RouteContext): Reply {
  const s = ctx.state;
  const live = [...(s.current ? [s.current] : []), ...s.queue];
  if (ctx.generation === '2.0' || !atLeast(ctx, '2.1.2')) {
    return ok(live.map((t) => ({ TaskID: t.id, BackupID: t.backupId ?? null, Operation: t.operation })));
  }
  return ok(live.map((t) => ({ ...taskDto(ctx, t), Status: 'Running' })));
}

/** The `serverstate` object. */
export function serverState(ctx: RouteContext): Record<string, unknown> {
  const s = ctx.state;
  const hasWarning = s.notifications.some((n) => n.Type === 'Warning');
  const hasError = s.notifications.some((n) => n.Type === 'Error');
  const icon = s.current
    ? s.paused
      ? 'ActivePaused'
      : 'Active'
    : s.paused
      ? 'Paused'
      : hasError
        ? 'ReadyError'
        : hasWarning
          ? 'ReadyWarning'
          : 'Ready';
  const active = s.current ? { Item1: s.current.id, Item2: s.current.backupId ?? null } : null;
  const queued = s.queue.filter((t) => t.backupId !== undefined).map((t) => ({ Item1: t.id, Item2: t.backupId }));
  const pauseEnd = s.pauseEnd ? s.pauseEnd.toISOString().slice(0, 19) : MIN_DATE;
  if (ctx.generation === '2.0') {
    return {
      ProgramState: s.paused ? 'Paused' : 'Running',
      UpdatedVersion: null,
      UpdaterState: 'Waiting',
      UpdateReady: false,
      UpdateDownloadProgress: 0,
      ActiveTask: active,
      SchedulerQueueIds: queued,
      ProposedSchedule: [],
      HasWarning: hasWarning,
      HasError: hasError,
      SuggestedStatusIcon: icon,
      EstimatedPauseEnd: pauseEnd,
      LastEventID: s.lastEventId,
      LastDataUpdateID: s.lastDataUpdateId,
      LastNotificationUpdateID: s.lastNotificationUpdateId,
    };
  }
  return {
    ActiveTask: active,
    ProgramState: s.paused ? 'Paused' : 'Running',
    SchedulerQueueIds: queued,
    ProposedSchedule: [],
    HasWarning: hasWarning,
    HasError: hasError,
    SuggestedStatusIcon: icon,
    EstimatedPauseEnd: pauseEnd,
    LastEventID: s.lastEventId,
    LastDataUpdateID: s.lastDataUpdateId,
    LastNotificationUpdateID: s.lastNotificationUpdateId,
    UpdatedVersion: null,
    UpdaterState: 'Waiting',
    UpdateDownloadLink: null,
    UpdateDownloadProgress: 0,
    ...(atLeast(ctx, '2.1.2') ? { Type: 'legacystatus' } : {}),
  };
}

async function getServerState(ctx: RouteContext, x: Exchange): Promise<Reply> {
  if (boolParam(x.params.get('longpoll'))) {
    const durationText = x.params.get('duration');
    const ms = durationText === undefined ? undefined : parseTimeSpan(durationText);
    const lastId = x.params.get('lasteventid');
    if (ctx.generation === '2.0') {
      if (ms === undefined || ms <= 10_000 || ms >= 2_147_483_647) {
        return fail(ctx, 400, 'Invalid duration, must be at least 10 seconds, and less than 2147483647 milliseconds');
      }
      if (lastId === undefined) return fail(ctx, 400, 'When using longpoll, the lasteventid must be supplied');
    } else {
      if (lastId === undefined || ms === undefined) return fail(ctx, 400, 'Longpoll requires lastEventId and duration');
      if (ms < 10_000 || ms > 3_600_000)
        return fail(ctx, 400, 'Invalid duration, must be between 10 seconds and 1 hour');
    }
    await ctx.state.waitForEvent(Number(lastId), ms, x.signal);
  }
  return ok(serverState(ctx));
}

function notificationDto(n: FakeState['notifications'][number]): Record<string, unknown> {
  return { ...n, Timestamp: isoSecondsZ(n.Timestamp) };
}

function systemInfo(ctx: RouteContext): Record<string, unknown> {
  const now = ctx.now();
  const common = {
    APIVersion: 1,
    PasswordPlaceholder: ctx.generation === '2.0' ? PLACEHOLDER_20 : PLACEHOLDER_21,
    ServerVersion: ctx.version,
    ServerVersionName: ` - ${ctx.version}_fake`,
    ServerVersionType: 'Canary',
    StartedBy: 'Server',
  };
  if (ctx.generation === '2.0') {
    return {
      ...common,
      BaseVersionName: `${ctx.version}_fake`,
      DefaultUpdateChannel: 'Canary',
      DefaultUsageReportLevel: 'Information',
      ServerTime: `${now.toISOString().slice(0, 23)}+00:00`,
      OSType: 'Linux',
      DirectorySeparator: '/',
      PathSeparator: ':',
      CaseSensitiveFilesystem: true,
      MonoVersion: '6.8.0.105',
      MachineName: 'fake',
      UserName: 'fake',
      NewLine: '\n',
      CLRVersion: '4.0.30319.42000',
      CLROSInfo: { Platform: 'Unix', ServicePack: '', Version: '6.0.0.0', VersionString: 'Unix 6.0.0.0' },
      Options: [],
      CompressionModules: [],
      EncryptionModules: [],
      BackendModules: [],
      GenericModules: [],
      WebModules: [],
      ConnectionModules: [],
      ServerModules: [],
      UsingAlternateUpdateURLs: false,
      LogLevels: ['ExplicitOnly', 'Profiling', 'Verbose', 'Retry', 'Information', 'DryRun', 'Warning', 'Error'],
      SuppressDonationMessages: false,
      SpecialFolders: [],
      BrowserLocale: { Code: '', EnglishName: 'Invariant Language', DisplayName: 'Invariant Language' },
      SupportedLocales: [],
      BrowserLocaleSupported: false,
    };
  }
  return {
    ...common,
    ServerTime: now.toISOString(),
    ServerTimeZone: 'UTC',
    OSType: 'Linux',
    OSVersion: 'Linux',
    DirectorySeparator: '/',
    PathSeparator: ':',
    CaseSensitiveFilesystem: true,
    MachineName: 'fake',
    UserName: 'fake',
    NewLine: '\n',
    CLRVersion: '8.0.0',
    Options: [],
    CompressionModules: [],
    EncryptionModules: [],
    BackendModules: [],
    GenericModules: [],
    WebModules: [],
    ConnectionModules: [],
    ServerModules: [],
    LogLevels: ['ExplicitOnly', 'Profiling', 'Verbose', 'Retry', 'Information', 'DryRun', 'Warning', 'Error'],
    SpecialFolders: [],
  };
}

const GUARDED_SETTINGS =
  /^(server-passphrase.*|jwt-config|pbkdf-config|server-ssl-certificate.*|remote-control-config)$/;

function serverSettings(ctx: RouteContext, x: Exchange, key: string | undefined): Reply | undefined {
  const settings = ctx.state.serverSettings;
  if (key === undefined) {
    if (x.method === 'GET') return ok(Object.fromEntries(settings));
    if (x.method !== 'PATCH') return undefined;
    const body = requestData(ctx, x);
    if (typeof body !== 'object' || body === null) return fail(ctx, 400, 'No data found in request body');
    for (const [k, v] of Object.entries(body)) {
      if (GUARDED_SETTINGS.test(k)) continue;
      if (v === null && k.startsWith('--')) settings.delete(k);
      else settings.set(k, v === null ? null : String(v));
    }
    ctx.state.signal('data');
    return done(ctx);
  }
  const name = decodeURIComponent(key);
  if (GUARDED_SETTINGS.test(name)) return fail(ctx, x.method === 'GET' ? 404 : 400, 'Setting not found');
  if (x.method === 'GET') return ok(settings.get(name) ?? null);
  if (x.method !== 'PUT') return undefined;
  const value = requestData(ctx, x);
  settings.set(name, value === null || value === undefined ? null : String(value));
  ctx.state.signal('data');
  return done(ctx);
}

function quote(v: string): string {
  return /^[\w@%+=:,./-]+$/.test(v) ? v : `"${v.replace(/(["\\$`])/g, '\\$1')}"`;
}

function exportCommandLine(x: Exchange, b: FakeBackup, form: 'cmdline' | 'argsonly'): Reply {
  const withPasswords = boolParam(x.params.get('export-passwords')) === true;
  const options = b.settings
    .filter((st) => withPasswords || !isSecretSetting(st.Name))
    .map((st) => `--${st.Name.replace(/^--/, '')}=${st.Value ?? ''}`);
  options.push(`--backup-name=${b.name}`, `--dbpath=${b.dbPath}`);
  for (const f of [...b.filters].sort((p, q) => p.Order - q.Order)) {
    options.push(`--${f.Include ? 'include' : 'exclude'}=${f.Expression}`);
  }
  if (form === 'argsonly') return ok({ Backend: b.targetUrl, Arguments: [...b.sources], Options: options });
  const parts = ['duplicati-cli', 'backup', b.targetUrl, ...b.sources, ...options];
  return ok({ Command: parts.map(quote).join(' ') });
}

// ----------------------------------------------------------------------------- dispatch

const TASK_ROUTES = new Map<string, FakeOperation>([
  ['verify', 'Verify'],
  ['compact', 'Compact'],
  ['repair', 'Repair'],
  ['repairupdate', 'Repair'],
  ['vacuum', 'Vacuum'],
  ['createreport', 'Other'],
  ['report-remote-size', 'Other'],
]);

function stopRoute(ctx: RouteContext, action: string): 'stop' | 'abort' | undefined {
  if (action === 'abort') return 'abort';
  const newRoutes = ctx.generation === '2.1' && atLeast(ctx, '2.1.1');
  if (newRoutes) return action === 'stop' ? 'stop' : undefined;
  return action === 'stopaftercurrentfile' || action === 'stopnow' ? 'stop' : undefined;
}

/** Route one authenticated `/api/v1/...` request; undefined when no route matches. */
export async function routeApi(
  ctx: RouteContext,
  x: Exchange,
  segments: readonly string[],
): Promise<Reply | undefined> {
  const [head, id, action, ...rest] = segments;
  const m = x.method;
  const s = ctx.state;
  switch (head) {
    case 'backups':
      if (id === undefined && m === 'GET') return listBackups(ctx);
      if (id === undefined && m === 'POST') return createBackup(ctx, x);
      return undefined;
    case 'backup': {
      const b = id === undefined ? undefined : s.getBackup(decodeURIComponent(id));
      if (!b) return notFoundBackup(ctx);
      if (action === undefined) {
        if (m === 'GET') return getBackup(ctx, b);
        if (m === 'PUT' || m === 'POST') return updateBackup(ctx, x, b);
        if (m === 'DELETE') return deleteBackup(ctx, x, b);
        return undefined;
      }
      if ((action === 'run' || action === 'start') && m === 'POST') {
        const skip = ctx.generation === '2.1' && boolParam(x.params.get('skipqueue')) === true;
        const task = s.enqueueRun(b.id, skip);
        return ok(ctx.generation === '2.0' ? { Status: 'OK' } : { Status: 'OK', ID: task.id });
      }
      if (action === 'copytotemp' && m === 'POST') return copyToTemp(ctx, b);
      if ((action === 'repair' || action === 'repairupdate') && m === 'POST') {
        const raw = ctx.generation === '2.0' ? x.params.get('time') : prop(x.json, 'time');
        const time = typeof raw === 'string' && raw !== '' ? parseTimeArgument(raw, ctx.now()) : undefined;
        if (time && Number.isNaN(time.getTime())) return fail(ctx, 400, `Invalid time: ${String(raw)}`);
        return ok({ Status: 'OK', ID: s.enqueue(b.id, 'Repair', false, undefined, time).id });
      }
      const op = TASK_ROUTES.get(action);
      if (op && m === 'POST') return ok({ Status: 'OK', ID: s.enqueue(b.id, op, false).id });
      if (action === 'restore' && m === 'POST') return restore(ctx, x, b);
      const readsDb =
        m === 'GET' && (action === 'filesets' || action === 'files' || action === 'log' || action === 'remotelog');
      if (readsDb && atLeast(ctx, '2.3.1') && s.current?.backupId === b.id) {
        return {
          status: 400,
          json: { Error: 'The database is in use by another task', Code: 400, HelpId: 'DatabaseLocked' },
        };
      }
      if (action === 'filesets' && m === 'GET') return filesets(ctx, x, b);
      if (action === 'files' && m === 'GET') {
        const filter =
          ctx.generation === '2.0' && rest.length > 0
            ? decodeURIComponent(rest.join('/'))
            : (x.params.get('filter') ?? '');
        return files(ctx, x, b, filter);
      }
      if (action === 'log' && m === 'GET') return log(ctx, x, b);
      if (action === 'remotelog' && m === 'GET') return ok([]);
      if (m === 'GET' && ctx.generation === '2.0' && action === 'export') {
        if (boolParam(x.params.get('cmdline'))) return exportCommandLine(x, b, 'cmdline');
        if (boolParam(x.params.get('argsonly'))) return exportCommandLine(x, b, 'argsonly');
        return undefined;
      }
      if (m === 'GET' && ctx.generation === '2.1' && action === 'export-cmdline')
        return exportCommandLine(x, b, 'cmdline');
      if (m === 'GET' && ctx.generation === '2.1' && action === 'export-argsonly')
        return exportCommandLine(x, b, 'argsonly');
      if (action === 'isactive' && m === 'GET')
        return ok({ Status: 'OK', Active: s.activeTaskFor(b.id) !== undefined });
      return undefined;
    }
    case 'tasks':
      return m === 'GET' && id === undefined ? listTasks(ctx) : undefined;
    case 'task': {
      const task = id === undefined ? undefined : s.tasks.get(Number(id));
      if (!task) return fail(ctx, 404, 'No such task found');
      if (action === undefined && m === 'GET') return ok(taskDto(ctx, task));
      const how = action === undefined ? undefined : stopRoute(ctx, action);
      if (how && m === 'POST') {
        s.stopTask(task, how);
        return done(ctx);
      }
      return undefined;
    }
    case 'serverstate':
      if (id === undefined && m === 'GET') return getServerState(ctx, x);
      if (id === 'pause' && m === 'POST') {
        const d = x.params.get('duration');
        const ms = d === undefined || d === '' ? undefined : parseTimeSpan(d);
        if (d !== undefined && d !== '' && ms === undefined) return fail(ctx, 400, 'Invalid duration');
        s.pause(ms);
        return done(ctx);
      }
      if (id === 'resume' && m === 'POST') {
        s.resume();
        return done(ctx);
      }
      return undefined;
    case 'progressstate':
      if (m !== 'GET') return undefined;
      return s.progress ? ok(s.progress) : fail(ctx, 404, 'No active backup');
    case 'notifications':
      return m === 'GET' ? ok(s.notifications.map(notificationDto)) : undefined;
    case 'notification': {
      const n = s.notifications.find((o) => String(o.ID) === id);
      if (!n) return fail(ctx, 404, 'Notification not found');
      if (m === 'GET') return ok(notificationDto(n));
      if (m === 'DELETE') {
        s.dismissNotification(n.ID);
        return done(ctx);
      }
      return undefined;
    }
    case 'systeminfo':
      return m === 'GET' && id === undefined ? ok(systemInfo(ctx)) : undefined;
    case 'serversettings':
      return id === undefined ? serverSettings(ctx, x, undefined) : undefined;
    case 'serversetting':
      return id === undefined ? undefined : serverSettings(ctx, x, id);
    case 'logdata':
      return m === 'GET' ? ok([]) : undefined;
    default:
      return undefined;
  }
}
