/**
 * The error hierarchy of duplicati-kit.
 *
 * Every error thrown by the library is a {@link DuplicatiKitError} with a stable `code`.
 * Type guards (`isXError`) work across duplicated installs of the package (two copies in one
 * `node_modules` tree) because they check a brand registered with `Symbol.for`, not `instanceof`.
 *
 * A caller's own abort is never wrapped: the library rethrows `signal.reason` as it is.
 *
 * @module
 */
import { inspect } from 'node:util';
import { redactText } from './redact.js';

const BRAND = Symbol.for('duplicati-kit/error');

/** Options every error constructor takes. */
export interface ErrorOptions {
  /** The error that caused this one (a driver error, an HTTP error). */
  readonly cause?: unknown;
  /** Override the default `code` of the class. */
  readonly code?: string;
  /**
   * Secret values that must never appear in the message or in `util.inspect` of this error.
   * They are replaced by `***` before the message is stored.
   */
  readonly secrets?: readonly (string | undefined)[];
}

type ErrorClass = { readonly errorName?: string; readonly defaultCode?: string };

function chainOf(ctor: unknown): string[] {
  const names: string[] = [];
  let c = ctor as (ErrorClass & { prototype?: unknown }) | null;
  while (c && c !== Error && c !== Object) {
    if (Object.hasOwn(c, 'errorName') && c.errorName) names.push(c.errorName);
    c = Object.getPrototypeOf(c) as typeof c;
  }
  return names;
}

/**
 * Base class of every error the library throws.
 *
 * @example
 * ```ts
 * try { await plan.prepare(); } catch (e) {
 *   if (isDuplicatiKitError(e)) console.error(e.code, e.message);
 * }
 * ```
 */
export class DuplicatiKitError extends Error {
  static readonly errorName: string = 'DuplicatiKitError';
  static readonly defaultCode: string = 'ERR_DUPLICATI_KIT';
  /** Stable machine-readable code, e.g. `ERR_CONFIG`, `ERR_LOCKED`. */
  readonly code: string;

  constructor(message: string, options: ErrorOptions = {}) {
    const secrets = options.secrets ?? [];
    super(redactText(message, secrets), options.cause === undefined ? undefined : { cause: options.cause });
    const ctor = new.target as unknown as ErrorClass;
    this.name = ctor.errorName ?? 'DuplicatiKitError';
    this.code = options.code ?? ctor.defaultCode ?? 'ERR_DUPLICATI_KIT';
    Object.defineProperty(this, BRAND, { value: chainOf(new.target), enumerable: false });
    if (this.stack && secrets.length > 0) this.stack = redactText(this.stack, secrets);
  }

  /** A plain object safe to log or serialise (no cause internals, no secrets). */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { name: this.name, code: this.code, message: this.message };
    for (const [k, v] of Object.entries(this)) {
      if (k === 'code' || k === 'name' || typeof v === 'function') continue;
      out[k] = v;
    }
    return out;
  }
}

/** True when `e` is any duplicati-kit error, from this copy of the package or another. */
export function isDuplicatiKitError(e: unknown): e is DuplicatiKitError {
  return typeof e === 'object' && e !== null && Array.isArray((e as Record<symbol, unknown>)[BRAND]);
}

/**
 * A type guard for the error class registered as `errorName`: true for that class and its
 * subclasses, from this copy of the package or another (the brand, not `instanceof`). Classes
 * outside this file build their `isXError` with it.
 *
 * @example
 * ```ts
 * export const isMyError = errorGuard<MyError>('MyError');
 * ```
 */
export function errorGuard<T extends DuplicatiKitError>(name: string): (e: unknown) => e is T {
  return (e: unknown): e is T =>
    isDuplicatiKitError(e) && ((e as unknown as Record<symbol, string[]>)[BRAND] ?? []).includes(name);
}

/** One problem found while validating user configuration. */
export interface ConfigIssue {
  /** Dotted path of the bad field, e.g. `sources.0.connection.port`. Empty for the root. */
  readonly path: string;
  readonly message: string;
}

/**
 * User options or a config file did not validate. `issues` names every bad field with its path.
 */
export class ConfigError extends DuplicatiKitError {
  static override readonly errorName: string = 'ConfigError';
  static override readonly defaultCode: string = 'ERR_CONFIG';
  readonly issues: readonly ConfigIssue[];
  constructor(message: string, issues: readonly ConfigIssue[] = [], options: ErrorOptions = {}) {
    const detail = issues.length ? `\n${issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n')}` : '';
    super(`${message}${detail}`, options);
    this.issues = issues;
  }
}
export const isConfigError = errorGuard<ConfigError>('ConfigError');

