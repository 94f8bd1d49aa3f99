/**
 * A consistent online snapshot of a live SQLite database, taken while the application keeps
 * writing, and guaranteed to finish.
 *
 * SQLite's online backup copies pages in steps; each step reads under its own read transaction,
 * and when another connection commits between two steps the copy starts over. Under a steady
 * writer (a media server scanning, ~100 commits/s) small steps therefore restart forever. The
 * snapshot copies in large steps (progress in pages, a chance to abort between steps) and after
 * `maxRestarts` restarts copies everything that is left in one step: one read transaction, which a
 * WAL writer cannot interrupt and does not wait for. `VACUUM INTO` is the alternative (also one
 * read transaction, output compacted, no progress).
 *
 * The snapshot is switched to the rollback journal (`journal_mode=DELETE`) so the artifact is one
 * self-contained file, then checked with `PRAGMA integrity_check` before it may be published.
 *
 * @module
 */
import { closeSync, fsyncSync, openSync, promises as fsp } from 'node:fs';
import { throwIfAborted } from '../../core/abort.js';
import {
  closeQuietly,
  countRows,
  fileInfo,
  integrityProblems,
  isBusy,
  loadSqliteDriver,
  type SqliteDatabase,
  sqliteCode,
  tableNames,
} from './driver.js';
import type { JsonValue } from '../../contracts/types.js';
import { SQLITE_SOURCE_DEFAULTS, type SnapshotMethod } from './options.js';

/** Largest page count better-sqlite3 passes to `sqlite3_backup_step` ("all that is left"). */
const ALL_PAGES = 0x7fffffff;

/** Why a snapshot could not be taken; the caller maps it to its own error class. */
export class SnapshotFailure extends Error {
  constructor(
    message: string,
    readonly reason: 'missing' | 'locked' | 'open' | 'copy' | 'integrity' | 'tables',
    readonly problems: readonly string[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SnapshotFailure';
  }
}

/** Options of {@link openLive}. */
export interface OpenLiveOptions {
  readonly busyTimeoutMs?: number;
}

/**
 * Open a live database read-only and read its schema once, so an exclusive lock held by the
 * application shows up now, as a `SnapshotFailure('locked')` that says what to do.
 *
 * @example
 * ```ts
 * const db = await openLive('/srv/app/app.db', { busyTimeoutMs: 1000 });
 * db.close();
 * ```
 */
export async function openLive(file: string, options: OpenLiveOptions = {}): Promise<SqliteDatabase> {
  const timeout = options.busyTimeoutMs ?? SQLITE_SOURCE_DEFAULTS.busyTimeoutMs;
  try {
    const st = await fsp.stat(file);
    if (!st.isFile()) throw new SnapshotFailure(`${file} is not a file`, 'missing');
  } catch (e) {
    if (e instanceof SnapshotFailure) throw e;
    throw new SnapshotFailure(`database file ${file} does not exist or cannot be read`, 'missing', [], { cause: e });
  }
  const Database = await loadSqliteDriver();
  let db: SqliteDatabase | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true, timeout });
    db.prepare('SELECT count(*) FROM sqlite_schema').get();
    return db;
  } catch (e) {
    closeQuietly(db);
    if (isBusy(e)) throw lockedFailure(file, timeout, e);
    throw new SnapshotFailure(
      `cannot open ${file} read-only (${sqliteCode(e) ?? (e as Error).message}); is it an SQLite database this user may read, with its -wal/-shm files?`,
      'open',
      [],
      { cause: e },
    );
  }
}

function lockedFailure(file: string, timeoutMs: number, cause: unknown): SnapshotFailure {
  return new SnapshotFailure(
    `${file} stayed locked by another process for ${timeoutMs} ms. The application most likely runs SQLite with ` +
      'PRAGMA locking_mode=EXCLUSIVE, which keeps every other reader out (Jellyfin: LockingBehavior/lockingmode in ' +
      'database.xml). Switch it back to NORMAL locking, or stop the application while the backup runs.',
    'locked',
    [],
    { cause },
  );
}

/** Options of {@link takeSnapshot}. */
export interface SnapshotOptions {
  /** The live database file. */
  readonly live: string;
  /** Where to write the snapshot (a partial path the caller then publishes). */
  readonly dest: string;
  readonly method?: SnapshotMethod;
  /** Pages copied per backup step. @default 4096 */
  readonly pagesPerStep?: number;
  /** Restarts (another connection wrote between steps) before the rest goes in one step. @default 1 */
  readonly maxRestarts?: number;
  readonly busyTimeoutMs?: number;
  /** Tables to count in the snapshot; each must exist. */
  readonly counts?: readonly string[];
  /** `full` runs `integrity_check`, `quick` runs `quick_check`. @default 'full' */
  readonly integrity?: 'full' | 'quick';
  readonly signal?: AbortSignal;
  /** Pages copied so far out of the total. */
  readonly onPages?: (completed: number, total: number) => void;
  /** Runs on the finished, checked snapshot for app-specific facts; its result lands in `extra`. */
  readonly inspect?: (db: SqliteDatabase) => Record<string, JsonValue>;
}

