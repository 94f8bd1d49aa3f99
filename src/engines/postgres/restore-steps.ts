/**
 * The steps a PostgreSQL restore is made of, shared by the one-database and the all-databases
 * restores of `PostgresTarget`: load a dump into a new database and compare its row counts with
 * the manifest, swap it in under the live name, and swap back.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Transform } from 'node:stream';
import { type Phase, RestoreError, type VerificationProblem } from '../../core/errors.js';
import {
  boundedName,
  createDatabase,
  databaseInfo,
  dropDatabase,
  type PgDatabaseInfo,
  renameDatabase,
} from './admin.js';
import { compactTimestamp } from '../_shared/timestamps.js';
import type { ResolvedPgConnection } from './connection.js';
import { countRows, type PgDumpFormat, readServerInfo } from './dump.js';
import { loadDump } from './load.js';
import type { SqlSession } from './session.js';
import type { PgEndpoint } from './endpoint.js';
import type { JsonValue, ResolvedArtifact, SourceContext } from '../../contracts/types.js';

/** A check result as reported by `verify`. */
export type Check = { name: string; ok: boolean; detail?: string };

/** Manifest artifact formats that are database dumps, and the dump format each is. */
export const DUMP_FORMATS: Readonly<Record<string, PgDumpFormat>> = {
  sql: 'sql',
  'sql.gz': 'sql.gz',
  'pg_dump-custom': 'custom',
};

/** Default pg_restore `--jobs`: the cores, at most 4 (more rarely helps a single restore). */
export function defaultRestoreJobs(): number {
  return Math.max(1, Math.min(4, os.availableParallelism()));
}

/** Manifest counts (`schema.table` → rows) from a metadata value; anything else is ignored. */
export function asCounts(v: JsonValue | undefined): Record<string, number> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return {};
  return Object.fromEntries(Object.entries(v).filter((e): e is [string, number] => typeof e[1] === 'number'));
}

/** The target server must be at least the major version the dump came from (`serverMajor`). */
export async function serverVersionCheck(admin: SqlSession, meta: Readonly<Record<string, JsonValue>>): Promise<Check> {
  const server = await readServerInfo(admin);
  const srcMajor = typeof meta.serverMajor === 'number' ? meta.serverMajor : undefined;
  return {
    name: 'server-version',
    ok: srcMajor === undefined || server.major >= srcMajor,
    detail: `dump from PostgreSQL ${srcMajor ?? 'unknown'}, target runs ${server.version}`,
  };
}

/** Compare counts read from a loaded database with the manifest's. */
export function compareCounts(expected: Record<string, number>, actual: Record<string, number>): VerificationProblem[] {
  const problems: VerificationProblem[] = [];
  for (const [table, n] of Object.entries(expected)) {
    if (actual[table] !== n) {
      problems.push({
        check: 'counts',
        message: `${table}: ${actual[table] ?? 'missing'} rows, manifest says ${n}`,
        expected: n,
        actual: actual[table] ?? null,
      });
    }
  }
  return problems;
}

/** Options of {@link loadAndInspect}. */
export interface LoadAndInspectOptions {
  readonly endpoint: PgEndpoint;
  readonly conn: ResolvedPgConnection;
  /** A session on the maintenance database. */
  readonly admin: SqlSession;
  /** The database to create and load. */
  readonly db: string;
  /** Owner, encoding and locale to create it with. */
  readonly like: PgDatabaseInfo | undefined;
  /** When creating it with `like` fails, create it with the server's defaults (logged). */
  readonly createFallback?: boolean;
  readonly artifact: ResolvedArtifact;
  readonly format: PgDumpFormat;
  readonly transform?: () => Transform;
  readonly jobs: number;
  readonly phase: Phase;
  readonly ctx: SourceContext;
  readonly where: { readonly source: string; readonly kind: string };
  readonly expected: Record<string, number>;
  /** Name of the counts check (`counts`, `counts:<db>`). */
  readonly countsCheck?: string;
  /** Extra checks on the loaded database (app targets). */
  readonly inspect?: (loaded: SqlSession) => Promise<Check[]>;
}

/**
 * Create `db`, load the dump, compare counts and run extra checks. Returns the checks; throws a
 * RestoreError when the load itself fails. `db` is left in place (the caller drops or swaps it).
 */
