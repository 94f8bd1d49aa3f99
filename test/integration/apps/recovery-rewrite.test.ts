/**
 * The apps' recovery hooks on real PostgreSQL and real SQLite: the stored paths of Immich and
 * Jellyfin rewritten under a path map (all or nothing), and the app checks after a recovery.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImmichDatabaseSource } from '../../../src/apps/immich/database-source.js';
import { ImmichDatabaseTarget } from '../../../src/apps/immich/database-target.js';
import { createBackupPlan } from '../../../src/plan/backup-plan.js';
import { createRestorePlan } from '../../../src/plan/restore-plan.js';
import { JellyfinDatabaseTarget } from '../../../src/apps/jellyfin/database-target.js';
import { silentLogger } from '../../../src/core/logger.js';
import { tempDir } from '../../helpers/context.js';
import { dropDatabases, PG, pgAvailable, sql, uniqueDb } from '../engines/postgres/pg-helpers.js';
import { createImmichSchema } from './immich/fixture.js';
import { build1011Db } from './jellyfin/fixtures.js';

const pg = await pgAvailable();
const ctx = () => ({ signal: new AbortController().signal, logger: silentLogger });
const MAP = [{ from: '/srv/immich/', to: '/mnt/new/immich' }];

describe.skipIf(!pg)('Immich: stored paths rewritten in one transaction, originals checked', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  const dbs: string[] = [];
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('dk-rewrite-immich-'));
  });
  afterAll(async () => {
    await dropDatabases(dbs);
    await cleanup();
  });

  const create = async (extra = ''): Promise<string> => {
    const db = uniqueDb('rewrite');
    dbs.push(db);
    await sql('postgres', `CREATE DATABASE ${db}`);
    await sql(
      db,
      `CREATE TABLE "user" (id serial PRIMARY KEY, "profileImagePath" varchar NOT NULL DEFAULT '');
       CREATE TABLE asset (id serial PRIMARY KEY, "originalPath" text NOT NULL, "encodedVideoPath" varchar, status text NOT NULL DEFAULT 'active');
       CREATE TABLE asset_file (id serial PRIMARY KEY, path varchar NOT NULL);
       CREATE TABLE person (id serial PRIMARY KEY, "thumbnailPath" varchar NOT NULL DEFAULT '' ${extra});
       CREATE TABLE library (id serial PRIMARY KEY, "importPaths" text[] NOT NULL);
       CREATE TABLE system_metadata (key varchar PRIMARY KEY, value jsonb NOT NULL);
       INSERT INTO "user" ("profileImagePath") VALUES ('/srv/immich/profile/u1/a.jpg'), ('');
       INSERT INTO asset ("originalPath", "encodedVideoPath", status) VALUES
         ('/srv/immich/upload/u1/IMG_1.jpg', NULL, 'active'),
         ('/srv/immich/upload/u1/it''s é.mp4', '/srv/immich/encoded-video/u1/x.mp4', 'active'),
         ('/srv/immichx/upload/other.jpg', '', 'active'),
         ('/srv/immich/upload/u1/gone.jpg', NULL, 'deleted'),
         ('/data/upload/u1/container.jpg', NULL, 'trashed');
       INSERT INTO asset_file (path) VALUES ('/srv/immich/thumbs/u1/t.webp'), ('/elsewhere/t.webp');
       INSERT INTO person ("thumbnailPath") VALUES ('/srv/immich/thumbs/u1/face.jpeg');
       INSERT INTO library ("importPaths") VALUES (ARRAY['/srv/immich/external', '/mnt/nas', '/srv/immich']);
       INSERT INTO system_metadata VALUES ('MediaLocation', '{"location": "/srv/immich"}'), ('system-flags', '{"mountChecks": {}}');`,
    );
    return db;
  };
  const target = (db: string, uploadLocation?: string) =>
    new ImmichDatabaseTarget({
      connection: { ...PG, database: db },
      executor: 'local',
      ...(uploadLocation ? { library: { uploadLocation } } : {}),
    });

  it('rewrites every path column under the map and leaves the rest alone', async () => {
    const db = await create();
    const out = (await target(db).rewriteStoredPaths(MAP, ctx())) as { rows: number; mediaLocation: string };
    expect(out.mediaLocation).toBe('/mnt/new/immich');
    expect(out.rows).toBe(8);
    const assets = await sql<{ p: string; e: string | null }>(
      db,
      'SELECT "originalPath" AS p, "encodedVideoPath" AS e FROM asset ORDER BY id',
    );
    expect(assets).toEqual([
      { p: '/mnt/new/immich/upload/u1/IMG_1.jpg', e: null },
      { p: "/mnt/new/immich/upload/u1/it's é.mp4", e: '/mnt/new/immich/encoded-video/u1/x.mp4' },
      { p: '/srv/immichx/upload/other.jpg', e: '' },
      { p: '/mnt/new/immich/upload/u1/gone.jpg', e: null },
      { p: '/data/upload/u1/container.jpg', e: null },
    ]);
    expect((await sql<{ p: string }>(db, 'SELECT path AS p FROM asset_file ORDER BY id')).map((r) => r.p)).toEqual([
      '/mnt/new/immich/thumbs/u1/t.webp',
      '/elsewhere/t.webp',
    ]);
    expect((await sql<{ p: string }>(db, 'SELECT "thumbnailPath" AS p FROM person'))[0]?.p).toBe(
      '/mnt/new/immich/thumbs/u1/face.jpeg',
    );
    expect(
      (await sql<{ p: string }>(db, 'SELECT "profileImagePath" AS p FROM "user" ORDER BY id')).map((r) => r.p),
    ).toEqual(['/mnt/new/immich/profile/u1/a.jpg', '']);
    expect((await sql<{ p: string[] }>(db, 'SELECT "importPaths" AS p FROM library'))[0]?.p).toEqual([
      '/mnt/new/immich/external',
      '/mnt/nas',
      '/mnt/new/immich',
    ]);
    // A second run finds nothing left to change.
    expect(((await target(db).rewriteStoredPaths(MAP, ctx())) as { rows: number }).rows).toBe(0);
  });

  it('rolls everything back when one update fails', async () => {
    const db = await create(`CHECK (length("thumbnailPath") < 34)`);
    await expect(target(db).rewriteStoredPaths(MAP, ctx())).rejects.toThrow(/check constraint/i);
    expect((await sql<{ p: string }>(db, 'SELECT "originalPath" AS p FROM asset ORDER BY id LIMIT 1'))[0]?.p).toBe(
      '/srv/immich/upload/u1/IMG_1.jpg',
    );
    expect(
      (
        await sql<{ v: { location: string } }>(db, "SELECT value AS v FROM system_metadata WHERE key = 'MediaLocation'")
      )[0]?.v.location,
    ).toBe('/srv/immich');
  });

  it('checks every original of the restored database against the library on disk', async () => {
    const db = await create();
    await target(db).rewriteStoredPaths([{ from: '/srv/immich', to: path.join(dir, 'lib') }], ctx());
    await mkdir(path.join(dir, 'lib', 'upload', 'u1'), { recursive: true });
    await writeFile(path.join(dir, 'lib', 'upload', 'u1', 'IMG_1.jpg'), 'x');
    await mkdir(path.join(dir, 'up', 'upload', 'u1'), { recursive: true });
    await writeFile(path.join(dir, 'up', 'upload', 'u1', 'container.jpg'), 'x');
    const r = await target(db, path.join(dir, 'up')).recoveryCheck(ctx());
    expect(r.ok).toBe(false);
    const check = r.checks.find((c) => c.name === 'asset-originals');
    // Missing: the apostrophe file and the one outside the map; the deleted asset is not asked for.
    expect(check?.detail).toMatch(/^2 of 4 originals missing/);
    expect(check?.detail).toContain("it's é.mp4");
    expect(check?.detail).toContain('/srv/immichx/upload/other.jpg');
    await writeFile(path.join(dir, 'lib', 'upload', 'u1', "it's é.mp4"), 'x');
    await sql(db, `DELETE FROM asset WHERE "originalPath" LIKE '/srv/immichx/%'`);
    expect((await target(db, path.join(dir, 'up')).recoveryCheck(ctx())).ok).toBe(true);
  });
});

describe.skipIf(!pg)('Immich: a dump that needs a vector extension the new server lacks', () => {
  it('is refused before anything is written, naming what to install', async () => {
    const { dir, cleanup } = await tempDir('dk-vector-');
    const db = uniqueDb('vecsrc');
    const target = uniqueDb('vecdst');
    try {
      await sql('postgres', `CREATE DATABASE ${db}`);
      await createImmichSchema(db, 'singular', { version: 'v2.5.6', seed: 2 });
      const workDir = path.join(dir, 'staging');
      const plan = createBackupPlan({
        workDir,
        sources: [
          new ImmichDatabaseSource({ name: 'immich-db', connection: { ...PG, database: db }, executor: 'local' }),
        ],
      });
      expect((await plan.prepare()).ok).toBe(true);
      // The old server had VectorChord (as Immich ≥ v1.133 does); this one cannot install it.
      const file = path.join(workDir, 'manifest.json');
      const manifest = JSON.parse(await readFile(file, 'utf8')) as { sources: { metadata: Record<string, unknown> }[] };
      for (const src of manifest.sources) src.metadata.extensions = { vchord: '0.4.3', plpgsql: '1.0' };
      await writeFile(file, JSON.stringify(manifest));
      const restore = createRestorePlan({
        targets: [
          new ImmichDatabaseTarget({
            name: 'immich-db',
            source: 'immich-db',
            connection: { ...PG, database: target },
            executor: 'local',
            immichVersion: 'v2.5.6',
          }),
        ],
      });
      const r = await restore.run({ from: workDir, dryRun: true, reject: false });
      expect(r.ok).toBe(false);
      const checks = r.entries[0]?.verification?.checks ?? [];
      const vector = checks.find((c) => c.name === 'vector-extension');
      expect(vector?.ok).toBe(false);
      expect(vector?.detail).toMatch(/VectorChord \(extension vchord, .*\) 0\.4\.3.*install it first/);
      expect(
        await sql<{ n: number }>('postgres', `SELECT count(*)::int AS n FROM pg_database WHERE datname = '${target}'`),
      ).toEqual([{ n: 0 }]);
      await plan.cleanup();
    } finally {
      await dropDatabases([db, target]);
      await cleanup();
    }
  });
});

describe('Jellyfin: library folders and item paths rewritten, databases checked', () => {
  it('rewrites options.xml, .mblink and BaseItems paths; the check finds the folders and counts', async () => {
    const { dir, cleanup } = await tempDir('dk-rewrite-jf-');
    try {
      const dataDir = path.join(dir, 'data');
      const db = build1011Db(path.join(dataDir, 'data'));
      const s = new Database(db);
      s.exec(`CREATE TABLE BaseItemImageInfos (Id TEXT PRIMARY KEY, ItemId TEXT, Path TEXT NOT NULL);
              INSERT INTO BaseItemImageInfos VALUES ('i1', 'x', '/media/movies/1.jpg'), ('i2', 'x', '%MetadataPath%/library/p.jpg');`);
      s.close();
      const lib = path.join(dataDir, 'root', 'default', 'Movies');
      await mkdir(lib, { recursive: true });
      await writeFile(
        path.join(lib, 'options.xml'),
        '<?xml version="1.0"?>\n<LibraryOptions>\n  <PathInfos>\n    <MediaPathInfo>\n      <Path>/media/movies</Path>\n    </MediaPathInfo>\n    <MediaPathInfo>\n      <Path>/media/films &amp; docs</Path>\n    </MediaPathInfo>\n  </PathInfos>\n</LibraryOptions>\n',
      );
      await writeFile(path.join(lib, 'movies.mblink'), '/media/movies');
      const t = new JellyfinDatabaseTarget({ dataDir, configDir: path.join(dir, 'config') });
      const out = (await t.rewriteStoredPaths([{ from: '/media', to: path.join(dir, 'media') }], ctx())) as {
        rows: number;
        files: string[];
      };
      expect(out.rows).toBe(41);
      expect(out.files).toHaveLength(2);
      const xml = await readFile(path.join(lib, 'options.xml'), 'utf8');
      expect(xml).toContain(`<Path>${path.join(dir, 'media', 'movies')}</Path>`);
      expect(xml).toContain(`<Path>${path.join(dir, 'media', 'films &amp; docs')}</Path>`);
      expect(await readFile(path.join(lib, 'movies.mblink'), 'utf8')).toBe(path.join(dir, 'media', 'movies'));
      const r = new Database(db, { readonly: true });
      const paths = r.prepare("SELECT Path AS p FROM BaseItems WHERE Type = 'Movie' ORDER BY Id").all() as {
        p: string;
      }[];
      expect(paths.every((x) => x.p.startsWith(path.join(dir, 'media', 'movies')))).toBe(true);
      expect((r.prepare("SELECT Path AS p FROM BaseItemImageInfos WHERE Id = 'i2'").get() as { p: string }).p).toBe(
        '%MetadataPath%/library/p.jpg',
      );
      r.close();
      // The check: integrity, counts, and the library folders exist on this host.
      const before = await t.recoveryCheck(ctx());
      expect(before.ok).toBe(false);
      expect(before.checks.find((c) => c.name === 'library-folders')?.detail).toContain('films & docs');
      await mkdir(path.join(dir, 'media', 'movies'), { recursive: true });
      await mkdir(path.join(dir, 'media', 'films & docs'), { recursive: true });
      const after = await t.recoveryCheck(ctx());
      expect(after.ok, JSON.stringify(after.checks)).toBe(true);
      expect(after.checks.find((c) => c.name === 'counts')?.detail).toContain('"items":40');
    } finally {
      await cleanup();
    }
  });
});
