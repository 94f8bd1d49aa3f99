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
  claimDatabases,
  createDatabase,
  type DatabaseRename,
  databaseInfo,
  dropDatabase,
  failedName,
  type PgDatabaseInfo,
  renameDatabasesAtomically,
  sweepLeftovers,
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
  /**
   * Awaited once the database exists and the tool is found, before anything is loaded: checks
   * running beside the creation (a rejection stops the load; the caller drops `db`).
   */
  readonly beforeLoad?: () => Promise<void>;
  /** Name of the counts check (`counts`, `counts:<db>`). */
  readonly countsCheck?: string;
  /**
   * Extra checks on the loaded database (app targets), on a session of their own. `counts`
   * resolves to the rows per table being counted beside them on another session (`schema.table`:
   * the manifest's tables); it never rejects (a failed count resolves to `{}`).
   */
  readonly inspect?: (loaded: SqlSession, counts: Promise<Readonly<Record<string, number>>>) => Promise<Check[]>;
}

/**
 * Create `db`, load the dump, compare counts and run extra checks. Returns the checks; throws a
 * RestoreError when the load itself fails. `db` is left in place (the caller drops or swaps it).
 */
export async function loadAndInspect(o: LoadAndInspectOptions): Promise<Check[]> {
  const { admin, ctx, artifact, db, phase } = o;
  const server = await readServerInfo(admin);
  // Found (its `--version` run) while the server creates the database.
  const finding = o.endpoint.tool(o.format === 'custom' ? 'pg_restore' : 'psql', server.major, phase, ctx.signal);
  finding.catch(() => {});
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
  const tool = await finding;
  await o.beforeLoad?.();
  const progressPhase = phase === 'verify' ? 'verify' : 'restore';
  ctx.onProgress({
    phase: progressPhase,
    unit: 'bytes',
    completed: 0,
    total: artifact.bytes,
    description: `loading into ${db}`,
  });
  // The sessions the checks use are opened while the dump loads: nothing waits for them after it.
  // An idle session on the new database holds no snapshot and no lock the load could wait on.
  const sessions = opening(o, db, o.inspect ? 2 : 1);
  try {
    await loadDump({
      executor: o.endpoint.executor,
      tool,
      conn: o.conn,
      database: db,
      file: artifact.file,
      format: o.format,
      ...(o.transform ? { transform: o.transform } : {}),
      jobs: o.jobs,
      // The database was created just above: its tables are made by the load's own transaction.
      copyFreeze: true,
      signal: ctx.signal,
      where: { ...o.where, phase },
      secrets: o.endpoint.secrets(o.conn),
    });
  } catch (e) {
    await sessions.closeAll();
    throw e;
  }
  ctx.onProgress({
    phase: progressPhase,
    unit: 'bytes',
    completed: artifact.bytes,
    total: artifact.bytes,
    description: `loaded into ${db}`,
  });
  try {
    const [counting, inspecting] = (await sessions.all()) as [SqlSession, SqlSession | undefined];
    const tables = Object.keys(o.expected);
    // The app's checks run on their own session beside the count; they get the counts when they need them.
    const counted = tables.length ? countRows(counting, tables).catch(() => ({})) : Promise.resolve({});
    const extra = o.inspect && inspecting ? o.inspect(inspecting, counted) : Promise.resolve([]);
    extra.catch(() => {});
    const actual = await counted;
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
    checks.push(...(await extra));
    return checks;
  } finally {
    await sessions.closeAll();
  }
}

/**
 * `n` sessions on `db`, being opened. `all` waits for them (the first failure rejects);
 * `closeAll` closes every one that opened, whatever happened, and never rejects.
 */
