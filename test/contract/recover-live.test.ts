/**
 * Disaster recovery against two real Duplicati 2.0.7.3 servers: one backs up a seed-shaped
 * server (PostgreSQL + SQLite dumps staged with the recovery kit, a photo folder backed up live),
 * a second one — fresh, empty data folder, another port — recovers it knowing only the target URL
 * and the passphrase, under other roots. Runs when the Mono build is installed at
 * $HOME/.cache/duplicati-kit/duplicati-2.0.7.3 (or DUPLICATI_DIST); skips with one line otherwise.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuplicatiClient } from '../../src/duplicati/index.js';
import { DirectorySource } from '../../src/engines/directory/source.js';
import { PostgresSource } from '../../src/engines/postgres/source.js';
import { PostgresTarget } from '../../src/engines/postgres/target.js';
import { SqliteSource } from '../../src/engines/sqlite/source.js';
import { SqliteTarget } from '../../src/engines/sqlite/target.js';
import { readRecoveryJobs, writeRecoveryKit } from '../../src/ops/recovery/kit.js';
import { duplicatiDirectReader } from '../../src/ops/recovery/reader.js';
import { recoverServer } from '../../src/ops/recovery/recover.js';
import { createBackupPlan } from '../../src/plan/backup-plan.js';
import { createRestorePlan } from '../../src/plan/restore-plan.js';
import { tempDir, tree } from '../helpers/context.js';
import { realDuplicatiDist, type RealServer, startRealDuplicati } from '../helpers/real-duplicati.js';
import { dropDatabases, PG, pgAvailable, sql, uniqueDb } from '../integration/engines/postgres/pg-helpers.js';

const dist = realDuplicatiDist();
const pg = await pgAvailable();
if (!dist || !pg) console.warn('skipping the live recovery test: real Duplicati 2.0.7.3 (mono) or PostgreSQL absent');
const [PORT_A, PORT_B] = (process.env.DUPLICATI_RECOVER_PORTS ?? '18362,18363').split(',').map(Number);
const PW = 'recover-live-pw';
const PASSPHRASE = 'family photos passphrase';

describe.runIf(dist && pg)('recover on a new host with two real Duplicati 2.0.7.3 servers', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let a: RealServer;
  let b: RealServer;
  let dupA: DuplicatiClient;
  let dupB: DuplicatiClient;
  let db: string;
  const newDbs: string[] = [];
  let target: string;
  let oldRoot: string;

  const newHostPlan = (root: string, database: string) =>
    createRestorePlan({
      targets: [
        new PostgresTarget({ name: 'app-db', source: 'app-db', connection: { ...PG, database } }),
        new SqliteTarget({ name: 'app', source: 'app', path: path.join(root, 'app', 'app.db') }),
      ],
    });

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('dk-recover-live-'));
    a = await startRealDuplicati(dist as string, PORT_A as number, path.join(dir, 'server-a'), PW);
    b = await startRealDuplicati(dist as string, PORT_B as number, path.join(dir, 'server-b'), PW);
    dupA = new DuplicatiClient({ baseUrl: a.url, auth: { type: 'password', password: PW }, timeout: 120_000 });
    dupB = new DuplicatiClient({ baseUrl: b.url, auth: { type: 'password', password: PW }, timeout: 120_000 });

    // The old host: a PostgreSQL database, an SQLite database, a photo library.
    oldRoot = path.join(dir, 'old');
    db = uniqueDb('recover');
    await sql('postgres', `CREATE DATABASE ${db}`);
    await sql(
      db,
      "CREATE TABLE assets (id serial PRIMARY KEY, path text); INSERT INTO assets (path) SELECT '/srv/photos/' || g || '.jpg' FROM generate_series(1, 50) g;",
    );
    await mkdir(path.join(oldRoot, 'app'), { recursive: true });
    const s = new Database(path.join(oldRoot, 'app', 'app.db'));
    s.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO items (v) VALUES ('a'), ('b'), ('c');");
    s.close();
    for (let i = 0; i < 20; i++) {
      await mkdir(path.join(oldRoot, 'photos', `2024-0${(i % 5) + 1}`), { recursive: true });
      await writeFile(path.join(oldRoot, 'photos', `2024-0${(i % 5) + 1}`, `img${i}.jpg`), `photo ${i} `.repeat(500));
    }
    const workDir = path.join(oldRoot, 'staging');
    target = `file://${path.join(dir, 'offsite')}`;
    await mkdir(path.join(dir, 'offsite'));
    const job = await dupA.jobs.apply({
      name: 'Home server',
      sources: [`${workDir}/`, `${path.join(oldRoot, 'photos')}/`],
      target,
      passphrase: PASSPHRASE,
      schedule: { time: '03:00', repeat: '1D' },
      retention: { keepTime: '30D' },
    });
    const plan = createBackupPlan({
      workDir,
      sources: [
        new PostgresSource({ name: 'app-db', connection: { ...PG, database: db } }),
        new SqliteSource({ name: 'app', path: path.join(oldRoot, 'app', 'app.db'), counts: ['items'] }),
        new DirectorySource({ name: 'photos', paths: [path.join(oldRoot, 'photos')] }),
      ],
    });
    const backupOnce = async (damage: boolean) => {
      expect((await plan.prepare()).ok).toBe(true);
      const read = await readRecoveryJobs(dupA);
      await writeRecoveryKit({
        workDir,
        config: { workDir, sources: [] },
        jobs: read.jobs,
        jobName: 'Home server',
        ...(read.duplicatiVersion ? { duplicatiVersion: read.duplicatiVersion } : {}),
      });
      // A dump damaged after it was staged (a bad disk): this version must be refused.
      if (damage)
        await writeFile(path.join(workDir, 'app', (await readdir(path.join(workDir, 'app')))[0] as string), 'garbage');
      expect((await dupA.backups.runAndWait(job.id as string)).result).toBe('Success');
      await plan.cleanup();
    };
    await backupOnce(false);
    await new Promise((r) => setTimeout(r, 1500));
    await backupOnce(true);
  }, 600_000);

  afterAll(async () => {
    await b?.stop();
    await a?.stop();
    if (db) await dropDatabases([db, ...newDbs]);
    await cleanup?.();
  });

  const reader = (passphrase = PASSPHRASE, url = target) =>
    duplicatiDirectReader({ client: dupB, targetUrl: url, passphrase });

  it('refuses a wrong passphrase clearly and writes nothing', async () => {
    const work = path.join(dir, 'work-wrong');
    const r = await recoverServer({
      reader: reader('not the passphrase'),
      workDir: work,
      pathMap: [{ from: oldRoot, to: path.join(dir, 'never') }],
    });
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/passphrase/i);
    expect(r.error).not.toContain('not the passphrase');
    await expect(readdir(path.join(dir, 'never'))).rejects.toThrow();
  }, 300_000);

  it('refuses the newest version, whose dump is damaged, and writes nothing', async () => {
    const root = path.join(dir, 'damaged');
    const database = uniqueDb('recdmg');
    newDbs.push(database);
    const r = await recoverServer({
      reader: reader(),
      workDir: path.join(dir, 'work-damaged'),
      pathMap: [{ from: oldRoot, to: root }],
      restorePlan: newHostPlan(root, database),
    });
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/damaged.*app\//);
    await expect(readdir(root)).rejects.toThrow();
  }, 300_000);

  it('refuses a path map that would write into a non-empty folder', async () => {
    const root = path.join(dir, 'busy');
    await mkdir(path.join(root, 'photos'), { recursive: true });
    await writeFile(path.join(root, 'photos', 'keep.txt'), 'mine');
    const r = await recoverServer({
      reader: reader(),
      workDir: path.join(dir, 'work-busy'),
      version: 1,
      pathMap: [{ from: oldRoot, to: root }],
    });
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/not empty/);
    expect(await readdir(path.join(root, 'photos'))).toEqual(['keep.txt']);
  }, 300_000);

  it('recovers version 1 on the fresh server under new roots: databases, files, jobs', async () => {
    const root = path.join(dir, 'new');
    const database = uniqueDb('recnew');
    newDbs.push(database);
    const steps: string[] = [];
    const dry = await recoverServer({
      reader: reader(),
      workDir: path.join(dir, 'work-new'),
      version: 1,
      pathMap: [{ from: oldRoot, to: root }],
      restorePlan: newHostPlan(root, database),
      client: dupB,
      passphrase: PASSPHRASE,
      targetUrl: target,
      dryRun: true,
    });
    expect(dry.ok, dry.error).toBe(true);
    expect(dry.planned.map((p) => p.step)).toEqual([
      'restore-folders',
      'restore-databases',
      'rewrite-paths',
      'app-checks',
      'recreate-jobs',
    ]);
    await expect(readdir(root)).rejects.toThrow();

    const r = await recoverServer({
      reader: reader(),
      workDir: path.join(dir, 'work-new'),
      version: 1,
      pathMap: [{ from: oldRoot, to: root }],
      restorePlan: newHostPlan(root, database),
      client: dupB,
      passphrase: PASSPHRASE,
      targetUrl: target,
      onStep: (s, phase) => steps.push(`${s}:${phase}`),
    });
    expect(r.ok, r.error).toBe(true);
    expect(steps).toContain('select-version:skipped');
    expect(steps).toContain('restore-folders:done');
    expect(Number((await sql<{ n: string }>(database, 'SELECT count(*) AS n FROM assets'))[0]?.n)).toBe(50);
    const s = new Database(path.join(root, 'app', 'app.db'), { readonly: true });
    expect((s.prepare('SELECT group_concat(v) AS v FROM items').get() as { v: string }).v).toBe('a,b,c');
    s.close();
    expect(await tree(path.join(root, 'photos'))).toEqual(await tree(path.join(oldRoot, 'photos')));
    const jobs = await dupB.backups.list();
    const job = jobs.find((j) => j.name === 'Home server');
    expect(job).toBeDefined();
    const full = await dupB.backups.get(job?.id as string);
    expect(full.sources).toEqual([`${path.join(root, 'staging')}/`, `${path.join(root, 'photos')}/`]);
    expect(full.schedule?.repeat).toBe('1D');
    expect(full.settings.find((x) => x.name === 'keep-time')?.value).toBe('30D');
    const runbook = await readFile(path.join(dir, 'work-new', 'staged', 'recovery', 'RECOVERY.md'), 'utf8');
    expect(runbook).toContain('## 1. Pick the date');
    expect(runbook).toContain('Home server');
    const report = JSON.parse(await readFile(path.join(dir, 'work-new', 'recover-report.json'), 'utf8')) as {
      steps: { step: string; durationMs: number }[];
    };
    expect(report.steps.map((x) => x.step)).toContain('recreate-jobs');

    // A second run finds everything done and changes nothing.
    const again = await recoverServer({
      reader: reader(),
      workDir: path.join(dir, 'work-new'),
      version: 1,
      pathMap: [{ from: oldRoot, to: root }],
      restorePlan: newHostPlan(root, database),
      client: dupB,
      passphrase: PASSPHRASE,
    });
    expect(again.ok, again.error).toBe(true);
  }, 600_000);

  it('says so when the target holds no duplicati-kit backup', async () => {
    const plain = path.join(dir, 'plain-src');
    await mkdir(plain);
    await writeFile(path.join(plain, 'x.txt'), 'x');
    const url = `file://${path.join(dir, 'plain-target')}`;
    await mkdir(path.join(dir, 'plain-target'));
    const j = await dupA.jobs.apply({ name: 'plain', sources: [`${plain}/`], target: url, passphrase: PASSPHRASE });
    expect((await dupA.backups.runAndWait(j.id as string)).result).toBe('Success');
    const r = await recoverServer({ reader: reader(PASSPHRASE, url), workDir: path.join(dir, 'work-plain') });
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/no duplicati-kit backup/);
  }, 300_000);
});
