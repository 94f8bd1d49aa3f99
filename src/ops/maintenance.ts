/**
 * A maintenance window around a restore: pause Immich's job queues, stop Jellyfin and any other
 * service with the user's own commands (argv arrays, run without a shell), and — whatever
 * happened — start them again and resume the queues.
 *
 * @module
 */
import { startChild } from '../core/child.js';
import { z } from 'zod';
import { throwIfAborted } from '../core/abort.js';
import { DuplicatiKitError, errorGuard } from '../core/errors.js';
import { type Logger, silentLogger } from '../core/logger.js';
import type { PausedQueues, QueuePauser } from '../contracts/maintenance.js';
import { configErrorFrom } from '../core/validate.js';

/** A command as an argv array: `['systemctl', 'stop', 'jellyfin']`. Never run through a shell. */
export type CommandArgv = readonly [string, ...string[]];

/** Options of {@link openMaintenanceWindow}. */
export interface MaintenanceOptions {
  /** Pause Immich's job queues first (and resume them last). */
  readonly immich?: QueuePauser;
  /** Jellyfin's stop and start commands, e.g. `['systemctl', 'stop', 'jellyfin']` / `['docker', 'start', 'jellyfin']`. */
  readonly jellyfin?: { readonly stop?: CommandArgv; readonly start?: CommandArgv };
  /** Other stop commands, run in order after Jellyfin's. */
  readonly stop?: readonly CommandArgv[];
  /** Start commands, run in order before Jellyfin's start. */
  readonly start?: readonly CommandArgv[];
  /** Time limit of each command. @default 300000 */
  readonly commandTimeoutMs?: number;
  readonly logger?: Logger;
}

/** One command that ran. */
export interface CommandRun {
  readonly argv: readonly string[];
  readonly ok: boolean;
  readonly exitCode: number | null;
  readonly durationMs: number;
  /** The last lines of its stdout and stderr. */
  readonly output: string;
  /** Why it failed (exit code, timeout, not found). */
  readonly error?: string;
}

/** What a window did, in order. */
export interface MaintenanceLog {
  readonly stopped: readonly CommandRun[];
  readonly started: readonly CommandRun[];
  /** Immich queues paused, when an Immich API was given. */
  readonly pausedQueues: readonly string[];
  /** Whether they were resumed (null when none were paused). */
  readonly queuesResumed: boolean | null;
}

/** An open maintenance window: close it (always, in a `finally`) to start everything again. */
export interface MaintenanceWindow {
  readonly log: MaintenanceLog;
  /**
   * Start every service and resume the queues; never throws, reports in the log. Takes no
   * signal on purpose: it runs to the end even when the restore was aborted.
   */
  close(): Promise<MaintenanceLog>;
}

/** A stop command or the queue pause failed; the window was closed again (see `log`). */
export class MaintenanceError extends DuplicatiKitError {
  static override readonly errorName: string = 'MaintenanceError';
  static override readonly defaultCode: string = 'ERR_MAINTENANCE';
  readonly log: MaintenanceLog;
  constructor(message: string, log: MaintenanceLog, options: { cause?: unknown } = {}) {
    super(message, options);
    this.log = log;
  }
}

/**
 * True when `e` is a {@link MaintenanceError}, from this copy of the package or another.
 *
 * @example
 * ```ts
 * if (isMaintenanceError(e)) console.error(e.message, e.log);
 * ```
 */
export const isMaintenanceError = errorGuard<MaintenanceError>('MaintenanceError');

const argvSchema = z.array(z.string()).min(1, 'an argv array, e.g. ["systemctl", "stop", "jellyfin"]');
const optionsSchema = z
  .object({
    immich: z
      .custom<QueuePauser>(
        (v) => typeof v === 'object' && v !== null && typeof (v as QueuePauser).pauseQueues === 'function',
        'must have pauseQueues/resumeQueues (an ImmichApiClient)',
      )
      .optional(),
    jellyfin: z.object({ stop: argvSchema.optional(), start: argvSchema.optional() }).strict().optional(),
    stop: z.array(argvSchema).optional(),
    start: z.array(argvSchema).optional(),
    commandTimeoutMs: z.number().int().min(1).optional(),
    logger: z.custom<Logger>((l) => typeof l === 'object' && l !== null).optional(),
  })
  .strict();

const TAIL = 4096;

/** Validate maintenance options; a ConfigError names every bad field (`prefix` leads each path). */
export function checkMaintenanceOptions(options: MaintenanceOptions, prefix = ''): void {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) throw configErrorFrom('invalid maintenance options', parsed.error, prefix);
}

