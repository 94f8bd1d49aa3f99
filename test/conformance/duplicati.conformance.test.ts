/**
 * Conformance: the same scenarios against `FakeDuplicatiServer` (always) and a real Duplicati
 * server (when `DUPLICATI_LIVE_URL` / `DUPLICATI_LIVE_PASSWORD` name one; `.ci/run` starts a real
 * 2.0.7.3 when it is installed). The server must run on this machine: jobs back up a scratch
 * folder into a scratch `file://` target, and hooks are scripts in that folder. Where the fake and
 * the real server disagree, the fake is wrong.
 */
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDuplicatiKitError } from '../../src/core/errors.js';
import { DuplicatiClient } from '../../src/duplicati/index.js';
import { isNoLogYet } from '../../src/duplicati/outcome.js';
import type { JobSpec } from '../../src/duplicati/resources/jobs.js';
import { installHook } from '../../src/ops/hook-install.js';
import { FakeDuplicatiServer } from '../../src/testing/index.js';
import { tempDir } from '../helpers/context.js';

interface Target {
  readonly name: string;
  readonly url: string;
  readonly password: string;
  close(): Promise<void>;
}

const liveUrl = process.env.DUPLICATI_LIVE_URL;
const livePassword = process.env.DUPLICATI_LIVE_PASSWORD;
const targets: { name: string; start: () => Promise<Target> }[] = [
  {
    name: 'fake 2.0.7.3',
    start: async () => {
      const fake = await FakeDuplicatiServer.start({ generation: '2.0', password: 'conformance-pw' });
      return { name: 'fake', url: fake.url, password: 'conformance-pw', close: () => fake.close() };
    },
  },
];
if (liveUrl && livePassword) {
  targets.push({
    name: `real server at ${liveUrl}`,
    start: async () => ({ name: 'real', url: liveUrl, password: livePassword, close: async () => {} }),
  });
} else {
  console.warn(
    'conformance: real Duplicati not configured (DUPLICATI_LIVE_URL/PASSWORD); running against the fake only',
  );
}

const fixture = path.join(import.meta.dirname, 'hook-fixture.ts');

