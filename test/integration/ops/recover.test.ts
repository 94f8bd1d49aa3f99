/**
 * Recovery on a "new host", end to end without a real Duplicati: a seed-shaped server (real
 * PostgreSQL, SQLite, a photo folder) staged with the recovery kit (jobs read from a fake
 * Duplicati server), its backup restored with full paths into a folder (plan B, as
 * `Duplicati.CommandLine.exe restore --restore-path` leaves it), then recovered under other roots
 * with a fresh fake server for the jobs. The Duplicati direct-restore path is covered live in
 * test/contract/recover-live.test.ts.
 */
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DuplicatiClient } from '../../../src/duplicati/client.js';
import { DirectorySource } from '../../../src/engines/directory/source.js';
import { PostgresSource } from '../../../src/engines/postgres/source.js';
import { PostgresTarget } from '../../../src/engines/postgres/target.js';
import { SqliteSource } from '../../../src/engines/sqlite/source.js';
import { SqliteTarget } from '../../../src/engines/sqlite/target.js';
import { readRecoveryJobs, writeRecoveryKit } from '../../../src/ops/recovery/kit.js';
import { restoredTreeReader } from '../../../src/ops/recovery/reader.js';
import { mapPath, recoverServer } from '../../../src/ops/recovery/recover.js';
import { createBackupPlan } from '../../../src/plan/backup-plan.js';
import { createRestorePlan } from '../../../src/plan/restore-plan.js';
import { FakeDuplicatiServer } from '../../../src/testing/index.js';
import { tempDir, tree } from '../../helpers/context.js';
import { dropDatabases, PG, pgAvailable, sql, uniqueDb } from '../engines/postgres/pg-helpers.js';

const available = await pgAvailable();
const PW = 'recover-fake-pw';

describe('mapPath', () => {
  it('maps through the longest matching root, folders only', () => {
    const map = [
      { from: '/srv', to: '/data' },
      { from: '/srv/immich/', to: '/mnt/photos' },
    ];
    expect(mapPath(map, '/srv/immich/library/a.jpg')).toBe('/mnt/photos/library/a.jpg');
    expect(mapPath(map, '/srv/jellyfin/')).toBe('/data/jellyfin/');
    expect(mapPath(map, '/srvx/file')).toBe('/srvx/file');
    expect(mapPath(map, '/srv')).toBe('/data');
  });
});

