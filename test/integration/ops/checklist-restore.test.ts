/**
 * Gated restores end to end: a real backup plan (PostgreSQL + SQLite) staged into a work folder,
 * a FakeDuplicatiServer job backing it up, live data changed afterwards, then restores through
 * the six-gate checklist — a dry run touches nothing, a gate-4 failure touches nothing, a
 * failure after gate 4 rolls back and restarts services, a success keeps the plan-B database
 * until it is dropped, and a rollback by hand puts the old state back.
 */
import { appendFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DuplicatiClient } from '../../../src/duplicati/client.js';
import { restoreWithChecklist } from '../../../src/ops/checklist-restore.js';
import { WebhookNotifier } from '../../../src/ops/notify.js';
import { dropRestorePoints, listRestorePoints, rollbackRestore } from '../../../src/ops/restore-points.js';
import { createBackupPlan } from '../../../src/plan/backup-plan.js';
import { PostgresSource } from '../../../src/engines/postgres/source.js';
import { PostgresTarget } from '../../../src/engines/postgres/target.js';
import { SqliteSource } from '../../../src/engines/sqlite/source.js';
import { SqliteTarget } from '../../../src/engines/sqlite/target.js';
import type { RestoreTarget } from '../../../src/contracts/types.js';
import { FakeDuplicatiServer } from '../../../src/testing/index.js';
import { tempDir } from '../../helpers/context.js';
import { startRecorder } from '../../helpers/http-recorder.js';
import { databasesLike, dropDatabases, PG, pgAvailable, sql, uniqueDb } from '../engines/postgres/pg-helpers.js';

const available = await pgAvailable();
const PASSWORD = 'checklist-test-password';
const JOB = 'Home server';

/** A script that appends its arguments, as received, to a log: proves order and no shell. */
const SERVICE_SCRIPT = `const fs = require('node:fs');
fs.appendFileSync(process.argv[2], JSON.stringify(process.argv.slice(3)) + '\\n');
if (process.argv[3] === 'fail') process.exit(3);
`;

