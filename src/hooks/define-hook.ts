/**
 * `defineHook`: a Duplicati run-script hook as a few typed handlers.
 *
 * @module
 */
import { ConfigError, type ConfigIssue, describeError, isDuplicatiKitError, isLockedError } from '../core/errors.js';
import { type Logger, silentLogger } from '../core/logger.js';
import { anySignal } from '../core/abort.js';
import { createHookBudget, type HookBudget } from './budget.js';
import { readDuplicatiEnv, readHookEvent, readHookOperation, type DuplicatiHookEnv } from './env.js';
import { HookProtocolError } from './errors.js';
import { duplicatiScriptLogger, HookOutput, type LineSink, teeLogger } from './output.js';
import { HookExitCode, type HookEvent, isListingOperation, type OperationName } from './protocol.js';
import type { DuplicatiResult } from './result-file.js';
import { isSecretKey } from '../core/redact.js';

/** What a handler gets. */
export interface HookContext {
  /** The parsed `DUPLICATI__*` environment. */
  readonly env: DuplicatiHookEnv;
  readonly event: HookEvent;
  readonly operation: OperationName;
  /** True when this is (taken to be) the `run-script-before-required` invocation. */
  readonly required: boolean;
  /** The protocol writer: option lines (BEFORE) and `LOG:` lines. */
  readonly output: HookOutput;
  /**
   * Logs to the job log (`info` → `LOG:INFO`; `warn` → stderr, a Warning result on every server
   * line; `error` → `LOG:ERROR` + stderr, Error on 2.1+ and Warning on 2.0.x; `debug` dropped) and
   * to the `logger` given to `defineHook`.
   */
  readonly logger: Logger;
  /**
   * Aborts on SIGTERM/SIGINT and, for the events in `abortAtDeadline` (BEFORE by default),
   * shortly before `run-script-timeout` runs out. Pass it to every long call.
   */
  readonly signal: AbortSignal;
  /** Time left before Duplicati stops waiting. */
  readonly budget: HookBudget;
  /** The parsed result file (AFTER, POST-BACKUP), when it could be read. */
  readonly result: DuplicatiResult | undefined;
}

/**
 * What a handler returns. Nothing means all went well. Any field not listed here is an error (a
 * typo such as `warnig` must not pass as success).
 */
export type HookOutcome =
  | undefined
  | {
      /** Report a warning; the operation still runs (exit code 2, or stderr + 0 when required). */
      readonly warning?: string;
      /**
       * BEFORE: do not run the operation, gracefully (exit code 1; 3 with `warning`). A required
       * script cannot skip gracefully: Duplicati fails the operation on any non-zero code.
       */
      readonly skip?: boolean;
      /** Why the operation was skipped (goes to the job log). */
      readonly reason?: string;
      /**
       * Report an error. Without `continueOperation` the operation is stopped (exit code 5); with
       * it, the operation runs and the job ends as Error (exit code 4; when required: `LOG:ERROR` +
       * stderr + 0, which 2.1+ reads as Error and 2.0.x, which has no `LOG:` lines, as Warning).
       */
      readonly error?: string;
      /** With `error`: let the operation run anyway. */
      readonly continueOperation?: boolean;
      /** BEFORE: options to set on the operation (`--name=value` lines). */
      readonly options?: Readonly<Record<string, string>>;
    };

/** A handler of one event. */
// biome-ignore lint/suspicious/noConfusingVoidType: `async (ctx) => { … }` handlers return Promise<void>.
export type HookHandler = (ctx: HookContext) => HookOutcome | void | Promise<HookOutcome | void>;