export async function loadAndInspect(o: LoadAndInspectOptions): Promise<Check[]> {
  const { admin, ctx, artifact, db, phase } = o;
  try {
    await createDatabase(admin, db, o.like);
  } catch (e) {
    if (!o.createFallback || !o.like) throw e;
    ctx.logger.warn('creating the database with the recorded owner and locale failed; using the defaults', {
      db,
      error: (e as Error).message,
    });
    await createDatabase(admin, db);
  }
  const server = await readServerInfo(admin);
  const tool = await o.endpoint.tool(o.format === 'custom' ? 'pg_restore' : 'psql', server.major, phase, ctx.signal);
  const progressPhase = phase === 'verify' ? 'verify' : 'restore';
  ctx.onProgress({
    phase: progressPhase,
    unit: 'bytes',
    completed: 0,
    total: artifact.bytes,
    description: `loading into ${db}`,
  });
  await loadDump({
    executor: o.endpoint.executor,
    tool,
    conn: o.conn,
    database: db,
    file: artifact.file,
    format: o.format,
    ...(o.transform ? { transform: o.transform } : {}),
    jobs: o.jobs,
    signal: ctx.signal,
    where: { ...o.where, phase },
    secrets: o.endpoint.secrets(o.conn),
  });
  ctx.onProgress({
    phase: progressPhase,
    unit: 'bytes',
    completed: artifact.bytes,
    total: artifact.bytes,
    description: `loaded into ${db}`,
  });
  const loaded = await o.endpoint.open(o.conn, db, phase, ctx.signal);
  try {
    const tables = Object.keys(o.expected);
    const actual = tables.length ? await countRows(loaded, tables).catch(() => ({})) : {};
    const problems = compareCounts(o.expected, actual);
    const checks: Check[] = [
      {
        name: o.countsCheck ?? 'counts',
        ok: problems.length === 0,
        detail: problems.length
          ? problems.map((p) => p.message).join('; ')
          : `${tables.length} tables match the manifest`,
      },
    ];
    if (o.inspect) checks.push(...(await o.inspect(loaded)));
    return checks;
  } finally {
    await loaded.close(true);
  }
}

/**
 * Put `fresh` in place of `live`: live (if it exists) becomes `<live>_before_restore_<ts>`, then
 * fresh takes the live name. When the second rename fails the first is undone. Returns the
 * safety copy's name (undefined when there was no live database).
 */
export async function swapIn(admin: SqlSession, live: string, fresh: string): Promise<string | undefined> {
  let safety: string | undefined;
  if (await databaseInfo(admin, live)) {
    safety = boundedName(live, `_before_restore_${compactTimestamp()}`);
    // Long names sharing their first bytes shorten to the same name within the same second.
    if (await databaseInfo(admin, safety)) {
      safety = boundedName(live, `_before_restore_${compactTimestamp()}_${randomBytes(2).toString('hex')}`);
    }
    await renameDatabase(admin, live, safety);
  }
  try {
    await renameDatabase(admin, fresh, live);
  } catch (e) {
    if (safety) await renameDatabase(admin, safety, live);
    throw e;
  }
  return safety;
}

/** Undo {@link swapIn}: the restored database is dropped and the safety copy takes the live name again. */
export async function swapBack(admin: SqlSession, live: string, safety: string | undefined): Promise<void> {
  const failed = boundedName(live, `_failed_restore_${compactTimestamp()}`);
  if (await databaseInfo(admin, live)) await renameDatabase(admin, live, failed);
  if (safety !== undefined) await renameDatabase(admin, safety, live);
  await dropDatabase(admin, failed);
}

/** A database swapped in by {@link swapInAll}, and its safety copy (null when there was no live one). */
export type SwappedDatabase = {
  readonly database: string;
  readonly safety: string | null;
};

/**
 * Swap several restored databases in, in order. When one swap fails, the ones swapped before it
 * are swapped back (newest first) and the error is rethrown; if swapping back fails too, a
 * RestoreError (`ERR_PG_ROLLBACK`) names the databases needing a hand. `onSwapped` is told each
 * live name whose new database took its place.
 */
export async function swapInAll(
  admin: SqlSession,
  pairs: readonly { readonly live: string; readonly fresh: string }[],
  where: { readonly source: string; readonly kind: string; readonly phase: Phase },
  onSwapped: (live: string) => void = () => {},
): Promise<SwappedDatabase[]> {
  const swapped: SwappedDatabase[] = [];
  try {
    for (const p of pairs) {
      const safety = await swapIn(admin, p.live, p.fresh);
      onSwapped(p.live);
      swapped.push({ database: p.live, safety: safety ?? null });
    }
  } catch (e) {
    const stuck = await swapAllBack(admin, swapped);
    if (stuck.length) {
      throw new RestoreError(
        `swapping the restored databases in failed, and swapping back failed for ${stuck.join(', ')}: ${(e as Error).message}`,
        where,
        { cause: e, code: 'ERR_PG_ROLLBACK' },
      );
    }
    throw e;
  }
  return swapped;
}

/** Swap back, newest first; returns the databases that could not be swapped back. */
export async function swapAllBack(admin: SqlSession, swapped: readonly SwappedDatabase[]): Promise<string[]> {
  const stuck: string[] = [];
  for (const s of [...swapped].reverse()) {
    try {
      await swapBack(admin, s.database, s.safety ?? undefined);
    } catch {
      stuck.push(s.safety ? `${s.database} (safety copy ${s.safety})` : s.database);
    }
  }
  return stuck;
}
