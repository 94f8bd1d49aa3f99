/**
 * The MySQL/MariaDB swap of `MysqlTarget`, made safe against a crash at any instant. MariaDB has
 * no RENAME DATABASE and no transactional DDL; what is atomic is one `RENAME TABLE` moving many
 * tables across databases. So the tables move in one statement (clients see all old or all new
 * tables), and everything around it is journaled BEFORE live is touched, in the safety database
 * itself (`_duplicati_kit_swap`, with the live and the restored triggers, views, routines and
 * events): a later run that finds a journal still `prepared` whose run is gone (its server-side
 * lock is free) finishes the swap when the tables moved, or undoes it when they did not.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { neverAborted } from '../../core/abort.js';
import { compactTimestamp } from '../_shared/timestamps.js';
import { type MysqlEndpoint, mysqlBoundedName, quoteMysqlIdent, quoteMysqlLiteral, randomTag } from './client.js';
import {
  createMysqlObjects,
  dropMysqlObjects,
  loadMysqlObjects,
  MYSQL_NEW_OBJECTS_TABLE,
  MYSQL_SWAP_TABLE,
  type MysqlObject,
  movableTables,
  readMysqlObjects,
  saveMysqlObjects,
} from './objects.js';

/** One applied swap, as kept in the restore output's state. */
export interface MysqlSwap {
  readonly live: string;
  readonly safety: string;
  /** The live database did not exist before the restore. */
  readonly created: boolean;
}

/** What the journal of a swap records before live is touched. */
interface Journal {
  readonly live: string;
  readonly fresh: string;
  readonly created: boolean;
  readonly liveTables: readonly string[];
  readonly freshTables: readonly string[];
  /** How many triggers, views, routines and events live had (saved before any is dropped). */
  readonly liveObjects: number;
}

type Rewrite = ((o: MysqlObject) => string) | undefined;

const q = quoteMysqlIdent;

async function writeJournal(endpoint: MysqlEndpoint, safety: string, j: Journal, signal: AbortSignal): Promise<void> {
  const t = `${q(safety)}.${q(MYSQL_SWAP_TABLE)}`;
  // One statement: the journal exists whole or not at all.
  await endpoint.query(
    [
      'SET NAMES utf8mb4;',
      `CREATE TABLE ${t} (k VARCHAR(32) PRIMARY KEY, v LONGTEXT NOT NULL) DEFAULT CHARSET=utf8mb4 SELECT 'journal' AS k, ${quoteMysqlLiteral(JSON.stringify(j))} AS v UNION ALL SELECT 'stage', 'prepared';`,
    ].join('\n'),
    signal,
  );
}

/** The journal of `safety` while its swap is `prepared` (not finished); undefined otherwise. */
async function readPreparedJournal(
  endpoint: MysqlEndpoint,
  safety: string,
  signal: AbortSignal,
): Promise<Journal | undefined> {
  const has = await endpoint.query(
    `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${quoteMysqlLiteral(safety)} AND TABLE_NAME = ${quoteMysqlLiteral(MYSQL_SWAP_TABLE)};`,
    signal,
  );
  if (has[0]?.[0] !== '1') return undefined;
  const rows = await endpoint.query(`SELECT k, v FROM ${q(safety)}.${q(MYSQL_SWAP_TABLE)};`, signal);
  const map = new Map(rows.map((r) => [r[0], r[1]]));
  if (map.get('stage') !== 'prepared') return undefined;
  return JSON.parse(map.get('journal') ?? 'null') as Journal;
}

async function markDone(endpoint: MysqlEndpoint, safety: string, signal: AbortSignal): Promise<void> {
  await endpoint.query(
    `DROP TABLE IF EXISTS ${q(safety)}.${q(MYSQL_NEW_OBJECTS_TABLE)}; UPDATE ${q(safety)}.${q(MYSQL_SWAP_TABLE)} SET v = 'done' WHERE k = 'stage';`,
    signal,
  );
}

/**
 * Swap `fresh` in for `live`: journal (safety database, both sets of objects) first, then the
 * objects dropped, the tables moved in one `RENAME TABLE`, the restored objects created, the
 * journal marked done. A failure undoes what was done; a crash is finished or undone by
 * {@link recoverMysqlSwaps} on the next run.
 */