describe.each(targets)('Duplicati conformance: $name', ({ start }) => {
  let target: Target;
  let dup: DuplicatiClient;
  let dir: string;
  let cleanup: () => Promise<void>;
  const created: string[] = [];
  const prefix = `conf-${process.pid}-${Date.now().toString(36)}`;
  const src = () => path.join(dir, 'src');
  const spec = (name: string, extra: Partial<JobSpec> = {}): JobSpec => ({
    name: `${prefix}-${name}`,
    target: `file://${path.join(dir, `target-${name}`)}`,
    sources: [`${src()}/`],
    ...extra,
  });
  const apply = async (s: JobSpec, dryRun = false) => {
    const r = await dup.jobs.apply(s, { dryRun });
    if (r.id && !created.includes(r.id)) created.push(r.id);
    return r;
  };

  beforeAll(async () => {
    target = await start();
    ({ dir, cleanup } = await tempDir('dk-conf-'));
    await mkdir(path.join(src(), 'sub'), { recursive: true });
    await writeFile(path.join(src(), 'hello.txt'), 'hello from the conformance suite\n');
    await writeFile(path.join(src(), 'sub', 'data.bin'), Buffer.alloc(4096, 7));
    dup = new DuplicatiClient({ baseUrl: target.url, auth: { type: 'password', password: target.password } });
  });

  afterAll(async () => {
    for (const id of created) {
      const { taskId } = await dup.backups.delete(id, { deleteLocalDb: true }).catch(() => ({ taskId: null }));
      if (taskId) await dup.tasks.wait(taskId, { totalTimeout: 60_000 }).catch(() => undefined);
    }
    await dup.auth.logout();
    await target.close();
    await cleanup();
  });

  it('creates, re-applies (unchanged), updates and deletes jobs with every schedule shape', async () => {
    const daily = spec('daily', { schedule: { time: '02:00', repeat: '1D' }, retention: { keepTime: '14D' } });
    const weekly = spec('weekly', { schedule: { time: '04:00', repeat: '1W', days: ['sun'] } });
    const hourly = spec('hourly', { schedule: { time: '00:15', repeat: '1h' } });
    for (const s of [daily, weekly, hourly]) expect((await apply(s)).action).toBe('create');

    const byName = async (s: JobSpec) => dup.backups.get((await dup.backups.findByName(s.name))?.id ?? '?');
    expect((await byName(daily)).schedule).toMatchObject({ repeat: '1D', allowedDays: [] });
    // Defect 1: the Sunday restriction used to be wiped by an empty Rule.
    expect((await byName(weekly)).schedule).toMatchObject({ repeat: '1W', allowedDays: ['sun'] });
    expect((await byName(hourly)).schedule).toMatchObject({ repeat: '1h' });

    for (const s of [daily, weekly, hourly]) {
      expect(await apply(s, true)).toMatchObject({ action: 'unchanged', changes: [] });
      expect((await apply(s)).action).toBe('unchanged');
    }

    const moved = spec('weekly', { schedule: { time: '04:00', repeat: '1W', days: ['mon', 'fri'] } });
    const r = await apply(moved);
    expect(r.action).toBe('update');
    expect(r.changes.map((c) => `${c.field}: ${c.before} → ${c.after}`)).toEqual([
      'schedule: 1W at 04:00 on sun → 1W at 04:00 on mon,fri',
    ]);
    expect((await byName(weekly)).schedule?.allowedDays).toEqual(['mon', 'fri']);

    // Days chosen elsewhere (the web UI) survive a spec that leaves days open.
    const current = await byName(weekly);
    await dup.backups.update(current.id, {
      name: current.name,
      targetUrl: current.targetUrl,
      sources: current.sources,
      settings: current.settings.map((s) => ({ name: s.name, value: s.value })),
      metadata: current.metadata,
      schedule: { time: current.schedule?.time ?? '', repeat: '1W', allowedDays: ['tue', 'thu'] },
    });
    const open = spec('weekly', { schedule: { time: '04:00', repeat: '1W' }, description: 'now with a description' });
    expect((await apply(open)).changes.map((c) => c.field)).toEqual(['description']);
    expect((await byName(weekly)).schedule?.allowedDays).toEqual(['tue', 'thu']);

    const ids = [...created];
    for (const id of ids.splice(0)) {
      const { taskId } = await dup.backups.delete(id, { deleteLocalDb: true });
      if (taskId) await dup.tasks.wait(taskId, { totalTimeout: 60_000 });
    }
    created.length = 0;
    const left = (await dup.backups.list()).filter((b) => b.name.startsWith(prefix));
    expect(left).toEqual([]);
  });

  it('keeps what `hook install` set when the jobs file is applied again (unchanged)', async () => {
    const work = path.join(dir, 'work');
    await mkdir(work, { recursive: true });
    const s = spec('hooked', {
      sources: [`${src()}/`, `${work}/`],
      schedule: { time: '03:30', repeat: '1W', days: ['sat'] },
    });
    const { id } = await apply(s);
    const installed = await installHook(dup, {
      job: s.name,
      script: path.join(dir, 'hooked-hook'),
      command: ['/bin/true'],
      workDir: work,
      timeout: '5m',
    });
    expect(installed.changes.map((c) => `${c.what} ${c.name}`)).toEqual([
      `script ${path.join(dir, 'hooked-hook')}`,
      'setting --run-script-before-required',
      'setting --run-script-after',
      'setting --run-script-timeout',
    ]);
    const job = await dup.backups.get(id ?? '?');
    // Defect 1: hook install kept the days; defect 2: apply keeps the hook.
    expect(job.schedule?.allowedDays).toEqual(['sat']);
    expect(await apply(s, true)).toMatchObject({ action: 'unchanged', changes: [] });
    expect((await apply(s)).action).toBe('unchanged');
    const after = await dup.backups.get(id ?? '?');
    expect(after.settings.find((x) => x.name === '--run-script-before-required')?.value).toBe(
      path.join(dir, 'hooked-hook'),
    );
  });

  describe('runs with a defineHook BEFORE (required) and AFTER', () => {
    let id: string;
    const hookDir = () => path.join(dir, 'hook');
    const calls = async () => {
      const text = await readFile(path.join(hookDir(), 'calls'), 'utf8').catch(() => '');
      await rm(path.join(hookDir(), 'calls'), { force: true });
      return text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    };
    const runWith = async (mode: string) => {
      await writeFile(path.join(hookDir(), 'mode'), mode);
      const outcome = await dup.backups.runAndWait(id, { totalTimeout: 120_000 });
      return { outcome, calls: await calls() };
    };

    beforeAll(async () => {
      await mkdir(hookDir(), { recursive: true });
      const wrapper = path.join(hookDir(), 'hook.sh');
      // One bundled file: the hook starts in a fraction of a second, as an installed CLI would.
      const bundle = path.join(hookDir(), 'hook.mjs');
      await build({
        entryPoints: [fixture],
        bundle: true,
        platform: 'node',
        format: 'esm',
        outfile: bundle,
        logLevel: 'error',
      });
      const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
      await writeFile(wrapper, `#!/bin/sh\nCONFORMANCE_DIR=${q(hookDir())} exec ${q(process.execPath)} ${q(bundle)}\n`);
      await chmod(wrapper, 0o755);
      const r = await apply(
        spec('hookrun', {
          hooks: { beforeRequired: wrapper, after: wrapper, timeout: '60s' },
        }),
      );
      id = r.id ?? '?';
      // A first clean run gives the job its database (a job that never ran logs no failure row).
      expect((await runWith('ok')).outcome.result).toBe('Success');
    });

    it('a BEFORE that succeeds: Success, the AFTER sees Backup and Success', async () => {
      const { outcome, calls: seen } = await runWith('ok');
      expect(outcome).toMatchObject({ result: 'Success', status: 'Completed', interrupted: false });
      expect(seen).toEqual([
        { event: 'BEFORE', operation: 'Backup', mode: 'ok' },
        { event: 'AFTER', operation: 'Backup', parsedResult: 'Success' },
      ]);
    });

    it('a BEFORE that warns: Warning on 2.0.x too (stderr), with the message in the job log', async () => {
      const { outcome, calls: seen } = await runWith('warn');
      expect(outcome.result).toBe('Warning');
      expect(outcome.warnings.join('\n')).toContain('conformance: the dump is older than expected');
      expect(seen.at(-1)).toEqual({ event: 'AFTER', operation: 'Backup', parsedResult: 'Warning' });
    });

    it('a LOG:WARN line alone changes nothing on 2.0.x', async () => {
      const gen = await dup.auth.generation();
      const { outcome } = await runWith('logwarn');
      expect(outcome.result).toBe(gen === '2.0' ? 'Success' : 'Warning');
    });

    it('a BEFORE that fails: Fatal, nothing uploaded, and the AFTER is the backup`s AFTER', async () => {
      const before = (await dup.backups.versions(id)).length;
      const { outcome, calls: seen } = await runWith('fail');
      expect(outcome.result).toBe('Fatal');
      expect(outcome.warnings.join('\n')).toContain('returned with exit code 5');
      expect((await dup.backups.versions(id)).length).toBe(before);
      // 2.0.x starts AFTER without DUPLICATI__OPERATIONNAME; the hook still handles it as Backup.
      expect(seen).toEqual([
        { event: 'BEFORE', operation: 'Backup', mode: 'fail' },
        { event: 'AFTER', operation: 'Backup', parsedResult: 'Fatal' },
      ]);
    });
  });

  it('a required BEFORE that times out fails the run (Fatal) and uploads nothing', async () => {
    const script = path.join(dir, 'slow.sh');
    // Only the backup waits: Duplicati runs the hook for listings too (a timeout there is an HTTP 500).
    await writeFile(script, '#!/bin/sh\n[ "$DUPLICATI__OPERATIONNAME" = Backup ] && exec sleep 30\nexit 0\n');
    await chmod(script, 0o755);
    const { id } = await apply(spec('slow', { hooks: { beforeRequired: script, timeout: '2s' } }));
    const outcome = await dup.backups.runAndWait(id ?? '?', { totalTimeout: 60_000 });
    expect(outcome.result).toBe('Fatal');
    expect(await dup.backups.versions(id ?? '?')).toEqual([]);
  });

  it('pages a job log as the dashboard reads it: none before the first run, newest first, offset = ids below', async () => {
    const id = (await apply(spec('logpaging'))).id ?? '?';
    // No database before the first run: HTTP 500 "no such table: LogData", which is an empty log.
    const before = await dup.backups.logPage(id, { pageSize: 10 }).catch((e: unknown) => e);
    expect(isNoLogYet(before)).toBe(true);
    for (let i = 0; i < 2; i++) {
      expect((await dup.backups.runAndWait(id, { totalTimeout: 120_000 })).result).toBe('Success');
    }
    const all = await dup.backups.logPage(id, { pageSize: 10 });
    expect(all.length).toBeGreaterThanOrEqual(2);
    const ids = all.map((r) => r.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    const newest = ids[0] as number;
    expect((await dup.backups.logPage(id, { pageSize: 10, offset: newest })).map((r) => r.id)).toEqual(ids.slice(1));
    expect(await dup.backups.logPage(id, { pageSize: 10, offset: 0 })).toEqual([]);
    // A page size under 10 is raised to 10.
    expect((await dup.backups.logPage(id, { pageSize: 1 })).map((r) => r.id)).toEqual(ids);
  });

  it('lists versions, the roots and a folder of a version, and restores into another folder', async () => {
    const { id } = await apply(spec('files'));
    expect((await dup.backups.runAndWait(id ?? '?', { totalTimeout: 120_000 })).result).toBe('Success');
    const versions = await dup.backups.versions(id ?? '?', { withSizes: true });
    expect(versions).toHaveLength(1);
    expect(versions[0]).toMatchObject({ version: 0, fileCount: 2 });

    // Defect 6: the roots used to answer HTTP 500 and leave a Fatal List row in the job's log.
    const roots = await dup.backups.files(id ?? '?', { version: 0 });
    expect(roots.files.map((f) => f.path)).toEqual([`${src()}/`]);
    const rows = [];
    for await (const row of dup.backups.log(id ?? '?')) rows.push(row);
    expect(rows.filter((r) => r.type === 'Result' && (r.message ?? '').includes('"Fatal"'))).toEqual([]);

    const folder = await dup.backups.files(id ?? '?', { version: 0, path: `${src()}/` });
    expect(folder.files.map((f) => path.basename(f.path)).sort()).toEqual(['hello.txt', 'sub']);

    const to = path.join(dir, 'restored');
    const restored = await dup.backups.restoreAndWait(id ?? '?', { version: 0, to, totalTimeout: 120_000 });
    expect(['Success', 'Warning']).toContain(restored.result);
    const back = await readFile(path.join(to, 'hello.txt'), 'utf8').catch(() =>
      readFile(path.join(to, src(), 'hello.txt'), 'utf8'),
    );
    expect(back).toBe('hello from the conformance suite\n');
  });

  it('refuses a wrong password, and logs out', async () => {
    const wrong = new DuplicatiClient({ baseUrl: target.url, auth: { type: 'password', password: 'not-it' } });
    const err = await wrong.backups.list().catch((e: unknown) => e);
    expect(isDuplicatiKitError(err) && err.code).toBe('ERR_DUPLICATI_AUTH');
    const other = new DuplicatiClient({ baseUrl: target.url, auth: { type: 'password', password: target.password } });
    await other.auth.login();
    await other.auth.logout();
    // A logged-out client logs in again on its next call.
    expect(Array.isArray(await other.backups.list())).toBe(true);
    await other.auth.logout();
  });
});