function opening(
  o: LoadAndInspectOptions,
  db: string,
  n: number,
): { all(): Promise<SqlSession[]>; closeAll(): Promise<void> } {
  const pending = Array.from({ length: n }, async () => {
    const s = await o.endpoint.open(o.conn, db, o.phase, o.ctx.signal);
    // No parallel workers: the checks already run side by side, and two workers each would
    // oversubscribe a two-core machine (the counts and Immich's scan by status of a 100 MiB
    // database, in new sessions at once: median 256 ms with workers, 214 ms without).
    await s.exec('SET max_parallel_workers_per_gather = 0').catch(() => {});
    return s;
  });
  for (const p of pending) p.catch(() => {});
  return {
    all: () => Promise.all(pending),
    closeAll: async () => {
      await Promise.all(pending.map((p) => p.then((s) => s.close(true)).catch(() => {})));
    },
  };
}

/** A new name for the safety copy of `live`: `<live>_before_restore_<ts>`, unique on the server. */
async function safetyNameFor(admin: SqlSession, live: string, taken: ReadonlySet<string>): Promise<string> {
  let safety = boundedName(live, `_before_restore_${compactTimestamp()}`);
  // Long names sharing their first bytes shorten to the same name within the same second.
  while (taken.has(safety) || (await databaseInfo(admin, safety))) {
    safety = boundedName(live, `_before_restore_${compactTimestamp()}_${randomBytes(2).toString('hex')}`);
  }
  return safety;
}

/** A database swapped in by {@link swapInAll}, and its safety copy (null when there was no live one). */
export type SwappedDatabase = {
  readonly database: string;
  readonly safety: string | null;
};

/**
 * Put each `fresh` in place of its `live`, all in ONE transaction: every live database (if it
 * exists) becomes `<live>_before_restore_<ts>` and every fresh one takes the live name, or — on a
 * failure or a crash at any instant — nothing changes at all. Returns the safety copies.
 */
export async function swapInAll(
  admin: SqlSession,
  pairs: readonly { readonly live: string; readonly fresh: string }[],
  where: { readonly source: string; readonly kind: string; readonly phase: Phase },
  onSwapped: (live: string) => void = () => {},
  beforeSwap: (planned: readonly SwappedDatabase[]) => Promise<void> = async () => {},
): Promise<SwappedDatabase[]> {
  const swapped: SwappedDatabase[] = [];
  const renames: DatabaseRename[] = [];
  const taken = new Set<string>();
  for (const p of pairs) {
    const safety = (await databaseInfo(admin, p.live)) ? await safetyNameFor(admin, p.live, taken) : undefined;
    if (safety) {
      taken.add(safety);
      renames.push({ from: p.live, to: safety });
    }
    swapped.push({ database: p.live, safety: safety ?? null });
  }
  for (const p of pairs) renames.push({ from: p.fresh, to: p.live });
  // Write ahead: the restore record names the safety copies before the transaction that makes them.
  await beforeSwap(swapped);
  try {
    await renameDatabasesAtomically(admin, renames);
  } catch (e) {
    throw new RestoreError(
      `swapping the restored database(s) in failed; every live database is as it was: ${(e as Error).message}`,
      where,
      { cause: e, code: 'ERR_PG_SWAP' },
    );
  }
  for (const p of pairs) onSwapped(p.live);
  return swapped;
}

/**
 * Put `fresh` in place of `live` in one transaction (see {@link swapInAll}). Returns the safety
 * copy's name (undefined when there was no live database).
 */
export async function swapIn(
  admin: SqlSession,
  live: string,
  fresh: string,
  where: { readonly source: string; readonly kind: string; readonly phase: Phase },
  beforeSwap?: (safety: string | undefined) => Promise<void>,
): Promise<string | undefined> {
  const [s] = await swapInAll(admin, [{ live, fresh }], where, undefined, async (planned) => {
    await beforeSwap?.(planned[0]?.safety ?? undefined);
  });
  return s?.safety ?? undefined;
}

