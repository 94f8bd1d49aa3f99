/**
 * Telling a Jellyfin database's version offline, and the counts that prove a restore complete.
 *
 * The newest EF Core migration in `__EFMigrationsHistory` fingerprints the release line; from
 * 10.11 on, code migrations are recorded there too with the Jellyfin assembly version (four
 * parts, e.g. `10.11.0.0`) as `ProductVersion`, a lower bound on the last server that ran.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import type { SqliteDatabase } from '../../engines/sqlite/index.js';
import { tableNames } from '../../engines/sqlite/index.js';
import type { JsonValue } from '../../contracts/types.js';

/** The newest EF migration of each release line, oldest first, with the first version that has it. */
export const EF_FINGERPRINTS: readonly { readonly migration: string; readonly line: string; readonly since: string }[] =
  [
    { migration: '20221022080052_AddIndexActivityLogsDateCreated', line: '10.8', since: '10.8.0' },
    { migration: '20230923170422_UserCastReceiver', line: '10.9', since: '10.9.0' },
    { migration: '20240928082930_MarkSegmentProviderIdNonNullable', line: '10.10', since: '10.10.0' },
    { migration: '20250925203415_ExtendPeopleMapKey', line: '10.11', since: '10.11.0' },
    { migration: '20260524120336_AddUniqueNormalizedUsernameIndex', line: '10.11', since: '10.11.10' },
  ];

/** The id of the item detached user data points at (10.11+); never a real item. */
export const PLACEHOLDER_ITEM_ID = '00000000-0000-0000-0000-000000000001';

/**
 * Compare dotted versions numerically (`10.11.10` > `10.11.9`); missing parts count as 0.
 *
 * @example
 * ```ts
 * compareVersions('10.11.10', '10.11.9'); // 1
 * ```
 */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split('.').map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** What a database says about the Jellyfin version that last wrote it. */
export interface JellyfinDbVersion {
  readonly [key: string]: JsonValue;
  /** Newest migration id in `__EFMigrationsHistory`, or null. */
  readonly newestMigration: string | null;
  /** Release line from the fingerprint (`10.10`, `10.11`), or null when unknown. */
  readonly line: string | null;
  /** Highest Jellyfin assembly version recorded by a code migration (10.11+), or null. */
  readonly productVersion: string | null;
  /**
   * The lowest Jellyfin version that can have written this database (the larger of the
   * fingerprint's first version and `productVersion`), or null when nothing is known.
   */
  readonly minVersion: string | null;
}

/**
 * Read {@link JellyfinDbVersion} from an open `jellyfin.db`.
 *
 * @example
 * ```ts
 * readDbVersion(db).minVersion; // e.g. '10.11.10'
 * ```
 */
export function readDbVersion(db: SqliteDatabase): JellyfinDbVersion {
  if (!tableNames(db).has('__EFMigrationsHistory')) {
    return { newestMigration: null, line: null, productVersion: null, minVersion: null };
  }
  const rows = db.prepare('SELECT MigrationId AS id, ProductVersion AS v FROM __EFMigrationsHistory').all() as {
    id: string;
    v: string | null;
  }[];
  const ids = rows.map((r) => r.id).sort();
  const newest = ids.at(-1) ?? null;
  let fingerprint: (typeof EF_FINGERPRINTS)[number] | undefined;
  for (const f of EF_FINGERPRINTS) if (ids.includes(f.migration)) fingerprint = f;
  let product: string | null = null;
  for (const r of rows) {
    const v = r.v ?? '';
    // Jellyfin's assembly version has four parts; EF Core's ProductVersion has three.
    if (/^\d+\.\d+\.\d+\.\d+$/.test(v) && (product === null || compareVersions(v, product) > 0)) product = v;
  }
  const productShort = product ? product.split('.').slice(0, 3).join('.') : null;
  const candidates = [fingerprint?.since, productShort].filter((v): v is string => typeof v === 'string');
  const minVersion = candidates.sort(compareVersions).at(-1) ?? null;
  const line = productShort ? productShort.split('.').slice(0, 2).join('.') : (fingerprint?.line ?? null);
  return { newestMigration: newest, line, productVersion: product, minVersion };
}

/**
 * Code migrations recorded in `<config>/migrations.xml` (10.10 and older): how many, and the last one.
 *
 * @example
 * ```ts
 * await readMigrationsXml('/etc/jellyfin'); // { count: 23, last: 'AddDefaultCastReceivers' } | null
 * ```
 */
export async function readMigrationsXml(
  configDir: string,
): Promise<{ readonly count: number; readonly last: string | null } | null> {
  let text: string;
  try {
    text = await fsp.readFile(`${configDir}/migrations.xml`, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  // Each applied migration is a <ValueTupleOfGuidString> with its id in <Item1> and name in <Item2>.
  const names = [...text.matchAll(/<Item2>([^<]*)<\/Item2>/g)].map((m) => m[1] ?? '');
  return { count: names.length, last: names.at(-1) ?? null };
}

/** The counts a restore is checked against. */
export interface JellyfinCounts {
  readonly [key: string]: number;
  readonly users: number;
  readonly apiKeys: number;
  /** Items, without the placeholder that detached user data points at. */
  readonly items: number;
  readonly playedItems: number;
  readonly resumePositions: number;
}

function count(db: SqliteDatabase, sql: string): number {
  const row = db.prepare(sql).get() as { n: number | bigint };
  return Number(row.n);
}

/**
 * Users and API keys, from `jellyfin.db` (any layout).
 *
 * @example
 * ```ts
 * countAccounts(db); // { users: 3, apiKeys: 1 }
 * ```
 */
export function countAccounts(db: SqliteDatabase): Pick<JellyfinCounts, 'users' | 'apiKeys'> {
  const t = tableNames(db);
  return {
    users: t.has('Users') ? count(db, 'SELECT count(*) AS n FROM Users') : 0,
    apiKeys: t.has('ApiKeys') ? count(db, 'SELECT count(*) AS n FROM ApiKeys') : 0,
  };
}

/**
 * Items, played items and resume positions: from `BaseItems`/`UserData` in a 10.11 `jellyfin.db`,
 * or `TypedBaseItems`/`UserDatas` in a 10.10 `library.db`.
 *
 * @example
 * ```ts
 * countLibrary(db); // { items: 5120, playedItems: 830, resumePositions: 12 }
 * ```
 */
export function countLibrary(db: SqliteDatabase): Pick<JellyfinCounts, 'items' | 'playedItems' | 'resumePositions'> {
  const t = tableNames(db);
  if (t.has('BaseItems')) {
    return {
      items: count(db, `SELECT count(*) AS n FROM BaseItems WHERE upper(Id) <> '${PLACEHOLDER_ITEM_ID}'`),
      playedItems: t.has('UserData') ? count(db, 'SELECT count(*) AS n FROM UserData WHERE Played = 1') : 0,
      resumePositions: t.has('UserData')
        ? count(db, 'SELECT count(*) AS n FROM UserData WHERE PlaybackPositionTicks > 0')
        : 0,
    };
  }
  if (t.has('TypedBaseItems')) {
    return {
      items: count(db, 'SELECT count(*) AS n FROM TypedBaseItems'),
      playedItems: t.has('UserDatas') ? count(db, 'SELECT count(*) AS n FROM UserDatas WHERE played = 1') : 0,
      resumePositions: t.has('UserDatas')
        ? count(db, 'SELECT count(*) AS n FROM UserDatas WHERE playbackPositionTicks > 0')
        : 0,
    };
  }
  return { items: 0, playedItems: 0, resumePositions: 0 };
}
