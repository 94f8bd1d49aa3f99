/**
 * Spawning the engines' client tools (pg_dump, mariadb-dump, mongodump…): argument arrays, secrets
 * through the environment, stdout streamed, stderr kept as a bounded tail, abort honoured.
 *
 * @module
 */
import { type RunningChild, startChild } from '../../core/child.js';

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
