import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHookEnv, buildResultFile, type HookEnvOptions } from '../../../src/testing/hook-env.js';
import { tempDir } from '../../helpers/context.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const CLI = path.join(here, 'fixtures/cli-hook.mjs');

let dir: string;
let cleanup: () => Promise<void>;
let server: Server;
let webhookUrl: string;
const received: Record<string, unknown>[] = [];

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('dk-hook-cmd-'));
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      // Which test's config sent it: the webhook URL carries ?run=<setup name>.
      const run = new URL(req.url ?? '/', 'http://127.0.0.1').searchParams.get('run');
      received.push({ ...(JSON.parse(body) as Record<string, unknown>), run });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  webhookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await cleanup();
});

/** A config staging one archive of a small folder, with local copies and a webhook. */
async function setup(name: string, extra: Record<string, unknown> = {}) {
  const base = path.join(dir, name);
  const data = path.join(base, 'etc-app');
  await mkdir(data, { recursive: true });
  await writeFile(path.join(data, 'app.conf'), 'listen = 8080\n');
  const workDir = path.join(base, 'staging');
  const copies = path.join(base, 'copies');
  const config = path.join(base, 'duplicati-kit.json');
  await writeFile(
    config,
    JSON.stringify({
      workDir,
      sources: [{ type: 'archive', name: 'app-config', root: data }],
      localCopies: { dir: copies, keep: { keepLast: 3 } },
      notify: [{ type: 'webhook', url: `${webhookUrl}?run=${name}` }],
      ...extra,
    }),
  );
  return { base, workDir, copies, config };
}

async function hook(config: string, envOptions: HookEnvOptions, drop: readonly string[] = []) {
  const env = buildHookEnv({ ...envOptions, base: { PATH: process.env['PATH'], DUPLICATI_KIT_CONFIG: config } });
  for (const k of drop) delete env[k];
  const r = await execa(process.execPath, ['--import', 'tsx', CLI], {
    env,
    extendEnv: false,
    cwd: root,
    reject: false,
    stdin: 'ignore',
  });
  return {
    code: r.exitCode,
    stdout: String(r.stdout)
      .split('\n')
      .filter((l) => l !== ''),
    stderr: String(r.stderr),
  };
}

