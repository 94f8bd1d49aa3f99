/**
 * `readDuplicatiEnv`: the `DUPLICATI__*` environment of a run-script hook as a typed, immutable
 * value.
 *
 * @module
 */
import path from 'node:path';
import { inspect } from 'node:util';
import { redactUrl } from '../core/redact.js';
import { HookEnvError, isHookEnvError } from './errors.js';
import { type DuplicatiFilter, DuplicatiOptions, ENV_PREFIX, parseFilterOption } from './options.js';
import {
  DEFAULT_SCRIPT_TIMEOUT,
  HOOK_EVENTS,
  type HookEvent,
  hookEventIn,
  hookOperationIn,
  type OperationName,
  PARSED_RESULTS,
  type ParsedResult,
  parseDuplicatiTimespan,
} from './protocol.js';
import { type DuplicatiResult, type ResultFileFormat, readResultFile } from './result-file.js';

/** Options of {@link readDuplicatiEnv}. */
export interface ReadDuplicatiEnvOptions {
  /**
   * Read and parse `DUPLICATI__RESULTFILE` now (AFTER and POST-BACKUP). Default true: Duplicati
   * deletes the file when the script exits or times out.
   */
  readonly readResultFile?: boolean;
  /**
   * Path list separator of the machine Duplicati runs on (`:` on Unix, `;` on Windows).
   * @default path.delimiter
   */
  readonly pathSeparator?: string;
}

/** The typed `DUPLICATI__*` environment of one hook invocation. */
export interface DuplicatiHookEnv {
  /** `DUPLICATI__EVENTNAME`. */
  readonly event: HookEvent;
  /** `DUPLICATI__OPERATIONNAME`, e.g. `Backup`, `Restore`, `List`. */
  readonly operation: OperationName;
  /** The server's backup ID, from the `backup-id` option (`DB-<id>`); undefined for CLI runs. */
  readonly backupId: string | undefined;
  /** The job name (`backup-name`); for CLI runs, the name of the Duplicati executable. */
  readonly backupName: string | undefined;
  /**
   * `DUPLICATI__REMOTEURL`, the backend URL. It may hold credentials: `toJSON` and
   * `util.inspect` show it redacted; never log this field directly.
   */
  readonly remoteUrl: string | undefined;
  /** `DUPLICATI__LOCALPATH` split on the OS path separator (empty when not set). */
  readonly localPaths: readonly string[];
  /** `DUPLICATI__PARSED_RESULT` (AFTER and POST-BACKUP only). */
  readonly parsedResult: ParsedResult | undefined;
  /** `DUPLICATI__RESULTFILE` (AFTER and POST-BACKUP only). */
  readonly resultFile: string | undefined;
  /** `run-script-result-output-format`: format of the result file. */
  readonly resultFormat: ResultFileFormat;
  /** The parsed result file, when there is one and it could be read. */
  readonly result: DuplicatiResult | undefined;
  /** Why the result file could not be read or parsed, when it could not. */
  readonly resultError: HookEnvError | undefined;
  /** Every `DUPLICATI__<option>` as a typed map. */
  readonly options: DuplicatiOptions;
  /** The `filter` option split into entries. */
  readonly filters: readonly DuplicatiFilter[];
  /**
   * `run-script-timeout` in milliseconds (default 60 s); `Infinity` when it is `0` or
   * negative, which makes Duplicati wait forever.
   */
  readonly scriptTimeoutMs: number;
  /** True for a `run-script-before-required` invocation, as far as the options tell (see {@link guessRequired}). */
  readonly required: boolean;
  /** A copy safe to log: remote URL and secret options masked. */
  toJSON(): Record<string, unknown>;
}

function requireVar(env: Readonly<Record<string, string | undefined>>, name: string): string {
  const v = env[`${ENV_PREFIX}${name}`];
  if (v === undefined || v.trim() === '') {
    throw new HookEnvError(
      `${ENV_PREFIX}${name} is not set: this program expects to be started by Duplicati as a run-script hook`,
      `${ENV_PREFIX}${name}`,
    );
  }
  return v.trim();
}

