/**
 * Benchmark: what a user of the Immich database source runs — `duplicati-kit prepare` and
 * `duplicati-kit restore` of the BUILT package (`npm run build` first), each a whole process with
 * node's start-up — against the shell pipelines Immich documents, on the same generated
 * Immich-shaped database (singular table names, the contrib extensions, the trigram and
 * earthdistance indexes), interleaved in one run, median of `reps`, with CPU use (user+sys per
 * wall second, every process of the tree) and peak RSS beside each figure (bench/lib/proc.ts):
 *
 *   - `sql.gz` (`prepare`: pg_dump, gzip on all cores, sha256, fsync, counts, manifest) vs
 *     `pg_dump --clean --if-exists | gzip -6 > file`
 *   - `sql` (the same, plain) vs `pg_dump --clean --if-exists -f file`
 *   - restore (`restore --from` with an `immich-database` target `scratch: true`: checksums, the
 *     gates, search_path rewrite, psql --single-transaction into a new database, Immich and
 *     per-table counts, drop) vs `createdb && psql --single-transaction -f <rewritten> && dropdb`
 *
 * Two data shapes: `embeddings` (CLIP and face embeddings as `real[512]`: long lines of floats)
 * and `rows` (no embeddings: millions of short rows of uuids, timestamps and text).
 *
 * `sync=1` settles the disk (`sync`, untimed) before every timed run of either side: interleaved,
 * the previous run's writes are otherwise written back during the next run, and only ours waits
 * for them (it fsyncs its artifact; the anchors do not).
 *
 *   npx tsx bench/immich.ts generate shape=rows mb=1024
 *   npx tsx bench/immich.ts measure shape=rows mb=1024 reps=3 [ops=gz,sql,restore] [sync=1]
 *   npx tsx bench/immich.ts drop shape=rows mb=1024
 *   all at once: npx tsx bench/immich.ts shape=embeddings mb=100 reps=3   (or BENCH_SHAPE, BENCH_MB, BENCH_REPS)
 *
 * Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) with the contrib extensions and
 * pg_dump/psql on PATH. The database is `dk_bench_immich_<shape>_<mb>`. Not part of `npm test`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { arg, fmtBytes, load } from './lib/common.js';
import { dropDatabases, PG, psql, run } from './lib/pg.js';
import { type Comparison, compare, describe, loadNow, measure } from './lib/proc.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

/** The data shapes of the generator: CLIP and face embeddings (`real[512]`), or many short rows. */
export type ImmichShape = 'embeddings' | 'rows';

/** Bytes of `pg_database_size` per generated asset, by shape (measured on this generator). */
const BYTES_PER_ASSET: Record<ImmichShape, number> = { embeddings: 4_700, rows: 880 };

/**
 * An Immich-shaped database of about `mb` MiB (pg_database_size). `embeddings`: every asset has a
 * CLIP embedding and every third a face with one (most bytes are `real[512]` text); `rows`: the
 * same tables without embeddings, so the dump is millions of short lines of uuids, timestamps and
 * text (a large library whose ML jobs are off, or the row-heavy part of any library).
 */
