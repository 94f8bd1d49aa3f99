/**
 * The built CLI run the way Duplicati runs a hook: environment only, no arguments but the command,
 * inherited cwd. Concurrency and crash recovery across real processes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readManifest } from '../../../src/core/manifest.js';
import { buildHookEnv, buildResultFile } from '../../../src/testing/hook-env.js';
import { CLI, requireBuiltCli, runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/context.js';

let dir: string;
let cleanup: () => Promise<void>;
const children: ChildProcess[] = [];
beforeAll(() => requireBuiltCli());
beforeEach(async () => ({ dir, cleanup } = await tempDir('dk-hook-cli-')));
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await cleanup();
});

/**
 * A config whose one source writes an artifact, then (when `gate` is given) announces itself by
 * creating `<gate>.started` and waits until `<gate>.go` exists — a dump that is still running.
 */
async function writeConfig(gate?: string): Promise<string> {
  const file = path.join(dir, 'duplicati-kit.config.mjs');
  await fsp.writeFile(
    file,
    `import { existsSync, writeFileSync } from 'node:fs';
const gate = ${JSON.stringify(gate ?? null)};
export default {
  workDir: ${JSON.stringify(path.join(dir, 'staging'))},
  sources: [{
    name: 'db', kind: 'test',
    async prepare(ctx) {
      const ref = await ctx.artifacts.write('dump.sql', ['select 1;\\n'], { format: 'sql', signal: ctx.signal });
      if (gate) {
        writeFileSync(gate + '.started', String(process.pid));
        while (!existsSync(gate + '.go')) await new Promise((r) => setTimeout(r, 20));
      }
      return { artifacts: [ref], metadata: { rows: 1 } };
    },
  }],
  localCopies: { dir: ${JSON.stringify(path.join(dir, 'copies'))}, keep: { keepLast: 2 } },
};
`,
  );
  return file;
}

function hookEnv(event: 'BEFORE' | 'AFTER', extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...buildHookEnv({
      event,
      operation: 'Backup',
      backupName: 'Immich database',
      localPaths: [path.join(dir, 'staging')],
      timeout: '5m',
    }),
    ...extra,
  };
}

async function waitFor(file: string): Promise<void> {
  for (let i = 0; i < 1500 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 20));
  expect(existsSync(file)).toBe(true);
}

