/**
 * Facts of the Duplicati `run-script-*` protocol (module `runscript`, `RunScript.cs`): events,
 * operation names, result levels, exit codes, and Duplicati's own value syntaxes (timespans,
 * sizes, booleans). Nothing here does I/O.
 *
 * @module
 */

/** Prefix of every variable Duplicati sets for a run-script hook (`DUPLICATI__EVENTNAME`, options…). */
export const ENV_PREFIX = 'DUPLICATI__';

/** `DUPLICATI__EVENTNAME`: which script option ran the hook. */
export type HookEvent = 'BEFORE' | 'AFTER' | 'POST-BACKUP';

/** Every event name Duplicati sends. */
export const HOOK_EVENTS: readonly HookEvent[] = Object.freeze(['BEFORE', 'AFTER', 'POST-BACKUP']);

/**
 * Operation names Duplicati sends in `DUPLICATI__OPERATIONNAME` (its `OperationMode` enum). Newer
 * servers may send names not listed here; they are kept as plain strings.
 */
export const KNOWN_OPERATIONS = Object.freeze([
  'Backup',
  'Restore',
  'List',
  'ListAffected',
  'ListChanges',
  'Delete',
  'RestoreControlfiles',
  'Repair',
  'CreateLogDb',
  'Compact',
  'Test',
  'TestFilters',
  'SystemInfo',
  'ListRemote',
  'ListBrokenFiles',
  'PurgeBrokenFiles',
  'PurgeFiles',
  'SendMail',
  'Vacuum',
  'Sync',
  'ListFilesets',
  'ListFolder',
  'ListFileVersions',
  'SearchFiles',
  'SetLock',
  'ReadLockInfo',
  'RemoteSynchronization',
] as const);

/** A known operation name. */
export type KnownOperation = (typeof KNOWN_OPERATIONS)[number];

/** An operation name: a known one, or any other string a newer Duplicati sends. */
export type OperationName = KnownOperation | (string & {});

/**
 * Operations that only read: the web UI triggers them whenever someone browses versions or files,
 * so a hook must leave them alone (and return quickly). A hook acts on them only when its
 * `operations` list names them explicitly.
 */
export const LISTING_OPERATIONS: readonly OperationName[] = Object.freeze([
  'List',
  'ListAffected',
  'ListChanges',
  'ListRemote',
  'ListBrokenFiles',
  'ListFilesets',
  'ListFolder',
  'ListFileVersions',
  'SearchFiles',
  'ReadLockInfo',
  'SystemInfo',
  'TestFilters',
]);

/**
 * True when `operation` only lists or reads (see {@link LISTING_OPERATIONS}).
 *
 * @example
 * ```ts
 * isListingOperation('ListFilesets'); // true
 * isListingOperation('Backup');       // false
 * ```
 */
export function isListingOperation(operation: string): boolean {
  return LISTING_OPERATIONS.includes(operation);
}

/** A hook's environment, as `process.env` holds it. */
type HookEnvVars = Readonly<Record<string, string | undefined>>;

/** `DUPLICATI__EVENTNAME` when it is one of {@link HOOK_EVENTS} (any case), else undefined. */
export function hookEventIn(env: HookEnvVars): HookEvent | undefined {
  const raw = env[`${ENV_PREFIX}EVENTNAME`]?.trim().toUpperCase();
  return raw ? HOOK_EVENTS.find((e) => e === raw) : undefined;
}

/**
 * The operation name as Duplicati gives it, trimmed and not yet checked: `DUPLICATI__OPERATIONNAME`,
 * or `DUPLICATI__main_action` when that is missing (Duplicati 2.0.x starts the AFTER script of a
 * failed required BEFORE without it). Undefined when neither is set.
 */
export function hookOperationIn(env: HookEnvVars): string | undefined {
  const given = env[`${ENV_PREFIX}OPERATIONNAME`]?.trim();
  if (given) return given;
  return env[`${ENV_PREFIX}main_action`]?.trim() || undefined;
}

/**
 * True when `env` is a hook run for a listing ({@link LISTING_OPERATIONS}) with a known event:
 * the run a hook answers with {@link HookExitCode.Continue} before reading any configuration.
 * Never throws; an environment it cannot read is not a listing.
 */
export function isListingHookRun(env: HookEnvVars): boolean {
  const operation = hookOperationIn(env);
  return hookEventIn(env) !== undefined && operation !== undefined && isListingOperation(operation);
}

/** `DUPLICATI__PARSED_RESULT` and `ParsedResult` in the result file. */
export type ParsedResult = 'Unknown' | 'Success' | 'Warning' | 'Error' | 'Fatal';