/** A timeout the library itself set (not the caller's signal) fired. */
export class TimeoutError extends DuplicatiKitError {
  static override readonly errorName: string = 'TimeoutError';
  static override readonly defaultCode: string = 'ERR_TIMEOUT';
  readonly timeoutMs: number;
  constructor(message: string, timeoutMs: number, options: ErrorOptions = {}) {
    super(message, options);
    this.timeoutMs = timeoutMs;
  }
}
export const isTimeoutError = errorGuard<TimeoutError>('TimeoutError');

/** Another process holds the lock of a work directory. */
export class LockedError extends DuplicatiKitError {
  static override readonly errorName: string = 'LockedError';
  static override readonly defaultCode: string = 'ERR_LOCKED';
  readonly lockFile: string;
  readonly holder: { readonly pid: number; readonly host: string; readonly startedAt: string } | undefined;
  constructor(message: string, lockFile: string, holder: LockedError['holder'], options: ErrorOptions = {}) {
    super(message, options);
    this.lockFile = lockFile;
    this.holder = holder;
  }
}
export const isLockedError = errorGuard<LockedError>('LockedError');

/** A manifest is missing, unreadable, corrupt or of a version this package does not know. */
export class ManifestError extends DuplicatiKitError {
  static override readonly errorName: string = 'ManifestError';
  static override readonly defaultCode: string = 'ERR_MANIFEST';
  readonly file: string;
  constructor(message: string, file: string, options: ErrorOptions = {}) {
    super(message, options);
    this.file = file;
  }
}
export const isManifestError = errorGuard<ManifestError>('ManifestError');

/**
 * An archive is unsafe or damaged: absolute paths, `..`, links escaping the destination, device
 * files, entries longer than declared, truncated or corrupt data. Nothing was written outside the
 * destination and the destination itself was not created.
 */
export class ArchiveError extends DuplicatiKitError {
  static override readonly errorName: string = 'ArchiveError';
  static override readonly defaultCode: string = 'ERR_ARCHIVE';
  /** The offending entry name, when one is to blame. */
  readonly entry: string | undefined;
  constructor(message: string, entry?: string, options: ErrorOptions = {}) {
    super(message, options);
    this.entry = entry;
  }
}
export const isArchiveError = errorGuard<ArchiveError>('ArchiveError');

/**
 * A path that should be a regular file is a FIFO, a device, a socket or a folder. Nothing was read
 * from it: opening a FIFO or a device for reading can block forever.
 */
export class NotRegularFileError extends DuplicatiKitError {
  static override readonly errorName: string = 'NotRegularFileError';
  static override readonly defaultCode: string = 'ERR_NOT_REGULAR_FILE';
  readonly file: string;
  readonly fileType: string;
  constructor(file: string, fileType: string, options: ErrorOptions = {}) {
    super(`${file} is a ${fileType}, not a regular file; refusing to read it`, options);
    this.file = file;
    this.fileType = fileType;
  }
}
export const isNotRegularFileError = errorGuard<NotRegularFileError>('NotRegularFileError');

