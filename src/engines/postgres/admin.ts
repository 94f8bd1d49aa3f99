/**
 * Database administration for restores: create a database like the live one, terminate its
 * connections, rename (the swap), drop. All statements run on a maintenance database.
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { compactTimestamp } from '../_shared/timestamps.js';
import { quoteIdent, quoteLiteral } from './connection.js';
import type { SqlSession } from './session.js';

/** PostgreSQL's identifier limit (NAMEDATALEN - 1). */
const MAX_NAME = 63;

/** `<base><suffix>`, shortening `base` so the whole name fits PostgreSQL's 63-byte limit. */
export function boundedName(base: string, suffix: string): string {
  let b = base;
  while (Buffer.byteLength(b + suffix) > MAX_NAME) b = b.slice(0, -1);
  return b + suffix;
}

/** A name for a scratch database next to `db`: `<db>_restore_<random>`. */
export function scratchName(db: string): string {
  return boundedName(db, `_restore_${randomBytes(4).toString('hex')}`);
}

/** True when `name` has the shape {@link scratchName} gives for `db`. */
export function isScratchNameOf(name: string, db: string): boolean {
  const m = /^(.*)_restore_[0-9a-f]{8}$/.exec(name);
  return m !== null && name !== db && name === boundedName(db, name.slice((m[1] as string).length));
}

/** Facts of an existing database, used to create its replacement alike. */
export interface PgDatabaseInfo {
  readonly owner: string;
  readonly encoding: string;
  readonly collate: string;
  readonly ctype: string;
}

/** The database's owner, encoding and locale, or undefined when it does not exist. */
export async function databaseInfo(s: SqlSession, name: string): Promise<PgDatabaseInfo | undefined> {
  const rows = await s.query<{ owner: string; encoding: string; collate: string; ctype: string }>(
    `SELECT pg_get_userbyid(datdba) AS owner, pg_encoding_to_char(encoding) AS encoding,
            datcollate AS collate, datctype AS ctype
       FROM pg_database WHERE datname = ${quoteLiteral(name)}`,
  );
  return rows[0];
}

/** Create an empty database from template0, with the owner, encoding and locale of `like`. */
export async function createDatabase(s: SqlSession, name: string, like?: PgDatabaseInfo): Promise<void> {
  const parts = [`CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0`];
  if (like) {
    parts.push(
      `OWNER ${quoteIdent(like.owner)} ENCODING ${quoteLiteral(like.encoding)}`,
      `LC_COLLATE ${quoteLiteral(like.collate)} LC_CTYPE ${quoteLiteral(like.ctype)}`,
    );
  }
  await s.exec(parts.join(' '));
}

/** Terminate every other session connected to `name`. */
export async function terminateConnections(s: SqlSession, name: string): Promise<void> {
  await s.query(
    `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
      WHERE datname = ${quoteLiteral(name)} AND pid <> pg_backend_pid()`,
  );
}

/** Drop `name` if it exists, terminating its connections first. */
export async function dropDatabase(s: SqlSession, name: string): Promise<void> {
  await s.exec(`ALTER DATABASE ${quoteIdent(name)} ALLOW_CONNECTIONS false`).catch(() => {});
  await terminateConnections(s, name);
  await s.exec(`DROP DATABASE IF EXISTS ${quoteIdent(name)}`);
}

/** One rename of a swap. */
export interface DatabaseRename {
  readonly from: string;
  readonly to: string;
}

/** SQLSTATE of "database is being accessed by other users". */
const OBJECT_IN_USE = '55006';

/**
 * Apply `renames`, in order, in ONE transaction, so a crash at any instant (of this process, its
 * connection or the server) leaves every rename done or none. Before each rename the other
 * sessions on the database are terminated; `ALTER DATABASE … RENAME` then holds a lock that makes
 * new connections wait until COMMIT (they then find the database under its new name). A client
 * that connects in the instant between the termination and the lock makes the rename fail once
 * PostgreSQL has waited 5 s for it; the transaction is rolled back and tried again.
 */
