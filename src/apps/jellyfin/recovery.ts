/**
 * Jellyfin on a new host: rewrite the absolute paths it stores under a recovery's path map, and
 * check the restored server's databases and libraries.
 *
 * Jellyfin keeps paths under its data and metadata folders as `%AppDataPath%` / `%MetadataPath%`
 * tokens (they move with the folders); media paths are absolute (reference/jellyfin.md §3.5):
 * - the library folders: `<data>/root/default/<Library>/options.xml` (`PathInfos/MediaPathInfo/Path`)
 *   and the `*.mblink` files beside it;
 * - items: `BaseItems.Path` (10.11+, `jellyfin.db`) or `TypedBaseItems.Path` and its `Images`
 *   list (≤10.10, `library.db`); images, external streams and chapter images: `BaseItemImageInfos.Path`,
 *   `MediaStreamInfos.Path`, `Chapters.ImagePath`, `ImageInfos.Path` (user avatars), and the ≤10.10
 *   `mediastreams.Path`, `Chapters2.ImagePath`.
 * Only the tables and columns that exist are touched. The databases change in one transaction
 * each, committed only once every library file is written; a failure rolls all of it back.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { JsonValue, StoredPathMapping, VerificationReport } from '../../contracts/types.js';
import { writeFileAtomic } from '../../core/fs.js';
import { mapPath, normalizePathMap, pathMapSql } from '../../core/path-map.js';
import { closeQuietly, loadSqliteDriver, type SqliteDatabase, tableNames } from '../../engines/sqlite/index.js';
import { countAccounts, countLibrary } from './version.js';

/** Table → columns holding absolute paths, in `jellyfin.db` (10.11+) and `library.db` (≤10.10). */
export const JELLYFIN_PATH_COLUMNS: Readonly<Record<string, readonly string[]>> = {
  BaseItems: ['Path'],
  BaseItemImageInfos: ['Path'],
  MediaStreamInfos: ['Path'],
  Chapters: ['ImagePath'],
  ImageInfos: ['Path'],
  TypedBaseItems: ['Path'],
  mediastreams: ['Path'],
  Chapters2: ['ImagePath'],
};

/** Where the restored server's files are. */
export interface JellyfinRecoveryPaths {
  /** ProgramData (holds `root/default/<Library>/`). */
  readonly dataDir: string;
  readonly jellyfinDb: string;
  /** `library.db` (≤10.10), when it exists. */
  readonly libraryDb?: string;
}

function columnsOf(db: SqliteDatabase, table: string): Set<string> {
  const rows = db.prepare(`SELECT name FROM pragma_table_info(?)`).all(table) as { name: string }[];
  return new Set(rows.map((r) => r.name));
}

/** Rewrite the path columns of one open database (inside the caller's transaction). */
function rewriteDb(
  db: SqliteDatabase,
  map: readonly StoredPathMapping[],
): { table: string; column: string; rows: number }[] {
  const out: { table: string; column: string; rows: number }[] = [];
  const tables = tableNames(db);
  for (const [table, cols] of Object.entries(JELLYFIN_PATH_COLUMNS)) {
    if (!tables.has(table)) continue;
    const have = columnsOf(db, table);
    for (const col of cols) {
      if (!have.has(col)) continue;
      const c = `"${col}"`;
      const v = pathMapSql(c, map);
      const r = db.prepare(`UPDATE "${table}" SET ${c} = ${v.expr} WHERE ${c} IS NOT NULL AND ${v.cond}`).run();
      out.push({ table, column: col, rows: r.changes });
    }
  }
  // ≤10.10: TypedBaseItems.Images is `path*ticks*type*width*height[*hash]` entries joined by `|`.
  if (tables.has('TypedBaseItems') && columnsOf(db, 'TypedBaseItems').has('Images')) {
    const rows = db
      .prepare("SELECT rowid AS id, Images AS v FROM TypedBaseItems WHERE Images IS NOT NULL AND Images <> ''")
      .all() as {
      id: number;
      v: string;
    }[];
    const update = db.prepare('UPDATE TypedBaseItems SET Images = ? WHERE rowid = ?');
    let n = 0;
    for (const r of rows) {
      const next = r.v
        .split('|')
        .map((entry) => {
          const star = entry.indexOf('*');
          const p = star < 0 ? entry : entry.slice(0, star);
          return `${mapPath(map, p)}${star < 0 ? '' : entry.slice(star)}`;
        })
        .join('|');
      if (next !== r.v) {
        update.run(next, r.id);
        n += 1;
      }
    }
    out.push({ table: 'TypedBaseItems', column: 'Images', rows: n });
  }
  return out;
}

