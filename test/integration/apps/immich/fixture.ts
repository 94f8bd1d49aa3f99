import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sql } from '../../engines/postgres/pg-helpers.js';

/** Table names of the two Immich schema generations (before / since v1.136). */
const NAMES = {
  singular: {
    user: '"user"',
    asset: 'asset',
    exif: 'asset_exif',
    album: 'album',
    albumAsset: 'album_asset',
    face: 'asset_face',
  },
  plural: {
    user: 'users',
    asset: 'assets',
    exif: 'exif',
    album: 'albums',
    albumAsset: 'albums_assets_assets',
    face: 'asset_faces',
  },
} as const;

/** What the fixture put in, so tests compare against what was generated, not constants. */
export interface ImmichFixture {
  readonly users: number;
  readonly assets: { active: number; trashed: number; deleted: number };
  readonly albums: number;
  readonly albumAssets: number;
  readonly exif: number;
  readonly faces: number;
  readonly people: number;
  readonly version: string;
  readonly originalPaths: string[];
}

/**
 * Create an Immich-shaped schema in `db` (which the test created): the contrib extensions Immich
 * declares, an unaccent trigram index and an earthdistance GiST index (both break under pg_dump's
 * empty search_path), version_history, and generated rows.
 */
export async function createImmichSchema(
  db: string,
  generation: 'singular' | 'plural',
  options: { version: string; seed: number },
): Promise<ImmichFixture> {
  const t = NAMES[generation];
  const s = options.seed;
  const nUsers = 2 + (s % 3);
  const nAssets = 30 + (s % 17);
  const nAlbums = 3 + (s % 4);
  const nPeople = 4 + (s % 5);
  await sql(
    db,
    `CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
     CREATE EXTENSION IF NOT EXISTS unaccent;
     CREATE EXTENSION IF NOT EXISTS cube;
     CREATE EXTENSION IF NOT EXISTS earthdistance;
     CREATE EXTENSION IF NOT EXISTS pg_trgm;
     CREATE OR REPLACE FUNCTION f_unaccent(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
       RETURN unaccent('unaccent', $1);
     CREATE TYPE asset_status_enum AS ENUM ('active', 'trashed', 'deleted');
     CREATE TABLE ${t.user} (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), email varchar NOT NULL UNIQUE,
       name varchar NOT NULL DEFAULT '', "deletedAt" timestamptz);
     CREATE TABLE ${t.asset} (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), "ownerId" uuid NOT NULL REFERENCES ${t.user}(id),
       "originalPath" text NOT NULL, "originalFileName" text NOT NULL, status asset_status_enum NOT NULL DEFAULT 'active',
       "deletedAt" timestamptz, "createdAt" timestamptz NOT NULL DEFAULT now());
     CREATE INDEX idx_originalfilename_trigram ON ${t.asset} USING gin (f_unaccent("originalFileName") gin_trgm_ops);
     CREATE TABLE ${t.exif} ("assetId" uuid PRIMARY KEY REFERENCES ${t.asset}(id) ON DELETE CASCADE,
       latitude double precision, longitude double precision, city varchar);
     CREATE TABLE ${t.album} (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), "ownerId" uuid NOT NULL REFERENCES ${t.user}(id),
       "albumName" varchar NOT NULL);
     CREATE TABLE ${t.albumAsset} ("albumId" uuid NOT NULL REFERENCES ${t.album}(id) ON DELETE CASCADE,
       "assetId" uuid NOT NULL REFERENCES ${t.asset}(id) ON DELETE CASCADE, PRIMARY KEY ("albumId", "assetId"));
     CREATE TABLE person (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), "ownerId" uuid NOT NULL REFERENCES ${t.user}(id),
       name varchar NOT NULL DEFAULT '');
     CREATE TABLE ${t.face} (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), "assetId" uuid NOT NULL REFERENCES ${t.asset}(id),
       "personId" uuid REFERENCES person(id));
     CREATE TABLE geodata_places (id integer PRIMARY KEY, name varchar(200) NOT NULL,
       latitude double precision NOT NULL, longitude double precision NOT NULL);
     CREATE INDEX idx_geodata_places_gist_earthcoord ON geodata_places USING gist (ll_to_earth(latitude, longitude));
     CREATE TABLE version_history (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), "createdAt" timestamptz NOT NULL DEFAULT now(),
       version varchar NOT NULL);
     CREATE TABLE system_metadata (key varchar PRIMARY KEY, value jsonb NOT NULL);

     INSERT INTO ${t.user} (email, name) SELECT 'u' || g || '@example.test', 'User ' || g FROM generate_series(1, ${nUsers}) g;
     INSERT INTO ${t.user} (email, name, "deletedAt") VALUES ('gone@example.test', 'Gone', now());
     INSERT INTO ${t.asset} ("ownerId", "originalPath", "originalFileName", status, "deletedAt")
       SELECT u.id, '/data/upload/' || u.id || '/IMG_' || g || '.jpg', 'Été_' || g || '.jpg',
              (CASE WHEN g % 7 = 0 THEN 'trashed' WHEN g % 11 = 0 THEN 'deleted' ELSE 'active' END)::asset_status_enum,
              CASE WHEN g % 7 = 0 OR g % 11 = 0 THEN now() END
         FROM generate_series(1, ${nAssets}) g
         JOIN LATERAL (SELECT id FROM ${t.user} WHERE "deletedAt" IS NULL ORDER BY email OFFSET (g % ${nUsers}) LIMIT 1) u ON true;
     INSERT INTO ${t.exif} ("assetId", latitude, longitude, city)
       SELECT id, 48.0 + random(), 2.0 + random(), 'Paris' FROM ${t.asset};
     INSERT INTO ${t.album} ("ownerId", "albumName") SELECT (SELECT id FROM ${t.user} ORDER BY email LIMIT 1), 'Album ' || g
       FROM generate_series(1, ${nAlbums}) g;
     INSERT INTO ${t.albumAsset} ("albumId", "assetId")
       SELECT al.id, a.id FROM ${t.album} al JOIN LATERAL (SELECT id FROM ${t.asset} ORDER BY id LIMIT 5) a ON true;
     INSERT INTO person ("ownerId", name) SELECT (SELECT id FROM ${t.user} ORDER BY email LIMIT 1), 'Person ' || g
       FROM generate_series(1, ${nPeople}) g;
     INSERT INTO ${t.face} ("assetId", "personId")
       SELECT a.id, p.id
         FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM ${t.asset} ORDER BY id LIMIT 20) a
         JOIN (SELECT id, row_number() OVER (ORDER BY name) - 1 AS k FROM person) p ON p.k = a.rn % ${nPeople};
     INSERT INTO geodata_places SELECT g, 'Place ' || g, 40 + g / 100.0, g / 50.0 FROM generate_series(1, 200) g;
     INSERT INTO version_history ("createdAt", version) VALUES (now() - interval '30 days', 'v1.99.0'),
       (now() - interval '1 day', '${options.version}');
     INSERT INTO system_metadata VALUES ('system-flags', '{"mountChecks": {"upload": true}}');`,
  );
  const status = await sql<{ status: string; n: number }>(
    db,
    `SELECT status::text AS status, count(*)::int AS n FROM ${t.asset} GROUP BY 1`,
  );
  const by = Object.fromEntries(status.map((r) => [r.status, r.n])) as Record<string, number>;
  const count = async (table: string) =>
    (await sql<{ n: number }>(db, `SELECT count(*)::int AS n FROM ${table}`))[0]?.n ?? -1;
  const paths = await sql<{ p: string }>(db, `SELECT "originalPath" AS p FROM ${t.asset} ORDER BY id`);
  return {
    users: nUsers,
    assets: { active: by.active ?? 0, trashed: by.trashed ?? 0, deleted: by.deleted ?? 0 },
    albums: nAlbums,
    albumAssets: await count(t.albumAsset),
    exif: await count(t.exif),
    faces: await count(t.face),
    people: nPeople,
    version: options.version,
    originalPaths: paths.map((r) => r.p),
  };
}