/**
 * Read the event name only (what {@link defineHook} needs to decide whether to act at all).
 *
 * @throws HookEnvError when it is missing or not one of `BEFORE`, `AFTER`, `POST-BACKUP`.
 * @example
 * ```ts
 * readHookEvent({ DUPLICATI__EVENTNAME: 'AFTER' }); // 'AFTER'
 * ```
 */
export function readHookEvent(env: Readonly<Record<string, string | undefined>>): HookEvent {
  const raw = requireVar(env, 'EVENTNAME');
  const event = hookEventIn(env);
  if (!event) {
    throw new HookEnvError(
      `${ENV_PREFIX}EVENTNAME is ${JSON.stringify(raw)}, expected one of ${HOOK_EVENTS.join(', ')}`,
      `${ENV_PREFIX}EVENTNAME`,
    );
  }
  return event;
}

/**
 * Read the operation name only. When a required BEFORE script failed, Duplicati 2.0.x starts the
 * AFTER script without `DUPLICATI__OPERATIONNAME` (it is saved only once BEFORE succeeded); the
 * operation is then read from the `main-action` option (`DUPLICATI__main_action`), which every
 * server-run operation carries.
 *
 * @throws HookEnvError when both are missing or not a plain identifier.
 * @example
 * ```ts
 * readHookOperation({ DUPLICATI__OPERATIONNAME: 'Backup' }); // 'Backup'
 * readHookOperation({ DUPLICATI__EVENTNAME: 'AFTER', DUPLICATI__main_action: 'Backup' }); // 'Backup'
 * ```
 */
export function readHookOperation(env: Readonly<Record<string, string | undefined>>): OperationName {
  const raw = hookOperationIn(env) ?? requireVar(env, 'OPERATIONNAME');
  if (!/^[A-Za-z][A-Za-z0-9]*$/.test(raw)) {
    throw new HookEnvError(
      `${ENV_PREFIX}OPERATIONNAME is ${JSON.stringify(raw)}, expected an operation name such as Backup`,
      `${ENV_PREFIX}OPERATIONNAME`,
    );
  }
  return raw;
}

/**
 * Whether this BEFORE invocation is the `run-script-before-required` one. The environment does not
 * say which option started the script, so this is a guess from the options: true when
 * `run-script-before-required` is set and `run-script-before` is not, and also when both are set
 * (the stricter reading is the safe one). Pass `required` to `defineHook` to decide yourself.
 *
 * @example
 * ```ts
 * guessRequired(env.options); // true when only --run-script-before-required is configured
 * ```
 */
export function guessRequired(options: DuplicatiOptions): boolean {
  return (options.get('run-script-before-required') ?? '').trim() !== '';
}

function parseTimeout(options: DuplicatiOptions): number {
  const raw = options.get('run-script-timeout') ?? DEFAULT_SCRIPT_TIMEOUT;
  const ms = parseDuplicatiTimespan(raw);
  if (ms === undefined) {
    throw new HookEnvError(
      `${ENV_PREFIX}run_script_timeout is ${JSON.stringify(raw)}, expected a timespan such as 60s, 5m or 1h30m`,
      `${ENV_PREFIX}run_script_timeout`,
    );
  }
  return ms <= 0 ? Number.POSITIVE_INFINITY : ms;
}

function parseResultFormat(options: DuplicatiOptions): ResultFileFormat {
  const raw = (options.get('run-script-result-output-format') ?? '').trim().toLowerCase();
  // Duplicati falls back to its text format for any value it does not know.
  if (raw === 'json') return 'Json';
  if (raw === 'template') return 'Template';
  return 'Duplicati';
}

function parseBackupId(value: string | undefined): string | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const m = /^DB-(.+)$/i.exec(value.trim());
  return m ? (m[1] as string) : value.trim();
}

