/**
 * Benchmark: the Immich database source and target against the shell pipelines Immich documents,
 * on the same generated Immich-shaped database (singular table names, the contrib extensions,
 * the trigram and earthdistance indexes, CLIP and face embeddings as `real[512]`), in the same
 * run, alternating:
 *
 *   - `sql.gz` (ImmichDatabaseSource in a backup plan: gzip on all cores, sha256, fsync, counts,
 *     manifest) vs `pg_dump --clean --if-exists | gzip -6 > file`
 *   - `sql` (the same, plain) vs `pg_dump --clean --if-exists -f file`
 *   - restore (a restore plan with ImmichDatabaseTarget scratch: checksums, search_path rewrite,
 *     psql --single-transaction into a new database, Immich and per-table counts, drop) vs
 *     `createdb && psql --single-transaction -f <rewritten file> && dropdb`
 *
 * Ours runs the BUILT package (`npm run build` first) in a child process, so its peak RSS is its
 * own and has no TypeScript loader in it.
 *
 *   npx tsx bench/immich.ts [mb=1024] [reps=3]    (or BENCH_MB, BENCH_REPS)
 *   quick: npx tsx bench/immich.ts mb=100 reps=1
 *
 * Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) with the contrib extensions and
 * pg_dump/psql on PATH. The database `dk_bench_immich_<random>` is dropped at the end. Not part
 * of `npm test`.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { arg, fmtBytes, load } from './lib/common.js';
import { dropDatabases, PG, emptyTimings, printDumpSummary, psql, run, shellRestore, timed } from './lib/pg.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const childScript = path.join(root, 'bench', 'lib', 'immich-child.mjs');

/** Bytes of `pg_database_size` per generated asset (measured on this generator). */
const BYTES_PER_ASSET = 4_700;

interface Report {
  ms: number;
  maxRssKb: number;
  baseRssKb: number;
  bytes?: number;
  file?: string;
  ok?: boolean;
}

async function ours(mode: string, db: string, workDir: string): Promise<Report> {
  const out = await run(process.execPath, [childScript, mode, db, workDir]);
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as Report;
}

