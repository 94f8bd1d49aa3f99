/**
 * Spawning the engines' client tools (pg_dump, mariadb-dump, mongodump…): argument arrays, secrets
 * through the environment, stdout streamed, stderr kept as a bounded tail, abort honoured.
 *
 * @module
 */
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { type ChildExit, type RunningChild, startChild } from '../../core/child.js';

/** A command line: file, argument array and the environment added to this process's. */
export interface ToolCommand {
  readonly file: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/** A running client tool and the tail of what it wrote to stderr. */
export interface SpawnedTool {
  readonly child: RunningChild;
  /** The last few kilobytes of stderr (not yet redacted). */
  stderrTail(): string;
}

/**
 * Start a client tool without buffering its output: stdout is streamed by the caller, stderr is
 * kept as a bounded tail for error messages. A caller's abort kills it (SIGKILL 5 s later).
 */
export function spawnTool(
  cmd: ToolCommand,
  stdio: { readonly stdin: 'pipe' | 'ignore'; readonly stdout: 'pipe' | 'ignore' | number },
  signal: AbortSignal | undefined,
): SpawnedTool {
  const child = startChild(cmd.file, cmd.args, {
    env: cmd.env,
    stdin: stdio.stdin,
    stdout: stdio.stdout,
    stderr: 'pipe',
    ...(signal ? { signal } : {}),
  });
  let tail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    tail = (tail + d).slice(-8000);
  });
  return { child, stderrTail: () => tail };
}

/** Exit codes of a command wrapper (`stdbuf`, `env`, `nice`) that could not run its command. */
const WRAPPER_FAILED = new Set([125, 126, 127]);

/** Whether `exit` is that of a wrapper that could not run its command (or was not there to start). */
export function wrapperCouldNotRun(exit: ChildExit): boolean {
  return exit.spawnError !== undefined || WRAPPER_FAILED.has(exit.exitCode ?? -1);
}

/**
 * {@link spawnTool} with stdout piped, for a command behind a wrapper (`stdbuf`) that may not run
 * here: when the wrapper exits as one that could not run its command before writing a byte,
 * `fallback` (the command alone) is started instead and `onFallback` hears of it. Waits only for
 * the first output or the exit, whichever comes first; the output stays unread for the caller.
 */
export async function spawnWithFallback(
  cmd: ToolCommand,
  fallback: ToolCommand | undefined,
  signal: AbortSignal,
  onFallback?: (exit: ChildExit, stderrTail: string) => void,
): Promise<SpawnedTool> {
  const first = spawnTool(cmd, { stdin: 'ignore', stdout: 'pipe' }, signal);
  if (!fallback) return first;
  const stdout: Readable | null = first.child.stdout;
  const wrote = (): boolean => (stdout?.readableLength ?? 0) > 0;
  if (stdout) {
    const stop = new AbortController();
    // 'readable' comes with the first bytes, or at the end when there are none.
    const readable = once(stdout, 'readable', { signal: stop.signal }).catch(() => undefined);
    await Promise.race([readable, first.child]);
    stop.abort();
  }
  if (wrote() || signal.aborted) return first;
  const exit = await first.child;
  if (wrote() || signal.aborted || !wrapperCouldNotRun(exit)) return first;
  onFallback?.(exit, first.stderrTail());
  return spawnTool(fallback, { stdin: 'ignore', stdout: 'pipe' }, signal);
}
