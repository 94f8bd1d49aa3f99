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
import { ImmichDatabaseSource } from '../../src/apps/immich/database-source.js';
import { ImmichDatabaseTarget } from '../../src/apps/immich/database-target.js';
import { ImmichLibrarySource } from '../../src/apps/immich/library-source.js';
import { DirectorySource } from '../../src/engines/directory/source.js';
import { PostgresSource } from '../../src/engines/postgres/source.js';
import { PostgresTarget } from '../../src/engines/postgres/target.js';
import { SqliteSource } from '../../src/engines/sqlite/source.js';
import { SqliteTarget } from '../../src/engines/sqlite/target.js';
import { readRecoveryJobs, writeRecoveryKit } from '../../src/ops/recovery/kit.js';
import { duplicatiDirectReader } from '../../src/ops/recovery/reader.js';
import { recoverServer, recoveryHooksOf } from '../../src/ops/recovery/recover.js';
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
  let immichDb: string;

  const newHostPlan = (root: string, database: string) =>
    createRestorePlan({
      targets: [
        new PostgresTarget({ name: 'app-db', source: 'app-db', connection: { ...PG, database } }),
        new SqliteTarget({ name: 'app', source: 'app', path: path.join(root, 'app', 'app.db') }),
        new ImmichDatabaseTarget({
          name: 'immich-db',
          source: 'immich-db',
          connection: { ...PG, database: `${database}_immich` },
          executor: 'local',
          immichVersion: 'v2.5.6',
          library: { uploadLocation: path.join(root, 'immich') },
        }),
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
    // Immich, bare-metal paths: originals under upload/, thumbs/ left out of the backup (its .immich
    // marker is backed up as a single file).
    const immich = path.join(oldRoot, 'immich');
    immichDb = uniqueDb('recimm');
    await sql('postgres', `CREATE DATABASE ${immichDb}`);
    await sql(
      immichDb,
      `CREATE TABLE "user" (id serial PRIMARY KEY, "profileImagePath" text NOT NULL DEFAULT '');
       CREATE TABLE asset (id serial PRIMARY KEY, "originalPath" text NOT NULL, status text NOT NULL DEFAULT 'active');
       CREATE TABLE version_history (id serial PRIMARY KEY, "createdAt" timestamptz NOT NULL DEFAULT now(), version text NOT NULL);
       CREATE TABLE system_metadata (key text PRIMARY KEY, value jsonb NOT NULL);
       INSERT INTO version_history (version) VALUES ('v2.5.6');
       INSERT INTO system_metadata VALUES ('MediaLocation', '{"location": "${immich}"}');
       INSERT INTO "user" ("profileImagePath") VALUES ('${immich}/profile/u1/me.jpg');
       INSERT INTO asset ("originalPath") SELECT '${immich}/upload/u1/IMG_' || g || '.jpg' FROM generate_series(1, 8) g;`,
    );
    for (const f of ['upload/u1', 'profile/u1', 'thumbs/u1', 'library', 'encoded-video', 'backups']) {
      await mkdir(path.join(immich, f), { recursive: true });
    }
    for (const f of ['upload', 'profile', 'thumbs', 'library', 'encoded-video', 'backups'])
      await writeFile(path.join(immich, f, '.immich'), '1700000000000');
    for (let i = 1; i <= 8; i++)
      await writeFile(path.join(immich, 'upload', 'u1', `IMG_${i}.jpg`), `img ${i} `.repeat(300));
    await writeFile(path.join(immich, 'profile', 'u1', 'me.jpg'), 'me');
    await writeFile(path.join(immich, 'thumbs', 'u1', 'regenerable.webp'), 'thumb');
    for (let i = 0; i < 20; i++) {
      await mkdir(path.join(oldRoot, 'photos', `2024-0${(i % 5) + 1}`), { recursive: true });
      await writeFile(path.join(oldRoot, 'photos', `2024-0${(i % 5) + 1}`, `img${i}.jpg`), `photo ${i} `.repeat(500));
    }
    const workDir = path.join(oldRoot, 'staging');
    target = `file://${path.join(dir, 'offsite')}`;
    await mkdir(path.join(dir, 'offsite'));
    const immichLibrary = new ImmichLibrarySource({
      name: 'immich-library',
      uploadLocation: immich,
      folders: ['upload', 'profile', 'library'],
    });
    // What the library source includes: the chosen folders, and the markers of the others.
    const libraryPaths = [
      ...['upload', 'profile', 'library'].map((f) => `${path.join(immich, f)}/`),
      ...['thumbs', 'encoded-video', 'backups'].map((f) => path.join(immich, f, '.immich')),
    ];
    const job = await dupA.jobs.apply({
      name: 'Home server',
      sources: [`${workDir}/`, `${path.join(oldRoot, 'photos')}/`, ...libraryPaths],
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
        new ImmichDatabaseSource({ name: 'immich-db', connection: { ...PG, database: immichDb }, executor: 'local' }),
        immichLibrary,
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
    if (db) await dropDatabases([db, immichDb, ...newDbs, ...newDbs.map((d) => `${d}_immich`)]);
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

    const plan = newHostPlan(root, database);
    const r = await recoverServer({
      reader: reader(),
      workDir: path.join(dir, 'work-new'),
      version: 1,
      pathMap: [{ from: oldRoot, to: root }],
      restorePlan: plan,
      ...recoveryHooksOf(plan),
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
    // Immich: the library without thumbs/ content but with its marker, the stored paths rewritten, checked.
    const { ['thumbs/u1/regenerable.webp']: _thumb, ...backedUp } = await tree(path.join(oldRoot, 'immich'));
    expect(await tree(path.join(root, 'immich'))).toEqual(backedUp);
    const assets = await sql<{ p: string }>(`${database}_immich`, 'SELECT "originalPath" AS p FROM asset ORDER BY id');
    expect(assets.map((x) => x.p)).toEqual(
      Array.from({ length: 8 }, (_, i) => path.join(root, 'immich', 'upload', 'u1', `IMG_${i + 1}.jpg`)),
    );
    const media = await sql<{ l: string }>(
      `${database}_immich`,
      "SELECT value->>'location' AS l FROM system_metadata WHERE key = 'MediaLocation'",
    );
    expect(media[0]?.l).toBe(path.join(root, 'immich'));
    const evidence = r.steps.find((x) => x.step === 'app-checks')?.detail as Record<string, { ok: boolean }>;
    expect(evidence['immich-db']?.ok).toBe(true);
    const jobs = await dupB.backups.list();
    const job = jobs.find((j) => j.name === 'Home server');
    expect(job).toBeDefined();
    const full = await dupB.backups.get(job?.id as string);
    expect(full.sources.slice(0, 2)).toEqual([`${path.join(root, 'staging')}/`, `${path.join(root, 'photos')}/`]);
    expect(full.sources).toContain(path.join(root, 'immich', 'thumbs', '.immich'));
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