/** Options of {@link defineHook}. */
export interface DefineHookOptions {
  /** Runs for `run-script-before` (and `-before-required`). */
  readonly before?: HookHandler;
  /** Runs for `run-script-after`. */
  readonly after?: HookHandler;
  /** Runs for `run-script-post-backup` (Duplicati 2.3.1+). */
  readonly postBackup?: HookHandler;
  /**
   * Operations the hook acts on; for every other one it exits 0 at once without reading more
   * than two variables. `'all'` means every operation except listings (the UI's file and version
   * browsing); name a listing operation explicitly to act on it. @default ['Backup']
   */
  readonly operations?: readonly OperationName[] | 'all';
  /**
   * Whether a BEFORE invocation is the `run-script-before-required` one (only exit code 0
   * continues). `'auto'` guesses from the options (see `guessRequired`). @default 'auto'
   */
  readonly required?: boolean | 'auto';
  /**
   * Events whose `ctx.signal` aborts shortly before `run-script-timeout` runs out, so the hook
   * still exits with a code Duplicati reads instead of racing the operation. @default ['BEFORE']
   */
  readonly abortAtDeadline?: readonly HookEvent[];
  /** Fraction of the timeout after which a warning goes to the job log. @default 0.8 */
  readonly warnAt?: number;
  /**
   * Also receives every log line and the final outcome (e.g. a file logger). Never a logger
   * writing to stderr or stdout: Duplicati reads those. @default silentLogger
   */
  readonly logger?: Logger;
  /**
   * Run `main()` on the next tick when the process was started by Duplicati (`DUPLICATI__EVENTNAME`
   * is set) and neither `run()` nor `main()` was called first. @default true
   */
  readonly autoRun?: boolean;
}

/** Where a run reads and writes; tests pass their own. */
export interface HookIO {
  /** @default process.stdout */
  readonly stdout?: LineSink;
  /** @default process.stderr */
  readonly stderr?: LineSink;
  /** Caller's cancellation (SIGTERM/SIGINT in `main()`). */
  readonly signal?: AbortSignal;
  /** Line ending. @default os.EOL */
  readonly eol?: string;
  /** Path list separator of the Duplicati machine. @default path.delimiter */
  readonly pathSeparator?: string;
  /** Clock reading when the script started (`performance.timeOrigin` in `main()`). */
  readonly startedAt?: number;
  /** Millisecond clock. @default performance.timeOrigin + performance.now() */
  readonly now?: () => number;
}

/** A defined hook. */
export interface DuplicatiHook {
  /**
   * Run once against `env` (default `process.env`), writing to `io` (default the process's
   * stdout and stderr); resolves to the exit code. Never rejects, never exits the process.
   */
  run(env?: Readonly<Record<string, string | undefined>>, io?: HookIO): Promise<number>;
  /** Run against `process.env`, `process.stdout`/`stderr`, then exit the process with the code. */
  main(): Promise<void>;
}

const HANDLER_KEYS = ['before', 'after', 'postBackup'] as const;
const OPTION_KEYS = new Set<string>([
  ...HANDLER_KEYS,
  'operations',
  'required',
  'abortAtDeadline',
  'warnAt',
  'logger',
  'autoRun',
]);
const OUTCOME_KEYS = new Set(['warning', 'skip', 'reason', 'error', 'continueOperation', 'options']);