/** An Immich-shaped database of about `mb` MiB (pg_database_size). */
export async function generate(db: string, mb: number): Promise<void> {
  await psql('postgres', `CREATE DATABASE ${db}`);
  const assets = Math.max(1000, Math.round((mb * 1024 * 1024) / BYTES_PER_ASSET));
  const emb = (seed: string) => `array(SELECT (random() * 2 - 1)::real FROM generate_series(1, 512) WHERE ${seed} > 0)`;
  await psql(
    db,
    `CREATE EXTENSION "uuid-ossp"; CREATE EXTENSION unaccent; CREATE EXTENSION cube;
     CREATE EXTENSION earthdistance; CREATE EXTENSION pg_trgm;
     CREATE FUNCTION f_unaccent(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
       RETURN unaccent('unaccent', $1);
     CREATE TYPE asset_status_enum AS ENUM ('active', 'trashed', 'deleted');
     CREATE TABLE "user" (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), email varchar NOT NULL UNIQUE,
       name varchar NOT NULL, "createdAt" timestamptz NOT NULL DEFAULT now());
     CREATE TABLE asset (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), "deviceAssetId" varchar NOT NULL,
       "ownerId" uuid NOT NULL REFERENCES "user"(id), "deviceId" varchar NOT NULL, type varchar NOT NULL,
       "originalPath" varchar NOT NULL, "fileCreatedAt" timestamptz NOT NULL, "fileModifiedAt" timestamptz NOT NULL,
       "isFavorite" boolean NOT NULL DEFAULT false, duration varchar, "encodedVideoPath" varchar DEFAULT '',
       checksum bytea NOT NULL, "livePhotoVideoId" uuid, "updatedAt" timestamptz NOT NULL DEFAULT now(),
       "createdAt" timestamptz NOT NULL DEFAULT now(), "originalFileName" varchar NOT NULL, thumbhash bytea,
       "localDateTime" timestamptz NOT NULL, status asset_status_enum NOT NULL DEFAULT 'active',
       "deletedAt" timestamptz, visibility varchar NOT NULL DEFAULT 'timeline');
     CREATE INDEX idx_originalfilename_trigram ON asset USING gin (f_unaccent("originalFileName") gin_trgm_ops);
     CREATE INDEX "IDX_asset_checksum" ON asset (checksum);
     CREATE TABLE asset_exif ("assetId" uuid PRIMARY KEY REFERENCES asset(id) ON DELETE CASCADE, make varchar,
       model varchar, "exifImageWidth" int, "exifImageHeight" int, "fileSizeInByte" bigint, orientation varchar,
       "dateTimeOriginal" timestamptz, "lensModel" varchar, "fNumber" float8, "focalLength" float8, iso int,
       "exposureTime" varchar, latitude float8, longitude float8, city varchar, state varchar, country varchar,
       description text NOT NULL DEFAULT '', "timeZone" varchar);
     CREATE TABLE smart_search ("assetId" uuid PRIMARY KEY REFERENCES asset(id) ON DELETE CASCADE,
       embedding real[] NOT NULL);
     CREATE TABLE person (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), "ownerId" uuid NOT NULL REFERENCES "user"(id),
       name varchar NOT NULL DEFAULT '', "thumbnailPath" varchar NOT NULL DEFAULT '');
     CREATE TABLE asset_face (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), "assetId" uuid NOT NULL REFERENCES asset(id),
       "personId" uuid REFERENCES person(id), "imageWidth" int, "imageHeight" int, "boundingBoxX1" int,
       "boundingBoxY1" int, "boundingBoxX2" int, "boundingBoxY2" int);
     CREATE TABLE face_search ("faceId" uuid PRIMARY KEY REFERENCES asset_face(id) ON DELETE CASCADE,
       embedding real[] NOT NULL);
     CREATE TABLE album (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), "ownerId" uuid NOT NULL REFERENCES "user"(id),
       "albumName" varchar NOT NULL);
     CREATE TABLE album_asset ("albumId" uuid NOT NULL REFERENCES album(id) ON DELETE CASCADE,
       "assetId" uuid NOT NULL REFERENCES asset(id) ON DELETE CASCADE, PRIMARY KEY ("albumId", "assetId"));
     CREATE TABLE geodata_places (id integer PRIMARY KEY, name varchar(200) NOT NULL,
       latitude double precision NOT NULL, longitude double precision NOT NULL);
     CREATE TABLE version_history (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(),
       "createdAt" timestamptz NOT NULL DEFAULT now(), version varchar NOT NULL);
     INSERT INTO version_history ("createdAt", version) VALUES (now() - interval '90 days', 'v2.4.1'), (now(), 'v2.5.6');
     INSERT INTO "user" (email, name) SELECT 'u' || g || '@example.test', 'User ' || g FROM generate_series(1, 4) g;
     INSERT INTO person ("ownerId", name, "thumbnailPath")
       SELECT (SELECT id FROM "user" ORDER BY email LIMIT 1), 'Person ' || g, '/data/thumbs/p/' || g || '.jpeg'
         FROM generate_series(1, 500) g;
     INSERT INTO album ("ownerId", "albumName") SELECT (SELECT id FROM "user" ORDER BY email LIMIT 1), 'Album ' || g
       FROM generate_series(1, 200) g;
     INSERT INTO geodata_places SELECT g, 'Place ' || g, -60 + (g::bigint * 7919 % 12000) / 100.0,
            -170 + (g::bigint * 104729 % 34000) / 100.0
       FROM generate_series(1, 50000) g;
     CREATE INDEX idx_geodata_places_gist_earthcoord ON geodata_places USING gist (ll_to_earth(latitude, longitude));`,
  );
  const batch = 20_000;
  for (let i = 0; i < assets; i += batch) {
    const hi = Math.min(assets, i + batch);
    await psql(
      db,
      `WITH u AS (SELECT array_agg(id ORDER BY email) AS ids FROM "user")
       INSERT INTO asset ("deviceAssetId", "ownerId", "deviceId", type, "originalPath", "fileCreatedAt", "fileModifiedAt",
              checksum, "originalFileName", thumbhash, "localDateTime", status, "deletedAt")
       SELECT 'IMG_' || g || '.HEIC-' || (g * 7919 % 100000), u.ids[1 + g % 4], 'iphone-' || (g % 3),
              CASE WHEN g % 10 = 0 THEN 'VIDEO' ELSE 'IMAGE' END,
              '/data/library/admin/' || (2015 + g % 10) || '/' || lpad((1 + g % 12)::text, 2, '0') || '/IMG_' || g || '.heic',
              now() - (g || ' minutes')::interval, now() - (g || ' minutes')::interval,
              decode(md5(g::text) || substr(md5((g * 3)::text), 1, 8), 'hex'), 'Été IMG_' || g || '.heic',
              decode(substr(md5((g * 5)::text), 1, 24), 'hex'), now() - (g || ' minutes')::interval,
              (CASE WHEN g % 53 = 0 THEN 'trashed' ELSE 'active' END)::asset_status_enum,
              CASE WHEN g % 53 = 0 THEN now() END
         FROM generate_series(${i + 1}, ${hi}) g, u;`,
    );
  }
  await psql(
    db,
    `INSERT INTO asset_exif ("assetId", make, model, "exifImageWidth", "exifImageHeight", "fileSizeInByte", orientation,
            "dateTimeOriginal", "lensModel", "fNumber", "focalLength", iso, "exposureTime", latitude, longitude, city,
            state, country, "timeZone")
       SELECT id, 'Apple', 'iPhone 1' || (length("deviceAssetId") % 6), 4032, 3024, 1500000 + length("originalPath") * 9173,
              '1', "fileCreatedAt", 'iPhone back camera 6.86mm f/1.78', 1.78, 6.86, 50 + length("deviceAssetId") * 7,
              '1/120', 48 + random(), 2 + random(), 'Paris', 'Île-de-France', 'France', 'Europe/Paris'
         FROM asset;
     INSERT INTO smart_search SELECT id, ${emb('length("deviceAssetId")')} FROM asset;
     INSERT INTO asset_face ("assetId", "personId", "imageWidth", "imageHeight", "boundingBoxX1", "boundingBoxY1",
            "boundingBoxX2", "boundingBoxY2")
       SELECT a.id, p.id, 4032, 3024, 100, 200, 400, 600
         FROM (SELECT id, row_number() OVER () AS rn FROM asset) a
         JOIN (SELECT id, row_number() OVER () - 1 AS k FROM person) p ON p.k = a.rn % 500
        WHERE a.rn % 3 = 0;
     INSERT INTO face_search SELECT id, ${emb('"imageWidth"')} FROM asset_face;
     INSERT INTO album_asset SELECT al.id, a.id
       FROM (SELECT id, row_number() OVER () AS rn FROM album) al
       JOIN (SELECT id, row_number() OVER () AS rn FROM asset) a ON a.rn % 200 = al.rn - 1 AND a.rn % 7 = 0;`,
  );
  await psql(db, 'VACUUM ANALYZE');
}

