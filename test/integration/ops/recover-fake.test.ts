/**
 * Disaster recovery through Duplicati's direct restore, on the fake server (CI): a seed-shaped
 * server (an Immich database on real PostgreSQL with its library, a Jellyfin 10.11 server on real
 * SQLite with a media library) is backed up by one fake server into a `file://` target; a second,
 * fresh fake server that never saw the job recovers it under other roots knowing only the target
 * URL and the passphrase (no `--from-tree`): databases and files equal, the paths Immich and
 * Jellyfin store rewritten, the app checks passed, the job re-created. Then the bad inputs.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImmichDatabaseSource } from '../../../src/apps/immich/database-source.js';
import { ImmichDatabaseTarget } from '../../../src/apps/immich/database-target.js';
import { ImmichLibrarySource } from '../../../src/apps/immich/library-source.js';
import { JellyfinDatabaseSource } from '../../../src/apps/jellyfin/database-source.js';
import { JellyfinDatabaseTarget } from '../../../src/apps/jellyfin/database-target.js';
import { JellyfinFilesSource } from '../../../src/apps/jellyfin/files.js';
import { DuplicatiClient } from '../../../src/duplicati/client.js';
import { DirectorySource } from '../../../src/engines/directory/source.js';
import { readRecoveryJobs, writeRecoveryKit } from '../../../src/ops/recovery/kit.js';
import { duplicatiDirectReader } from '../../../src/ops/recovery/reader.js';
import { type RecoverOptions, recoverServer, recoveryHooksOf } from '../../../src/ops/recovery/recover.js';
import { createBackupPlan } from '../../../src/plan/backup-plan.js';
import { createRestorePlan } from '../../../src/plan/restore-plan.js';
import { FakeDuplicatiServer } from '../../../src/testing/index.js';
import { tempDir, tree } from '../../helpers/context.js';
import { build1011Db } from '../apps/jellyfin/fixtures.js';
import { createImmichSchema } from '../apps/immich/fixture.js';
import { dropDatabases, PG, pgAvailable, sql, uniqueDb } from '../engines/postgres/pg-helpers.js';

const available = await pgAvailable();
const PW = 'recover-fake-pw';
const PASSPHRASE = 'off-site passphrase';
const IMMICH_VERSION = 'v2.5.6';

describe.skipIf(!available)('recover a seed-shaped server through a fresh fake Duplicati (direct restore)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let oldServer: FakeDuplicatiServer;
  let newServer: FakeDuplicatiServer;
  let dupB: DuplicatiClient;
  let oldRoot: string;
  let target: string;
  let oldDb: string;
  const dbs: string[] = [];

  const immichCounts = async (db: string) =>
    sql<{ t: string; n: number }>(
      db,
      `SELECT 'asset' AS t, count(*)::int AS n FROM asset UNION ALL SELECT 'user', count(*)::int FROM "user"
       UNION ALL SELECT 'album', count(*)::int FROM album UNION ALL SELECT 'asset_face', count(*)::int FROM asset_face ORDER BY 1`,
    );

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('dk-recover-fake-'));
    oldRoot = path.join(dir, 'old');
    const immichDir = path.join(oldRoot, 'immich');
    // Immich, bare-metal style: the database stores host paths under the upload location.
    oldDb = uniqueDb('recfake');
    dbs.push(oldDb);
    await sql('postgres', `CREATE DATABASE ${oldDb}`);
    await createImmichSchema(oldDb, 'singular', { version: IMMICH_VERSION, seed: 5 });
    await sql(
      oldDb,
      `UPDATE asset SET "originalPath" = ${`'${immichDir}/upload/'`} || substr("originalPath", length('/data/upload/') + 1);
       INSERT INTO system_metadata VALUES ('MediaLocation', '{"location": "${immichDir}"}');`,
    );
    const paths = await sql<{ p: string; s: string }>(
      oldDb,
      `SELECT "originalPath" AS p, status::text AS s FROM asset`,
    );
    for (const { p, s } of paths) {
      if (s === 'deleted') continue;
      await mkdir(path.dirname(p), { recursive: true });
      await writeFile(p, `jpeg ${p}`.repeat(50));
    }
    for (const f of ['library', 'upload', 'profile', 'thumbs', 'encoded-video', 'backups']) {
      await mkdir(path.join(immichDir, f), { recursive: true });
      await writeFile(path.join(immichDir, f, '.immich'), '1700000000000');
    }
    // Jellyfin 10.11 with a movie library under the old root.
    const jfData = path.join(oldRoot, 'jellyfin', 'data');
    const jfConfig = path.join(oldRoot, 'jellyfin', 'config');
    const media = path.join(oldRoot, 'media', 'movies');
    const jfDb = build1011Db(path.join(jfData, 'data'));
    const s = new Database(jfDb);
    s.prepare(
      `UPDATE BaseItems SET Path = ? || substr(Path, length('/media/movies') + 1) WHERE Path LIKE '/media/movies/%'`,
    ).run(media);
    s.close();
    await mkdir(path.join(jfData, 'root', 'default', 'Movies'), { recursive: true });
    await writeFile(
      path.join(jfData, 'root', 'default', 'Movies', 'options.xml'),
      `<?xml version="1.0"?>\n<LibraryOptions>\n  <PathInfos>\n    <MediaPathInfo>\n      <Path>${media}</Path>\n    </MediaPathInfo>\n  </PathInfos>\n</LibraryOptions>\n`,
    );
    await mkdir(path.join(jfData, 'metadata', 'library'), { recursive: true });
    await writeFile(path.join(jfData, 'metadata', 'library', 'poster.jpg'), 'poster');
    await mkdir(jfConfig, { recursive: true });
    await writeFile(path.join(jfConfig, 'system.xml'), '<?xml version="1.0"?>\n<ServerConfiguration />\n');
    await mkdir(media, { recursive: true });
    for (let i = 1; i <= 5; i++) await writeFile(path.join(media, `${i}.mkv`), `movie ${i}`.repeat(100));

    const workDir = path.join(oldRoot, 'staging');
    target = `file://${path.join(dir, 'offsite')}`;
    await mkdir(path.join(dir, 'offsite'));
    oldServer = await FakeDuplicatiServer.start({ generation: '2.0', password: PW });
    const dupA = new DuplicatiClient({ baseUrl: oldServer.url, auth: { type: 'password', password: PW } });
    const jf = { dataDir: jfData, configDir: jfConfig, logDir: path.join(oldRoot, 'jellyfin', 'log') };
    const plan = createBackupPlan({
      workDir,
      sources: [
        new ImmichDatabaseSource({ name: 'immich-db', connection: { ...PG, database: oldDb }, executor: 'local' }),
        new ImmichLibrarySource({ name: 'immich-library', uploadLocation: immichDir }),
        new JellyfinDatabaseSource({ name: 'jellyfin-db', ...jf }),
        new JellyfinFilesSource({ name: 'jellyfin-files', ...jf }),
        new DirectorySource({ name: 'media', paths: [path.join(oldRoot, 'media')] }),
      ],
    });
    const prepared = await plan.prepare();
    expect(prepared.ok, JSON.stringify(prepared.results)).toBe(true);
    const job = await dupA.jobs.apply({
      name: 'Home server',
      sources: [`${workDir}/`, ...prepared.includePaths],
      filters: prepared.excludePatterns.map((expression) => ({ include: false, expression })),
      target,
      passphrase: PASSPHRASE,
      schedule: { time: '02:00', repeat: '1D' },
      retention: { keepVersions: 14 },
    });
    const read = await readRecoveryJobs(dupA);
    await writeRecoveryKit({ workDir, config: { workDir }, jobs: read.jobs, jobName: 'Home server' });
    expect((await dupA.backups.runAndWait(job.id as string)).result).toBe('Success');
    await plan.cleanup();
    await oldServer.close();

    newServer = await FakeDuplicatiServer.start({ generation: '2.0', password: PW });
    dupB = new DuplicatiClient({ baseUrl: newServer.url, auth: { type: 'password', password: PW } });
  }, 120_000);

  afterAll(async () => {
    await newServer?.close();
    await dropDatabases(dbs.splice(0));
    await cleanup?.();
  });

  const options = (root: string, database: string, work: string, passphrase = PASSPHRASE): RecoverOptions => {
    const restorePlan = createRestorePlan({
      targets: [
        new ImmichDatabaseTarget({
          name: 'immich-db',
          source: 'immich-db',
          connection: { ...PG, database },
          executor: 'local',
          immichVersion: IMMICH_VERSION,
          library: { uploadLocation: path.join(root, 'immich') },
        }),
        new JellyfinDatabaseTarget({
          name: 'jellyfin-db',
          dataDir: path.join(root, 'jellyfin', 'data'),
          configDir: path.join(root, 'jellyfin', 'config'),
          logDir: path.join(root, 'jellyfin', 'log'),
        }),
      ],
    });
    return {
      reader: duplicatiDirectReader({ client: dupB, targetUrl: target, passphrase }),
      workDir: path.join(dir, work),
      pathMap: [{ from: oldRoot, to: root }],
      restorePlan,
      ...recoveryHooksOf(restorePlan),
      client: dupB,
      passphrase,
      targetUrl: target,
    };
  };

  it('recovers databases, files and jobs under new roots, with the stored paths rewritten', async () => {
    const root = path.join(dir, 'new');
    const database = uniqueDb('recfakenew');
    dbs.push(database);
    const r = await recoverServer(options(root, database, 'work'));
    expect(r.ok, r.error).toBe(true);
    expect(r.steps.map((s) => `${s.step}:${s.status}`)).toEqual([
      'select-version:done',
      'restore-staged:done',
      'verify-checksums:done',
      'preflight:done',
      'restore-folders:done',
      'restore-databases:done',
      'rewrite-paths:done',
      'app-checks:done',
      'recreate-jobs:done',
    ]);
    // Files equal.
    expect(await tree(path.join(root, 'immich'))).toEqual(await tree(path.join(oldRoot, 'immich')));
    expect(await tree(path.join(root, 'media'))).toEqual(await tree(path.join(oldRoot, 'media')));
    // Immich: same rows, the paths under the new upload location.
    expect(await immichCounts(database)).toEqual(await immichCounts(oldDb));
    const before = await sql<{ p: string }>(oldDb, 'SELECT "originalPath" AS p FROM asset ORDER BY id');
    const after = await sql<{ p: string }>(database, 'SELECT "originalPath" AS p FROM asset ORDER BY id');
    expect(after.map((x) => x.p)).toEqual(before.map((x) => x.p.replace(oldRoot, root)));
    const loc = await sql<{ l: string }>(
      database,
      "SELECT value->>'location' AS l FROM system_metadata WHERE key = 'MediaLocation'",
    );
    expect(loc[0]?.l).toBe(path.join(root, 'immich'));
    // Jellyfin: same rows, library and item paths on the new host.
    const newJf = path.join(root, 'jellyfin', 'data');
    const a = new Database(path.join(oldRoot, 'jellyfin', 'data', 'data', 'jellyfin.db'), { readonly: true });
    const b = new Database(path.join(newJf, 'data', 'jellyfin.db'), { readonly: true });
    const rows = (d: Database.Database) =>
      d.prepare('SELECT Id, Path FROM BaseItems ORDER BY Id').all() as { Id: string; Path: string | null }[];
    expect(rows(b)).toEqual(rows(a).map((x) => ({ ...x, Path: x.Path?.replace(oldRoot, root) ?? null })));
    expect((b.prepare('SELECT count(*) AS n FROM Users').get() as { n: number }).n).toBe(
      (a.prepare('SELECT count(*) AS n FROM Users').get() as { n: number }).n,
    );
    a.close();
    b.close();
    expect(await readFile(path.join(newJf, 'root', 'default', 'Movies', 'options.xml'), 'utf8')).toContain(
      `<Path>${path.join(root, 'media', 'movies')}</Path>`,
    );
    // The app checks are in the evidence.
    const report = JSON.parse(await readFile(path.join(dir, 'work', 'recover-report.json'), 'utf8')) as {
      steps: { step: string; durationMs: number; detail: Record<string, { ok: boolean }> }[];
    };
    const checks = report.steps.find((s) => s.step === 'app-checks')?.detail;
    expect(checks?.['immich-db']?.ok).toBe(true);
    expect(checks?.['jellyfin-db']?.ok).toBe(true);
    expect(report.steps.every((s) => typeof s.durationMs === 'number')).toBe(true);
    // The job, re-created on the new server with its sources mapped.
    const list = await dupB.backups.list();
    const job = await dupB.backups.get(list.find((j) => j.name === 'Home server')?.id as string);
    expect(job.sources.every((p) => p.startsWith(`${root}/`))).toBe(true);
    expect(job.sources).toContain(`${path.join(root, 'staging')}/`);
    expect(job.targetUrl).toBe(target);
    expect(job.settings.find((x) => x.name === 'keep-versions')?.value).toBe('14');
  }, 120_000);

  it('refuses a wrong passphrase with a clear error and writes nothing', async () => {
    const root = path.join(dir, 'wrong');
    const r = await recoverServer(options(root, uniqueDb('recwrong'), 'work-wrong', 'not the passphrase'));
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/invalid passphrase/i);
    expect(r.error).not.toContain('not the passphrase');
    await expect(readdir(root)).rejects.toThrow();
    expect(await readdir(path.join(dir, 'work-wrong'))).toEqual(expect.not.arrayContaining(['staged']));
  });

  it('refuses a path map into a non-empty folder before anything is written', async () => {
    const root = path.join(dir, 'busy');
    await mkdir(path.join(root, 'media'), { recursive: true });
    await writeFile(path.join(root, 'media', 'mine.mkv'), 'keep');
    const database = uniqueDb('recbusy');
    dbs.push(database);
    const r = await recoverServer(options(root, database, 'work-busy'));
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/preflight failed, nothing was written[\s\S]*media.*not empty/);
    expect(await readdir(root)).toEqual(['media']);
    expect(await readdir(path.join(root, 'media'))).toEqual(['mine.mkv']);
    expect(
      await sql<{ n: number }>('postgres', `SELECT count(*)::int AS n FROM pg_database WHERE datname = '${database}'`),
    ).toEqual([{ n: 0 }]);
  });

  it('refuses a version whose dump is damaged at the destination, and writes nothing', async () => {
    const offsite = path.join(dir, 'offsite');
    const [version] = (await readdir(offsite)).filter((n) => n.startsWith('duplicati-fake-'));
    const dumpDir = path.join(offsite, version as string, 'tree', oldRoot, 'staging', 'immich-db');
    const dump = (await readdir(dumpDir))[0] as string;
    const original = await readFile(path.join(dumpDir, dump));
    await writeFile(path.join(dumpDir, dump), 'bit rot');
    try {
      const root = path.join(dir, 'damaged');
      const r = await recoverServer(options(root, uniqueDb('recdmg'), 'work-damaged'));
      expect(r.ok).toBe(false);
      expect(r.error).toMatch(/damaged, nothing was written: immich-db\//);
      await expect(readdir(root)).rejects.toThrow();
    } finally {
      await writeFile(path.join(dumpDir, dump), original);
    }
  });

  it('says so when the target holds no duplicati-kit backup', async () => {
    const plain = path.join(dir, 'plain-src');
    await mkdir(plain);
    await writeFile(path.join(plain, 'x.txt'), 'x');
    const url = `file://${path.join(dir, 'plain-target')}`;
    await mkdir(path.join(dir, 'plain-target'));
    const id = newServer.createBackup({ name: 'plain', sources: [`${plain}/`], targetUrl: url });
    expect((await dupB.backups.runAndWait(id)).result).toBe('Success');
    const r = await recoverServer({
      reader: duplicatiDirectReader({ client: dupB, targetUrl: url, passphrase: null }),
      workDir: path.join(dir, 'work-plain'),
    });
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/no duplicati-kit backup/);
    const empty = `file://${path.join(dir, 'empty-target')}`;
    await mkdir(path.join(dir, 'empty-target'));
    const e = await recoverServer({
      reader: duplicatiDirectReader({ client: dupB, targetUrl: empty, passphrase: PASSPHRASE }),
      workDir: path.join(dir, 'work-empty'),
    });
    expect(e.ok).toBe(false);
    expect(e.error).toMatch(/No filesets found on remote target/);
  });
});