export async function renameDatabasesAtomically(
  s: SqlSession,
  renames: readonly DatabaseRename[],
  attempts = 3,
): Promise<void> {
  if (renames.length === 0) return;
  for (let attempt = 1; ; attempt++) {
    await s.exec('BEGIN');
    try {
      for (const r of renames) {
        await terminateConnections(s, r.from);
        await s.exec(`ALTER DATABASE ${quoteIdent(r.from)} RENAME TO ${quoteIdent(r.to)}`);
      }
      await s.exec('COMMIT');
      return;
    } catch (e) {
      await s.exec('ROLLBACK').catch(() => {});
      const busy = (e as { sqlstate?: string }).sqlstate === OBJECT_IN_USE;
      if (!busy || attempt >= attempts) throw e;
    }
  }
}

/** True when a database named `name` exists. */
export async function databaseExists(s: SqlSession, name: string): Promise<boolean> {
  return (await databaseInfo(s, name)) !== undefined;
}

/** First key of the advisory locks duplicati-kit takes ("dkrs"). */
const LOCK_CLASS = 0x646b7273;

/** Second key: 31 bits of the database name's SHA-256 (the lock stands for that name). */
function lockKey(name: string): number {
  return createHash('sha256').update(name).digest().readUInt32BE(0) & 0x7fffffff;
}

/**
 * Claim `names` for this session: a session-level advisory lock per live database name, held
 * until the session ends (a killed process's session ends with its connection). Advisory locks
 * are per database, so the claim also fails when a session on another database holds the same
 * key (`pg_locks` shows the whole server). Returns the names another session holds (and the
 * claim is not taken for any of them); an empty list means claimed.
 */
export async function claimDatabases(s: SqlSession, names: readonly string[]): Promise<string[]> {
  const taken: string[] = [];
  const busy: string[] = [];
  for (const name of [...new Set(names)].sort()) {
    const key = lockKey(name);
    const rows = await s.query<{ ok: boolean; others: string | number }>(
      `SELECT pg_try_advisory_lock(${LOCK_CLASS}, ${key}) AS ok,
              (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = ${LOCK_CLASS}
                 AND objid = ${key} AND objsubid = 2 AND pid <> pg_backend_pid()) AS others`,
    );
    const r = rows[0];
    if (r?.ok === true) taken.push(name);
    if (r?.ok !== true || Number(r?.others) > 0) busy.push(name);
  }
  if (busy.length) {
    for (const name of taken) {
      await s.query(`SELECT pg_advisory_unlock(${LOCK_CLASS}, ${lockKey(name)}) AS ok`).catch(() => {});
    }
  }
  return busy;
}

/** The name a swap-back gives the restored database it puts aside before dropping it. */
export function failedName(live: string, safety: string | undefined): string {
  const tag = safety?.split('_before_restore_')[1];
  return boundedName(live, `_failed_restore_${tag ?? compactTimestamp()}`);
}

/** True when `name` has the shape {@link failedName} gives for `live`. */
export function isFailedNameOf(name: string, live: string): boolean {
  const m = /^(.*)_failed_restore_\d{8}T\d{6}(_[0-9a-f]{4})?$/.exec(name);
  return m !== null && name !== live && name === boundedName(live, name.slice((m[1] as string).length));
}

/**
 * Drop what killed earlier runs left for `live`: scratch databases (`<live>_restore_<random>`)
 * and swapped-back restored ones (`<live>_failed_restore_<ts>`), never anything else (not the
 * `_before_restore_` safety copies, which are restore points). Call only while holding the claim
 * on `live` ({@link claimDatabases}): no other run of duplicati-kit is then working on it. As a
 * second guard, a database someone is connected to is left alone. Returns the dropped names.
 */
export async function sweepLeftovers(
  s: SqlSession,
  live: string,
  keep: ReadonlySet<string> = new Set(),
): Promise<string[]> {
  const rows = await s.query<{ name: string; sessions: string | number }>(
    `SELECT d.datname AS name,
            (SELECT count(*) FROM pg_stat_activity a WHERE a.datname = d.datname AND a.pid <> pg_backend_pid()) AS sessions
       FROM pg_database d ORDER BY 1`,
  );
  const dropped: string[] = [];
  for (const r of rows) {
    if (keep.has(r.name) || Number(r.sessions) > 0) continue;
    if (!isScratchNameOf(r.name, live) && !isFailedNameOf(r.name, live)) continue;
    await dropDatabase(s, r.name);
    dropped.push(r.name);
  }
  return dropped;
}
