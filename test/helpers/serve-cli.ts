import { PassThrough } from 'node:stream';
import { loadCommands } from '../../src/cli/commands/index.js';
import { runCli } from '../../src/cli/run.js';

/** A `duplicati-kit serve` running in this process (from the sources), stopped by `stop()`. */
export interface ServeRun {
  readonly url: string;
  readonly stderr: () => string;
  stop(): Promise<number>;
}

/** Run a CLI command in-process; resolves with its exit code and output. */
export async function cli(
  args: string[],
  env: Record<string, string>,
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  err.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const code = await runCli(args, loadCommands, {
    stdout: out,
    stderr: err,
    env: { DUPLICATI_KIT_SILENT: '1', ...env },
    cwd,
    signal: new AbortController().signal,
    interactive: false,
  });
  return { code, stdout, stderr };
}

/** Start `serve` in-process and wait for the line naming its URL. */
export async function startServe(args: string[], env: Record<string, string>, cwd: string): Promise<ServeRun> {
  const err = new PassThrough();
  let stderr = '';
  const ac = new AbortController();
  const seen = new Promise<string>((resolve) => {
    err.on('data', (c: Buffer) => {
      stderr += c.toString();
      const m = /dashboard on (http:\/\/\S+?)\/? /.exec(stderr);
      if (m?.[1]) resolve(m[1]);
    });
  });
  const done = runCli(['serve', '--port', '0', ...args], loadCommands, {
    stdout: new PassThrough(),
    stderr: err,
    env: { DUPLICATI_KIT_SILENT: '1', ...env },
    cwd,
    signal: ac.signal,
    interactive: false,
  });
  const url = await Promise.race([
    seen,
    done.then((code) => Promise.reject(new Error(`serve exited ${code}: ${stderr}`))),
  ]);
  return {
    url,
    stderr: () => stderr,
    async stop() {
      ac.abort();
      return done;
    },
  };
}

/** Wait until the dashboard has data (its API answers 200). */
export async function whenReady(url: string, headers: Record<string, string> = {}): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const r = await fetch(`${url}/api/overview`, { headers });
    await r.arrayBuffer();
    if (r.status === 200) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error('the dashboard never got data');
}
