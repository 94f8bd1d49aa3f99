import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

  it('keeps one cache per config file, so each config starts from the code it runs', async () => {
    requireBuiltCli();
    const configs = ['a', 'b'].map((n) => {
      const src = path.join(cache, `src-${n}`);
      mkdirSync(src);
      writeFileSync(path.join(src, 'f.txt'), n);
      const file = path.join(cache, `${n}.yaml`);
      writeFileSync(
        file,
        `workDir: ${path.join(cache, `work-${n}`)}\nsources:\n  - { type: directory, name: files, paths: [${src}] }\n`,
      );
      return file;
    });
    const stored = /code cache absent; stored (\S+)/;
    const a = await runCli(['prepare', '--dry-run', '--config', configs[0] as string], { env: env() });
    const b = await runCli(['prepare', '--dry-run', `--config=${configs[1]}`], { env: env() });
    expect([a.code, b.code]).toEqual([0, 0]);
    const fileA = stored.exec(a.stderr)?.[1];
    const fileB = stored.exec(b.stderr)?.[1];
    expect(fileA).toMatch(/-prepare-[0-9a-f]{8}\.bin$/);
    expect(fileB).toMatch(/-prepare-[0-9a-f]{8}\.bin$/);
    expect(fileB).not.toBe(fileA);
    const again = await runCli(['prepare', '--dry-run', '-c', configs[0] as string], { env: env() });
    expect(again.stderr).toContain(`code cache accepted ${fileA}`);
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
