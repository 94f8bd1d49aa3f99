/**
 * A Duplicati job's local database, read-only: the files of one version, which Duplicati's own
 * search reads from the same rows but answers in ~14 ms per file (2.0.7.3).
 *
 * @module
 */
import { throwIfAborted } from '../core/abort.js';
import { asFolderPath } from '../core/fs.js';

/**
 * The files (not folders) of the version taken at `time` below `folder`, read from a Duplicati
 * job database (2.0.x and later: the `Fileset`, `FilesetEntry` tables and the `File` view, paths
 * as the server lists them, folders ending in a separator). `undefined` when the database cannot
 * be read (another host's path, no permission, locked for longer than 5 s, another layout) or has
 * no fileset at that time: the caller asks the server then. Opened read-only; nothing is written.
 *
 * @example
 * ```ts
 * const files = await filesFromJobDatabase('/root/.config/Duplicati/ABCDEF.sqlite', v.time, '/srv/photos/', signal);
 * ```
 */
export async function filesFromJobDatabase(
  dbPath: string,
  time: string,
  folder: string,
  signal: AbortSignal,
): Promise<string[] | undefined> {
  throwIfAborted(signal);
  const secs = Date.parse(time) / 1000;
  if (!Number.isFinite(secs)) return undefined;
  let Database: typeof import('better-sqlite3');
  try {
    const mod = (await import('better-sqlite3')) as unknown as { default?: typeof import('better-sqlite3') };
    Database = (mod.default ?? mod) as typeof import('better-sqlite3');
  } catch {
    return undefined;
  }
  let db: import('better-sqlite3').Database;
  try {
    db = new Database(dbPath, { readonly: true, fileMustExist: true, timeout: 5000 });
  } catch {
    return undefined;
  }
  try {
    const fileset = db.prepare('SELECT ID FROM Fileset WHERE Timestamp = ?').get(Math.floor(secs)) as
      | { ID: number }
      | undefined;
    if (!fileset) return undefined;
    const root = asFolderPath(folder);
    const rows = db
      .prepare(
        'SELECT f.Path FROM FilesetEntry e JOIN File f ON f.ID = e.FileID WHERE e.FilesetID = ? AND substr(f.Path, 1, ?) = ?',
      )
      .pluck()
      .iterate(fileset.ID, root.length, root) as IterableIterator<unknown>;
    const out: string[] = [];
    let n = 0;
    for (const p of rows) {
      if (++n % 65_536 === 0) throwIfAborted(signal);
      if (typeof p === 'string' && !p.endsWith('/') && !p.endsWith('\\') && p.startsWith(root)) out.push(p);
    }
    return out;
  } catch {
    if (signal.aborted) throw signal.reason;
    return undefined;
  } finally {
    db.close();
  }
}
