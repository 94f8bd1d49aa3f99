/**
 * The few things every SQLite source and target needs from better-sqlite3: the lazily loaded
 * driver, opening a file with errors that say what to do, `PRAGMA integrity_check`, row counts.
 * The native addon is loaded on first use only, so `import 'duplicati-kit'` stays light.
 *
 * @module
 */
import type BetterSqlite3 from 'better-sqlite3';

/** An open better-sqlite3 connection. */
export type SqliteDatabase = BetterSqlite3.Database;

/** The better-sqlite3 constructor. */
export type SqliteDriver = typeof BetterSqlite3;

/**
 * Load better-sqlite3 (native addon) on first use.
 *
 * @example
 * ```ts
 * const Database = await loadSqliteDriver();
 * const db = new Database('/srv/app/app.db', { readonly: true });
 * ```
 */
export async function loadSqliteDriver(): Promise<SqliteDriver> {
  const mod = (await import('better-sqlite3')) as unknown as { default?: SqliteDriver } & SqliteDriver;
  return mod.default ?? mod;
}

/** The SQLite result code of a better-sqlite3 error (`SQLITE_BUSY`, `SQLITE_CORRUPT`, …), if it is one. */
export function sqliteCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}

/** True for the errors SQLite raises while another connection holds a lock it needs. */
export function isBusy(e: unknown): boolean {
  const code = sqliteCode(e);
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || code?.startsWith('SQLITE_BUSY_') === true;
}

/** Quote an SQL identifier (table name) safely. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Run `PRAGMA integrity_check` (or `quick_check`) and return the problems found; an empty array
 * means the database is sound. At most `max` problems are collected.
 */
export function integrityProblems(db: SqliteDatabase, mode: 'full' | 'quick' = 'full', max = 20): string[] {
  const pragma = mode === 'quick' ? 'quick_check' : 'integrity_check';
  const rows = db.pragma(`${pragma}(${Math.max(1, Math.floor(max))})`) as Record<string, unknown>[];
  const messages = rows.map((r) => String(Object.values(r)[0]));
  return messages.length === 1 && messages[0] === 'ok' ? [] : messages;
}

/** Names of the tables in the main schema. */
export function tableNames(db: SqliteDatabase): Set<string> {
  const rows = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").all() as { name: string }[];
  return new Set(rows.map((r) => r.name));
}

/** `SELECT count(*)` of each table; every table must exist (see {@link tableNames}). */
export function countRows(db: SqliteDatabase, tables: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of tables) {
    const row = db.prepare(`SELECT count(*) AS n FROM ${quoteIdent(t)}`).get() as { n: number | bigint };
    out[t] = Number(row.n);
  }
  return out;
}

/** Facts about a database file, read through an open connection. */
export interface SqliteFileInfo {
  readonly sqliteVersion: string;
  readonly pageSize: number;
  readonly pageCount: number;
  readonly userVersion: number;
  readonly journalMode: string;
}

/** Read {@link SqliteFileInfo} through `db`. */
export function fileInfo(db: SqliteDatabase): SqliteFileInfo {
  const simple = (p: string): unknown => db.pragma(p, { simple: true });
  return {
    sqliteVersion: String((db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v),
    pageSize: Number(simple('page_size')),
    pageCount: Number(simple('page_count')),
    userVersion: Number(simple('user_version')),
    journalMode: String(simple('journal_mode')).toLowerCase(),
  };
}

/** Close a connection, ignoring errors (used in `finally` blocks after the real error). */
export function closeQuietly(db: SqliteDatabase | undefined): void {
  try {
    db?.close();
  } catch {
    // The connection is being discarded after another error; that error is the one to report.
  }
}