/** What {@link takeSnapshot} found. */
export interface SnapshotResult {
  readonly method: SnapshotMethod;
  /** How often the online backup started over because the application wrote. */
  readonly restarts: number;
  /** Backup steps taken (1 for `vacuum`). */
  readonly steps: number;
  /** Facts about the live database when the snapshot was taken. */
  readonly live: { readonly journalMode: string; readonly pageSize: number; readonly pageCount: number };
  /** Facts about the snapshot file (journal mode is always `delete`). */
  readonly snapshot: {
    readonly sqliteVersion: string;
    readonly pageSize: number;
    readonly pageCount: number;
    readonly userVersion: number;
  };
  readonly counts: Record<string, number>;
  /** What `inspect` returned. */
  readonly extra: Record<string, JsonValue>;
}

/**
 * Take a consistent snapshot of `live` into `dest`, check it, and count rows in it. Throws a
 * {@link SnapshotFailure} (or the signal's reason) and removes `dest` when anything goes wrong.
 *
 * @example
 * ```ts
 * const r = await takeSnapshot({ live: '/var/lib/app/app.db', dest: '/tmp/app.db.partial', counts: ['users'] });
 * // r.counts.users, r.restarts, r.snapshot.pageCount
 * ```
 */
export async function takeSnapshot(options: SnapshotOptions): Promise<SnapshotResult> {
  const { live, dest, signal } = options;
  const method = options.method ?? SQLITE_SOURCE_DEFAULTS.method;
  const busyTimeoutMs = options.busyTimeoutMs ?? SQLITE_SOURCE_DEFAULTS.busyTimeoutMs;
  throwIfAborted(signal);
  await removeWithSidecars(dest);
  try {
    const src = await openLive(live, { busyTimeoutMs });
    let copy: { restarts: number; steps: number };
    let liveFacts: SnapshotResult['live'];
    try {
      const info = fileInfo(src);
      liveFacts = { journalMode: info.journalMode, pageSize: info.pageSize, pageCount: info.pageCount };
      throwIfAborted(signal);
      copy =
        method === 'vacuum'
          ? vacuumInto(src, dest, info.pageCount, options.onPages)
          : await onlineBackup(src, dest, { ...options, busyTimeoutMs }, info.journalMode === 'wal');
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      if (e instanceof SnapshotFailure) throw e;
      if (isBusy(e)) throw lockedFailure(live, busyTimeoutMs, e);
      throw new SnapshotFailure(`copying ${live} failed: ${(e as Error).message}`, 'copy', [], { cause: e });
    } finally {
      closeQuietly(src);
    }
    throwIfAborted(signal);
    const checked = await checkSnapshot(dest, options);
    return { method, ...copy, live: liveFacts, ...checked };
  } catch (e) {
    await removeWithSidecars(dest);
    throw e;
  }
}

async function onlineBackup(
  src: SqliteDatabase,
  dest: string,
  options: SnapshotOptions & { busyTimeoutMs: number },
  wal: boolean,
): Promise<{ restarts: number; steps: number }> {
  if (!wal) return backupSteps(src, dest, options);
  // In WAL mode, a read transaction held on the source connection across every step pins one
  // snapshot: writers keep committing to the WAL, the copy never restarts, and it can go in
  // small steps, so the disk is never flooded by one giant final step while the app fsyncs.
  // (Under a rollback journal the same read lock would block the app's writers, so not there.)
  src.prepare('BEGIN').run();
  try {
    src.prepare('SELECT count(*) FROM sqlite_schema').get();
    return await backupSteps(src, dest, options);
  } finally {
    if (src.inTransaction) src.prepare('COMMIT').run();
  }
}

