/**
 * Spawning the engines' client tools (pg_dump, mariadb-dump, mongodump…): argument arrays, secrets
 * through the environment, stdout streamed, stderr kept as a bounded tail, abort honoured.
 *
 * @module
 */
import type { ResultPromise } from 'execa';
import { loadExeca } from '../../core/execa.js';

/** A command line ready for execa: file, argument array and the extra environment. */
export interface ToolCommand {
  readonly file: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/** A running client tool and the tail of what it wrote to stderr. */
export interface SpawnedTool {
  readonly child: ResultPromise<{ buffer: false; reject: false; stderr: 'pipe' }>;
  /** The last few kilobytes of stderr (not yet redacted). */
  stderrTail(): string;
}

/**
 * Start a client tool without buffering its output: stdout is streamed by the caller, stderr is
 * kept as a bounded tail for error messages. A caller's abort kills it (SIGKILL 5 s later).
 */
export async function spawnTool(
  cmd: ToolCommand,
  stdio: { readonly stdin: 'pipe' | 'ignore'; readonly stdout: 'pipe' | 'ignore' },
  signal: AbortSignal | undefined,
): Promise<SpawnedTool> {
  const child = (await loadExeca())(cmd.file, cmd.args, {
    env: cmd.env,
    stdin: stdio.stdin,
    stdout: stdio.stdout,
    stderr: 'pipe',
    buffer: false,
    reject: false,
    forceKillAfterDelay: 5000,
    ...(signal ? { cancelSignal: signal } : {}),
  }) as unknown as SpawnedTool['child'];
  let tail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    tail = (tail + d).slice(-8000);
  });
  return { child, stderrTail: () => tail };
}
