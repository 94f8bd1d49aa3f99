import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArtifactWriter } from '../../../../src/core/artifact-writer.js';
import { toolIntoArtifact } from '../../../../src/engines/_shared/tool-file.js';

// Real processes write their stdout into the artifact file while it is read back behind them.

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'dk-tool-file-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const sh = (script: string) => ({ file: 'sh', args: ['-c', script], env: {} });
const ok = () => undefined;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('toolIntoArtifact', () => {
  it('hashes, observes and commits every byte of output that arrives in bursts with pauses', async () => {
    let written = 0;
    const writer = new ArtifactWriter(dir, 'src', {
      onBytes: (n) => {
        written += n;
      },
    });
    const seen: Buffer[] = [];
    let reported = 0;
    // 10 bursts of 700 KiB, 30 ms apart: the reader catches up and waits between them, and some
    // bursts straddle its 4 MiB reads.
    const script = 'i=0; while [ $i -lt 10 ]; do head -c 716800 /dev/urandom; sleep 0.03; i=$((i+1)); done; printf END';
    const ref = await toolIntoArtifact({
      cmd: sh(script),
      artifacts: writer,
      name: 'out.bin',
      format: 'bin',
      signal: new AbortController().signal,
      observe: (c) => seen.push(Buffer.from(c)),
      onBytes: (n) => {
        reported += n;
      },
      judge: ok,
    });
    const file = path.join(dir, 'src', 'out.bin');
    const bytes = readFileSync(file);
    expect(bytes.length).toBe(10 * 716800 + 3);
    expect(ref).toEqual({ path: 'src/out.bin', bytes: bytes.length, sha256: sha(bytes), format: 'bin' });
    expect(Buffer.concat(seen).equals(bytes)).toBe(true);
    expect(reported).toBe(bytes.length);
    expect(written).toBe(bytes.length);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(path.join(dir, 'src'))).toEqual(['out.bin']);
  });

  it('keeps a tool that writes nothing as an empty artifact, and output written in two bursts whole', async () => {
    const writer = new ArtifactWriter(dir, 'src');
    const run = async (script: string, name: string) => {
      const seen: Buffer[] = [];
      const ref = await toolIntoArtifact({
        cmd: sh(script),
        artifacts: writer,
        name,
        format: 'bin',
        signal: new AbortController().signal,
        observe: (c) => seen.push(Buffer.from(c)),
        judge: ok,
      });
      return { ref, seen: Buffer.concat(seen) };
    };
    const empty = await run('true', 'empty');
    expect(empty.ref.bytes).toBe(0);
    expect(empty.ref.sha256).toBe(sha(Buffer.alloc(0)));
    const short = await run('printf abc; sleep 0.02; printf def', 'short');
    expect(short.seen.toString()).toBe('abcdef');
    expect(short.ref.sha256).toBe(sha(Buffer.from('abcdef')));
  });

  it('removes the file when the judge refuses the exit, and passes it the stderr tail', async () => {
    const writer = new ArtifactWriter(dir, 'src');
    let judged: { code: number | null | undefined; tail: string } | undefined;
    await expect(
      toolIntoArtifact({
        cmd: sh('head -c 100000 /dev/zero; echo "tool: error: out of luck" >&2; exit 3'),
        artifacts: writer,
        name: 'out.bin',
        format: 'bin',
        signal: new AbortController().signal,
        judge: (exit, tail) => {
          judged = { code: exit.exitCode, tail };
          return exit.exitCode === 0 ? undefined : new Error(`failed with ${exit.exitCode}`);
        },
      }),
    ).rejects.toThrow('failed with 3');
    expect(judged).toEqual({ code: 3, tail: 'tool: error: out of luck\n' });
    expect(readdirSync(path.join(dir, 'src'))).toEqual([]);
  });

  it('kills the tool on an abort, removes the file and rethrows the reason', async () => {
    const writer = new ArtifactWriter(dir, 'src');
    const ctl = new AbortController();
    const marker = path.join(dir, 'still-running');
    setTimeout(() => ctl.abort(new Error('stop now')), 150);
    const started = Date.now();
    await expect(
      toolIntoArtifact({
        cmd: sh(`while true; do head -c 65536 /dev/zero; sleep 0.01; done; touch ${marker}`),
        artifacts: writer,
        name: 'out.bin',
        format: 'bin',
        signal: ctl.signal,
        judge: ok,
      }),
    ).rejects.toThrow('stop now');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(readdirSync(path.join(dir, 'src'))).toEqual([]);
    expect(existsSync(marker)).toBe(false);
  });

  it('kills the tool and removes the file when the observer fails', async () => {
    const writer = new ArtifactWriter(dir, 'src');
    await expect(
      toolIntoArtifact({
        cmd: sh('while true; do head -c 65536 /dev/zero; sleep 0.01; done'),
        artifacts: writer,
        name: 'out.bin',
        format: 'bin',
        signal: new AbortController().signal,
        observe: () => {
          throw new Error('observer broke');
        },
        judge: ok,
      }),
    ).rejects.toThrow('observer broke');
    expect(readdirSync(path.join(dir, 'src'))).toEqual([]);
  });

  it('fails a missing tool through the judge and leaves nothing behind', async () => {
    const writer = new ArtifactWriter(dir, 'src');
    await expect(
      toolIntoArtifact({
        cmd: { file: path.join(dir, 'no-such-tool'), args: [], env: {} },
        artifacts: writer,
        name: 'out.bin',
        format: 'bin',
        signal: new AbortController().signal,
        judge: (exit) => (exit.exitCode === 0 ? undefined : new Error(`exit ${exit.exitCode}`)),
      }),
    ).rejects.toThrow(/exit/);
    expect(readdirSync(path.join(dir, 'src'))).toEqual([]);
  });

  describe('a wrapper that cannot run its tool', () => {
    const judge = (exit: { exitCode: number | undefined }, tail: string) =>
      exit.exitCode === 0 ? undefined : new Error(`exit ${exit.exitCode}: ${tail.trim()}`);
    const run = async (cmd: ReturnType<typeof sh>, name: string) => {
      const heard: string[] = [];
      const writer = new ArtifactWriter(dir, 'src');
      const result = await toolIntoArtifact({
        cmd,
        fallback: sh('printf plain'),
        onFallback: (exit, tail) => heard.push(`${exit.exitCode ?? exit.spawnError?.message}|${tail.trim()}`),
        artifacts: writer,
        name,
        format: 'bin',
        signal: new AbortController().signal,
        judge,
      }).then(
        (ref) => ({ ref, error: undefined }),
        (error: Error) => ({ ref: undefined, error }),
      );
      return { ...result, heard, file: path.join(dir, 'src', name) };
    };

    it('runs the tool alone when the wrapper exits 125–127 having written nothing', async () => {
      for (const code of [125, 126, 127]) {
        const r = await run(sh(`echo "stdbuf: failed to find libstdbuf.so" >&2; exit ${code}`), `w${code}`);
        expect(r.error).toBeUndefined();
        expect(readFileSync(r.file, 'utf8')).toBe('plain');
        expect(r.ref?.sha256).toBe(sha(Buffer.from('plain')));
        expect(r.heard).toEqual([`${code}|stdbuf: failed to find libstdbuf.so`]);
      }
    });

    it('runs the tool alone when the wrapper does not exist', async () => {
      const r = await run({ file: path.join(dir, 'no-such-stdbuf'), args: [], env: {} }, 'missing');
      expect(r.error).toBeUndefined();
      expect(readFileSync(r.file, 'utf8')).toBe('plain');
      expect(r.heard).toHaveLength(1);
    });

    it('never runs it again after output, nor for the tool failing on its own (exit 1)', async () => {
      const wrote = await run(sh('printf half; exit 125'), 'wrote');
      expect(wrote.error?.message).toMatch(/exit 125/);
      expect(existsSync(wrote.file)).toBe(false);
      const failed = await run(sh('echo "pg_dump: error: no such database" >&2; exit 1'), 'failed');
      expect(failed.error?.message).toMatch(/exit 1: pg_dump: error: no such database/);
      expect(existsSync(failed.file)).toBe(false);
      expect([...wrote.heard, ...failed.heard]).toEqual([]);
    });
  });
});
