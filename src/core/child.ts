/**
 * Child processes on `node:child_process`: an argument array (never a shell), the environment
 * extended rather than replaced, abort and timeout kill the child (SIGTERM, then SIGKILL after a
 * grace period), and a spawn failure (a missing binary) is a result, not an exception.
 *
 * This replaces execa in the library: execa is ~250 KB of JavaScript that every command spawning a
 * tool (a PostgreSQL dump, a restore) compiled at start, ~30 ms of a half-second backup.
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

/** How a child process ended. */
export interface ChildExit {
  /** The exit code, or undefined when it was killed by a signal or never started. */
  readonly exitCode: number | undefined;
  /** The signal that ended it, if any. */
  readonly signal: NodeJS.Signals | undefined;
  /** Not a clean exit 0: a non-zero code, a signal, a timeout, a cancel or a spawn failure. */
  readonly failed: boolean;
  /** It was killed because `timeoutMs` passed. */
  readonly timedOut: boolean;
  /** It was killed because the caller's signal aborted. */
  readonly canceled: boolean;
  /** Why it could not be started (ENOENT, EACCES…), when it could not. */
  readonly spawnError: Error | undefined;
}

/** What {@link startChild} returns: the process's pipes, `kill`, and a promise of its exit. */
export interface RunningChild extends PromiseLike<ChildExit> {
  readonly pid: number | undefined;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** Send `signal` (SIGTERM by default); SIGKILL follows after the grace period if it still runs. */
  kill(signal?: NodeJS.Signals): boolean;
}

/** Options of {@link startChild}. */
export interface StartChildOptions {
  /** Added to (not replacing) this process's environment. */
  readonly env?: Readonly<Record<string, string>>;
  readonly stdin?: 'pipe' | 'ignore';
  /** A number is a file descriptor of this process the child writes to (a file it fills). */
  readonly stdout?: 'pipe' | 'ignore' | number;
  readonly stderr?: 'pipe' | 'ignore';
  /** Aborting kills the child. */
  readonly signal?: AbortSignal;
  /** Kill the child after this many milliseconds. */
  readonly timeoutMs?: number;
  /** Milliseconds between SIGTERM and SIGKILL (default 5 000). */
  readonly forceKillAfterMs?: number;
}

/**
 * Start `file` with `args`. The returned object is awaitable: it resolves (never rejects) once the
 * process has exited and its stderr, when piped, has been read to its end — so a caller that keeps
 * a stderr tail sees all of it. stdout is the caller's to read; stdin errors (EPIPE from a child
 * that exited early) are absorbed, the caller sees them through its own pipeline or the exit code.
 */
