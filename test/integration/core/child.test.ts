import { describe, expect, it } from 'vitest';
import { runChild, startChild } from '../../../src/core/child.js';

// Real processes (sh, cat): the wrapper that replaced execa in the library.

describe('startChild', () => {
  it('resolves with the exit code and reads stderr to its end after the exit', async () => {
    const child = startChild('sh', ['-c', 'head -c 300000 /dev/zero | tr "\\0" e >&2; exit 3'], { stdout: 'ignore' });
    let err = 0;
    child.stderr?.on('data', (d: Buffer) => {
      err += d.length;
    });
    const r = await child;
    expect(r).toMatchObject({ exitCode: 3, failed: true, canceled: false, timedOut: false, spawnError: undefined });
    expect(err).toBe(300000);
  });

  it('reports a missing binary as a spawn error, not an exception', async () => {
    const r = await startChild('/nonexistent/dk-no-such-tool', ['x'], { stdin: 'pipe' });
    expect(r.exitCode).toBeUndefined();
    expect(r.failed).toBe(true);
    expect((r.spawnError as NodeJS.ErrnoException | undefined)?.code).toBe('ENOENT');
  });

  it('kills on abort with SIGTERM, then SIGKILL for a process that ignores it', async () => {
    const ctl = new AbortController();
    const child = startChild('sh', ['-c', 'trap "" TERM; echo up; while :; do sleep 0.05; done'], {
      signal: ctl.signal,
      forceKillAfterMs: 300,
    });
    await new Promise<void>((resolve) => child.stdout?.once('data', () => resolve()));
    child.stdout?.resume();
    const t0 = performance.now();
    ctl.abort(new Error('stop'));
    const r = await child;
    expect(r.canceled).toBe(true);
    expect(r.signal).toBe('SIGKILL');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(250);
  });

  it('kills after timeoutMs and says so', async () => {
    const r = await startChild('sleep', ['10'], { timeoutMs: 100 });
    expect(r).toMatchObject({ timedOut: true, failed: true, signal: 'SIGTERM' });
  });

  it('adds env to the environment instead of replacing it', async () => {
    const r = await runChild('sh', ['-c', 'echo "$DK_CHILD_TEST:$PATH"'], { env: { DK_CHILD_TEST: 'yes' } });
    expect(r.stdout.startsWith('yes:')).toBe(true);
    expect(r.stdout.length).toBeGreaterThan('yes:'.length);
  });

  it('absorbs EPIPE on stdin when the child exits without reading', async () => {
    const child = startChild('true', [], { stdin: 'pipe' });
    const r = await child;
    child.stdin?.write(Buffer.alloc(1 << 20));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(r.exitCode).toBe(0);
  });
});

describe('runChild', () => {
  it('feeds input, captures stdout and stderr without the final newline', async () => {
    const r = await runChild('sh', ['-c', 'cat; echo oops >&2'], { input: 'hello\n' });
    expect(r).toMatchObject({ exitCode: 0, failed: false, stdout: 'hello', stderr: 'oops', truncated: false });
  });

  it('keeps at most maxBuffer bytes and flags the cut', async () => {
    const r = await runChild('sh', ['-c', 'head -c 100000 /dev/zero | tr "\\0" x'], { maxBuffer: 1000 });
    expect(r.stdout.length).toBe(1000);
    expect(r.truncated).toBe(true);
  });

  it('kills at once for a signal that aborted before the start', async () => {
    const r = await runChild('sleep', ['10'], { signal: AbortSignal.abort() });
    expect(r.canceled).toBe(true);
  });
});