export async function swapMysqlIn(
  endpoint: MysqlEndpoint,
  fresh: string,
  live: string,
  rewrite: Rewrite,
  signal: AbortSignal,
): Promise<MysqlSwap> {
  const safety = mysqlBoundedName(live, `_before_restore_${compactTimestamp(new Date(), '')}`);
  const created = !(await endpoint.exists(live, signal));
  const freshObjects = await readMysqlObjects(endpoint, fresh, signal);
  const liveObjects = created ? [] : await readMysqlObjects(endpoint, live, signal);
  const liveTables = created ? [] : await movableTables(endpoint, live, signal);
  const freshTables = await movableTables(endpoint, fresh, signal);
  // From here on nothing may be cut short by the caller's signal: every step either completes
  // or is undone (now, or by the next run from the journal).
  const never = neverAborted();
  await endpoint.query(`CREATE DATABASE ${q(safety)};`, never);
  let renamed = false;
  const journal: Journal = { live, fresh, created, liveTables, freshTables, liveObjects: liveObjects.length };
  try {
    await writeJournal(endpoint, safety, journal, never);
    if (liveObjects.length) await saveMysqlObjects(endpoint, safety, liveObjects, never);
    if (freshObjects.length) await saveMysqlObjects(endpoint, safety, freshObjects, never, MYSQL_NEW_OBJECTS_TABLE);
    if (created) await endpoint.query(`CREATE DATABASE ${q(live)};`, never);
    // Triggers would block the rename; the rest would linger (events could fire) in the scratch database.
    await dropMysqlObjects(endpoint, fresh, never);
    await dropMysqlObjects(endpoint, live, never);
    const moves = [
      ...liveTables.map((t) => `${q(live)}.${q(t)} TO ${q(safety)}.${q(t)}`),
      ...freshTables.map((t) => `${q(fresh)}.${q(t)} TO ${q(live)}.${q(t)}`),
    ];
    if (moves.length) await endpoint.query(`RENAME TABLE ${moves.join(', ')};`, never);
    renamed = true;
    await createMysqlObjects(endpoint, live, freshObjects, never, rewrite);
    await markDone(endpoint, safety, never);
  } catch (e) {
    try {
      if (renamed) {
        await dropMysqlObjects(endpoint, live, never);
        const back = [
          ...freshTables.map((t) => `${q(live)}.${q(t)} TO ${q(fresh)}.${q(t)}`),
          ...liveTables.map((t) => `${q(safety)}.${q(t)} TO ${q(live)}.${q(t)}`),
        ];
        if (back.length) await endpoint.query(`RENAME TABLE ${back.join(', ')};`, never);
      }
      await undoPrepared(endpoint, safety, journal, never);
    } catch (undo) {
      throw new MysqlSwapError(e, undo, live, safety);
    }
    throw e;
  }
  return { live, safety, created };
}

/** Swapping failed and putting it back failed too: the message says where everything is. */
export class MysqlSwapError extends Error {
  constructor(
    readonly swapError: unknown,
    undo: unknown,
    readonly live: string,
    readonly safety: string,
  ) {
    super(
      `swapping "${live}" failed (${(swapError as Error)?.message ?? String(swapError)}) and putting it back failed too (${(undo as Error)?.message ?? String(undo)}); the previous tables and the definitions of its triggers, views, routines and events are in "${safety}", and the next restore of "${live}" puts them back`,
    );
  }
}

/** Undo a swap whose tables did not move: live's objects back, a created live and the safety database dropped. */
async function undoPrepared(endpoint: MysqlEndpoint, safety: string, j: Journal, signal: AbortSignal): Promise<void> {
  if (j.created) {
    if ((await movableTables(endpoint, j.live, signal)).length === 0) {
      await endpoint.query(`DROP DATABASE IF EXISTS ${q(j.live)};`, signal);
    }
  } else {
    // Live's objects are dropped only after all of them were saved: when fewer were saved, none was dropped.
    const saved = await loadMysqlObjects(endpoint, safety, signal);
    if (saved.length === j.liveObjects) {
      await dropMysqlObjects(endpoint, j.live, signal);
      await createMysqlObjects(endpoint, j.live, saved, signal);
    }
  }
  await endpoint.query(`DROP DATABASE IF EXISTS ${q(safety)};`, signal);
}

/**
 * Put the safety tables back into live, drop what the restore brought and recreate the live
 * database's previous triggers, views, routines and events from the safety database.
 */
export async function swapMysqlBack(endpoint: MysqlEndpoint, s: MysqlSwap): Promise<void> {
  const never = neverAborted();
  const previous = await loadMysqlObjects(endpoint, s.safety, never);
  const failed = mysqlBoundedName(s.live, `_failed_restore_${randomTag()}`);
  await dropMysqlObjects(endpoint, s.live, never);
  await endpoint.query(`CREATE DATABASE ${q(failed)};`, never);
  const moves = [
    ...(await movableTables(endpoint, s.live, never)).map((t) => `${q(s.live)}.${q(t)} TO ${q(failed)}.${q(t)}`),
    ...(await movableTables(endpoint, s.safety, never)).map((t) => `${q(s.safety)}.${q(t)} TO ${q(s.live)}.${q(t)}`),
  ];
  if (moves.length) await endpoint.query(`RENAME TABLE ${moves.join(', ')};`, never);
  if (!s.created) await createMysqlObjects(endpoint, s.live, previous, never);
  await endpoint.query(`DROP DATABASE ${q(failed)}; DROP DATABASE ${q(s.safety)};`, never);
  if (s.created) await endpoint.query(`DROP DATABASE IF EXISTS ${q(s.live)};`, never);
}

