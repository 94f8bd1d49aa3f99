import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHookEnv, type HookEnvOptions } from '../../../src/testing/hook-env.js';
import { tempDir } from '../../helpers/context.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const FIXTURE = path.join(here, 'fixtures/hook.mjs');
const RESULTS = path.join(here, 'fixtures/results');

let dir: string;
let cleanup: () => Promise<void>;
let n = 0;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('dk-hook-proc-'));
});
afterAll(async () => cleanup());

interface Spawned {
  code: number | undefined;
  stdout: string[];
  stderr: string;
  ranHandler: boolean;
}

/** Start the fixture the way Duplicati starts a script: no arguments, its environment, inherited cwd. */
function start(mode: string, envOptions: HookEnvOptions, extra: Record<string, string> = {}) {
  const marker = path.join(dir, `marker-${n++}`);
  const env = buildHookEnv({
    ...envOptions,
    base: { PATH: process.env['PATH'], HOOK_TEST_MODE: mode, HOOK_TEST_MARKER: marker, ...extra },
  });
  const child = execa(process.execPath, ['--import', 'tsx', FIXTURE], {
    env,
    extendEnv: false,
    cwd: root,
    reject: false,
    stdin: 'ignore',
  });
  const done = child.then(
    (r): Spawned => ({
      code: r.exitCode,
      stdout: String(r.stdout)
        .split('\n')
        .filter((l) => l !== ''),
      stderr: String(r.stderr),
      ranHandler: existsSync(marker),
    }),
  );
  return { child, done };
}

const spawnHook = (mode: string, envOptions: HookEnvOptions, extra?: Record<string, string>) =>
  start(mode, envOptions, extra).done;

/** Run an AFTER hook that reports what it parsed as one `LOG:INFO summary {json}` line. */
async function summaryOf(envOptions: Omit<HookEnvOptions, 'event'>, extra?: Record<string, string>) {
  const r = await spawnHook('summary', { event: 'AFTER', ...envOptions }, extra);
  expect(r.code).toBe(0);
  expect(r.stdout).toHaveLength(1);
  return JSON.parse((r.stdout[0] ?? '').replace(/^LOG:INFO summary /, '')) as Record<string, unknown>;
}

