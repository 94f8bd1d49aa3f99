import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type SpawnedTool, spawnWithFallback } from '../../../../src/engines/_shared/spawn.js';

// Real processes: a streamed tool behind a wrapper that may not run here (stdbuf without its library).

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'dk-spawn-fallback-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const sh = (script: string) => ({ file: 'sh', args: ['-c', script], env: {} });

async function drain(tool: SpawnedTool): Promise<{ out: string; code: number | undefined }> {
  const chunks: Buffer[] = [];
  for await (const c of tool.child.stdout as Readable) chunks.push(c as Buffer);
  const exit = await tool.child;
  return { out: Buffer.concat(chunks).toString('utf8'), code: exit.exitCode };
}

async function run(cmd: ReturnType<typeof sh>, signal = new AbortController().signal) {
  const heard: string[] = [];
  const tool = await spawnWithFallback(cmd, sh('printf plain'), signal, (exit, tail) =>
    heard.push(`${exit.exitCode ?? exit.spawnError?.message}|${tail.trim()}`),
  );
  return { ...(await drain(tool)), heard };
}

describe('spawnWithFallback', () => {
  it('streams the wrapped tool as it is when it runs, every byte of it', async () => {
    // Output in bursts with a pause after the first: the wait for it must not lose or reorder any.
    const r = await run(sh('printf one; sleep 0.05; head -c 300000 /dev/zero | tr "\\0" x; printf two'));
    expect(r.heard).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(`one${'x'.repeat(300000)}two`);
  });

  it('runs the tool alone when the wrapper exits 125–127 having written nothing', async () => {
    for (const code of [125, 126, 127]) {
      const r = await run(sh(`echo "stdbuf: failed to find libstdbuf.so" >&2; exit ${code}`));
      expect(r).toEqual({ out: 'plain', code: 0, heard: [`${code}|stdbuf: failed to find libstdbuf.so`] });
    }
  });

  it('runs the tool alone when the wrapper does not exist', async () => {
    const r = await run({ file: path.join(dir, 'no-such-stdbuf'), args: [], env: {} });
    expect(r.out).toBe('plain');
    expect(r.heard).toHaveLength(1);
  });

  it('never runs it again after output, nor for the tool failing on its own or writing nothing', async () => {
    expect(await run(sh('printf half; exit 125'))).toEqual({ out: 'half', code: 125, heard: [] });
    expect(await run(sh('echo "pg_dump: error: no such database" >&2; exit 1'))).toEqual({
      out: '',
      code: 1,
      heard: [],
    });
    expect(await run(sh('exit 0'))).toEqual({ out: '', code: 0, heard: [] });
  });

  it('an abort while it waits for the first output kills the tool and starts nothing else', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('stop')), 50);
    const started = Date.now();
    const heard: string[] = [];
    const tool = await spawnWithFallback(sh('exec sleep 5'), sh('printf plain'), ac.signal, () =>
      heard.push('fallback'),
    );
    const exit = await tool.child;
    expect(exit.canceled).toBe(true);
    expect(heard).toEqual([]);
    expect(Date.now() - started).toBeLessThan(4000);
  });
});