const XML_DECODE: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
function xmlDecode(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-f]+);/gi, (m, e: string) => {
    if (e[0] === '#')
      return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? Number.parseInt(e.slice(2), 16) : Number(e.slice(1)));
    return XML_DECODE[e.toLowerCase()] ?? m;
  });
}
function xmlEncode(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The library definition files (`options.xml`, `*.mblink`) with their rewritten text. */
async function libraryFiles(
  dataDir: string,
  map: readonly StoredPathMapping[],
): Promise<{ file: string; before: string; after: string; paths: string[] }[]> {
  const root = path.join(dataDir, 'root', 'default');
  const libs = await fsp.readdir(root, { withFileTypes: true }).catch(() => []);
  const out: { file: string; before: string; after: string; paths: string[] }[] = [];
  for (const lib of libs) {
    if (!lib.isDirectory()) continue;
    const dir = path.join(root, lib.name);
    for (const name of await fsp.readdir(dir)) {
      const file = path.join(dir, name);
      if (name === 'options.xml') {
        const before = await fsp.readFile(file, 'utf8');
        const paths: string[] = [];
        const after = before.replace(/<Path>([^<]*)<\/Path>/g, (_m, raw: string) => {
          const mapped = mapPath(map, xmlDecode(raw));
          paths.push(mapped);
          return `<Path>${xmlEncode(mapped)}</Path>`;
        });
        out.push({ file, before, after, paths });
      } else if (name.endsWith('.mblink')) {
        const before = await fsp.readFile(file, 'utf8');
        const mapped = mapPath(map, before.trim());
        out.push({ file, before, after: before.trim() === mapped ? before : mapped, paths: [mapped] });
      }
    }
  }
  return out;
}

/**
 * Rewrite the paths a stopped Jellyfin stores, under `map`: library files and databases, all or
 * nothing.
 *
 * @example
 * ```ts
 * await rewriteJellyfinPaths({ dataDir: '/var/lib/jellyfin', jellyfinDb: '/var/lib/jellyfin/data/jellyfin.db' },
 *   [{ from: '/mnt/media', to: '/srv/media' }]);
 * ```
 */
export async function rewriteJellyfinPaths(
  paths: JellyfinRecoveryPaths,
  map: readonly StoredPathMapping[],
  signal?: AbortSignal,
): Promise<JsonValue> {
  const m = normalizePathMap(map);
  if (m.length === 0) return { rows: 0, files: 0 };
  const files = (await libraryFiles(paths.dataDir, m)).filter((f) => f.after !== f.before);
  const Database = await loadSqliteDriver();
  const dbs: { file: string; db: SqliteDatabase }[] = [];
  const columns: JsonValue[] = [];
  const written: { file: string; before: string }[] = [];
  try {
    for (const file of [paths.jellyfinDb, ...(paths.libraryDb ? [paths.libraryDb] : [])]) {
      const db = new Database(file, { fileMustExist: true });
      dbs.push({ file, db });
      db.exec('BEGIN IMMEDIATE');
      for (const c of rewriteDb(db, m)) columns.push({ db: path.basename(file), ...c });
    }
    signal?.throwIfAborted();
    for (const f of files) {
      await writeFileAtomic(f.file, f.after);
      written.push(f);
    }
    for (const { db } of dbs) db.exec('COMMIT');
  } catch (e) {
    for (const { db } of dbs) if (db.inTransaction) db.exec('ROLLBACK');
    for (const f of written.reverse()) await writeFileAtomic(f.file, f.before).catch(() => undefined);
    throw e;
  } finally {
    for (const { db } of dbs) closeQuietly(db);
  }
  const rows = columns.reduce<number>((n, c) => n + Number((c as { rows: number }).rows), 0);
  return { rows, columns, files: files.map((f) => f.file) };
}

/**
 * The restored server: `integrity_check` of each database, its counts, and every library folder
 * that `options.xml` names exists on this host.
 */
export async function checkJellyfinRecovery(
  paths: JellyfinRecoveryPaths,
  options: { integrity?: 'full' | 'quick' } = {},
): Promise<VerificationReport> {
  const Database = await loadSqliteDriver();
  const checks: { name: string; ok: boolean; detail?: string }[] = [];
  const counts: Record<string, number> = {};
  for (const file of [paths.jellyfinDb, ...(paths.libraryDb ? [paths.libraryDb] : [])]) {
    const db = new Database(file, { fileMustExist: true });
    try {
      const pragma = options.integrity === 'quick' ? 'quick_check' : 'integrity_check';
      const rows = db.prepare(`PRAGMA ${pragma}`).all() as Record<string, string>[];
      const msgs = rows.map((r) => Object.values(r)[0]);
      checks.push({
        name: `${path.basename(file)}: ${pragma}`,
        ok: msgs.length === 1 && msgs[0] === 'ok',
        detail: msgs.slice(0, 5).join('; '),
      });
      if (file === paths.jellyfinDb) Object.assign(counts, countAccounts(db));
      const t = tableNames(db);
      if (t.has('BaseItems') || t.has('TypedBaseItems')) Object.assign(counts, countLibrary(db));
    } finally {
      closeQuietly(db);
    }
  }
  checks.push({ name: 'counts', ok: true, detail: JSON.stringify(counts) });
  const folders = (await libraryFiles(paths.dataDir, [])).flatMap((f) =>
    f.file.endsWith('options.xml') ? f.paths : [],
  );
  const missing: string[] = [];
  for (const p of folders) if (!(await fsp.stat(p).catch(() => undefined))) missing.push(p);
  checks.push({
    name: 'library-folders',
    ok: missing.length === 0,
    detail: missing.length
      ? `missing on this host: ${missing.join(', ')}`
      : `${folders.length} library folders present`,
  });
  return { ok: checks.every((c) => c.ok), checks };
}