/** The server-wide lock name standing for live database `live`. */
function lockName(live: string): string {
  return `duplicati-kit:${createHash('sha256').update(live).digest('hex').slice(0, 40)}`;
}

/** Locks held on live databases; release them all in `finally`. */
export interface MysqlClaim {
  release(): Promise<void>;
}

/**
 * Claim `lives` for this run (a server-wide named lock each, held by a client process that dies
 * with this one). Returns the claim, or the names another run holds (nothing is held then).
 */
export async function claimMysqlDatabases(
  endpoint: MysqlEndpoint,
  lives: readonly string[],
  signal: AbortSignal,
): Promise<MysqlClaim | { busy: string[] }> {
  const held: { release: () => Promise<void> }[] = [];
  const releaseAll = async () => {
    for (const h of held.splice(0)) await h.release().catch(() => {});
  };
  const busy: string[] = [];
  try {
    for (const live of [...new Set(lives)].sort()) {
      const h = await endpoint.holdLock(lockName(live), signal);
      if (h) held.push(h);
      else busy.push(live);
    }
  } catch (e) {
    await releaseAll();
    throw e;
  }
  if (busy.length) {
    await releaseAll();
    return { busy };
  }
  return { release: releaseAll };
}

const SCRATCH_RE = /^(.*)_(restore|failed_restore)_[0-9a-f]{8}$/;
const SAFETY_RE = /^(.*)_before_restore_\d{14}$/;

/**
 * For claimed `live`: finish or undo every swap a killed run left `prepared` (tables moved: the
 * restored objects are created and the swap is done, leaving an ordinary restore point; tables
 * not moved: live gets its objects back and the safety database goes), then drop the scratch
 * (`_restore_`) and swapped-back (`_failed_restore_`) databases killed runs left. Never touches
 * anything else. Returns what it did, one line per database.
 */
export async function recoverMysqlLeftovers(
  endpoint: MysqlEndpoint,
  live: string,
  rewrite: Rewrite,
  signal: AbortSignal,
): Promise<string[]> {
  const done: string[] = [];
  const all = await endpoint.query('SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY 1;', signal);
  const names = all.map((r) => r[0] ?? '');
  for (const db of names) {
    if (!SAFETY_RE.test(db) || db !== mysqlBoundedName(live, db.slice(db.lastIndexOf('_before_restore_')))) continue;
    const j = await readPreparedJournal(endpoint, db, signal);
    if (!j) {
      // Killed between creating the safety database and journaling in it: it is empty.
      if (await isEmptyDatabase(endpoint, db, signal)) {
        await endpoint.query(`DROP DATABASE IF EXISTS ${q(db)};`, signal);
        done.push(`dropped ${db}, an empty safety database of an interrupted swap`);
      }
      continue;
    }
    if (j.live !== live) continue;
    const inSafety = new Set(await movableTables(endpoint, db, signal));
    const freshLeft = names.includes(j.fresh) ? new Set(await movableTables(endpoint, j.fresh, signal)) : new Set();
    const renamed = j.liveTables.length
      ? j.liveTables.some((t) => inSafety.has(t))
      : j.freshTables.length > 0 && !j.freshTables.some((t) => freshLeft.has(t));
    if (renamed) {
      await dropMysqlObjects(endpoint, live, signal);
      await createMysqlObjects(
        endpoint,
        live,
        await loadMysqlObjects(endpoint, db, signal, MYSQL_NEW_OBJECTS_TABLE),
        signal,
        rewrite,
      );
      await markDone(endpoint, db, signal);
      done.push(`finished the interrupted swap of ${live} (restore point ${db})`);
    } else {
      await undoPrepared(endpoint, db, j, signal);
      done.push(`undid the interrupted swap of ${live} (dropped ${db})`);
    }
  }
  for (const db of names) {
    const m = SCRATCH_RE.exec(db);
    if (!m || db === live || db !== mysqlBoundedName(live, db.slice((m[1] as string).length))) continue;
    await endpoint.query(`DROP DATABASE IF EXISTS ${q(db)};`, signal);
    done.push(`dropped ${db}, left by an interrupted run`);
  }
  return done;
}

/** True when `db` holds no table, view, trigger, routine or event at all. */
async function isEmptyDatabase(endpoint: MysqlEndpoint, db: string, signal: AbortSignal): Promise<boolean> {
  const lit = quoteMysqlLiteral(db);
  const rows = await endpoint.query(
    `SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${lit}) + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ${lit}) + (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ${lit}) + (SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ${lit});`,
    signal,
  );
  return rows[0]?.[0] === '0';
}

/** Live names that leftovers on the server point to (untrimmed names only: a trimmed one cannot be told apart). */
export function leftoverLives(databases: readonly string[]): string[] {
  const out = new Set<string>();
  for (const db of databases) {
    const m = SCRATCH_RE.exec(db) ?? SAFETY_RE.exec(db);
    if (m && db.length < 64) out.add(m[1] as string);
  }
  return [...out];
}