async function backupSteps(
  src: SqliteDatabase,
  dest: string,
  options: SnapshotOptions & { busyTimeoutMs: number },
): Promise<{ restarts: number; steps: number }> {
  const perStep = Math.max(1, Math.floor(options.pagesPerStep ?? SQLITE_SOURCE_DEFAULTS.pagesPerStep));
  const maxRestarts = Math.max(0, Math.floor(options.maxRestarts ?? SQLITE_SOURCE_DEFAULTS.maxRestarts));
  let restarts = 0;
  let steps = 0;
  let lastDone = -1;
  let rate = 0;
  let busySince: number | undefined;
  let destFd: number | undefined;
  try {
    const result = await src.backup(dest, {
      progress: ({ totalPages, remainingPages }) => {
        // Throwing here is how better-sqlite3 cancels a backup between two steps.
        throwIfAborted(options.signal);
        steps += 1;
        // Flush each step's pages now: a snapshot left dirty in the page cache is flushed in one
        // burst at the end, and the application's own commit fsyncs queue behind that burst.
        destFd ??= openForSync(dest);
        if (destFd !== undefined) fsyncSync(destFd);
        const done = totalPages - remainingPages;
        if (rate === ALL_PAGES) {
          // A one-step copy that did not finish met a lock (SQLITE_BUSY); better-sqlite3 would retry forever.
          busySince ??= Date.now();
          if (Date.now() - busySince > options.busyTimeoutMs) {
            throw new SnapshotFailure(`the backup made no progress for ${options.busyTimeoutMs} ms`, 'locked');
          }
        } else if (lastDone >= 0 && done < Math.min(lastDone + rate, totalPages)) {
          // Another connection committed between steps: the copy started over (or met a lock).
          restarts += 1;
        }
        lastDone = done;
        options.onPages?.(done, totalPages);
        rate = restarts >= maxRestarts ? ALL_PAGES : perStep;
        return rate;
      },
    });
    steps += 1;
    options.onPages?.(result.totalPages, result.totalPages);
    return { restarts, steps };
  } finally {
    if (destFd !== undefined) closeSync(destFd);
  }
}

function openForSync(file: string): number | undefined {
  try {
    return openSync(file, 'r');
  } catch {
    return undefined;
  }
}

function vacuumInto(
  src: SqliteDatabase,
  dest: string,
  pageCount: number,
  onPages: SnapshotOptions['onPages'],
): { restarts: number; steps: number } {
  onPages?.(0, pageCount);
  src.prepare('VACUUM INTO ?').run(dest);
  onPages?.(pageCount, pageCount);
  return { restarts: 0, steps: 1 };
}

async function checkSnapshot(
  dest: string,
  options: SnapshotOptions,
): Promise<Pick<SnapshotResult, 'snapshot' | 'counts' | 'extra'>> {
  const Database = await loadSqliteDriver();
  let db: SqliteDatabase | undefined;
  try {
    db = new Database(dest, { fileMustExist: true });
    // One self-contained file: no -wal to lose between here and the off-site copy.
    db.pragma('journal_mode = DELETE');
    const problems = integrityProblems(db, options.integrity ?? SQLITE_SOURCE_DEFAULTS.integrity);
    if (problems.length > 0) {
      throw new SnapshotFailure(
        `the snapshot failed PRAGMA ${options.integrity === 'quick' ? 'quick_check' : 'integrity_check'}; the live database is probably damaged (try sqlite3 .recover on a copy)`,
        'integrity',
        problems,
      );
    }
    const wanted = options.counts ?? [];
    const present = tableNames(db);
    const missing = wanted.filter((t) => !present.has(t));
    if (missing.length > 0) {
      throw new SnapshotFailure(`tables to count are missing: ${missing.join(', ')}`, 'tables', missing);
    }
    const counts = countRows(db, wanted);
    const extra = options.inspect?.(db) ?? {};
    const info = fileInfo(db);
    return {
      snapshot: {
        sqliteVersion: info.sqliteVersion,
        pageSize: info.pageSize,
        pageCount: info.pageCount,
        userVersion: info.userVersion,
      },
      counts,
      extra,
    };
  } catch (e) {
    if (e instanceof SnapshotFailure) throw e;
    const code = sqliteCode(e);
    if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') {
      throw new SnapshotFailure(
        `the snapshot failed PRAGMA integrity_check (${code}); the live database is probably damaged (try sqlite3 .recover on a copy)`,
        'integrity',
        [(e as Error).message],
        { cause: e },
      );
    }
    throw new SnapshotFailure(`checking the snapshot failed: ${(e as Error).message}`, 'copy', [], { cause: e });
  } finally {
    closeQuietly(db);
  }
}

/** The files SQLite keeps beside a database. */
export const SIDECAR_SUFFIXES = ['-wal', '-shm', '-journal'] as const;

/** Remove a database file and its `-wal`, `-shm` and `-journal` files, if present. */
export async function removeWithSidecars(file: string): Promise<void> {
  await Promise.all([file, ...SIDECAR_SUFFIXES.map((s) => `${file}${s}`)].map((f) => fsp.rm(f, { force: true })));
}