/** The plain dump with Immich's documented search_path fix (its `sed`), as the shell restore anchor loads it. */
async function rewriteForShell(file: string, out: string): Promise<void> {
  await run('sh', [
    '-c',
    `sed "s/SELECT pg_catalog.set_config('search_path', '', false);/SELECT pg_catalog.set_config('search_path', 'public, pg_catalog', true);/" "$0" > "$1"`,
    file,
    out,
  ]);
}

async function main(): Promise<void> {
  if (!existsSync(path.join(root, 'dist', 'immich', 'index.js'))) {
    throw new Error('build the package first: npm run build');
  }
  const mb = arg('mb', 1024);
  const reps = arg('reps', 3);
  const db = `dk_bench_immich_${randomBytes(4).toString('hex')}`;
  const scratch = `${db}_shell_restore`;
  const dir = mkdtempSync(path.join(tmpdir(), 'dk-bench-immich-'));
  const conn = ['-h', PG.host, '-U', PG.user];
  const r = emptyTimings();
  let size = 0;
  let sqlBytes = 0;
  try {
    const t0 = performance.now();
    console.error(`load before: ${load()}; generating an Immich-shaped database of ~${mb} MiB in ${db}…`);
    await generate(db, mb);
    size = Number(await psql(db, 'SELECT pg_database_size(current_database())'));
    console.error(`generated ${fmtBytes(size)} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    const shellGz = path.join(dir, 'shell.sql.gz');
    const shellSql = path.join(dir, 'shell.sql');
    const rewritten = path.join(dir, 'shell-rewritten.sql');
    await timed('pg_dump', [...conn, '-f', '/dev/null', db]); // warm the caches alike for everyone
    for (let i = 0; i < reps; i++) {
      const gz = await timed('sh', [
        '-c',
        `pg_dump --clean --if-exists ${conn.join(' ')} ${db} | gzip -6 > ${shellGz}`,
      ]);
      r.gzShell.push(gz);
      r.gzShellBytes = statSync(shellGz).size;
      rmSync(shellGz);
      const w1 = path.join(dir, `w-gz-${i}`);
      const o1 = await ours('sql.gz', db, w1);
      r.gzOurs.push(o1.ms);
      r.gzOurBytes = o1.bytes ?? 0;
      r.rss.push(o1.maxRssKb);
      r.base.push(o1.baseRssKb);
      rmSync(w1, { recursive: true, force: true });

      const plain = await timed('pg_dump', ['--clean', '--if-exists', ...conn, '-f', shellSql, db]);
      r.sqlShell.push(plain);
      sqlBytes = statSync(shellSql).size;
      const w2 = path.join(dir, `w-sql-${i}`);
      const o2 = await ours('sql', db, w2);
      r.sqlOurs.push(o2.ms);
      r.rss.push(o2.maxRssKb);

      await rewriteForShell(shellSql, rewritten);
      rmSync(shellSql, { force: true });
      const rs = await shellRestore(rewritten, scratch);
      r.restoreShell.push(rs);
      rmSync(rewritten, { force: true });
      const o3 = await ours('restore', db, w2);
      if (!o3.ok) throw new Error('our restore failed');
      r.restoreOurs.push(o3.ms);
      r.rss.push(o3.maxRssKb);
      rmSync(w2, { recursive: true, force: true });
      console.error(
        `rep ${i + 1}: sql.gz ${(o1.ms / gz).toFixed(2)}x, sql ${(o2.ms / plain).toFixed(2)}x, restore ${(o3.ms / rs).toFixed(2)}x (load ${load()})`,
      );
    }
  } finally {
    await dropDatabases(db, scratch);
    rmSync(dir, { recursive: true, force: true });
  }
  printDumpSummary(
    `Immich database ${fmtBytes(size)} (plain dump ${fmtBytes(sqlBytes)}), median of ${reps}, load ${load()}`,
    r,
  );
  console.log(
    'ours = a backup plan (sha256 + fsync of the dump, Immich and per-table counts, manifest) and a restore plan (checksums, scratch load, counts, drop).',
  );
}

// Run when started as a script (other benchmarks may import the generator).
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