function validateOptions(options: DefineHookOptions): void {
  const issues: ConfigIssue[] = [];
  if (options === null || typeof options !== 'object') {
    throw new ConfigError('defineHook options must be an object', [{ path: '', message: 'expected an object' }]);
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) issues.push({ path: key, message: 'unknown option' });
  }
  for (const key of HANDLER_KEYS) {
    const v = options[key];
    if (v !== undefined && typeof v !== 'function') issues.push({ path: key, message: 'expected a function' });
  }
  if (!HANDLER_KEYS.some((k) => options[k] !== undefined)) {
    issues.push({ path: '', message: 'define at least one of before, after, postBackup' });
  }
  const ops = options.operations;
  if (ops !== undefined && ops !== 'all') {
    if (!Array.isArray(ops) || ops.length === 0)
      issues.push({ path: 'operations', message: "expected a non-empty array or 'all'" });
    else
      ops.forEach((o, i) => {
        if (typeof o !== 'string' || !/^[A-Za-z][A-Za-z0-9]*$/.test(o)) {
          issues.push({ path: `operations.${i}`, message: 'expected an operation name such as Backup' });
        }
      });
  }
  const req = options.required;
  if (req !== undefined && req !== 'auto' && typeof req !== 'boolean') {
    issues.push({ path: 'required', message: "expected true, false or 'auto'" });
  }
  const abortAt = options.abortAtDeadline;
  if (abortAt !== undefined) {
    if (!Array.isArray(abortAt)) issues.push({ path: 'abortAtDeadline', message: 'expected an array of event names' });
    else
      abortAt.forEach((e, i) => {
        if (e !== 'BEFORE' && e !== 'AFTER' && e !== 'POST-BACKUP') {
          issues.push({ path: `abortAtDeadline.${i}`, message: 'expected BEFORE, AFTER or POST-BACKUP' });
        }
      });
  }
  const warnAt = options.warnAt;
  if (warnAt !== undefined && !(typeof warnAt === 'number' && warnAt > 0 && warnAt < 1)) {
    issues.push({ path: 'warnAt', message: 'expected a number between 0 and 1' });
  }
  const logger = options.logger;
  if (logger !== undefined && (logger === null || typeof (logger as Logger).error !== 'function')) {
    issues.push({ path: 'logger', message: 'expected a Logger' });
  }
  if (options.autoRun !== undefined && typeof options.autoRun !== 'boolean') {
    issues.push({ path: 'autoRun', message: 'expected a boolean' });
  }
  if (issues.length > 0) throw new ConfigError('Invalid defineHook options', issues);
}

type Normalised = {
  kind: 'ok' | 'warning' | 'skip' | 'skip-warning' | 'error';
  message: string | undefined;
  continueOperation: boolean;
  options: Readonly<Record<string, string>>;
};

function normaliseOutcome(value: unknown): Normalised {
  if (value === undefined || value === null)
    return { kind: 'ok', message: undefined, continueOperation: true, options: {} };
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new HookProtocolError(`the handler returned ${typeof value}; return nothing or an outcome object`);
  }
  const o = value as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !OUTCOME_KEYS.has(k));
  if (unknown.length > 0)
    throw new HookProtocolError(`the handler returned unknown outcome fields: ${unknown.join(', ')}`);
  for (const k of ['warning', 'reason', 'error'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'string') throw new HookProtocolError(`outcome.${k} must be a string`);
  }
  for (const k of ['skip', 'continueOperation'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'boolean') throw new HookProtocolError(`outcome.${k} must be a boolean`);
  }
  const opts = o['options'];
  if (opts !== undefined) {
    if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) {
      throw new HookProtocolError('outcome.options must be an object of strings');
    }
    for (const [k, v] of Object.entries(opts)) {
      if (typeof v !== 'string') throw new HookProtocolError(`outcome.options.${k} must be a string`);
    }
  }
  const options = (opts ?? {}) as Record<string, string>;
  if (typeof o['error'] === 'string') {
    return { kind: 'error', message: o['error'], continueOperation: o['continueOperation'] === true, options };
  }
  if (o['continueOperation'] !== undefined)
    throw new HookProtocolError('outcome.continueOperation needs outcome.error');
  if (o['skip'] === true) {
    const parts = [o['reason'], o['warning']].filter((x): x is string => typeof x === 'string');
    return {
      kind: typeof o['warning'] === 'string' ? 'skip-warning' : 'skip',
      message: parts.join(': ') || undefined,
      continueOperation: false,
      options,
    };
  }
  if (typeof o['warning'] === 'string')
    return { kind: 'warning', message: o['warning'], continueOperation: true, options };
  return { kind: 'ok', message: undefined, continueOperation: true, options };
}

/** How a thrown error maps onto an outcome. */
function outcomeOfError(e: unknown, callerSignal: AbortSignal | undefined): Normalised {
  if (callerSignal?.aborted && e === callerSignal.reason) {
    return { kind: 'error', message: 'the hook was interrupted', continueOperation: false, options: {} };
  }
  const text = isDuplicatiKitError(e) ? e.message : describeError(e);
  // Another run holds the work folder: this run did nothing wrong and must not touch the
  // folder, but the skipped backup has to be noticed.
  if (isLockedError(e)) return { kind: 'skip-warning', message: text, continueOperation: false, options: {} };
  return { kind: 'error', message: text, continueOperation: false, options: {} };
}

