/**
 * Database administration for restores: create a database like the live one, terminate its
 * connections, rename (the swap), drop. All statements run on a maintenance database.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
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

/**
 * Rename `from` to `to`. Connections are refused first and then terminated, so a client that
 * reconnects cannot block the rename; connections are allowed again under the new name.
 */
export async function renameDatabase(s: SqlSession, from: string, to: string): Promise<void> {
  await s.exec(`ALTER DATABASE ${quoteIdent(from)} ALLOW_CONNECTIONS false`);
  try {
    await terminateConnections(s, from);
    await s.exec(`ALTER DATABASE ${quoteIdent(from)} RENAME TO ${quoteIdent(to)}`);
  } catch (e) {
    await s.exec(`ALTER DATABASE ${quoteIdent(from)} ALLOW_CONNECTIONS true`).catch(() => {});
    throw e;
  }
  await s.exec(`ALTER DATABASE ${quoteIdent(to)} ALLOW_CONNECTIONS true`);
}

/** True when a database named `name` exists. */
export async function databaseExists(s: SqlSession, name: string): Promise<boolean> {
  return (await databaseInfo(s, name)) !== undefined;
}