/** What swapping one database back takes, read from what exists now. */
async function planSwapBack(
  admin: SqlSession,
  live: string,
  safety: string | undefined,
  fresh: string | undefined,
  writtenAhead = false,
): Promise<{ renames: DatabaseRename[]; drop: string[] }> {
  const failed = failedName(live, safety);
  const liveExists = (await databaseInfo(admin, live)) !== undefined;
  if (safety === undefined) {
    // There was no live database before the restore: the restored one goes.
    return { renames: liveExists ? [{ from: live, to: failed }] : [], drop: [failed] };
  }
  if (await databaseInfo(admin, safety)) {
    return {
      renames: [...(liveExists ? [{ from: live, to: failed }] : []), { from: safety, to: live }],
      drop: [failed],
    };
  }
  // No safety copy. The swap creates it in the same transaction that renames the restored
  // database in, and a swap-back removes it in the one that renames it out: so either an earlier
  // swap-back committed (its put-aside database may still wait to be dropped), or the swap never
  // committed (its scratch database is still there, live was never touched).
  if (await databaseInfo(admin, failed)) return { renames: [], drop: [failed] };
  if (fresh !== undefined && (await databaseInfo(admin, fresh))) return { renames: [], drop: [fresh] };
  // Recorded before a swap that never committed, its scratch database already swept: live was
  // never touched. (Nothing sweeps a `_before_restore_` copy, so a committed swap would have one.)
  if (writtenAhead) return { renames: [], drop: [] };
  throw new Error(
    `the safety copy "${safety}" of "${live}" does not exist (dropped already?): there is nothing to swap back`,
  );
}

/**
 * Undo {@link swapIn}: in one transaction the restored database is put aside and the safety copy
 * takes the live name again; then the restored one is dropped. Safe to run again after a crash at
 * any point of an earlier swap-back, and after a swap that never committed (nothing is renamed;
 * the scratch database `fresh`, when given, is dropped).
 */
export async function swapBack(
  admin: SqlSession,
  live: string,
  safety: string | undefined,
  fresh?: string,
  writtenAhead = false,
): Promise<void> {
  const plan = await planSwapBack(admin, live, safety, fresh, writtenAhead);
  await renameDatabasesAtomically(admin, plan.renames);
  for (const db of plan.drop) await dropDatabase(admin, db);
}

/**
 * Swap several databases back in one transaction (all or none), then drop the restored ones.
 * Returns the databases that could not be swapped back (all of them when the transaction failed).
 */
export async function swapAllBack(admin: SqlSession, swapped: readonly SwappedDatabase[]): Promise<string[]> {
  const describe = (s: SwappedDatabase) => (s.safety ? `${s.database} (safety copy ${s.safety})` : s.database);
  const renames: DatabaseRename[] = [];
  const drop: string[] = [];
  const stuck: string[] = [];
  for (const s of swapped) {
    try {
      const plan = await planSwapBack(admin, s.database, s.safety ?? undefined, undefined);
      renames.push(...plan.renames);
      drop.push(...plan.drop);
    } catch {
      stuck.push(describe(s));
    }
  }
  if (stuck.length) return stuck;
  try {
    await renameDatabasesAtomically(admin, renames);
  } catch {
    return swapped.map(describe);
  }
  for (const db of drop) await dropDatabase(admin, db).catch(() => {});
  return [];
}

/**
 * Claim the live databases for this run (see {@link claimDatabases}) and drop what killed earlier
 * runs left for them (see {@link sweepLeftovers}), except `keep` (a staged scratch database this
 * plan run still uses). Throws `ERR_PG_BUSY` when another run holds one of them. The claim lasts
 * as long as `admin`. A dry run only claims.
 */
export async function claimAndSweep(
  admin: SqlSession,
  lives: readonly string[],
  where: { readonly source: string; readonly kind: string; readonly phase: Phase },
  ctx: Pick<SourceContext, 'logger' | 'dryRun'>,
  keep: ReadonlySet<string> = new Set(),
): Promise<string[]> {
  const busy = await claimDatabases(admin, lives);
  if (busy.length) {
    throw new RestoreError(
      `another duplicati-kit run is verifying or restoring ${busy.map((b) => `"${b}"`).join(', ')} on this server; wait for it to end`,
      where,
      { code: 'ERR_PG_BUSY' },
    );
  }
  const dropped: string[] = [];
  if (ctx.dryRun) return dropped;
  for (const live of lives) dropped.push(...(await sweepLeftovers(admin, live, keep)));
  if (dropped.length) ctx.logger.warn('dropped databases an interrupted earlier restore left', { databases: dropped });
  return dropped;
}