describe('duplicati-kit hook (built CLI, environment like Duplicati)', () => {
  it('BEFORE stages the plan, AFTER keeps a local copy and cleans up', async () => {
    const config = await writeConfig();
    const before = await runCli(['hook', '--config', config], { cwd: dir, env: hookEnv('BEFORE') });
    expect(before.stderr).toBe('');
    expect(before.code).toBe(0);
    expect((await readManifest(path.join(dir, 'staging'))).sources[0]?.name).toBe('db');
    const resultFile = path.join(dir, 'result.txt');
    await fsp.writeFile(resultFile, buildResultFile({ parsedResult: 'Success' }));
    const after = await runCli(['hook', '--config', config], {
      cwd: dir,
      env: hookEnv('AFTER', { DUPLICATI__PARSED_RESULT: 'Success', DUPLICATI__RESULTFILE: resultFile }),
    });
    expect(after.code).toBe(0);
    expect(existsSync(path.join(dir, 'staging', 'manifest.json'))).toBe(false);
    const copies = await fsp.readdir(path.join(dir, 'copies'));
    expect(copies).toHaveLength(1);
    expect((await readManifest(path.join(dir, 'copies', copies[0]!))).sources[0]?.artifacts[0]?.path).toBe(
      'db/dump.sql',
    );
  });

  it('a second BEFORE while the first is still dumping does not run the backup on a half-written folder', async () => {
    const gate = path.join(dir, 'gate');
    const config = await writeConfig(gate);
    const first = spawn(process.execPath, [CLI, 'hook', '--config', config], {
      cwd: dir,
      env: hookEnv('BEFORE'),
      stdio: 'ignore',
    });
    children.push(first);
    await waitFor(`${gate}.started`);
    const second = await runCli(['hook', '--config', config], { cwd: dir, env: hookEnv('BEFORE') });
    // LockedError: skip this run with a warning (3), never "run the backup" (0, 2, 4).
    expect(second.code).toBe(3);
    expect(second.stderr).toMatch(/locked/i);
    await fsp.writeFile(`${gate}.go`, '');
    const [code] = await once(first, 'exit');
    expect(code).toBe(0);
  });

  it('SIGKILL during BEFORE, then a new BEFORE takes over the lock and succeeds', async () => {
    const gate = path.join(dir, 'gate');
    const config = await writeConfig(gate);
    const first = spawn(process.execPath, [CLI, 'hook', '--config', config], {
      cwd: dir,
      env: hookEnv('BEFORE'),
      stdio: 'ignore',
    });
    children.push(first);
    await waitFor(`${gate}.started`);
    first.kill('SIGKILL');
    await once(first, 'exit');
    expect(existsSync(path.join(dir, 'staging', 'manifest.json'))).toBe(false);
    await fsp.writeFile(`${gate}.go`, '');
    const again = await runCli(['hook', '--config', config], { cwd: dir, env: hookEnv('BEFORE') });
    expect(again.code).toBe(0);
    // The plan's one source, and the recovery kit the CLI's hook adds to every backup.
    expect((await readManifest(path.join(dir, 'staging'))).sources.map((s) => s.name).sort()).toEqual([
      'db',
      'recovery',
    ]);
  });

  it('listings exit 0 without reading the config; a missing config stops a Backup', async () => {
    const missing = path.join(dir, 'nope.yaml');
    const listing = await runCli(['hook', '--config', missing], {
      cwd: dir,
      env: buildHookEnv({ event: 'BEFORE', operation: 'ListFilesets' }),
    });
    expect(listing).toMatchObject({ code: 0, stdout: '', stderr: '' });
    const backup = await runCli(['hook', '--config', missing], { cwd: dir, env: hookEnv('BEFORE') });
    expect(backup.code).toBe(5);
  });

  it('answers listings in the launcher, without loading the CLI; anything else still loads it', async () => {
    // With the code cache's debug line, every start that loads the bundle says so on stderr.
    const debug = { DUPLICATI_KIT_CODE_CACHE: 'debug' };
    const missing = path.join(dir, 'nope.yaml');
    for (const [event, operation] of [
      ['BEFORE', 'ListFilesets'],
      ['AFTER', 'ListFolder'],
      ['BEFORE', 'SearchFiles'],
    ] as const) {
      const r = await runCli(['hook', '--config', missing, '--log-file', path.join(dir, 'hook.log')], {
        cwd: dir,
        env: { ...buildHookEnv({ event, operation }), ...debug },
      });
      expect(r).toMatchObject({ code: 0, stdout: '', stderr: '' });
    }
    expect(existsSync(path.join(dir, 'hook.log'))).toBe(false);
    // The same listing with an option the launcher does not read goes through the CLI: same answer.
    const verbose = await runCli(['hook', '--verbose', '--config', missing], {
      cwd: dir,
      env: { ...buildHookEnv({ event: 'BEFORE', operation: 'ListFilesets' }), ...debug },
    });
    expect(verbose.code).toBe(0);
    expect(verbose.stderr).toMatch(/^duplicati-kit: code cache /);
    // Help is help, also under a listing's environment.
    const help = await runCli(['hook', '--help'], { env: buildHookEnv({ event: 'BEFORE', operation: 'List' }) });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('hook install');
    // A backup's hook loads the CLI and reports the missing config.
    const backup = await runCli(['hook', '--config', missing], { cwd: dir, env: { ...hookEnv('BEFORE'), ...debug } });
    expect(backup.code).toBe(5);
    expect(backup.stderr).toMatch(/code cache/);
  });
});