describe('a hook process started like Duplicati starts it', () => {
  // [mode, BEFORE, BEFORE required, AFTER]: the exit-code table of RunScript.cs as the runtime applies it.
  const table: [string, number, number, number][] = [
    ['ok', 0, 0, 0],
    ['warning', 2, 0, 2],
    ['skip', 1, 1, 0],
    ['skip-warning', 3, 1, 2],
    ['continue-error', 4, 0, 5],
    ['dump-error', 5, 5, 5],
    ['locked', 3, 1, 2],
  ];

  it.concurrent.each(table)('%s: BEFORE %i, BEFORE required %i, AFTER %i', async (mode, before, required, after) => {
    const [b, r, a] = await Promise.all([
      spawnHook(mode, { event: 'BEFORE' }),
      spawnHook(mode, { event: 'BEFORE', required: true }),
      spawnHook(mode, { event: 'AFTER', parsedResult: 'Success' }),
    ]);
    expect([b.code, r.code, a.code]).toEqual([before, required, after]);
    expect(b.ranHandler && r.ranHandler && a.ranHandler).toBe(true);
    // Exit codes 0 and 1 of a non-required script must leave stderr empty, or Duplicati logs a warning.
    if (before <= 1) expect(b.stderr).toBe('');
    else expect(b.stderr.trim()).not.toBe('');
    // A required script's warning or continuable error is stderr with exit 0 (2.0.x reads no LOG: lines).
    if (required === 0) expect(r.stderr === '').toBe(mode === 'ok');
  });

  it.concurrent('a failed dump stops the backup with a reason Duplicati puts in its exit-code message', async () => {
    const r = await spawnHook('dump-error', { event: 'BEFORE' });
    expect(r.code).toBe(5);
    expect(r.stderr).toBe('failed, operation stopped: pg_dump exited with code 1: connection refused');
    expect(r.stdout).toEqual([]);
  });

  it.concurrent.each(['List', 'ListFilesets', 'ListFolder', 'ListFileVersions', 'SearchFiles', 'Repair', 'Test'])(
    'exits 0 without running the handler for %s',
    async (operation) => {
      const r = await spawnHook('dump-error', { event: 'BEFORE', operation });
      expect(r).toEqual({ code: 0, stdout: [], stderr: '', ranHandler: false });
    },
  );

  it.concurrent('acts on a restore operation when the hook lists it', async () => {
    const summary = await summaryOf(
      { operation: 'Restore', resultFile: path.join(RESULTS, 'restore-success.txt') },
      { HOOK_TEST_OPERATIONS: 'Backup,Restore' },
    );
    expect(summary).toMatchObject({
      parsedResult: 'Success',
      format: 'Duplicati',
      fileResult: 'Success',
      durationMs: 65_002,
    });
  });

  it.concurrent('writes option and localpath lines on stdout for a BEFORE backup', async () => {
    const r = await spawnHook('options', { event: 'BEFORE' });
    expect(r.code).toBe(0);
    expect(r.stdout).toEqual([
      '--localpath=/srv/backup/staging:/srv/immich/library',
      '--dblock-size=25mb',
      '--exclude-files-attributes=" system "',
    ]);
    expect(r.stderr).toBe('');
  });

  it.concurrent('turns log calls into lines, one per message, secrets masked, debug dropped', async () => {
    const r = await spawnHook('log', { event: 'BEFORE', options: { passphrase: 'family-secret-42' } });
    expect(r.code).toBe(0);
    expect(r.stdout).toEqual(['LOG:INFO dumped immich bytes=1048576']);
    expect(r.stderr).toBe('warning: slow disk | at ***');
  });

  it.concurrent('parses a Duplicati-format result file in AFTER', async () => {
    const summary = await summaryOf({
      parsedResult: 'Warning',
      backupId: '3',
      resultFile: path.join(RESULTS, 'backup-warning.txt'),
    });
    expect(summary).toEqual({
      parsedResult: 'Warning',
      format: 'Duplicati',
      fileResult: 'Warning',
      warnings: 1,
      errors: 0,
      durationMs: 762_441,
      log: ['Warning:Failed to process path: /srv/immich/library/upload/IMG_2041.HEIC'],
      backupId: '3',
    });
  });

  it.concurrent('parses a Json-format result file in AFTER, exception included', async () => {
    const summary = await summaryOf({
      parsedResult: 'Fatal',
      resultFile: path.join(RESULTS, 'backup-fatal.json'),
      options: { 'run-script-result-output-format': 'Json' },
    });
    expect(summary).toMatchObject({
      parsedResult: 'Fatal',
      format: 'Json',
      fileResult: 'Fatal',
      errors: 1,
      exception: 'Found 2 files that are missing from the remote storage, please run repair',
      log: ['Error:Fatal error'],
    });
  });

  it.concurrent('stops a BEFORE hook before run-script-timeout runs out and exits 5 with advice', async () => {
    const r = await spawnHook('wait', { event: 'BEFORE', timeout: '1s' });
    expect(r.code).toBe(5);
    // A slow start (cold cache, loaded machine) may already be past the 80 % warning.
    expect(r.stdout).toContain('LOG:INFO waiting');
    expect(r.stderr).toMatch(/before --run-script-timeout=1s.*raise --run-script-timeout/);
  });

  it.concurrent('exits 5 on SIGTERM during BEFORE', async () => {
    const { child, done } = start('wait', { event: 'BEFORE', timeout: '0' });
    await new Promise<void>((resolve) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('LOG:INFO waiting')) resolve();
      });
    });
    child.kill('SIGTERM');
    const r = await done;
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/interrupted/);
  });

  it.concurrent('exits 5, not Node’s 1 (which Duplicati reads as a graceful skip), on a crash', async () => {
    const r = await spawnHook('crash', { event: 'BEFORE', timeout: '0' });
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/hook crashed: Error: crash outside the handler/);
  });

  it.concurrent('exits 5, not 0, when the handler awaits something that never settles', async () => {
    const r = await spawnHook('never-settles', { event: 'BEFORE', timeout: '0' });
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/hook ended before its handler finished/);
  });

  it.concurrent('run by hand without a Duplicati environment, main() says why and exits 5', async () => {
    const child = await execa(process.execPath, ['--import', 'tsx', FIXTURE], {
      env: { PATH: process.env['PATH'], HOOK_TEST_EXPLICIT_MAIN: '1' },
      extendEnv: false,
      cwd: root,
      reject: false,
    });
    expect(child.exitCode).toBe(5);
    expect(String(child.stderr)).toMatch(/DUPLICATI__EVENTNAME is not set/);
  });
});