/** Values that must never reach the job log: secret options and backend credentials. */
function secretsOf(env: DuplicatiHookEnv): string[] {
  const out: string[] = [];
  for (const [k, v] of env.options.entries()) if (isSecretKey(k)) out.push(v);
  if (env.remoteUrl) {
    const userinfo = /^[a-z][a-z0-9+.-]*:\/\/([^/?#@]*)@/i.exec(env.remoteUrl)?.[1];
    if (userinfo) out.push(userinfo, ...userinfo.split(':').slice(1));
    for (const m of env.remoteUrl.matchAll(/[?&;]([^=&;#]+)=([^&;#]*)/g)) {
      if (isSecretKey(decodeURIComponentSafe(m[1] as string))) out.push(decodeURIComponentSafe(m[2] as string));
    }
  }
  return out;
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function inScope(operation: OperationName, operations: readonly OperationName[] | 'all'): boolean {
  if (operations === 'all') return !isListingOperation(operation);
  return operations.includes(operation);
}

/**
 * Define a Duplicati run-script hook.
 *
 * The hook reads `DUPLICATI__*`, runs the handler for the event (`before`, `after`,
 * `postBackup`) only for the operations you choose (`Backup` by default; listings the web UI
 * triggers exit 0 at once), and maps what the handler does to the exit code Duplicati expects:
 *
 * | handler | BEFORE | BEFORE, required | AFTER / POST-BACKUP |
 * |---|---|---|---|
 * | returns nothing | 0 | 0 | 0 |
 * | `{ warning }` | 2 | 0 + stderr (Warning) | 2 |
 * | `{ skip: true }` | 1 | 1 (fails the operation) | 0 |
 * | `{ skip: true, warning }` | 3 | 1 (fails the operation) | 2 |
 * | `{ error, continueOperation: true }` | 4 | 0 + `LOG:ERROR` + stderr | 5 |
 * | `{ error }` or throws | 5 | 5 | 5 |
 * | throws `LockedError` | 3 | 1 (fails the operation) | 2 |
 *
 * Messages for codes 2–5 go to stderr, where Duplicati appends them to its exit-code log entry;
 * a skip reason goes to a `LOG:INFO` line. Started by Duplicati, the hook runs by itself on the
 * next tick and exits the process; `run(env, io)` runs it against any environment (tests).
 *
 * @throws ConfigError for bad options.
 * @example
 * ```ts
 * import { defineHook } from 'duplicati-kit/hooks';
 * import { createBackupPlan } from 'duplicati-kit';
 *
 * const plan = createBackupPlan({ workDir: '/srv/backup/staging', sources });
 * defineHook({
 *   before: async (ctx) => {
 *     ctx.budget.warnIfLikelyToExceed(120_000, 'the Immich database dump');
 *     await plan.prepare({ signal: ctx.signal }); // a failed dump throws: the upload is stopped
 *   },
 *   after: async (ctx) => {
 *     await plan.cleanup({ signal: ctx.signal });
 *     if (ctx.env.parsedResult !== 'Success') return { warning: `backup ended ${ctx.env.parsedResult}` };
 *   },
 * });
 * ```
 */
export function defineHook(options: DefineHookOptions): DuplicatiHook {
  validateOptions(options);
  const settings: HookSettings = {
    options,
    operations: options.operations ?? ['Backup'],
    userLogger: options.logger ?? silentLogger,
    abortAt: options.abortAtDeadline ?? ['BEFORE'],
  };
  let started = false;

  const run = async (
    env: Readonly<Record<string, string | undefined>> = process.env,
    given: HookIO = {},
  ): Promise<number> => {
    started = true;
    return runHook(settings, env, given);
  };

  const main = async (): Promise<void> => {
    started = true;
    await runAsProcess(run);
  };

  if (options.autoRun ?? true) {
    // The documented default: a script that only calls defineHook() runs when Duplicati starts it.
    if (process.env['DUPLICATI__EVENTNAME'] !== undefined) {
      setImmediate(() => {
        if (!started) void main();
      });
    }
  }
  return Object.freeze({ run, main });
}

/** A hook's options with their defaults applied. */
interface HookSettings {
  readonly options: DefineHookOptions;
  readonly operations: NonNullable<DefineHookOptions['operations']>;
  readonly userLogger: Logger;
  readonly abortAt: NonNullable<DefineHookOptions['abortAtDeadline']>;
}

/** `io` with the process's own streams where the caller gave none. */
type ResolvedIO = HookIO & { readonly stdout: LineSink; readonly stderr: LineSink };

/** One run of the hook against `env`; resolves to the exit code and never rejects. */
async function runHook(
  settings: HookSettings,
  env: Readonly<Record<string, string | undefined>>,
  given: HookIO,
): Promise<number> {
  const { options, userLogger } = settings;
  // The only place the library falls back to the process's own streams.
  const io: ResolvedIO = { ...given, stdout: given.stdout ?? process.stdout, stderr: given.stderr ?? process.stderr };
  const bare = new HookOutput({
    stdout: io.stdout,
    stderr: io.stderr,
    ...(io.eol === undefined ? {} : { eol: io.eol }),
  });
  /** The environment is not one Duplicati gives a script: say so and stop the operation. */
  const unusable = async (e: unknown): Promise<number> => {
    bare.stderrWarning(describeError(e));
    userLogger.error('hook environment unusable', { error: describeError(e) });
    await bare.flush();
    return HookExitCode.StopWithError;
  };
  let event: HookEvent;
  let operation: OperationName;
  try {
    event = readHookEvent(env);
    operation = readHookOperation(env);
  } catch (e) {
    return unusable(e);
  }
  const handler = event === 'BEFORE' ? options.before : event === 'AFTER' ? options.after : options.postBackup;
  if (!handler || !inScope(operation, settings.operations)) return HookExitCode.Continue;

  let denv: DuplicatiHookEnv;
  try {
    denv = readDuplicatiEnv(env, io.pathSeparator === undefined ? {} : { pathSeparator: io.pathSeparator });
  } catch (e) {
    return unusable(e);
  }
  const { ctx, output, budget } = hookContext(settings, io, event, operation, denv);

  let outcome: Normalised;
  budget.start();
  try {
    outcome = normaliseOutcome(await handler(ctx));
    for (const [k, v] of Object.entries(outcome.options)) output.option(k, v);
  } catch (e) {
    outcome = outcomeOfError(e, io.signal);
  } finally {
    budget.stop();
  }
  const code = finish(event, ctx.required, outcome, output, userLogger);
  await output.flush();
  return code;
}

/** The handler's context: the parsed environment, output, logger, time budget and signal. */
function hookContext(
  settings: HookSettings,
  io: ResolvedIO,
  event: HookEvent,
  operation: OperationName,
  denv: DuplicatiHookEnv,
): { ctx: HookContext; output: HookOutput; budget: ReturnType<typeof createHookBudget> } {
  const { options } = settings;
  const required =
    event === 'BEFORE' &&
    (options.required === undefined || options.required === 'auto' ? denv.required : options.required);
  const output = new HookOutput({
    stdout: io.stdout,
    stderr: io.stderr,
    secrets: secretsOf(denv),
    acceptOptions: event === 'BEFORE',
    ...(io.eol === undefined ? {} : { eol: io.eol }),
    ...(io.pathSeparator === undefined ? {} : { pathSeparator: io.pathSeparator }),
  });
  const logger = teeLogger(duplicatiScriptLogger(output), settings.userLogger);
  const budget = createHookBudget({
    timeoutMs: denv.scriptTimeoutMs,
    warn: (m) => logger.warn(m),
    abortBeforeDeadline: settings.abortAt.includes(event),
    ...(options.warnAt === undefined ? {} : { warnAt: options.warnAt }),
    ...(io.startedAt === undefined ? {} : { startedAt: io.startedAt }),
    ...(io.now === undefined ? {} : { now: io.now }),
  });
  if (denv.resultError) logger.warn(denv.resultError.message);

  const ctx: HookContext = Object.freeze({
    env: denv,
    event,
    operation,
    required,
    output,
    logger,
    signal: anySignal(io.signal, budget.signal),
    budget,
    result: denv.result,
  });
  return { ctx, output, budget };
}

/**
 * Run the hook as the process Duplicati started: against `process.env` and its streams, with
 * SIGTERM/SIGINT as the abort, and exit with the code — also when the handler crashes or never
 * settles.
 */
async function runAsProcess(run: DuplicatiHook['run']): Promise<void> {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    controller.abort(new Error(`received ${sig}`));
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  let settled = false;
  const crash = (e: unknown): void => {
    // Node's own exit code for a crash is 1, which Duplicati reads as "skip, all fine".
    settled = true;
    try {
      process.stderr.write(`hook crashed: ${describeError(e)}\n`);
    } finally {
      process.exit(HookExitCode.StopWithError);
    }
  };
  // A handler awaiting a promise that nothing will settle lets the event loop drain, and Node
  // then exits 0: Duplicati would run the backup as if the hook had succeeded.
  process.on('exit', () => {
    if (settled) return;
    process.exitCode = HookExitCode.StopWithError;
    try {
      process.stderr.write('hook ended before its handler finished (it awaited something that never settles)\n');
    } catch {
      // nothing left to report to
    }
  });
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
  // A closed pipe (Duplicati stopped reading after the timeout) must not crash the hook.
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  const code = await run(process.env, {
    stdout: process.stdout,
    stderr: process.stderr,
    signal: controller.signal,
    startedAt: performance.timeOrigin,
  });
  settled = true;
  process.exit(code);
}

function finish(
  event: HookEvent,
  required: boolean,
  outcome: Normalised,
  output: HookOutput,
  userLogger: Logger,
): number {
  const msg = outcome.message;
  const toStderr = (level: 'warn' | 'error', prefix: string): void => {
    const text = msg ? `${prefix}: ${msg}` : prefix;
    output.stderrWarning(text);
    userLogger[level](text);
  };
  if (event !== 'BEFORE') {
    // Nothing left to skip after the operation; only ok, warning and error are meaningful.
    switch (outcome.kind) {
      case 'ok':
        return HookExitCode.Continue;
      case 'skip':
        if (msg) output.info(msg);
        return HookExitCode.Continue;
      case 'warning':
      case 'skip-warning':
        toStderr('warn', 'warning');
        return HookExitCode.ContinueWithWarning;
      default:
        toStderr('error', 'failed');
        return HookExitCode.StopWithError;
    }
  }
  if (required) {
    // Duplicati continues only on 0 and reads no output of a required script that exits
    // otherwise, so warnings and continuable errors go out with exit code 0: on stderr, which
    // every server line logs as a warning (2.0.x has no LOG: lines), and errors also as LOG:ERROR.
    switch (outcome.kind) {
      case 'ok':
        return HookExitCode.Continue;
      case 'warning':
        output.warn(msg ?? 'warning');
        return HookExitCode.Continue;
      case 'skip':
      case 'skip-warning':
        toStderr('warn', 'skipped (a required script cannot skip gracefully: Duplicati fails the operation)');
        return HookExitCode.Skip;
      default:
        if (outcome.continueOperation) {
          output.error(msg ?? 'error');
          return HookExitCode.Continue;
        }
        toStderr('error', 'failed, operation stopped');
        return HookExitCode.StopWithError;
    }
  }
  switch (outcome.kind) {
    case 'ok':
      return HookExitCode.Continue;
    case 'warning':
      toStderr('warn', 'warning');
      return HookExitCode.ContinueWithWarning;
    case 'skip':
      // stderr would turn a graceful skip into a warning; the reason goes to the job log instead.
      if (msg) output.info(`skipped: ${msg}`);
      return HookExitCode.Skip;
    case 'skip-warning':
      toStderr('warn', 'skipped');
      return HookExitCode.SkipWithWarning;
    default:
      if (outcome.continueOperation) {
        toStderr('error', 'error');
        return HookExitCode.ContinueWithError;
      }
      toStderr('error', 'failed, operation stopped');
      return HookExitCode.StopWithError;
  }
}
