/**
 * Facts about Immich's database schema: the two table-name generations (plural before v1.136,
 * singular since), where the version lives, and the counts a restore is checked against.
 *
 * @module
 */
import { quoteIdent, quoteLiteral } from '../../engines/postgres/index.js';
import type { SqlSession } from '../../engines/postgres/index.js';
import type { JsonValue } from '../../contracts/types.js';

/** `plural` = table names before v1.136.0 (`assets`, `users`), `singular` = since (`asset`, `"user"`). */
export type ImmichSchemaGeneration = 'plural' | 'singular';

/** The tables whose counts the manifest records, per generation. */
export const IMMICH_TABLES: Readonly<Record<ImmichSchemaGeneration, Readonly<Record<string, string>>>> = {
  singular: {
    users: 'user',
    assets: 'asset',
    albums: 'album',
    albumAssets: 'album_asset',
    exif: 'asset_exif',
    faces: 'asset_face',
    people: 'person',
  },
  plural: {
    users: 'users',
    assets: 'assets',
    albums: 'albums',
    albumAssets: 'albums_assets_assets',
    exif: 'exif',
    faces: 'asset_faces',
    people: 'person',
  },
};

/** Which generation the database uses, or undefined when it holds no Immich schema at all. */
export async function detectGeneration(s: SqlSession): Promise<ImmichSchemaGeneration | undefined> {
  const rows = await s.query<{ singular: boolean; plural: boolean }>(
    "SELECT to_regclass('public.asset') IS NOT NULL AS singular, to_regclass('public.assets') IS NOT NULL AS plural",
  );
  const r = rows[0];
  if (r?.singular) return 'singular';
  if (r?.plural) return 'plural';
  return undefined;
}

/** The newest `version_history` row (the last version that ran on this database), e.g. `v2.5.6`. */
export async function readImmichVersion(s: SqlSession): Promise<string | undefined> {
  const has = await s.query<{ ok: boolean }>("SELECT to_regclass('public.version_history') IS NOT NULL AS ok");
  if (!has[0]?.ok) return undefined;
  const rows = await s.query<{ version: string }>(
    'SELECT version FROM public.version_history ORDER BY "createdAt" DESC LIMIT 1',
  );
  return rows[0]?.version;
}

/** A version as `[major, minor, patch]` (the `v` prefix optional), or undefined. */
export function parseImmichVersion(v: string | undefined): [number, number, number] | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(v?.trim() ?? '');
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

/** Compare two versions: negative, zero or positive. Unparseable versions compare as equal. */
export function compareImmichVersions(a: string | undefined, b: string | undefined): number {
  const x = parseImmichVersion(a);
  const y = parseImmichVersion(b);
  if (!x || !y) return 0;
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return (x[i] as number) - (y[i] as number);
  return 0;
}

/**
 * Whether `public.<table>` has `column`. From pg_attribute: `information_schema.columns` builds every
 * column's privileges first (8–13 ms per question on an Immich database, on a restore's path).
 */