/** Every parsed result level Duplicati sends. */
export const PARSED_RESULTS: readonly ParsedResult[] = Object.freeze([
  'Unknown',
  'Success',
  'Warning',
  'Error',
  'Fatal',
]);

/**
 * The exit codes a non-required script returns, as `RunScript.cs` reads them.
 *
 * | code | logged as | BEFORE | AFTER / POST-BACKUP |
 * |---|---|---|---|
 * | 0 | — | operation runs | — |
 * | 1 | — | operation skipped (reason Normal) | — |
 * | 2 | warning (with stderr) | runs | warning |
 * | 3 | warning (with stderr) | skipped (reason Warning) | warning |
 * | 4 | error (with stderr) | runs | error |
 * | 5 and any other | error (with stderr) | skipped (reason Error) | error |
 *
 * A `run-script-before-required` script continues only on 0: every other code (and a timeout)
 * fails the operation.
 */
export const HookExitCode = Object.freeze({
  /** Continue; nothing to report. */
  Continue: 0,
  /** BEFORE: do not run the operation, and report nothing wrong. */
  Skip: 1,
  /** Continue, with a warning in the job log. */
  ContinueWithWarning: 2,
  /** BEFORE: do not run the operation, with a warning. */
  SkipWithWarning: 3,
  /** Continue, with an error in the job log. */
  ContinueWithError: 4,
  /** BEFORE: do not run the operation, with an error. */
  StopWithError: 5,
} as const);
/** One of the {@link HookExitCode} values. */
export type HookExitCode = (typeof HookExitCode)[keyof typeof HookExitCode];

/** Default of `--run-script-timeout`. */
export const DEFAULT_SCRIPT_TIMEOUT = '60s';

const SPAN_UNITS: Readonly<Record<string, number>> = {
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  D: 86_400_000,
  W: 7 * 86_400_000,
  M: 30 * 86_400_000,
  Y: 365 * 86_400_000,
};

/**
 * Parse a Duplicati timespan (`60s`, `5m`, `1h12m03s`, `2D`, a bare number of seconds) into
 * milliseconds, the way Duplicati's `Timeparser.ParseTimeSpan` does: units are case-sensitive
 * (`m` minutes, `M` 30-day months), and an empty string is 0. Returns `undefined` for text
 * Duplicati would reject.
 *
 * @example
 * ```ts
 * parseDuplicatiTimespan('1m15s'); // 75000
 * parseDuplicatiTimespan('90');    // 90000
 * parseDuplicatiTimespan('soon');  // undefined
 * ```
 */
export function parseDuplicatiTimespan(text: string): number | undefined {
  const s = text.trim();
  if (s === '') return 0;
  if (/^[+-]?\d+$/.test(s)) return Number(s) * 1_000;
  let total = 0;
  let rest = s;
  const part = /^\s*([+-]?\d+)\s*([smhDWMY])/;
  while (rest.trim() !== '') {
    const m = part.exec(rest);
    if (!m) return undefined;
    total += Number(m[1]) * (SPAN_UNITS[m[2] as string] as number);
    rest = rest.slice(m[0].length);
  }
  return total;
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1024,
  kib: 1024,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

/**
 * Parse a Duplicati size (`25mb`, `1GB`, `512 kib`, `100`) into bytes, like `Sizeparser.ParseSize`:
 * every unit is binary (1 kb = 1024 b), units are case-insensitive, a bare number takes
 * `defaultUnit`. Returns `undefined` for text Duplicati would reject.
 *
 * @example
 * ```ts
 * parseDuplicatiSize('25mb');        // 26214400
 * parseDuplicatiSize('50', 'mb');    // 52428800
 * ```
 */
export function parseDuplicatiSize(text: string, defaultUnit = 'b'): number | undefined {
  const m = /^\s*([+-]?\d+)\s*([a-z]*)\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = (m[2] || defaultUnit).toLowerCase();
  const factor = SIZE_UNITS[unit];
  return factor === undefined ? undefined : Number(m[1]) * factor;
}

/**
 * Parse a Duplicati boolean like `Utility.ParseBool`: `1/on/true/yes` and `0/off/false/no`
 * (any case); an empty or other value gives `fallback`.
 *
 * @example
 * ```ts
 * parseDuplicatiBool('Yes', false); // true
 * parseDuplicatiBool('', true);     // true (a bare `--flag` means on)
 * ```
 */
export function parseDuplicatiBool(text: string | undefined, fallback: boolean): boolean {
  switch (text?.trim().toLowerCase()) {
    case '1':
    case 'on':
    case 'true':
    case 'yes':
      return true;
    case '0':
    case 'off':
    case 'false':
    case 'no':
      return false;
    default:
      return fallback;
  }
}