describe('duplicati-kit hook', () => {
  it('stages the plan before the backup, then keeps a local copy, cleans up and notifies after it', async () => {
    const { workDir, copies, config } = await setup('full');
    const before = await hook(config, { event: 'BEFORE', localPaths: [workDir, '/srv/photos'] });
    expect(before.stderr).toBe('');
    expect(before.code).toBe(0);
    expect(before.stdout.some((l) => l.startsWith('LOG:INFO staged 1 source(s)'))).toBe(true);
    expect(existsSync(path.join(workDir, 'manifest.json'))).toBe(true);

    const resultFile = path.join(dir, 'full-result.txt');
    await writeFile(resultFile, buildResultFile({ parsedResult: 'Success' }));
    const after = await hook(config, { event: 'AFTER', parsedResult: 'Success', resultFile, localPaths: [workDir] });
    expect(after.stderr).toBe('');
    expect(after.code).toBe(0);
    expect(existsSync(path.join(workDir, 'manifest.json'))).toBe(false);
    const kept = await readdir(copies);
    expect(kept).toHaveLength(1);
    expect(existsSync(path.join(copies, kept[0] as string, 'manifest.json'))).toBe(true);

    const events = received.filter((e) => e['run'] === 'full');
    expect(events.map((e) => e['kind'])).toEqual(['start', 'success']);
    expect(events[1]).toMatchObject({ details: { parsedResult: 'Success', operation: 'Backup', backupId: '1' } });
  });

  it('keeps a copy after a failed upload but prunes old copies only after a successful one', async () => {
    const { workDir, copies, config } = await setup('prune');
    const cfg = JSON.parse(await readFile(config, 'utf8')) as Record<string, unknown>;
    await writeFile(config, JSON.stringify({ ...cfg, localCopies: { dir: copies, keep: { keepLast: 1 } } }));
    const run = async (parsedResult: 'Success' | 'Error' | 'Fatal') => {
      expect((await hook(config, { event: 'BEFORE', localPaths: [workDir] })).code).toBe(0);
      const resultFile = path.join(dir, `prune-${parsedResult}.txt`);
      await writeFile(resultFile, buildResultFile({ parsedResult }));
      const after = await hook(config, { event: 'AFTER', parsedResult, resultFile, localPaths: [workDir] });
      // Copy names have a one-second resolution.
      await new Promise((r) => setTimeout(r, 1100));
      return after;
    };
    await run('Success');
    expect(await readdir(copies)).toHaveLength(1);
    await run('Error');
    await run('Fatal');
    expect(await readdir(copies)).toHaveLength(3); // nothing pruned while the upload fails
    await run('Success');
    const left = await readdir(copies);
    expect(left).toHaveLength(1); // keepLast: 1 applies again, keeping the newest
    expect(existsSync(path.join(copies, left[0] as string, 'manifest.json'))).toBe(true);
  });

  it('stops the upload (exit 5) when a source fails, or continues with an error (4) when the config allows', async () => {
    const broken = { sources: [{ type: 'archive', name: 'gone', root: path.join(dir, 'does-not-exist') }] };
    const stop = await setup('stop', broken);
    const r = await hook(stop.config, { event: 'BEFORE', localPaths: [stop.workDir] });
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/^failed, operation stopped: backup plan failed: gone \(archive, check\)/);
    const cont = await setup('continue', { ...broken, hook: { stopOnFailure: false } });
    const c = await hook(cont.config, { event: 'BEFORE', localPaths: [cont.workDir] });
    expect(c.code).toBe(4);
  });

  it('after a failed required BEFORE, handles the AFTER 2.0.x starts without OPERATIONNAME and tells the reason', async () => {
    const broken = { sources: [{ type: 'archive', name: 'gone', root: path.join(dir, 'does-not-exist') }] };
    const { workDir, config } = await setup('reason', broken);
    const before = await hook(config, { event: 'BEFORE', required: true, localPaths: [workDir] });
    expect(before.code).toBe(5);
    const resultFile = path.join(dir, 'reason-result.txt');
    await writeFile(resultFile, buildResultFile({ parsedResult: 'Fatal' }));
    // What 2.0.7.3 sends: no DUPLICATI__OPERATIONNAME, the operation only in main-action.
    const after = await hook(config, { event: 'AFTER', parsedResult: 'Fatal', resultFile, localPaths: [workDir] }, [
      'DUPLICATI__OPERATIONNAME',
    ]);
    expect(after.stderr).not.toMatch(/environment unusable|OPERATIONNAME/);
    // Exit 5 with the reason on stderr: Duplicati logs it as the AFTER script's error.
    expect(after.code).toBe(5);
    expect(after.stderr).toMatch(
      /the backup did not run: the hook's BEFORE failed: backup plan failed: gone \(archive, check\)/,
    );
    const notes = received.filter((e) => e['run'] === 'reason').map((e) => JSON.stringify(e));
    expect(
      notes.some((n) => n.includes('Fatal') && n.includes('gone (archive, check)') && n.includes('did not run')),
    ).toBe(true);
    // The reason is told once: a later AFTER does not repeat it.
    const again = await hook(config, { event: 'AFTER', parsedResult: 'Success', resultFile, localPaths: [workDir] });
    expect(again.stderr).not.toMatch(/did not run/);
  });

  it('warns (exit 2) when the job does not back up the work folder', async () => {
    const { config } = await setup('uncovered');
    const r = await hook(config, { event: 'BEFORE', localPaths: ['/srv/photos'] });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/the job does not back up .*staging/);
  });

  it('answers listings with 0 without reading the config', async () => {
    const r = await hook(path.join(dir, 'no-such-config.yaml'), { event: 'BEFORE', operation: 'ListFilesets' });
    expect(r).toEqual({ code: 0, stdout: [], stderr: '' });
  });

  it('stops a backup on a broken config, but lets a repair run with a warning', async () => {
    const missing = path.join(dir, 'no-such-config.yaml');
    const backup = await hook(missing, { event: 'BEFORE' });
    expect(backup.code).toBe(5);
    expect(backup.stderr).toMatch(/no-such-config\.yaml/);
    const repair = await hook(missing, { event: 'BEFORE', operation: 'Repair' });
    expect(repair.code).toBe(2);
    expect(repair.stderr).toMatch(/^warning: duplicati-kit config unusable/);
    // Listed in hook.operations, a repair is notified about after it ran, but nothing is staged for it.
    const { config, workDir } = await setup('repair', { hook: { operations: ['Backup', 'Repair'] } });
    const listed = await hook(config, { event: 'BEFORE', operation: 'Repair', localPaths: [workDir] });
    expect(listed.code).toBe(0);
    expect(existsSync(path.join(workDir, 'manifest.json'))).toBe(false);
    const done = await hook(config, { event: 'AFTER', operation: 'Repair', parsedResult: 'Warning' });
    expect(done.code).toBe(0);
    expect(received.filter((e) => e['run'] === 'repair').map((e) => e['title'])).toEqual([
      'Repair of Family photos: Warning',
    ]);
  });
});
