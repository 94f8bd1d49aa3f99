import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { requireBuiltCli, runCli } from '../../helpers/cli.js';

// The installed command runs its bundle with V8's code cache (src/cli/launch.ts). Whatever the
// cache holds, the command's result must be the one it gives without it.

let cache: string;
beforeEach(() => {
  cache = mkdtempSync(path.join(tmpdir(), 'dk-cli-cache-'));
});
afterEach(() => rmSync(cache, { recursive: true, force: true }));

const env = (mode = 'debug') => ({ XDG_CACHE_HOME: cache, DUPLICATI_KIT_CODE_CACHE: mode });
const folder = () => path.join(cache, 'duplicati-kit', 'v8');

describe('the CLI code cache', () => {
  it('is stored at the first start of a command and used at the next; a damaged one is replaced', async () => {
    requireBuiltCli();
    const first = await runCli(['--version'], { env: env() });
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/code cache absent; stored .*-_\.bin/);
    const [file] = readdirSync(folder());
    expect(file).toMatch(/-_\.bin$/);
    const cached = path.join(folder(), file as string);
    expect(statSync(cached).mode & 0o777).toBe(0o600);
    expect(statSync(folder()).mode & 0o777).toBe(0o700);

    const second = await runCli(['--version'], { env: env() });
    expect(second).toEqual({ code: 0, stdout: first.stdout, stderr: expect.stringMatching(/code cache accepted /) });

    // Another command has its own file.
    const help = await runCli(['prepare', '--help'], { env: env() });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/prepare/);
    const files = readdirSync(folder());
    expect(files).toHaveLength(2);
    expect(files).toContain(file);
    expect(files.find((f) => f !== file)).toMatch(/-prepare\.bin$/);

    // Garbage where the bytecode was: V8 rejects it, the command runs as without a cache, and the
    // file is written again.
    writeFileSync(cached, Buffer.alloc(4096, 0x5a), { mode: 0o600 });
    const damaged = await runCli(['--version'], { env: env() });
    expect(damaged.code).toBe(0);
    expect(damaged.stdout).toBe(first.stdout);
    expect(damaged.stderr).toMatch(/code cache rejected; stored /);
    expect((await runCli(['--version'], { env: env() })).stderr).toMatch(/code cache accepted /);
  });

  it('gives the same result as a start without it, and writes nothing when turned off', async () => {
    requireBuiltCli();
    const off = await runCli(['nosuchcommand'], { env: env('off') });
    expect(readdirSync(cache)).toEqual([]);
    await runCli(['nosuchcommand'], { env: env('on') });
    const on = await runCli(['nosuchcommand'], { env: env('on') });
    expect(off.code).not.toBe(0);
    expect(on).toEqual(off);
    expect(readdirSync(folder())).toHaveLength(1);
  });

  it('leaves a cache folder that others may write alone', async () => {
    requireBuiltCli();
    await runCli(['--version'], { env: env() });
    chmodSync(folder(), 0o777);
    const run = await runCli(['--version'], { env: env() });
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/code cache absent; not stored /);
    chmodSync(folder(), 0o700);
  });
});