/**
 * Parse the environment Duplicati gives a `run-script-before/-after/-post-backup` script.
 *
 * Reads only the `env` it is given (pass `process.env` yourself). For AFTER and POST-BACKUP it
 * also reads the result file, synchronously, because Duplicati deletes it once the script exits
 * or times out; a result file that cannot be read is reported in `resultError`, not thrown, so
 * cleanup can still run.
 *
 * @throws HookEnvError for a missing or unknown event or operation name, a missing or unknown
 *   parsed result in AFTER/POST-BACKUP, or a bad `run-script-timeout`.
 * @example
 * ```ts
 * import { readDuplicatiEnv } from 'duplicati-kit/hooks';
 * const env = readDuplicatiEnv(process.env);
 * if (env.event === 'AFTER' && env.parsedResult !== 'Success') {
 *   console.error(`${env.backupName}: ${env.parsedResult}`, env.result?.logLines.length);
 * }
 * ```
 */
export function readDuplicatiEnv(
  env: Readonly<Record<string, string | undefined>>,
  options: ReadDuplicatiEnvOptions = {},
): DuplicatiHookEnv {
  const event = readHookEvent(env);
  const operation = readHookOperation(env);
  const sep = options.pathSeparator ?? path.delimiter;
  const opts = DuplicatiOptions.fromEnv(env);

  let parsedResult: ParsedResult | undefined;
  let resultFile: string | undefined;
  if (event !== 'BEFORE') {
    const raw = requireVar(env, 'PARSED_RESULT');
    parsedResult = PARSED_RESULTS.find((p) => p.toLowerCase() === raw.toLowerCase());
    if (!parsedResult) {
      throw new HookEnvError(
        `${ENV_PREFIX}PARSED_RESULT is ${JSON.stringify(raw)}, expected one of ${PARSED_RESULTS.join(', ')}`,
        `${ENV_PREFIX}PARSED_RESULT`,
      );
    }
    const file = env[`${ENV_PREFIX}RESULTFILE`];
    resultFile = file === undefined || file.trim() === '' ? undefined : file;
  }

  const resultFormat = parseResultFormat(opts);
  let result: DuplicatiResult | undefined;
  let resultError: HookEnvError | undefined;
  if (resultFile !== undefined && options.readResultFile !== false) {
    try {
      result = readResultFile(resultFile, resultFormat);
    } catch (e) {
      if (!isHookEnvError(e)) throw e;
      resultError = e;
    }
  }

  const localRaw = env[`${ENV_PREFIX}LOCALPATH`];
  const remoteUrl = env[`${ENV_PREFIX}REMOTEURL`];
  const backupName = opts.get('backup-name');

  const value: DuplicatiHookEnv = {
    event,
    operation,
    backupId: parseBackupId(opts.get('backup-id')),
    backupName: backupName === undefined || backupName === '' ? undefined : backupName,
    remoteUrl: remoteUrl === undefined || remoteUrl === '' ? undefined : remoteUrl,
    localPaths: Object.freeze(localRaw ? localRaw.split(sep).filter((p) => p !== '') : []),
    parsedResult,
    resultFile,
    resultFormat,
    result,
    resultError,
    options: opts,
    filters: Object.freeze(parseFilterOption(opts.get('filter'), sep).map((f) => Object.freeze(f))),
    scriptTimeoutMs: parseTimeout(opts),
    required: event === 'BEFORE' && guessRequired(opts),
    toJSON(): Record<string, unknown> {
      return {
        event,
        operation,
        backupId: value.backupId,
        backupName: value.backupName,
        remoteUrl: value.remoteUrl === undefined ? undefined : redactUrl(value.remoteUrl),
        localPaths: value.localPaths,
        parsedResult,
        resultFile,
        resultFormat,
        filters: value.filters,
        scriptTimeoutMs: Number.isFinite(value.scriptTimeoutMs) ? value.scriptTimeoutMs : null,
        required: value.required,
        options: opts.toJSON(),
      };
    },
  };
  Object.defineProperty(value, inspect.custom, {
    value: () => `DuplicatiHookEnv ${inspect(value.toJSON(), { depth: 4 })}`,
    enumerable: false,
  });
  Object.defineProperty(value, 'toJSON', { enumerable: false });
  // Kept off enumeration so `{ ...env }` or a naive field dump cannot carry backend credentials.
  Object.defineProperty(value, 'remoteUrl', { enumerable: false });
  return Object.freeze(value);
}