export async function generate(db: string, mb: number, shape: ImmichShape = 'embeddings'): Promise<void> {
  await psql('postgres', `CREATE DATABASE ${db}`);
  const assets = Math.max(1000, Math.round((mb * 1024 * 1024) / BYTES_PER_ASSET[shape]));
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
       SELECT 'IMG_' || g || '.HEIC-' || (g::bigint * 7919 % 100000), u.ids[1 + g % 4], 'iphone-' || (g % 3),
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
     ${shape === 'embeddings' ? `INSERT INTO smart_search SELECT id, ${emb('length("deviceAssetId")')} FROM asset;` : ''}
     INSERT INTO asset_face ("assetId", "personId", "imageWidth", "imageHeight", "boundingBoxX1", "boundingBoxY1",
            "boundingBoxX2", "boundingBoxY2")
       SELECT a.id, p.id, 4032, 3024, 100, 200, 400, 600
         FROM (SELECT id, row_number() OVER () AS rn FROM asset) a
         JOIN (SELECT id, row_number() OVER () - 1 AS k FROM person) p ON p.k = a.rn % 500
        WHERE a.rn % 3 = 0;
     ${shape === 'embeddings' ? `INSERT INTO face_search SELECT id, ${emb('"imageWidth"')} FROM asset_face;` : ''}
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

/** Name of the benchmark database of one shape and size (kept between the phases of a split run). */
const dbName = (shape: ImmichShape, mb: number): string => `dk_bench_immich_${shape}_${mb}`;

async function exists(db: string): Promise<boolean> {
  return (await psql('postgres', `SELECT 1 FROM pg_database WHERE datname = '${db}'`)).trim() === '1';
}

/** The config file of `duplicati-kit prepare` / `restore` for this database, as a user writes it. */
function writeConfig(dir: string, name: string, db: string, format: 'sql' | 'sql.gz', workDir: string): string {
  const file = path.join(dir, `${name}.yaml`);
  const connection = `{ host: ${PG.host}, port: ${PG.port}, user: ${PG.user}, database: ${db} }`;
  writeFileSync(
    file,
    [
      `workDir: ${workDir}`,
      'sources:',
      '  - type: immich-database',
      '    name: immich-db',
      `    connection: ${connection}`,
      '    executor: local',
      `    format: ${format}`,
      'restore:',
      `  stateDir: ${path.join(dir, 'restore-state')}`,
      '  targets:',
      '    - type: immich-database',
      '      name: immich-db',
      `      connection: ${connection}`,
      '      executor: local',
      '      scratch: true',
      '',
    ].join('\n'),
  );
  return file;
}

/** Size of the one artifact of a prepared work folder, from its manifest. */
function artifactBytes(workDir: string): number {
  const manifest = JSON.parse(readFileSync(path.join(workDir, 'manifest.json'), 'utf8')) as {
    sources: { artifacts: { bytes: number }[] }[];
  };
  return manifest.sources[0]?.artifacts[0]?.bytes ?? 0;
}

/**
 * Time what a user runs against the shell anchors, interleaved, on an existing database:
 * `duplicati-kit prepare` (sql.gz, then sql) and `duplicati-kit restore --from` into a scratch
 * database, each a whole process (node start, config load, dump, sha256, fsync, counts, manifest;
 * restore: checksums, gates, load, counts, drop).
 */
async function measureAll(
  shape: ImmichShape,
  mb: number,
  reps: number,
  ops: ReadonlySet<string>,
  settle = false,
): Promise<void> {
  // With sync=1 the disk is settled (`sync`, untimed) before every timed run of either side: the
  // previous run's file is written back before the next starts, instead of in its time. Ours
  // fsyncs its artifact and the anchors do not, so unsettled, an anchor's pending writes land in
  // our fsync and ours never in theirs.
  const settled = (f?: () => unknown) => async () => {
    await f?.();
    if (settle) execFileSync('sync');
  };
  const db = dbName(shape, mb);
  if (!(await exists(db)))
    throw new Error(`no database ${db}: run "bench/immich.ts generate shape=${shape} mb=${mb}" first`);
  const size = Number(await psql(db, 'SELECT pg_database_size(current_database())'));
  const dir = mkdtempSync(path.join(tmpdir(), 'dk-bench-immich-'));
  const scratch = `${db}_shell_restore`;
  const cli = [process.execPath, path.join(root, 'dist', 'cli', 'main.js')];
  const conn = ['-h', PG.host, '-p', String(PG.port), '-U', PG.user];
  const sh = conn.join(' ');
  const wGz = path.join(dir, 'work-gz');
  const wSql = path.join(dir, 'work-sql');
  const cfgGz = writeConfig(dir, 'gz', db, 'sql.gz', wGz);
  const cfgSql = writeConfig(dir, 'sql', db, 'sql', wSql);
  const shellGz = path.join(dir, 'shell.sql.gz');
  const shellSql = path.join(dir, 'shell.sql');
  const rewritten = path.join(dir, 'shell-rewritten.sql');
  let oursGzBytes = 0;
  let shellGzBytes = 0;
  let sqlBytes = 0;
  const results: { c: Comparison; goal: number }[] = [];
  try {
    console.log(`Immich database, ${shape} shape, ${fmtBytes(size)} (${db}); load before: ${loadNow()}`);
    await measure(['pg_dump', ...conn, '-f', '/dev/null', db]); // warm the caches alike for everyone
    if (ops.has('gz')) {
      const gz = await compare(
        'sql.gz: duplicati-kit prepare vs pg_dump | gzip -6',
        {
          argv: [...cli, 'prepare', '--config', cfgGz],
          before: settled(() => rmSync(wGz, { recursive: true, force: true })),
          after: () => {
            oursGzBytes = artifactBytes(wGz);
          },
        },
        {
          argv: ['sh', '-c', `pg_dump --clean --if-exists ${sh} ${db} | gzip -6 > ${shellGz}`],
          before: settled(() => rmSync(shellGz, { force: true })),
          after: () => {
            shellGzBytes = statSync(shellGz).size;
          },
        },
        reps,
      );
      results.push({ c: gz, goal: 0.5 });
      console.log(describe(gz, 0.5));
      rmSync(wGz, { recursive: true, force: true });
      rmSync(shellGz, { force: true });
    }
    if (ops.has('sql')) {
      const sqlGoal = shape === 'rows' ? 1.3 : 1.1;
      const sql = await compare(
        'sql: duplicati-kit prepare vs pg_dump -f',
        {
          argv: [...cli, 'prepare', '--config', cfgSql],
          before: settled(() => rmSync(wSql, { recursive: true, force: true })),
        },
        {
          argv: ['pg_dump', '--clean', '--if-exists', ...conn, '-f', shellSql, db],
          before: settled(() => rmSync(shellSql, { force: true })),
          after: () => {
            sqlBytes = statSync(shellSql).size;
          },
        },
        reps,
      );
      results.push({ c: sql, goal: sqlGoal });
      console.log(describe(sql, sqlGoal));
    }
    if (ops.has('restore') && !ops.has('sql')) {
      // A restore-only run (a split benchmark): the dumps both sides restore, made untimed.
      await measure([...cli, 'prepare', '--config', cfgSql]);
      await measure(['pg_dump', '--clean', '--if-exists', ...conn, '-f', shellSql, db]);
      sqlBytes = statSync(shellSql).size;
    }
    // The shell restore loads the plain dump with Immich's documented search_path fix (its `sed`);
    // ours restores the work folder of the last `prepare` above (plain sql) into a scratch database.
    if (ops.has('restore')) {
      await rewriteForShell(shellSql, rewritten);
      rmSync(shellSql, { force: true });
      const restore = await compare(
        'restore: duplicati-kit restore --from (scratch) vs createdb + psql -1 -f + dropdb',
        { argv: [...cli, 'restore', '--from', wSql, '--config', cfgSql], before: settled() },
        {
          argv: [
            'sh',
            '-c',
            `createdb ${sh} -T template0 ${scratch} && psql -X -q ${sh} -v ON_ERROR_STOP=1 --single-transaction -f ${rewritten} -d ${scratch} && dropdb ${sh} ${scratch}`,
          ],
          before: settled(() => dropDatabases(scratch)),
        },
        reps,
      );
      results.push({ c: restore, goal: 1.15 });
      console.log(describe(restore, 1.15));
    }
  } finally {
    await dropDatabases(scratch);
    rmSync(dir, { recursive: true, force: true });
  }
  if (!results.length) return;
  const sizeRatio = oursGzBytes / shellGzBytes;
  const peak = Math.max(...results.flatMap((r) => r.c.ours.map((m) => m.maxRssKb))) / 1024;
  console.log(
    `\nsummary (${shape}, ${fmtBytes(size)}, plain dump ${fmtBytes(sqlBytes)}, median of ${reps}, load now ${loadNow()})`,
  );
  for (const { c, goal } of results)
    console.log(`  ${c.name}: ${c.ratio.toFixed(2)}× goal ≤ ${goal.toFixed(2)}× ${c.ratio <= goal ? 'met' : 'MISSED'}`);
  if (ops.has('gz'))
    console.log(
      `  sql.gz size ours / gzip -6: ${fmtBytes(oursGzBytes)} / ${fmtBytes(shellGzBytes)} = ${sizeRatio.toFixed(3)}× goal ≤ 1.10× ${sizeRatio <= 1.1 ? 'met' : 'MISSED'}`,
    );
  console.log(`  peak RSS of our process: ${peak.toFixed(0)} MiB goal ≤ 150 MiB ${peak <= 150 ? 'met' : 'MISSED'}`);
}

/**
 *   npx tsx bench/immich.ts generate shape=rows mb=1024        (data generation only)
 *   npx tsx bench/immich.ts measure shape=rows mb=1024 reps=3  (the timed part only)
 *   npx tsx bench/immich.ts drop shape=rows mb=1024
 *   npx tsx bench/immich.ts [shape=…] [mb=…] [reps=…]          (all three)
 */
async function main(): Promise<void> {
  if (!existsSync(path.join(root, 'dist', 'cli', 'main.js'))) {
    throw new Error('build the package first: npm run build');
  }
  const phase = process.argv.slice(2).find((a) => !a.includes('=')) ?? 'all';
  if (!['generate', 'measure', 'drop', 'all'].includes(phase)) throw new Error(`unknown phase ${phase}`);
  const mb = arg('mb', 1024);
  const reps = arg('reps', 3);
  const shapeArg = process.argv.find((a) => a.startsWith('shape='))?.slice(6) ?? process.env.BENCH_SHAPE ?? 'rows';
  if (shapeArg !== 'rows' && shapeArg !== 'embeddings') throw new Error('shape must be rows or embeddings');
  const shape: ImmichShape = shapeArg;
  // ops=gz,sql,restore (default all): a subset, to split a long run into shorter ones.
  const ops = new Set((process.argv.find((a) => a.startsWith('ops='))?.slice(4) ?? 'gz,sql,restore').split(','));
  const db = dbName(shape, mb);
  if (phase === 'generate' || phase === 'all') {
    if (await exists(db)) throw new Error(`${db} exists: drop it first (bench/immich.ts drop shape=${shape} mb=${mb})`);
    const t0 = performance.now();
    console.error(`load before: ${load()}; generating an Immich-shaped database (${shape}) of ~${mb} MiB in ${db}…`);
    try {
      await generate(db, mb, shape);
    } catch (e) {
      await dropDatabases(db);
      throw e;
    }
    const size = Number(await psql(db, 'SELECT pg_database_size(current_database())'));
    console.error(`generated ${fmtBytes(size)} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
  try {
    if (phase === 'measure' || phase === 'all') await measureAll(shape, mb, reps, ops, process.argv.includes('sync=1'));
  } finally {
    if (phase === 'drop' || phase === 'all') await dropDatabases(db);
  }
}

// Run when started as a script (other benchmarks may import the generator).
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