describe.skipIf(!available)('restoreWithChecklist against a fake Duplicati, real PostgreSQL and SQLite', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let server: FakeDuplicatiServer;
  let dup: DuplicatiClient;
  let db: string;
  let dbFile: string;
  let workDir: string;
  let stateDir: string;
  let serviceLog: string;
  let script: string;
  const closers: (() => Promise<void>)[] = [];

  const pgCount = async (name = db): Promise<number> =>
    Number((await sql<{ n: string }>(name, 'SELECT count(*) AS n FROM notes'))[0]?.n);
  const sqliteCount = (): number => {
    const d = new Database(dbFile, { readonly: true });
    try {
      return (d.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n;
    } finally {
      d.close();
    }
  };
  const serviceCalls = async (): Promise<string[][]> =>
    (await readFile(serviceLog, 'utf8').catch(() => ''))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as string[]);
  const service = (...args: string[]): [string, ...string[]] => [process.execPath, script, serviceLog, ...args];

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir('dk-checklist-'));
    db = uniqueDb('gates');
    dbFile = path.join(dir, 'live', 'app.db');
    workDir = path.join(dir, 'staging');
    stateDir = path.join(dir, 'state');
    serviceLog = path.join(dir, 'services.log');
    script = path.join(dir, 'service.cjs');
    await writeFile(script, SERVICE_SCRIPT);
    await mkdir(path.dirname(dbFile), { recursive: true });
    await sql('postgres', `CREATE DATABASE ${db}`);
    await sql(
      db,
      "CREATE TABLE notes (id serial PRIMARY KEY, body text); INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, 5) g;",
    );
    const s = new Database(dbFile);
    s.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a'), ('b'), ('c');");
    s.close();

    server = await FakeDuplicatiServer.start({ generation: '2.1', password: PASSWORD });
    dup = new DuplicatiClient({ baseUrl: server.url, auth: { type: 'password', password: PASSWORD } });
    const jobId = server.createBackup({ name: JOB, sources: [`${workDir}/`] });
    const plan = createBackupPlan({
      workDir,
      sources: [
        new PostgresSource({ name: 'app-db', connection: { ...PG, database: db } }),
        new SqliteSource({ name: 'app', path: dbFile, counts: ['t'] }),
      ],
    });
    expect((await plan.prepare()).ok).toBe(true);
    expect((await dup.backups.runAndWait(jobId)).result).toBe('Success');
    await plan.cleanup();

    // Life goes on after the backup: the restore must bring back 5 notes and 3 rows.
    await sql(db, "INSERT INTO notes (body) VALUES ('after 1'), ('after 2')");
    const s2 = new Database(dbFile);
    s2.exec("INSERT INTO t (v) VALUES ('d')");
    s2.close();
  });

  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
    await server.close();
    await dropDatabases(await databasesLike(db));
    await cleanup();
  });

  const pgTarget = () => new PostgresTarget({ name: 'app-db', source: 'app-db', connection: { ...PG, database: db } });
  const sqliteTarget = (versionGate?: () => string | undefined) =>
    new SqliteTarget({ name: 'app', source: 'app', path: dbFile, ...(versionGate ? { versionGate } : {}) });
  const maintenance = () => ({
    stop: [service('stop', 'app; $(touch pwned) `id` *')],
    start: [service('start', 'app')],
  });
  const nothingChanged = async (): Promise<void> => {
    expect(await pgCount()).toBe(7);
    expect(sqliteCount()).toBe(4);
    expect(await databasesLike(`${db}_`)).toEqual([]);
    expect((await readdir(path.dirname(dbFile))).sort()).toEqual(['app.db']);
  };

  it('a dry run lists all six gates and touches nothing', async () => {
    const hook = await startRecorder();
    closers.push(hook.close);
    const report = await restoreWithChecklist({
      duplicati: { client: dup, job: JOB, workDir },
      targets: [pgTarget(), sqliteTarget()],
      stagingDir: path.join(dir, 'tmp'),
      stateDir,
      maintenance: maintenance(),
      notifiers: [new WebhookNotifier({ url: `${hook.url}/n` })],
      dryRun: true,
    });
    expect(report.gates.map((g) => [g.number, g.id, g.status])).toEqual([
      [1, 'identify', 'passed'],
      [2, 'verify', 'passed'],
      [3, 'maintenance', 'would-run'],
      [4, 'record', 'would-run'],
      [5, 'warn', 'would-run'],
      [6, 'restore', 'would-run'],
    ]);
    expect(report.ok).toBe(true);
    expect(report.backup).toMatchObject({ job: { name: JOB }, version: 0 });
    const verify = report.gates[1];
    expect(verify?.evidence).toEqual(
      expect.arrayContaining([
        'Duplicati verify of the remote files: Success',
        'checksums: 2/2 ok',
        expect.stringMatching(/^app-db \[postgres\] -> app-db: verified/),
        expect.stringMatching(/^app \[sqlite\] -> app: verified/),
      ]),
    );
    expect(report.gates[2]?.reason).toContain('stop:');
    expect(report.gates[3]?.evidence).toEqual([
      expect.stringMatching(/^app-db: keeps the previous database as a restore point/),
      expect.stringMatching(/^app: keeps the previous database as a restore point/),
    ]);
    expect(report.gates[5]?.reason).toMatch(/would restore app-db -> app-db, app -> app/);
    await nothingChanged();
    expect(await serviceCalls()).toEqual([]);
    expect(hook.requests).toEqual([]);
    expect(await readdir(stateDir).catch(() => [])).toEqual([]);
    expect(await readdir(path.join(dir, 'tmp'))).toEqual([]); // the staged copy is removed
    expect(report.services).toEqual({ stopped: false, restarted: null, log: null });
    expect(report.restore).toBeNull();
    expect(report.verification?.entries.map((e) => [e.name, e.status])).toEqual([
      ['app-db', 'verified'],
      ['app', 'verified'],
    ]);
  });

  it('gate 1 picks by time and gate 2 fails on a Duplicati verify error; nothing is touched', async () => {
    const versions = await dup.backups.versions((await dup.backups.list())[0]?.id as string);
    const before = new Date(Date.parse(versions[0]?.time as string) - 60_000);
    const early = await restoreWithChecklist({
      duplicati: { client: dup, job: JOB, workDir, time: before },
      targets: [pgTarget(), sqliteTarget()],
      stateDir,
      maintenance: maintenance(),
    });
    expect(early.gates.map((g) => g.status)).toEqual(['failed', 'skipped', 'skipped', 'skipped', 'skipped', 'skipped']);
    expect(early.gates[0]?.reason).toMatch(/has no version at or before/);
    expect(early.gates[0]?.code).toBe('ERR_NO_SUCH_VERSION');

    server.failNextRequests(1, { method: 'POST', path: /\/verify/ });
    const broken = await restoreWithChecklist({
      duplicati: { client: dup, job: JOB, workDir, time: new Date() },
      targets: [pgTarget(), sqliteTarget()],
      stateDir,
      maintenance: maintenance(),
    });
    expect(broken.gates.map((g) => g.status)).toEqual(['passed', 'failed', 'skipped', 'skipped', 'skipped', 'skipped']);
    expect(broken.gates[0]?.evidence[1]).toMatch(/^version 0 from .* \(newest at or before /);
    expect(broken.gates[1]?.reason).toMatch(/500|server/i);
    await nothingChanged();
    expect(await serviceCalls()).toEqual([]);
    expect(await readdir(stateDir).catch(() => [])).toEqual([]);
  });

  it("a caller's abort is rethrown after the services are started again", async () => {
    const ctl = new AbortController();
    const reason = new Error('operator pressed Ctrl-C');
    const run = restoreWithChecklist({
      from: await stagedCopy(),
      targets: [pgTarget(), sqliteTarget()],
      stateDir,
      maintenance: maintenance(),
      signal: ctl.signal,
      onGate: (g) => {
        if (g.id === 'maintenance') ctl.abort(reason);
      },
    });
    await expect(run).rejects.toBe(reason);
    expect((await serviceCalls()).map((c) => c[0])).toEqual(['stop', 'start']);
    expect((await listRestorePoints({ stateDir }))[0]?.status).toBe('failed');
    await nothingChanged();
  });

  it('a restore whose gate 4 fails leaves everything as it was', async () => {
    const hook = await startRecorder();
    closers.push(hook.close);
    // A target that would overwrite the SQLite file with no way back.
    const reckless: RestoreTarget = {
      name: 'reckless',
      kind: 'sqlite',
      accepts: (e) => e.kind === 'sqlite',
      verify: async () => ({ ok: true, checks: [{ name: 'looks fine', ok: true }] }),
      restore: async () => {
        await appendFile(dbFile, 'overwritten');
        return { restored: [dbFile] };
      },
    };
    const report = await restoreWithChecklist({
      duplicati: { client: dup, job: JOB, workDir },
      targets: [pgTarget(), reckless],
      stateDir,
      maintenance: maintenance(),
      notifiers: [new WebhookNotifier({ url: `${hook.url}/n` })],
    });
    expect(report.ok).toBe(false);
    expect(report.gates.map((g) => g.status)).toEqual(['passed', 'passed', 'skipped', 'failed', 'skipped', 'skipped']);
    expect(report.gates[3]?.reason).toMatch(/reckless cannot keep a way back/);
    expect(report.gates[2]?.reason).toBe('gate 4 failed');
    await nothingChanged();
    expect(await serviceCalls()).toEqual([]); // no service was stopped
    expect(hook.requests).toEqual([]); // nobody was warned of a restore that never started
    expect(await readdir(stateDir).catch(() => [])).toEqual([]);
    expect(report.record).toBeNull();

    // Allowing it explicitly passes gate 4 (checked with a dry run: still nothing touched).
    const allowed = await restoreWithChecklist({
      duplicati: { client: dup, job: JOB, workDir },
      targets: [pgTarget(), reckless],
      stateDir,
      allowNoWayBack: ['reckless'],
      dryRun: true,
    });
    expect(allowed.gates[3]).toMatchObject({ status: 'would-run' });
    expect(allowed.gates[3]?.warnings).toEqual(['reckless has no way back; allowed by allowNoWayBack']);
    await nothingChanged();
  });

  it('a restore that fails after gate 4 rolls back what it applied and starts the services again', async () => {
    const hook = await startRecorder();
    closers.push(hook.close);
    const jf = await startRecorder((r) =>
      r.method === 'GET'
        ? { status: 200, body: JSON.stringify([{ Id: 'abc', DeviceName: 'TV', SupportsRemoteControl: true }]) }
        : { status: 204 },
    );
    closers.push(jf.close);
    const { JellyfinClient } = await import('../../../src/apps/jellyfin/api.js');
    const queueCalls: string[] = [];
    // Gate 2 verifies (call 1 passes); the restore's own pre-check (call 2) refuses, after PostgreSQL was swapped.
    let gateCalls = 0;
    const report = await restoreWithChecklist({
      duplicati: { client: dup, job: JOB, workDir },
      targets: [pgTarget(), sqliteTarget(() => (++gateCalls > 1 ? 'refused by the version gate' : undefined))],
      stateDir,
      maintenance: {
        ...maintenance(),
        immich: {
          pauseQueues: async () => {
            queueCalls.push('pause');
            return { api: 'queues', names: ['thumbnailGeneration'] };
          },
          resumeQueues: async (p) => {
            queueCalls.push(`resume ${p.names.join(',')}`);
          },
        },
      },
      notifiers: [new WebhookNotifier({ url: `${hook.url}/n` })],
      jellyfin: new JellyfinClient({ baseUrl: jf.url, apiKey: 'jf-key' }),
    });
    expect(report.ok).toBe(false);
    expect(report.gates.map((g) => g.status)).toEqual(['passed', 'passed', 'passed', 'passed', 'passed', 'failed']);
    expect(report.gates.map((g) => g.ranAs)).toEqual([1, 2, 5, 3, 4, 6]);
    expect(report.gates[5]?.reason).toMatch(
      /^app failed: the snapshot failed its checks.*; every applied target was rolled back$/,
    );
    expect(report.rolledBack).toBe(true);
    await nothingChanged();
    // Stopped, then started again; the argument with shell syntax arrived verbatim.
    expect(await serviceCalls()).toEqual([
      ['stop', 'app; $(touch pwned) `id` *'],
      ['start', 'app'],
    ]);
    expect(await readdir(dir)).not.toContain('pwned');
    expect(queueCalls).toEqual(['pause', 'resume thumbnailGeneration']);
    expect(report.services).toMatchObject({ stopped: true, restarted: true });
    // Warned (webhook + Jellyfin session), then told how it ended.
    const sent = hook.requests.map((r) => JSON.parse(r.body) as { kind: string; title: string });
    expect(sent.map((s) => [s.kind, s.title])).toEqual([
      ['warning', 'Restore starting'],
      ['failure', 'Restore failed'],
    ]);
    const message = jf.requests.find((r) => r.method === 'POST');
    expect(message?.url).toBe('/Sessions/abc/Message');
    expect(JSON.parse(message?.body ?? '{}')).toMatchObject({
      Header: 'Maintenance',
      Text: expect.stringContaining(JOB),
    });
    expect(report.gates[4]?.evidence).toContain('Jellyfin: message shown on 1 session(s)');
    // The record says what happened; there is nothing left to roll back.
    const [rec] = await listRestorePoints({ stateDir });
    expect(rec).toMatchObject({ status: 'rolled-back', source: { type: 'duplicati', job: JOB, version: 0 } });
    expect(rec?.targets.map((t) => [t.name, t.state])).toEqual([['app-db', 'rolled-back']]);
    // Asking again changes nothing and is not an error.
    expect(await rollbackRestore({ stateDir, id: rec?.id as string, targets: [pgTarget()] })).toMatchObject({
      ok: true,
      alreadyDone: true,
    });
  });

  it('a stop command that fails fails gate 3, restores nothing, and still runs the start commands', async () => {
    const report = await restoreWithChecklist({
      from: await stagedCopy(),
      targets: [pgTarget(), sqliteTarget()],
      stateDir,
      maintenance: {
        stop: [service('stop', 'a'), service('fail'), service('stop', 'never')],
        start: [service('start', 'a')],
      },
    });
    expect(report.gates.map((g) => g.status)).toEqual(['passed', 'passed', 'failed', 'passed', 'skipped', 'skipped']);
    expect(report.gates[2]?.reason).toMatch(/fail: exit code 3/);
    expect(await serviceCalls()).toEqual([['stop', 'a'], ['fail'], ['start', 'a']]);
    expect(report.services).toMatchObject({ stopped: true, restarted: true });
    await nothingChanged();
    expect((await listRestorePoints({ stateDir }))[0]?.status).toBe('failed');
  });

  /** The staged folder of version 0, restored by Duplicati into a local folder (for `from`). */
  it('a live database still held open fails gate 2, in a dry run and before anything is restored (#12, defect 10)', async () => {
    // The application still runs: a WAL connection holds app.db open. Before the precheck, the
    // dry run passed and the real run restored app-db first, then found app.db busy at gate 6.
    const holder = new Database(dbFile);
    holder.pragma('journal_mode = WAL');
    holder.prepare('SELECT count(*) FROM t').get();
    try {
      const dry = await restoreWithChecklist({
        duplicati: { client: dup, job: JOB, workDir },
        targets: [pgTarget(), sqliteTarget()],
        stateDir,
        dryRun: true,
      });
      expect(dry.ok).toBe(false);
      expect(dry.gates[1]?.status).toBe('failed');
      expect(dry.gates[1]?.evidence.join('\n')).toMatch(
        /app \[sqlite\] -> app: failed \(in-use:app\.db: .*open in another process/,
      );

      const real = await restoreWithChecklist({
        duplicati: { client: dup, job: JOB, workDir },
        targets: [pgTarget(), sqliteTarget()],
        stateDir,
      });
      expect(real.ok).toBe(false);
      expect(real.gates.map((g) => g.status)).toEqual(['passed', 'failed', 'skipped', 'skipped', 'skipped', 'skipped']);
      expect(await pgCount()).toBe(7); // app-db was not restored either
      expect(await databasesLike(`${db}_`)).toEqual([]);
      expect(await readdir(stateDir).catch(() => [])).toEqual([]);

      // A maintenance window whose stop commands stop the application: the dry run passes, saying so.
      const planned = await restoreWithChecklist({
        duplicati: { client: dup, job: JOB, workDir },
        targets: [pgTarget(), sqliteTarget()],
        stateDir,
        maintenance: maintenance(),
        dryRun: true,
      });
      expect(planned.gates[1]?.status).toBe('passed');
      expect(planned.verification?.entries.find((e) => e.name === 'app')?.verification?.checks).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            name: 'in-use:app.db',
            ok: true,
            detail: expect.stringMatching(/maintenance window stops it first/),
          }),
        ]),
      );
    } finally {
      holder.close();
    }
    expect(sqliteCount()).toBe(4);
  });

  async function stagedCopy(): Promise<string> {
    const to = path.join(dir, 'copy');
    const jobId = (await dup.backups.list())[0]?.id as string;
    expect((await dup.backups.restoreAndWait(jobId, { to, paths: [`${workDir}/`], overwrite: false })).result).not.toBe(
      'Error',
    );
    const { findRestoredWorkDir } = await import('../../../src/ops/staged-version.js');
    return (await findRestoredWorkDir(to, workDir)) as string;
  }

  it('a success keeps the plan-B database until dropped; a rollback by hand puts the old state back', async () => {
    const first = await restoreWithChecklist({
      duplicati: { client: dup, job: JOB, workDir },
      targets: [pgTarget(), sqliteTarget()],
      stateDir,
      maintenance: maintenance(),
    });
    expect(first.ok).toBe(true);
    expect(first.gates.map((g) => g.status)).toEqual(['passed', 'passed', 'passed', 'passed', 'skipped', 'passed']);
    expect(first.gates[4]?.reason).toBe('no notifiers and no Jellyfin API configured');
    expect(first.record?.status).toBe('applied');
    expect(await pgCount()).toBe(5);
    expect(sqliteCount()).toBe(3);
    const [planB] = await databasesLike(`${db}_before_restore_`);
    expect(planB).toBeDefined();
    expect(await pgCount(planB)).toBe(7);
    expect(first.services).toMatchObject({ stopped: true, restarted: true });

    // A second restore on top; rolling back the first one now is refused.
    const second = await restoreWithChecklist({
      from: await stagedCopy(),
      targets: [pgTarget(), sqliteTarget()],
      stateDir,
    });
    expect(second.ok).toBe(true);
    await expect(
      rollbackRestore({ stateDir, id: first.record?.id as string, targets: [pgTarget(), sqliteTarget()] }),
    ).rejects.toMatchObject({ code: 'ERR_NEWER_RESTORE' });
    // Drop the second one's restore points: its plan-B database goes, the first one's stays.
    const dropped = await dropRestorePoints({
      stateDir,
      id: second.record?.id as string,
      targets: [pgTarget(), sqliteTarget()],
    });
    expect(dropped.ok).toBe(true);
    expect(dropped.record.status).toBe('dropped');
    expect(await databasesLike(`${db}_before_restore_`)).toEqual([planB]);
    // Now the first restore is the newest applied one: roll it back by hand.
    const rolled = await rollbackRestore({
      stateDir,
      id: first.record?.id as string,
      targets: [pgTarget(), sqliteTarget()],
    });
    expect(rolled.ok).toBe(true);
    expect(rolled.record.status).toBe('rolled-back');
    expect(await pgCount()).toBe(7);
    expect(sqliteCount()).toBe(4);
    expect(await databasesLike(`${db}_`)).toEqual([]);
    expect((await readdir(path.dirname(dbFile))).sort()).toEqual(['app.db']);
    const list = await listRestorePoints({ stateDir });
    expect(list.map((r) => r.status)).toEqual(['dropped', 'rolled-back']);
  });
});