async function hasColumn(s: SqlSession, table: string, column: string): Promise<boolean> {
  const rows = await s.query<{ ok: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
                     WHERE attrelid = to_regclass(${quoteLiteral(`public.${quoteIdent(table)}`)})
                       AND attname = ${quoteLiteral(column)} AND attnum > 0 AND NOT attisdropped) AS ok`,
  );
  return rows[0]?.ok === true;
}

/**
 * The Immich counts a restore is checked against: assets by status (`active`, `trashed`,
 * `deleted`; from `deletedAt` on schemas without a status column), users (not deleted), albums,
 * album assets, exif rows, faces and people. Tables missing from older schemas are left out.
 */
export async function readImmichCounts(
  s: SqlSession,
  generation: ImmichSchemaGeneration,
  options: {
    readonly tableCounts?: boolean;
    /**
     * Rows per table (`public.<table>`) already counted in the same database and snapshot, or
     * being counted beside this call (awaited only after the assets and users are counted).
     */
    readonly known?: Readonly<Record<string, number>> | PromiseLike<Readonly<Record<string, number>>>;
  } = {},
): Promise<Record<string, JsonValue>> {
  const t = IMMICH_TABLES[generation];
  const table = (key: string): string => `public.${quoteIdent(t[key] as string)}`;
  const out: Record<string, JsonValue> = {};
  const present = async (key: string): Promise<boolean> =>
    (await s.query<{ ok: boolean }>(`SELECT to_regclass('${table(key).replace(/'/g, "''")}') IS NOT NULL AS ok`))[0]
      ?.ok === true;

  if (await present('assets')) {
    const assetTable = t.assets as string;
    const byStatus: Record<string, number> = {};
    if (await hasColumn(s, assetTable, 'status')) {
      for (const r of await s.query<{ status: string; n: string | number }>(
        // Grouped by the column itself (an enum in every Immich), not by its text: 26–30 against
        // 32–38 ms on a warm 120 k-asset database, 103–109 against 111–124 ms in a new session.
        `SELECT status::text AS status, n FROM (SELECT status, count(*) AS n FROM ${table('assets')} GROUP BY status) s ORDER BY 1`,
      ))
        byStatus[r.status] = Number(r.n);
    } else {
      for (const r of await s.query<{ status: string; n: string | number }>(
        `SELECT CASE WHEN "deletedAt" IS NULL THEN 'active' ELSE 'trashed' END AS status, count(*) AS n
           FROM ${table('assets')} GROUP BY 1 ORDER BY 1`,
      ))
        byStatus[r.status] = Number(r.n);
    }
    out.assets = byStatus;
  }
  if (await present('users')) {
    const deletedAt = await hasColumn(s, t.users as string, 'deletedAt');
    const r = await s.query<{ n: string | number }>(
      `SELECT count(*) AS n FROM ${table('users')}${deletedAt ? ' WHERE "deletedAt" IS NULL' : ''}`,
    );
    out.users = Number(r[0]?.n);
  }
  if (options.tableCounts === false) return out;
  const known = options.known ? immichCountsFromDump(generation, await options.known) : {};
  for (const key of IMMICH_WHOLE_TABLE_COUNTS) {
    const n = known[key];
    if (n !== undefined) {
      out[key] = n;
      continue;
    }
    if (!(await present(key))) continue;
    const r = await s.query<{ n: string | number }>(`SELECT count(*) AS n FROM ${table(key)}`);
    out[key] = Number(r[0]?.n);
  }
  return out;
}

/** The keys of {@link readImmichCounts} that are a whole table's row count. */
const IMMICH_WHOLE_TABLE_COUNTS = ['albums', 'albumAssets', 'exif', 'faces', 'people'] as const;

/**
 * The whole-table counts of {@link readImmichCounts} (albums, album assets, exif rows, faces,
 * people) taken from per-table row counts (`schema.table` → rows: a plain dump's own, or a
 * restore's count of the loaded database) instead of scanning the tables again. Tables the
 * counts do not hold are left out.
 */
export function immichCountsFromDump(
  generation: ImmichSchemaGeneration,
  counts: Readonly<Record<string, unknown>>,
): Record<string, number> {
  const t = IMMICH_TABLES[generation];
  const out: Record<string, number> = {};
  for (const key of IMMICH_WHOLE_TABLE_COUNTS) {
    const n = counts[`public.${t[key] as string}`];
    if (typeof n === 'number') out[key] = n;
  }
  return out;
}

/** Where the server container mounts UPLOAD_LOCATION: `/data/` since v1.137, `/usr/src/app/upload/` before. */
export const IMMICH_CONTAINER_PREFIXES = ['/data/', '/usr/src/app/upload/'] as const;

/** The six storage folders of UPLOAD_LOCATION, each with a `.immich` marker. */
export const IMMICH_FOLDERS = ['library', 'upload', 'profile', 'thumbs', 'encoded-video', 'backups'] as const;
/** One of {@link IMMICH_FOLDERS}. */
export type ImmichFolder = (typeof IMMICH_FOLDERS)[number];

/**
 * Every asset's `originalPath` (assets whose status is `deleted` left out: Immich removed their
 * files), streamed in batches through a server-side cursor in `id` order, for either generation.
 *
 * @example
 * ```ts
 * for await (const batch of streamAssetPaths(session, 'singular')) for (const p of batch) check(p);
 * ```
 */
export async function* streamAssetPaths(
  s: SqlSession,
  generation: ImmichSchemaGeneration,
  options: { batchSize?: number; limit?: number } = {},
): AsyncGenerator<string[]> {
  const assets = IMMICH_TABLES[generation].assets as string;
  const where = (await hasColumn(s, assets, 'status')) ? " WHERE status::text <> 'deleted'" : '';
  const limit =
    options.limit !== undefined && Number.isFinite(options.limit) ? ` LIMIT ${Math.floor(options.limit)}` : '';
  for await (const rows of s.cursor<{ p: string }>(
    `SELECT "originalPath" AS p FROM public.${quoteIdent(assets)}${where} ORDER BY id${limit}`,
    options.batchSize,
  )) {
    yield rows.map((r) => r.p);
  }
}