/**
 * Run one command without a shell, with a time limit and the caller's signal; its output is kept
 * only as a short tail (a chatty command costs no memory). Never throws for a failed command.
 *
 * @example
 * ```ts
 * const r = await runCommand(['systemctl', 'stop', 'jellyfin'], { timeoutMs: 60_000 });
 * if (!r.ok) console.error(r.error, r.output);
 * ```
 */
export async function runCommand(
  argv: CommandArgv,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<CommandRun> {
  const t0 = performance.now();
  const [file, ...args] = argv;
  let tail = '';
  const keep = (chunk: Buffer | string): void => {
    tail = (tail + chunk.toString()).slice(-TAIL);
  };
  const child = startChild(file, args, {
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    timeoutMs: options.timeoutMs ?? 300_000,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const r = await child;
  const durationMs = performance.now() - t0;
  const output = tail.trim().split('\n').slice(-20).join('\n');
  const base = { argv: [...argv], exitCode: r.exitCode ?? null, durationMs, output };
  if (r.exitCode === 0 && !r.failed) return { ...base, ok: true };
  const error = r.timedOut
    ? `timed out after ${options.timeoutMs ?? 300_000} ms`
    : r.canceled
      ? 'cancelled'
      : r.spawnError
        ? `could not run ${file}: ${r.spawnError.message}`
        : r.exitCode === undefined
          ? `killed by ${r.signal ?? 'a signal'}`
          : `exit code ${r.exitCode}`;
  return { ...base, ok: false, error };
}

/**
 * Open a maintenance window: pause Immich's queues, run Jellyfin's stop command, then the other
 * stop commands, in order. When any of them fails, the window is closed again at once (start
 * commands run, queues resume) and a {@link MaintenanceError} is thrown. Otherwise call
 * `close()` in a `finally`: it runs the start commands (the others', then Jellyfin's) and resumes
 * the queues, and never throws — its log says what did not start.
 *
 * @example
 * ```ts
 * const win = await openMaintenanceWindow({ jellyfin: { stop: ['systemctl', 'stop', 'jellyfin'], start: ['systemctl', 'start', 'jellyfin'] } });
 * try { await restore(); } finally { await win.close(); }
 * ```
 */
export async function openMaintenanceWindow(
  options: MaintenanceOptions,
  call: { signal?: AbortSignal } = {},
): Promise<MaintenanceWindow> {
  checkMaintenanceOptions(options);
  const logger = options.logger ?? silentLogger;
  const timeoutMs = options.commandTimeoutMs ?? 300_000;
  const stopped: CommandRun[] = [];
  const started: CommandRun[] = [];
  let paused: PausedQueues | undefined;
  let queuesResumed: boolean | null = null;
  let closed = false;
  const log = (): MaintenanceLog => ({
    stopped: [...stopped],
    started: [...started],
    pausedQueues: paused ? [...paused.names] : [],
    queuesResumed,
  });

  const close = async (): Promise<MaintenanceLog> => {
    if (closed) return log();
    closed = true;
    // Start even when the caller aborted: a restore that leaves services down is the worst outcome.
    const starts = [...(options.start ?? []), ...(options.jellyfin?.start ? [options.jellyfin.start] : [])];
    for (const argv of starts) {
      const r = await runCommand(argv, { timeoutMs });
      started.push(r);
      if (!r.ok) logger.error('start command failed', { argv, error: r.error, output: r.output });
    }
    if (paused) {
      try {
        await options.immich?.resumeQueues(paused);
        queuesResumed = true;
      } catch (e) {
        queuesResumed = false;
        logger.error('could not resume the Immich queues', { queues: paused.names, error: (e as Error).message });
      }
    }
    return log();
  };

  try {
    if (options.immich) paused = await options.immich.pauseQueues(call.signal ? { signal: call.signal } : {});
    const stops = [...(options.jellyfin?.stop ? [options.jellyfin.stop] : []), ...(options.stop ?? [])];
    for (const argv of stops) {
      throwIfAborted(call.signal);
      const r = await runCommand(argv, { timeoutMs, ...(call.signal ? { signal: call.signal } : {}) });
      stopped.push(r);
      if (!r.ok) throw new Error(`${argv.join(' ')}: ${r.error}${r.output ? `\n${r.output}` : ''}`);
      logger.info('stopped', { argv });
    }
  } catch (e) {
    const after = await close();
    if (call.signal?.aborted) throw call.signal.reason;
    throw new MaintenanceError(`could not open the maintenance window: ${(e as Error).message}`, after, { cause: e });
  }
  return {
    get log() {
      return log();
    },
    close,
  };
}