export function startChild(file: string, args: readonly string[], options: StartChildOptions = {}): RunningChild {
  const { signal, timeoutMs, forceKillAfterMs = 5000 } = options;
  let timedOut = false;
  let canceled = false;
  let spawnError: Error | undefined;
  let exited = false;
  let forceTimer: NodeJS.Timeout | undefined;
  let timeoutTimer: NodeJS.Timeout | undefined;

  let child: ChildProcess | undefined;
  try {
    child = spawn(file, [...args], {
      env: options.env ? { ...process.env, ...options.env } : process.env,
      stdio: [options.stdin ?? 'ignore', options.stdout ?? 'pipe', options.stderr ?? 'pipe'],
      windowsHide: true,
    });
  } catch (e) {
    // Synchronous failures (an argument with a NUL byte, an invalid option).
    spawnError = e as Error;
  }

  const kill = (sig: NodeJS.Signals = 'SIGTERM'): boolean => {
    if (!child || exited) return false;
    const sent = child.kill(sig);
    if (sig !== 'SIGKILL' && forceTimer === undefined) {
      forceTimer = setTimeout(() => {
        if (!exited) child?.kill('SIGKILL');
      }, forceKillAfterMs);
      forceTimer.unref();
    }
    return sent;
  };
  const onAbort = (): void => {
    canceled = true;
    kill();
  };

  const done = new Promise<ChildExit>((resolve) => {
    const finish = (code: number | null, sig: NodeJS.Signals | null): void => {
      signal?.removeEventListener('abort', onAbort);
      if (timeoutTimer) clearTimeout(timeoutTimer);
      if (forceTimer) clearTimeout(forceTimer);
      const exitCode = code ?? undefined;
      resolve({
        exitCode,
        signal: sig ?? undefined,
        failed: spawnError !== undefined || exitCode !== 0 || timedOut || canceled,
        timedOut,
        canceled,
        spawnError,
      });
    };
    if (!child) {
      finish(null, null);
      return;
    }
    const c = child;
    c.stdin?.on('error', () => {});
    // Read stderr to its end even when no caller listens (its 'close' ends the wait below); a caller
    // attaching its own 'data' listener right after start still sees every chunk.
    c.stderr?.resume();
    let exit: [number | null, NodeJS.Signals | null] | undefined;
    let stderrDone = c.stderr === null;
    const settle = (): void => {
      if (exit && stderrDone) finish(exit[0], exit[1]);
    };
    c.stderr?.once('close', () => {
      stderrDone = true;
      settle();
    });
    c.once('error', (e) => {
      // Only a failure to start matters here; a failed kill of a live process is not an exit.
      if (c.pid !== undefined) return;
      spawnError = e;
      exited = true;
      exit = [null, null];
      stderrDone = true;
      settle();
    });
    c.once('exit', (code, sig) => {
      exited = true;
      exit = [code, sig];
      settle();
    });
  });

  if (child && child.pid !== undefined) {
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    if (timeoutMs !== undefined && timeoutMs > 0) {
      timeoutTimer = setTimeout(() => {
        timedOut = true;
        kill();
      }, timeoutMs);
      timeoutTimer.unref();
    }
  }

  return {
    pid: child?.pid,
    stdin: child?.stdin ?? null,
    stdout: child?.stdout ?? null,
    stderr: child?.stderr ?? null,
    kill,
    // biome-ignore lint/suspicious/noThenProperty: an awaitable child is the point of this object
    then: (onFulfilled, onRejected) => done.then(onFulfilled, onRejected),
  };
}

/** Options of {@link runChild}. */
export interface RunChildOptions {
  readonly env?: Readonly<Record<string, string>>;
  /** Written to the child's stdin, which is then closed (stdin is ignored without it). */
  readonly input?: string;
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
  /** Bytes kept of each of stdout and stderr (default 16 MiB); the rest is dropped and flagged. */
  readonly maxBuffer?: number;
}

/** What {@link runChild} returns: the exit and the captured output, final newline stripped. */
export interface ChildOutput extends ChildExit {
  readonly stdout: string;
  readonly stderr: string;
  /** stdout or stderr passed `maxBuffer` (and was cut there). */
  readonly truncated: boolean;
}

/**
 * Run `file` to its end and capture its output (bounded by `maxBuffer`), for short commands: a
 * `--version` probe, a config test, a batch query.
 */
export async function runChild(
  file: string,
  args: readonly string[],
  options: RunChildOptions = {},
): Promise<ChildOutput> {
  const max = options.maxBuffer ?? 16 << 20;
  const child = startChild(file, args, {
    ...(options.env ? { env: options.env } : {}),
    stdin: options.input !== undefined ? 'pipe' : 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
  });
  let truncated = false;
  const collect = (stream: Readable | null): Promise<string> =>
    new Promise((resolve) => {
      if (!stream) return resolve('');
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (c: Buffer) => {
        if (size >= max) {
          truncated = true;
          return;
        }
        const take = c.length > max - size ? c.subarray(0, max - size) : c;
        if (take.length < c.length) truncated = true;
        chunks.push(take);
        size += take.length;
      });
      stream.on('error', () => resolve(Buffer.concat(chunks).toString('utf8')));
      stream.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
  const out = collect(child.stdout);
  const err = collect(child.stderr);
  if (options.input !== undefined) {
    child.stdin?.write(options.input);
    child.stdin?.end();
  }
  const [exit, stdout, stderr] = await Promise.all([child, out, err]);
  const strip = (s: string): string => s.replace(/\r?\n$/, '');
  return { ...exit, stdout: strip(stdout), stderr: strip(stderr), truncated };
}