describe.skipIf(!available)('recoverServer from a restored tree, real PostgreSQL and SQLite', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let oldServer: FakeDuplicatiServer;
  let newServer: FakeDuplicatiServer;
  let newDup: DuplicatiClient;
  let db: string;
  let oldRoot: string;
  let treeDir: string;
  const dbs: string[] = [];

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir('dk-recover-'));
    oldRoot = path.join(dir, 'old');
    db = uniqueDb('rectree');
    dbs.push(db);
    await sql('postgres', `CREATE DATABASE ${db}`);
    await sql(
      db,
      "CREATE TABLE assets (id serial PRIMARY KEY, p text); INSERT INTO assets (p) SELECT 'a' || g FROM generate_series(1, 30) g;",
    );
    await mkdir(path.join(oldRoot, 'app'), { recursive: true });
    const s = new Database(path.join(oldRoot, 'app', 'app.db'));
    s.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO items (v) VALUES ('x'), ('y');");
    s.close();
    for (let i = 0; i < 6; i++) {
      await mkdir(path.join(oldRoot, 'photos', `album${i % 2}`), { recursive: true });
      await writeFile(path.join(oldRoot, 'photos', `album${i % 2}`, `p${i}.jpg`), `jpeg ${i}`);
    }
    const workDir = path.join(oldRoot, 'staging');
    oldServer = await FakeDuplicatiServer.start({ generation: '2.1', password: PW });
    const oldDup = new DuplicatiClient({ baseUrl: oldServer.url, auth: { type: 'password', password: PW } });
    await oldDup.jobs.apply({
      name: 'Home server',
      sources: [`${workDir}/`, `${path.join(oldRoot, 'photos')}/`],
      target: 'file:///mnt/offsite/home',
      passphrase: 'kept out of the kit',
      schedule: { time: '02:30', repeat: '1D' },
      retention: { keepVersions: 7 },
      hooks: { beforeRequired: path.join(oldRoot, 'bin', 'hook') },
    });
    const plan = createBackupPlan({
      workDir,
      sources: [
        new PostgresSource({ name: 'app-db', connection: { ...PG, database: db } }),
        new SqliteSource({ name: 'app', path: path.join(oldRoot, 'app', 'app.db') }),
        new DirectorySource({ name: 'photos', paths: [path.join(oldRoot, 'photos')] }),
      ],
    });
    expect((await plan.prepare()).ok).toBe(true);
    const read = await readRecoveryJobs(oldDup);
    await writeRecoveryKit({
      workDir,
      config: {
        workDir,
        duplicati: { url: 'http://127.0.0.1:8200', passwordFile: '/etc/dk/pw' },
        notify: [{ type: 'ntfy', token: 'tk-secret' }],
      },
      configFile: '/etc/duplicati-kit.yaml',
      jobs: read.jobs,
      jobName: 'Home server',
    });
    // What a Duplicati restore with --restore-path=<tree> writes: the backed-up folders under their full paths.
    treeDir = path.join(dir, 'tree');
    for (const p of [workDir, path.join(oldRoot, 'photos')]) await cp(p, path.join(treeDir, p), { recursive: true });
    await plan.cleanup();
    newServer = await FakeDuplicatiServer.start({ generation: '2.1', password: PW });
    newDup = new DuplicatiClient({ baseUrl: newServer.url, auth: { type: 'password', password: PW } });
  });

  afterEach(async () => {
    await oldServer.close();
    await newServer.close();
    await dropDatabases(dbs.splice(0));
    await cleanup();
  });

  const options = (root: string, database: string) => ({
    reader: restoredTreeReader(treeDir),
    workDir: path.join(dir, 'work'),
    pathMap: [{ from: oldRoot, to: root }],
    restorePlan: createRestorePlan({
      targets: [
        new PostgresTarget({ name: 'app-db', source: 'app-db', connection: { ...PG, database } }),
        new SqliteTarget({ name: 'app', source: 'app', path: path.join(root, 'app', 'app.db') }),
      ],
    }),
    client: newDup,
    passphrase: 'kept out of the kit',
  });

  it('stages a kit without secrets, then recovers under new roots: databases, files, jobs; a failed run continues', async () => {
    const staged = path.join(treeDir, oldRoot, 'staging', 'recovery');
    const config = await readFile(path.join(staged, 'config.json'), 'utf8');
    expect(config).not.toContain('tk-secret');
    expect(config).toContain('/etc/dk/pw');
    const jobs = await readFile(path.join(staged, 'jobs.json'), 'utf8');
    expect(jobs).not.toContain('kept out of the kit');
    expect(JSON.parse(jobs).jobs[0]).toMatchObject({
      encrypted: true,
      spec: { name: 'Home server', retention: { keepVersions: 7 } },
    });
    const runbook = await readFile(path.join(staged, 'RECOVERY.md'), 'utf8');
    for (const h of [
      '1. Pick the date',
      '2. Check integrity',
      '3. Maintenance window',
      '4. Record the state',
      '5. Warn users',
      'Plan B',
    ]) {
      expect(runbook).toContain(h);
    }
    expect(runbook).toContain('file:///mnt/offsite/home');

    const root = path.join(dir, 'new');
    const database = uniqueDb('recnew');
    dbs.push(database);
    let fail = true;
    const first = await recoverServer({
      ...options(root, database),
      appChecks: async () => {
        if (fail) throw new Error('app check down');
        return { ok: true };
      },
    });
    expect(first.ok).toBe(false);
    expect(first.error).toContain('app check down');
    fail = false;
    const phases: string[] = [];
    const r = await recoverServer({
      ...options(root, database),
      appChecks: async () => ({ ok: true }),
      onStep: (s, p) => phases.push(`${s}:${p}`),
    });
    expect(r.ok, r.error).toBe(true);
    expect(phases).toContain('restore-databases:skipped');
    expect(phases).toContain('app-checks:done');
    expect(Number((await sql<{ n: string }>(database, 'SELECT count(*) AS n FROM assets'))[0]?.n)).toBe(30);
    const s = new Database(path.join(root, 'app', 'app.db'), { readonly: true });
    expect((s.prepare('SELECT group_concat(v) AS v FROM items').get() as { v: string }).v).toBe('x,y');
    s.close();
    expect(await tree(path.join(root, 'photos'))).toEqual(await tree(path.join(oldRoot, 'photos')));
    const list = await newDup.backups.list();
    const job = await newDup.backups.get(list.find((j) => j.name === 'Home server')?.id as string);
    expect(job.sources).toEqual([`${root}/staging/`, `${root}/photos/`]);
    expect(job.settings.find((x) => x.name === '--run-script-before-required')?.value).toBe(
      path.join(root, 'bin', 'hook'),
    );
    expect(job.settings.find((x) => x.name === 'passphrase')?.value).toBe('kept out of the kit');
  });

  it('refuses a damaged dump and a non-empty destination before writing anything', async () => {
    const root = path.join(dir, 'new');
    const database = uniqueDb('recbad');
    dbs.push(database);
    await mkdir(path.join(root, 'photos'), { recursive: true });
    await writeFile(path.join(root, 'photos', 'mine.jpg'), 'keep');
    const busy = await recoverServer(options(root, database));
    expect(busy.ok).toBe(false);
    expect(busy.error).toMatch(/not empty/);
    expect(await readdir(root)).toEqual(['photos']);

    const appDir = path.join(treeDir, oldRoot, 'staging', 'app');
    await writeFile(path.join(appDir, (await readdir(appDir))[0] as string), 'bit rot');
    const damaged = await recoverServer({
      ...options(path.join(dir, 'other'), database),
      workDir: path.join(dir, 'work2'),
    });
    expect(damaged.ok).toBe(false);
    expect(damaged.error).toMatch(/damaged/);
    await expect(readdir(path.join(dir, 'other'))).rejects.toThrow();
  });

  it('a dry run shows every step and writes nothing outside its work folder', async () => {
    const root = path.join(dir, 'new');
    const r = await recoverServer({ ...options(root, uniqueDb('recdry')), dryRun: true });
    expect(r.ok, r.error).toBe(true);
    expect(r.steps.map((x) => x.step)).toEqual(['select-version', 'restore-staged', 'verify-checksums', 'preflight']);
    expect(r.planned.map((x) => x.step)).toEqual([
      'restore-folders',
      'restore-databases',
      'rewrite-paths',
      'app-checks',
      'recreate-jobs',
    ]);
    await expect(readdir(root)).rejects.toThrow();
    expect(await newDup.backups.list()).toEqual([]);
  });
});