/**
 * A fake `docker` CLI: records its argv (from /proc, as the kernel sees it) and whether
 * PGPASSWORD reached it, then runs `docker exec -i [-e NAME]… <container> <tool> args…` with the
 * local tools. With `pgDumpVersion` (or `toolVersions`, by tool), `<tool> --version` answers that
 * version instead. The container is `immich_postgres` unless `container` names another.
 */
export async function writeFakeDocker(
  dir: string,
  options: { pgDumpVersion?: string; toolVersions?: Readonly<Record<string, string>>; container?: string } = {},
): Promise<{ command: string; log: string }> {
  const command = path.join(dir, 'docker');
  const log = path.join(dir, 'docker.log');
  const versions = { ...(options.pgDumpVersion ? { pg_dump: options.pgDumpVersion } : {}), ...options.toolVersions };
  const fakeVersion = Object.entries(versions)
    .map(
      ([tool, v]) => `if [ "$1" = ${tool} ] && [ "$2" = --version ]; then echo "${tool} (PostgreSQL) ${v}"; exit 0; fi`,
    )
    .join('\n');
  const container = options.container ?? 'immich_postgres';
  await writeFile(
    command,
    `#!/bin/sh
{ tr '\\0' ' ' < /proc/$$/cmdline; echo " PGPASSWORD=\${PGPASSWORD:+set}"; } >> '${log}'
[ "$1" = exec ] || { echo "fake docker: only exec" >&2; exit 2; }
shift
while [ $# -gt 0 ]; do
  case "$1" in
    -i) shift ;;
    -t|-it|-ti) echo "fake docker: -t given" >&2; exit 3 ;;
    -e) shift 2 ;;
    *) break ;;
  esac
done
[ "$1" = ${container} ] || { echo "fake docker: no such container $1" >&2; exit 1; }
shift
${fakeVersion}
exec "$@"
`,
  );
  await chmod(command, 0o755);
  return { command, log };
}