/** What kind of file system object `st` describes, for messages. */
export function fileTypeOf(st: {
  isFile(): boolean;
  isDirectory(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
  isSymbolicLink(): boolean;
}): string {
  if (st.isFile()) return 'regular file';
  if (st.isDirectory()) return 'folder';
  if (st.isFIFO()) return 'FIFO';
  if (st.isSocket()) return 'socket';
  if (st.isSymbolicLink()) return 'symlink';
  return 'device';
}

/** The phase of a source or target operation an error happened in. */
export type Phase = 'check' | 'prepare' | 'cleanup' | 'verify' | 'restore' | 'rollback' | 'finalize';

/** Base for errors raised by a {@link BackupSource} or a {@link RestoreTarget}. */
export class SourceError extends DuplicatiKitError {
  static override readonly errorName: string = 'SourceError';
  static override readonly defaultCode: string = 'ERR_SOURCE';
  readonly source: string;
  readonly kind: string;
  readonly phase: Phase;
  constructor(message: string, where: { source: string; kind: string; phase: Phase }, options: ErrorOptions = {}) {
    super(message, options);
    this.source = where.source;
    this.kind = where.kind;
    this.phase = where.phase;
  }
}
export const isSourceError = errorGuard<SourceError>('SourceError');

/** A source's preflight check failed: the database is unreachable, a tool is missing, a path is gone. */
export class SourceUnavailableError extends SourceError {
  static override readonly errorName: string = 'SourceUnavailableError';
  static override readonly defaultCode: string = 'ERR_SOURCE_UNAVAILABLE';
}
export const isSourceUnavailableError = errorGuard<SourceUnavailableError>('SourceUnavailableError');

/** Producing an artifact (dump, snapshot, archive) failed. */
export class DumpError extends SourceError {
  static override readonly errorName: string = 'DumpError';
  static override readonly defaultCode: string = 'ERR_DUMP';
}
export const isDumpError = errorGuard<DumpError>('DumpError');

/**
 * The disk of the work folder filled up while an artifact was written (ENOSPC). The partial file
 * was removed; `folder` is where the writing failed. A tool's own complaint about its output
 * pipe closing (`Connection reset by peer`, `Got errno 32`) is a symptom of this, not the cause.
 */
export class NoSpaceError extends DumpError {
  static override readonly errorName: string = 'NoSpaceError';
  static override readonly defaultCode: string = 'ERR_NO_SPACE';
  readonly folder: string;
  constructor(folder: string, where: { source: string; kind: string; phase: Phase }, options: ErrorOptions = {}) {
    super(`no space left on device writing to ${folder}; free space there or point workDir elsewhere`, where, options);
    this.folder = folder;
  }
}
export const isNoSpaceError = errorGuard<NoSpaceError>('NoSpaceError');

/**
 * The ENOSPC error somewhere in `e`'s cause chain (also SQLite's SQLITE_FULL and a tool's
 * `No space left on device` message), or undefined.
 */
export function noSpaceIn(e: unknown): unknown {
  const seen = new Set<unknown>();
  let cur: unknown = e;
  while (cur !== undefined && cur !== null && !seen.has(cur)) {
    seen.add(cur);
    if (isNoSpaceError(cur)) return cur;
    if (typeof cur !== 'object') return undefined;
    const o = cur as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
    if (o.code === 'ENOSPC' || o.code === 'SQLITE_FULL') return cur;
    if (typeof o.message === 'string' && /no space left on device|database or disk is full/i.test(o.message)) {
      return cur;
    }
    if (Array.isArray(o.errors)) {
      const inner = o.errors.map(noSpaceIn).find((x) => x !== undefined);
      if (inner !== undefined) return inner;
    }
    cur = o.cause;
  }
  return undefined;
}

/**
 * `e` as a {@link NoSpaceError} for `folder` when a full disk caused it (see {@link noSpaceIn}),
 * else undefined. Sources call it first in their failure path so the real cause wins over the
 * symptoms a child process reports.
 */
export function asNoSpaceError(
  e: unknown,
  folder: string,
  where: { source: string; kind: string; phase: Phase },
): NoSpaceError | undefined {
  if (isNoSpaceError(e)) return e;
  if (noSpaceIn(e) === undefined) return undefined;
  return new NoSpaceError(folder, where, { cause: e });
}

/** Applying restored material failed. */
export class RestoreError extends SourceError {
  static override readonly errorName: string = 'RestoreError';
  static override readonly defaultCode: string = 'ERR_RESTORE';
}
export const isRestoreError = errorGuard<RestoreError>('RestoreError');

/** One failed check inside a verification. */
export interface VerificationProblem {
  readonly check: string;
  readonly message: string;
  readonly expected?: unknown;
  readonly actual?: unknown;
}

/** Restored material did not pass verification (checksum, integrity, counts, versions). */
export class VerificationError extends SourceError {
  static override readonly errorName: string = 'VerificationError';
  static override readonly defaultCode: string = 'ERR_VERIFICATION';
  readonly problems: readonly VerificationProblem[];
  constructor(
    message: string,
    where: { source: string; kind: string; phase: Phase },
    problems: readonly VerificationProblem[],
    options: ErrorOptions = {},
  ) {
    const detail = problems.length ? `\n${problems.map((p) => `  - ${p.check}: ${p.message}`).join('\n')}` : '';
    super(`${message}${detail}`, where, options);
    this.problems = problems;
  }
}
export const isVerificationError = errorGuard<VerificationError>('VerificationError');

/** Outcome of one source or target inside a plan. */
export interface StepResult {
  readonly name: string;
  readonly kind: string;
  readonly ok: boolean;
  readonly durationMs: number;
  readonly error?: DuplicatiKitError | Error;
}

/** A backup or restore plan failed; `results` holds the outcome of every step. */
export class PlanError<R extends StepResult = StepResult> extends DuplicatiKitError {
  static override readonly errorName: string = 'PlanError';
  static override readonly defaultCode: string = 'ERR_PLAN';
  readonly results: readonly R[];
  constructor(message: string, results: readonly R[], options: ErrorOptions = {}) {
    const failed = results.filter((r) => !r.ok && r.error);
    const detail = failed.length
      ? `\n${failed.map((r) => `  - ${r.name} (${r.kind}): ${r.error?.message.split('\n')[0]}`).join('\n')}`
      : '';
    super(`${message}${detail}`, options);
    this.results = results;
  }
}
export const isPlanError = errorGuard<PlanError>('PlanError');

// ---------------------------------------------------------------------------------------------
// Duplicati client errors. They live here so hooks and ops can classify them without importing
// the client.
// ---------------------------------------------------------------------------------------------

/** Base for every error of the Duplicati client. */
export class DuplicatiError extends DuplicatiKitError {
  static override readonly errorName: string = 'DuplicatiError';
  static override readonly defaultCode: string = 'ERR_DUPLICATI';
}
export const isDuplicatiError = errorGuard<DuplicatiError>('DuplicatiError');

/** Fields describing the HTTP exchange that failed. Path and body are already redacted. */
export interface ApiErrorDetails {
  readonly status: number;
  readonly method: string;
  readonly path: string;
  /** Response body, truncated and redacted. */
  readonly body?: string;
  /** HTTP reason phrase, e.g. `Backup not found` on 2.0.x servers. */
  readonly statusText?: string;
}

/** The server answered with an HTTP error status. */
export class DuplicatiAPIError extends DuplicatiError {
  static override readonly errorName: string = 'DuplicatiAPIError';
  static override readonly defaultCode: string = 'ERR_DUPLICATI_API';
  readonly status: number;
  readonly method: string;
  readonly path: string;
  readonly body: string | undefined;
  readonly statusText: string | undefined;
  constructor(message: string, details: ApiErrorDetails, options: ErrorOptions = {}) {
    super(message, options);
    this.status = details.status;
    this.method = details.method;
    this.path = details.path;
    this.body = details.body;
    this.statusText = details.statusText;
  }
}
export const isDuplicatiAPIError = errorGuard<DuplicatiAPIError>('DuplicatiAPIError');

/** 400: the server rejected the request as malformed. */
export class DuplicatiBadRequestError extends DuplicatiAPIError {
  static override readonly errorName: string = 'DuplicatiBadRequestError';
  static override readonly defaultCode: string = 'ERR_DUPLICATI_BAD_REQUEST';
}
export const isDuplicatiBadRequestError = errorGuard<DuplicatiBadRequestError>('DuplicatiBadRequestError');
/** 401: not logged in, wrong password, expired token, or a missing XSRF token. */
export class DuplicatiAuthenticationError extends DuplicatiAPIError {
  static override readonly errorName: string = 'DuplicatiAuthenticationError';
  static override readonly defaultCode: string = 'ERR_DUPLICATI_AUTH';
}
export const isDuplicatiAuthenticationError = errorGuard<DuplicatiAuthenticationError>('DuplicatiAuthenticationError');
/** 403: authenticated but not allowed. */
export class DuplicatiPermissionDeniedError extends DuplicatiAPIError {
  static override readonly errorName: string = 'DuplicatiPermissionDeniedError';
  static override readonly defaultCode: string = 'ERR_DUPLICATI_FORBIDDEN';
}
export const isDuplicatiPermissionDeniedError = errorGuard<DuplicatiPermissionDeniedError>(
  'DuplicatiPermissionDeniedError',
);
/** 404: no such backup, task or route. */
export class DuplicatiNotFoundError extends DuplicatiAPIError {
  static override readonly errorName: string = 'DuplicatiNotFoundError';
  static override readonly defaultCode: string = 'ERR_DUPLICATI_NOT_FOUND';
}
export const isDuplicatiNotFoundError = errorGuard<DuplicatiNotFoundError>('DuplicatiNotFoundError');
/** 409: conflict, e.g. a backup with that name exists. */
export class DuplicatiConflictError extends DuplicatiAPIError {
  static override readonly errorName: string = 'DuplicatiConflictError';
  static override readonly defaultCode: string = 'ERR_DUPLICATI_CONFLICT';
}
export const isDuplicatiConflictError = errorGuard<DuplicatiConflictError>('DuplicatiConflictError');
/** 5xx: the server failed. */
export class DuplicatiServerError extends DuplicatiAPIError {
  static override readonly errorName: string = 'DuplicatiServerError';
  static override readonly defaultCode: string = 'ERR_DUPLICATI_SERVER';
}
export const isDuplicatiServerError = errorGuard<DuplicatiServerError>('DuplicatiServerError');

/** No response: refused, reset, DNS failure, TLS failure. */
export class DuplicatiConnectionError extends DuplicatiError {
  static override readonly errorName: string = 'DuplicatiConnectionError';
  static override readonly defaultCode: string = 'ERR_DUPLICATI_CONNECTION';
}
export const isDuplicatiConnectionError = errorGuard<DuplicatiConnectionError>('DuplicatiConnectionError');

/** A per-attempt or total timeout set by the client fired. */
export class DuplicatiTimeoutError extends DuplicatiConnectionError {
  static override readonly errorName: string = 'DuplicatiTimeoutError';
  static override readonly defaultCode: string = 'ERR_DUPLICATI_TIMEOUT';
}
export const isDuplicatiTimeoutError = errorGuard<DuplicatiTimeoutError>('DuplicatiTimeoutError');

/** The server answered, but not in the shape expected. Never retried. */
export class DuplicatiSchemaError extends DuplicatiError {
  static override readonly errorName: string = 'DuplicatiSchemaError';
  static override readonly defaultCode: string = 'ERR_DUPLICATI_SCHEMA';
  readonly method: string;
  readonly path: string;
  /** Dotted paths of the fields that did not match. */
  readonly fields: readonly string[];
  constructor(
    message: string,
    details: { method: string; path: string; fields: readonly string[] },
    options: ErrorOptions = {},
  ) {
    super(message, options);
    this.method = details.method;
    this.path = details.path;
    this.fields = details.fields;
  }
}
export const isDuplicatiSchemaError = errorGuard<DuplicatiSchemaError>('DuplicatiSchemaError');

/** A task (backup run, restore) ended with an error, a fatal result, or was aborted. */
export class DuplicatiTaskFailedError extends DuplicatiError {
  static override readonly errorName: string = 'DuplicatiTaskFailedError';
  static override readonly defaultCode: string = 'ERR_DUPLICATI_TASK_FAILED';
  readonly taskId: string | undefined;
  readonly backupId: string | undefined;
  readonly status: string | undefined;
  readonly result: string | undefined;
  constructor(
    message: string,
    details: { taskId?: string; backupId?: string; status?: string; result?: string },
    options: ErrorOptions = {},
  ) {
    super(message, options);
    this.taskId = details.taskId;
    this.backupId = details.backupId;
    this.status = details.status;
    this.result = details.result;
  }
}
export const isDuplicatiTaskFailedError = errorGuard<DuplicatiTaskFailedError>('DuplicatiTaskFailedError');

/**
 * The server answered with a redirect (3xx). The client never follows one — a redirect to another
 * origin would carry the session cookie and XSRF token there — so the base URL is probably wrong
 * (http vs https, a missing path prefix, a proxy's login page). `location` has credentials redacted.
 */
export class DuplicatiRedirectError extends DuplicatiAPIError {
  static override readonly errorName: string = 'DuplicatiRedirectError';
  static override readonly defaultCode: string = 'ERR_DUPLICATI_REDIRECT';
  readonly location: string | undefined;
  constructor(message: string, details: ApiErrorDetails & { location?: string }, options: ErrorOptions = {}) {
    super(message, details, options);
    this.location = details.location;
  }
}
export const isDuplicatiRedirectError = errorGuard<DuplicatiRedirectError>('DuplicatiRedirectError');

/** A response body grew past the limit of its route; the download was cut off. Never retried. */
export class DuplicatiResponseTooLargeError extends DuplicatiError {
  static override readonly errorName: string = 'DuplicatiResponseTooLargeError';
  static override readonly defaultCode: string = 'ERR_DUPLICATI_RESPONSE_TOO_LARGE';
  readonly limitBytes: number;
  constructor(message: string, limitBytes: number, options: ErrorOptions = {}) {
    super(message, options);
    this.limitBytes = limitBytes;
  }
}
export const isDuplicatiResponseTooLargeError = errorGuard<DuplicatiResponseTooLargeError>(
  'DuplicatiResponseTooLargeError',
);

/** Rethrow the caller's abort reason unchanged when the signal fired; otherwise do nothing. */
export function rethrowIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason;
}

/** Short, single-line description of any thrown value, for logs. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return inspect(e, { depth: 1, breakLength: Number.POSITIVE_INFINITY });
}
