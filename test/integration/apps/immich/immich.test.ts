import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRestoreError, isSourceUnavailableError, isVerificationError } from '../../../../src/core/errors.js';
import { ImmichDatabaseSource, ImmichDatabaseTarget, immichSource } from '../../../../src/apps/immich/index.js';
import { readImmichCounts } from '../../../../src/apps/immich/schema.js';
import { openDriverSession } from '../../../../src/engines/postgres/session.js';
import { PostgresTarget } from '../../../../src/engines/postgres/target.js';
import { makeContext, tempDir } from '../../../helpers/context.js';
import { databasesLike, dropDatabases, PG, pgAvailable, sql, uniqueDb } from '../../engines/postgres/pg-helpers.js';
import { restoreInputFor } from '../../engines/postgres/restore-input.js';
import { createImmichSchema, type ImmichFixture, writeFakeDocker } from './fixture.js';

const available = await pgAvailable();

describe.skipIf(!available)('Immich database source and target against a real server', () => {
  const db = uniqueDb('immich');
  const plural = uniqueDb('immich_old');
  const password = 'Pw-never-in-argv-42';
  let work: { dir: string; cleanup: () => Promise<void> };
  let docker: { command: string; log: string };
  let fixture: ImmichFixture;
  let oldFixture: ImmichFixture;
  const connection = { ...PG, database: db, password };
  const executor = () => ({ docker: { container: 'immich_postgres', command: docker.command } });

  beforeAll(async () => {
    work = await tempDir();
    docker = await writeFakeDocker(work.dir);
    await sql('postgres', `CREATE DATABASE ${db}`);
    await sql('postgres', `CREATE DATABASE ${plural}`);
    fixture = await createImmichSchema(db, 'singular', { version: 'v2.5.6', seed: Date.now() % 1000 });
    oldFixture = await createImmichSchema(plural, 'plural', { version: 'v1.135.3', seed: 7 });
  });

  afterAll(async () => {
    await dropDatabases([...(await databasesLike(db)), ...(await databasesLike(plural))]);
    await work.cleanup();
  });

  it('dumps through docker exec as an Immich-named sql.gz with Immich counts, secrets only in env', async () => {
    const source = new ImmichDatabaseSource({ connection, executor: executor() });
    const ctx = makeContext(work.dir, source.name);
    await source.check(ctx);
    const prepared = await source.prepare(ctx);
    const ref = prepared.artifacts[0];
    expect(ref?.path).toMatch(/^immich-db\/immich-db-backup-\d{8}T\d{6}-v2\.5\.6-pg15\.\d+\.sql\.gz$/);
    const meta = prepared.metadata as Record<string, unknown>;
    expect(meta.immichVersion).toBe('v2.5.6');
    expect(meta.schemaGeneration).toBe('singular');
    expect(meta.extensions).toEqual(
      expect.objectContaining({
        'uuid-ossp': expect.any(String),
        earthdistance: expect.any(String),
        pg_trgm: expect.any(String),
      }),
    );
    expect(meta.immich).toEqual({
      assets: Object.fromEntries(Object.entries(fixture.assets).filter(([, n]) => n > 0)),
      users: fixture.users,
      albums: fixture.albums,
      albumAssets: fixture.albumAssets,
      exif: fixture.exif,
      faces: fixture.faces,
      people: fixture.people,
    });
    expect((meta.counts as Record<string, number>)['public.asset']).toBe(fixture.originalPaths.length);

    const file = path.join(work.dir, ref?.path ?? '');
    expect((await execa('gunzip', ['--test', file], { reject: false })).exitCode).toBe(0);
    const log = await fsp.readFile(docker.log, 'utf8');
    expect(log).toContain('exec -i -e PGPASSWORD immich_postgres pg_dump --clean --if-exists');
    expect(log).toContain('PGPASSWORD=set');
    expect(log).not.toContain(password);
    for (const line of log.trim().split('\n')) {
      const dockerFlags = line.slice(line.indexOf(' exec '), line.indexOf(' immich_postgres '));
      expect(dockerFlags).toMatch(/^ exec -i( -e [A-Z]+)*$/);
    }
    expect(log).not.toContain('pg_dumpall');
  });

  it('reads the whole-table counts from counts already taken, and counts the rest', async () => {
    const session = await openDriverSession({ ...PG, password, database: db, sslmode: undefined }, db);
    try {
      const counted = await readImmichCounts(session, 'singular');
      expect(counted).toMatchObject({ exif: fixture.exif, faces: fixture.faces, people: fixture.people });
      // given (the restore's per-table pass), taken as they are: no second count of those tables
      const known = { 'public.asset_exif': 999_999, 'public.asset_face': 7 };
      const reused = await readImmichCounts(session, 'singular', { known });
      expect(reused).toEqual({ ...counted, exif: 999_999, faces: 7 });
    } finally {
      await session.close();
    }
  });

  it('splits assets by deletedAt where the asset table has no status column (also a dropped one)', async () => {
    const old = uniqueDb('immich_nostatus');
    await sql('postgres', `CREATE DATABASE ${old}`);
    try {
      await sql(
        old,
        `CREATE TABLE asset (id int PRIMARY KEY, status text, "deletedAt" timestamptz);
         ALTER TABLE asset DROP COLUMN status;
         INSERT INTO asset SELECT g, CASE WHEN g % 4 = 0 THEN now() END FROM generate_series(1, 20) g;
         CREATE TABLE "user" (id int PRIMARY KEY, "deletedAt" timestamptz);
         INSERT INTO "user" VALUES (1, NULL), (2, now()), (3, NULL);`,
      );
      const session = await openDriverSession({ ...PG, password: undefined, database: old, sslmode: undefined }, old);
      try {
        expect(await readImmichCounts(session, 'singular', { tableCounts: false })).toEqual({
          assets: { active: 15, trashed: 5 },
          users: 2,
        });
      } finally {
        await session.close();
      }
    } finally {
      await dropDatabases([old]);
    }
  });

  it('verifies in scratch, restores with the search_path rewrite, swaps, and rolls back', async () => {
    const source = new ImmichDatabaseSource({ name: 'swap', connection, executor: executor() });
    const prepared = await source.prepare(makeContext(work.dir, source.name));
    const input = restoreInputFor(source, prepared, work.dir);

    // The plain generic target does not rewrite search_path: the earthdistance index breaks it.
    const generic = new PostgresTarget({ connection }, {}, ['immich.postgres']);
    const genericReport = await generic.verify(input, makeContext(work.dir, 'generic'));
    const immichCtx = makeContext(work.dir, 'immich-db');
    const target = new ImmichDatabaseTarget({ connection, executor: executor() });
    const report = await target.verify(input, immichCtx);
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.checks.map((c) => c.name)).toEqual(
      expect.arrayContaining(['gzip', 'dump-kind', 'immich-version', 'counts', 'immich-counts', 'load']),
    );
    expect(genericReport.ok).toBe(false);
    expect(genericReport.checks.find((c) => c.name === 'load')?.detail).toMatch(/does not exist/);

    await sql(db, 'DELETE FROM album_asset');
    const out = await target.restore(input, immichCtx);
    expect(out.safetyCopy).toMatch(new RegExp(`^${db}_before_restore_`));
    expect((await sql(db, 'SELECT count(*)::int AS n FROM album_asset'))[0]?.n).toBe(fixture.albumAssets);
    // The rewritten search_path made the earthdistance index usable in the restored database.
    expect(
      (
        await sql(
          db,
          'SELECT count(*)::int AS n FROM geodata_places WHERE earth_box(ll_to_earth(41, 2), 100000) @> ll_to_earth(latitude, longitude)',
        )
      )[0]?.n,
    ).toBeGreaterThan(0);

    await target.rollback(out, immichCtx);
    expect((await sql(db, 'SELECT count(*)::int AS n FROM album_asset'))[0]?.n).toBe(0);
    const again = await target.restore(input, immichCtx);
    await target.finalize(again, immichCtx);
    // keepSafetyCopy is the Immich default: plan B stays until the user drops it.
    expect(await databasesLike(`${db}_before_restore_`)).toEqual([again.safetyCopy]);
    await dropDatabases([again.safetyCopy as string]);
    expect((await sql(db, 'SELECT count(*)::int AS n FROM album_asset'))[0]?.n).toBe(fixture.albumAssets);
  });

  it('a dump corrupted halfway is refused and the live database stays as it was', async () => {
    const source = new ImmichDatabaseSource({ name: 'corrupt', connection, executor: executor() });
    const prepared = await source.prepare(makeContext(work.dir, source.name));
    const input = restoreInputFor(source, prepared, work.dir);
    const file = input.artifacts[0]?.file as string;
    const bytes = await fsp.readFile(file);
    await fsp.writeFile(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await sql(db, "INSERT INTO system_metadata VALUES ('marker', '{}')");

    const target = new ImmichDatabaseTarget({ connection, executor: executor() });
    const ctx = makeContext(work.dir, target.name);
    const report = await target.verify(input, ctx);
    expect(report.ok).toBe(false);
    const err = await target.restore(input, ctx).catch((e: unknown) => e);
    expect(isRestoreError(err) || isVerificationError(err)).toBe(true);
    expect((await sql(db, "SELECT count(*)::int AS n FROM system_metadata WHERE key = 'marker'"))[0]?.n).toBe(1);
    expect(await databasesLike(`${db}_restore_`)).toEqual([]);
    await sql(db, "DELETE FROM system_metadata WHERE key = 'marker'");
  });

  it('refuses a dump from a newer Immich than the one installed', async () => {
    const source = new ImmichDatabaseSource({ name: 'newer', connection, executor: executor(), format: 'sql' });
    const prepared = await source.prepare(makeContext(work.dir, source.name));
    expect(prepared.artifacts[0]?.path).toMatch(/\.sql$/);
    const target = new ImmichDatabaseTarget({ connection, executor: executor(), immichVersion: 'v2.4.0' });
    const input = restoreInputFor(source, prepared, work.dir);
    const report = await target.verify(input, makeContext(work.dir, target.name));
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.name === 'immich-version')?.detail).toMatch(/upgrade Immich first/);
    const err = await target.restore(input, makeContext(work.dir, target.name)).catch((e: unknown) => e);
    expect(isVerificationError(err)).toBe(true);
  });

  it('reads the plural (pre-1.136) schema and names its dump without a misleading version', async () => {
    const source = new ImmichDatabaseSource({
      name: 'old',
      connection: { ...PG, database: plural },
      executor: executor(),
    });
    const prepared = await source.prepare(makeContext(work.dir, source.name));
    const meta = prepared.metadata as Record<string, unknown>;
    expect(meta.schemaGeneration).toBe('plural');
    expect(meta.immichVersion).toBe('v1.135.3');
    expect((meta.immich as Record<string, unknown>).users).toBe(oldFixture.users);
    expect((meta.immich as Record<string, unknown>).albumAssets).toBe(oldFixture.albumAssets);
    // Immich's own restore treats a name with -v<=2.4- as a pg_dumpall cluster dump.
    expect(prepared.artifacts[0]?.path).toMatch(/immich-db-backup-\d{8}T\d{6}-pg15\.\d+\.sql\.gz$/);
    const target = new ImmichDatabaseTarget({
      connection: { ...PG, database: plural },
      executor: executor(),
      scratch: true,
    });
    const input = restoreInputFor(source, prepared, work.dir);
    const out = await target.restore(input, makeContext(work.dir, target.name));
    expect(out.metadata?.scratch).toBe(true);
    expect(await databasesLike(`${plural}_`)).toEqual([]);
  });

  it('checks asset files against the restored library, translating the /data prefix', async () => {
    const upload = path.join(work.dir, 'library');
    // Assets with status 'deleted' have no file any more (Immich removed it): they are not checked.
    const kept = (
      await sql<{ p: string }>(db, `SELECT "originalPath" AS p FROM asset WHERE status <> 'deleted' ORDER BY id`)
    ).map((r) => r.p);
    expect(kept.length).toBe(fixture.originalPaths.length - fixture.assets.deleted);
    const [first, ...rest] = kept;
    for (const p of rest) {
      const host = path.join(upload, p.slice('/data/'.length));
      await fsp.mkdir(path.dirname(host), { recursive: true });
      await fsp.writeFile(host, 'jpeg');
    }
    const source = new ImmichDatabaseSource({ name: 'files', connection, executor: executor(), format: 'sql' });
    const prepared = await source.prepare(makeContext(work.dir, source.name));
    const target = new ImmichDatabaseTarget({
      connection,
      executor: executor(),
      library: { uploadLocation: upload, sample: 'all' },
    });
    const report = await target.verify(restoreInputFor(source, prepared, work.dir), makeContext(work.dir, target.name));
    const files = report.checks.find((c) => c.name === 'asset-files');
    expect(files?.ok).toBe(false);
    expect(files?.detail).toContain(`1 of ${kept.length} asset files missing: ${first}`);
  });

  it('refuses before dumping when the container pg_dump is older than the server', async () => {
    const dir = path.join(work.dir, 'old-docker');
    await fsp.mkdir(dir);
    const old = await writeFakeDocker(dir, { pgDumpVersion: '14.11' });
    const source = new ImmichDatabaseSource({
      name: 'mismatch',
      connection,
      executor: { docker: { container: 'immich_postgres', command: old.command } },
    });
    const err = await source.prepare(makeContext(work.dir, source.name)).catch((e: unknown) => e);
    expect(isSourceUnavailableError(err)).toBe(true);
    expect((err as Error).message).toMatch(/no pg_dump of major version 15 or newer.*found: 14\.11/);
    const log = await fsp.readFile(old.log, 'utf8');
    expect(log).not.toContain('--clean');
    expect(await fsp.readdir(path.join(work.dir, 'mismatch')).catch(() => [])).toEqual([]);
  });

  it('immichSource composes the database and the library, database first', async () => {
    const upload = path.join(work.dir, 'composed');
    for (const f of ['upload', 'library', 'profile', 'thumbs', 'encoded-video', 'backups']) {
      await fsp.mkdir(path.join(upload, f), { recursive: true });
      await fsp.writeFile(path.join(upload, f, '.immich'), '');
    }
    const composite = immichSource({
      name: 'immich-all',
      database: { connection, executor: executor(), format: 'sql' },
      library: { uploadLocation: upload },
    });
    expect(composite.parts.map((p) => p.kind)).toEqual(['immich.postgres', 'immich.library']);
    const prepared = await composite.prepare(makeContext(work.dir, composite.name));
    expect(prepared.artifacts).toHaveLength(1);
    expect(prepared.includePaths).toEqual(
      expect.arrayContaining([`${path.join(upload, 'upload')}/`, path.join(upload, 'thumbs', '.immich')]),
    );
  });
});
