/**
 * The time budget of a hook, from `--run-script-timeout`.
 *
 * Duplicati waits `run-script-timeout` (default 60 s) for a script. After that it logs a warning,
 * carries on with the operation while the script keeps running, and ignores everything the script
 * prints afterwards. For a BEFORE hook that is the worst case: the backup reads the work folder
 * while a dump is still being written. The budget warns early in the job log and can end the
 * work shortly before the deadline, so the hook still exits with a code Duplicati reads.
 *
 * @module
 */
import { TimeoutError } from '../core/errors.js';

/** A read-only view of the time left, handed to hook handlers as `ctx.budget`. */
export interface HookBudget {
  /** `run-script-timeout` in ms; `Infinity` when Duplicati waits forever. */
  readonly timeoutMs: number;
  /** Milliseconds since the hook process started (Duplicati's clock started slightly earlier). */
  elapsedMs(): number;
  /** Milliseconds until Duplicati stops waiting; `Infinity` without a timeout; never negative. */
  remainingMs(): number;
  /**
   * Write a `LOG:WARN` line now when `estimateMs` more work will likely not finish before
   * Duplicati stops waiting (keeping a safety margin). Returns true when it warned.
   */
  warnIfLikelyToExceed(estimateMs: number, what?: string): boolean;
}

/** Options of {@link createHookBudget}. */
export interface HookBudgetOptions {
  /** `run-script-timeout` in ms (`Infinity` for none). */
  readonly timeoutMs: number;
  /** Clock reading when Duplicati started the script (same clock as `now`). @default now() */
  readonly startedAt?: number;
  /** Millisecond clock. @default () => performance.timeOrigin + performance.now() */
  readonly now?: () => number;
  /** Writes one warning to the job log (a `LOG:WARN` line). */
  readonly warn: (message: string) => void;
  /** Fraction of the timeout after which a warning is logged. @default 0.8 */
  readonly warnAt?: number;
  /** Abort {@link ControlledHookBudget.signal} shortly before the deadline. @default false */
  readonly abortBeforeDeadline?: boolean;
}

/** A budget plus the controls its owner (the hook runtime) needs. */
export interface ControlledHookBudget extends HookBudget {
  /** Aborts with a {@link TimeoutError} at `abortAtMs` when `abortBeforeDeadline` is set; never otherwise. */
  readonly signal: AbortSignal;
  /** Elapsed time at which `signal` aborts (`Infinity` when it never does). */
  readonly abortAtMs: number;
  /** Start the near-deadline warning and abort timers. */
  start(): void;
  /** Run the timer checks now (the timers call this; tests call it with their own clock). */
  check(): void;
  /** Clear the timers. */
  stop(): void;
}

/**
 * Safety margin kept before Duplicati's deadline: time to stop a dump, clean up, print the last
 * lines and exit. 10 % of the timeout, between 0.5 s and 5 s.
 */
export function deadlineMarginMs(timeoutMs: number): number {
  if (!Number.isFinite(timeoutMs)) return 0;
  return Math.min(5_000, Math.max(500, Math.round(timeoutMs * 0.1)));
}

/**
 * Format milliseconds as a Duplicati timespan, rounded up to whole minutes above 2 minutes:
 * `45000` → `45s`, `600000` → `10m`, `5400000` → `1h30m`.
 *
 * @example
 * ```ts
 * formatDuplicatiTimespan(90_000); // '90s'
 * ```
 */
export function formatDuplicatiTimespan(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return '0';
  const secs = Math.ceil(ms / 1000);
  if (secs <= 120) return `${secs}s`;
  const mins = Math.ceil(secs / 60);
  const h = Math.floor(mins / 60);
  const m = mins % 60;
  return h === 0 ? `${m}m` : m === 0 ? `${h}h` : `${h}h${m}m`;
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/** A generous timeout to suggest: the work's estimate plus half again, at least 5 minutes. */
function suggestion(totalMs: number): string {
  return formatDuplicatiTimespan(Math.max(300_000, totalMs * 1.5));
}

/**
 * Create the budget of one hook run.
 *
 * @example
 * ```ts
 * const budget = createHookBudget({ timeoutMs: 60_000, warn: (m) => out.warn(m), abortBeforeDeadline: true });
 * budget.start();
 * budget.warnIfLikelyToExceed(120_000, 'the database dump');
 * budget.stop();
 * ```
 */
export function createHookBudget(options: HookBudgetOptions): ControlledHookBudget {
  const now = options.now ?? (() => performance.timeOrigin + performance.now());
  const startedAt = options.startedAt ?? now();
  const timeoutMs = options.timeoutMs;
  const limited = Number.isFinite(timeoutMs) && timeoutMs > 0;
  const warnAtMs = limited ? timeoutMs * (options.warnAt ?? 0.8) : Number.POSITIVE_INFINITY;
  const abortAtMs =
    limited && options.abortBeforeDeadline ? timeoutMs - deadlineMarginMs(timeoutMs) : Number.POSITIVE_INFINITY;
  const controller = new AbortController();
  const timers: NodeJS.Timeout[] = [];
  let warned = false;
  const timeoutText = limited ? formatDuplicatiTimespan(timeoutMs) : 'none';

  const elapsedMs = (): number => Math.max(0, now() - startedAt);
  const remainingMs = (): number => (limited ? Math.max(0, timeoutMs - elapsedMs()) : Number.POSITIVE_INFINITY);

  const budget: ControlledHookBudget = {
    timeoutMs: limited ? timeoutMs : Number.POSITIVE_INFINITY,
    signal: controller.signal,
    abortAtMs,
    elapsedMs,
    remainingMs,
    warnIfLikelyToExceed(estimateMs: number, what = 'the remaining work'): boolean {
      if (!limited) return false;
      const usable = remainingMs() - deadlineMarginMs(timeoutMs);
      if (estimateMs <= usable) return false;
      options.warn(
        `${what} is expected to take about ${seconds(estimateMs)} but only ${seconds(Math.max(0, usable))} ` +
          `remain before --run-script-timeout=${timeoutText}; raise --run-script-timeout ` +
          `(e.g. --run-script-timeout=${suggestion(elapsedMs() + estimateMs)})`,
      );
      return true;
    },
    check(): void {
      const elapsed = elapsedMs();
      if (!warned && elapsed >= warnAtMs) {
        warned = true;
        options.warn(
          `the hook has used ${seconds(elapsed)} of --run-script-timeout=${timeoutText}; Duplicati stops waiting at ` +
            `${timeoutText} and ignores later output: raise --run-script-timeout (e.g. --run-script-timeout=${suggestion(timeoutMs)})`,
        );
      }
      if (!controller.signal.aborted && elapsed >= abortAtMs) {
        controller.abort(
          new TimeoutError(
            `stopped ${seconds(timeoutMs - elapsed)} before --run-script-timeout=${timeoutText} so Duplicati still reads ` +
              `the outcome; raise --run-script-timeout (e.g. --run-script-timeout=${suggestion(timeoutMs)})`,
            timeoutMs,
          ),
        );
      }
    },
    start(): void {
      for (const at of [warnAtMs, abortAtMs]) {
        if (!Number.isFinite(at)) continue;
        // Kept referenced: a handler waiting on nothing must still be stopped at the deadline
        // rather than let the process drain and exit. stop() clears them.
        timers.push(setTimeout(() => budget.check(), Math.max(0, at - elapsedMs())));
      }
      budget.check();
    },
    stop(): void {
      for (const t of timers.splice(0)) clearTimeout(t);
    },
  };
  return budget;
}
