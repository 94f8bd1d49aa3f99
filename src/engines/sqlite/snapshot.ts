/**
 * A consistent online snapshot of a live SQLite database, taken while the application keeps
 * writing, and guaranteed to finish.
 *
 * A database in WAL mode is copied as files (`copy`, the default): while this process holds a read
 * transaction, a `cp` child copies the database file and then its `-wal`, and SQLite folds the
 * copied WAL into the copy (its crash recovery, then a checkpoint). The read transaction is what
 * makes that a consistent state: as long as a reader uses the WAL, no checkpoint writes a page of
 * the database file that the reader still reads from it, and the WAL is not restarted; a reader of
 * the database file alone (an empty WAL) keeps every checkpoint out. So the file copy holds the
 * reader's state, except for pages a checkpoint wrote from WAL frames the WAL copy also holds, and
 * the WAL copy holds every frame of the reader's state plus, perhaps, transactions committed while
 * it was copied (a partly copied last frame fails its checksum and is dropped, as after a crash).
 * The copy is a child process because POSIX record locks belong to the process: opening and
 * closing the live file here would drop the locks SQLite holds on it. `cp` copies in the kernel
 * (`copy_file_range`, a reflink where the filesystem has them), ~5× faster than the online backup,
 * which writes the copy one page per system call. Without `cp`, without write access to the
 * `-shm` (a reader that cannot lock it does not hold checkpoints back), or in rollback-journal
 * mode, the snapshot is SQLite's online backup.
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
 * self-contained file; from then on it is only read. Three things then run side by side: its
 * sha256 (main thread, reading the page cache), `PRAGMA integrity_check` (worker threads, see
 * `check.ts`), and the row counts. It may be published only when the check found nothing.
 *
 * While the copy runs, what it wrote is flushed in the background every {@link flushInterval}
 * (one `fdatasync` in flight at a time, on the thread pool), so the page cache never holds a
 * whole snapshot's dirty pages for one burst at the end, behind which the application's own
 * commit fsyncs would queue. The caller fsyncs once more before it calls the artifact done.
 *
 * @module
 */
import { closeSync, constants, fdatasync, fstatSync, openSync, promises as fsp, type Stats } from 'node:fs';
import { anySignal, throwIfAborted } from '../../core/abort.js';
import { hashFile } from '../../core/artifact-writer.js';
import { type ChildOutput, runChild } from '../../core/child.js';
import { BackgroundFlush, PRIVATE_FILE, type Syncable, syncFile } from '../../core/fs.js';
import {
  CheckError,
  type CheckWorkers,
  checkParts,
  MAX_MMAP,
  prestartCheckWorkers,
  runIntegrityCheck,
} from './check.js';
import {
  closeQuietly,
  countRows,
  fileInfo,
  isBusy,
  loadSqliteDriver,
  quoteIdent,
  type SqliteDatabase,
  sqliteCode,
  tableNames,
} from './driver.js';
import type { JsonValue } from '../../contracts/types.js';
import { SQLITE_SOURCE_DEFAULTS, type SnapshotMethod } from './options.js';

/** Largest page count better-sqlite3 passes to `sqlite3_backup_step` ("all that is left"). */
const ALL_PAGES = 0x7fffffff;

/**
 * Start a background `fdatasync` of the snapshot after this many bytes were copied since the last
 * one. Measured on a 1 GiB copy under a writer committing 100 times a second with
 * `synchronous=FULL`: no flush at all stalled the writer's commit 256–325 ms behind the final
 * burst; 64 MiB slowed the copy by a third (4.35 s against 3.2 s) with 221 ms stalls; 256 MiB
 * kept the copy at full speed with the longest commit at 128–162 ms.
 */
export const FLUSH_EVERY_BYTES = 256 * 1024 * 1024;

/**
 * The flush interval for a copy of `bytes`: {@link FLUSH_EVERY_BYTES}, or a quarter of the file when
 * that is smaller (at least 16 MiB). A 100 MB copy would otherwise reach its final commit with all
 * of it dirty, and SQLite's fsync there held the main thread ~0.3 s; with a quarter, three flushes
 * run on the thread pool during the copy and the last one has a quarter left.
 */
export function flushInterval(bytes: number): number {
  return Math.min(FLUSH_EVERY_BYTES, Math.max(16 * 1024 * 1024, Math.floor(bytes / 4)));
}

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
  /** Start a background flush of the copy after this many bytes. @default {@link FLUSH_EVERY_BYTES} */
  readonly flushEveryBytes?: number;
  /** Runs on the finished, checked snapshot for app-specific facts; its result lands in `extra`. */
  readonly inspect?: (db: SqliteDatabase) => Record<string, JsonValue>;
}

/** What {@link takeSnapshot} found. */
export interface SnapshotResult {
  /** The method used: a `copy` asked for may have been taken with `backup` (see `SqliteSourceOptions.method`). */
  readonly method: SnapshotMethod;
  /** How often the online backup started over because the application wrote. */
  readonly restarts: number;
  /** Backup steps taken (1 for `copy` and `vacuum`). */
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
  /** Size and sha256 of the finished snapshot file, read after its last write. */
  readonly file: { readonly bytes: number; readonly sha256: string };
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
  // The check's first worker starts while the file is copied.
  const workers = prestartCheckWorkers(1);
  try {
    // Which file the path names before SQLite opens it: a file copy is only used when it still
    // names the same one after the copy (an application that swaps its database file in place).
    const named = method === 'copy' ? await fsp.stat(live).catch(() => undefined) : undefined;
    const src = await openLive(live, { busyTimeoutMs });
    let copy: CopyOutcome;
    let liveFacts: SnapshotResult['live'];
    try {
      const info = fileInfo(src);
      liveFacts = { journalMode: info.journalMode, pageSize: info.pageSize, pageCount: info.pageCount };
      throwIfAborted(signal);
      const steps = { ...options, busyTimeoutMs, pageSize: info.pageSize };
      if (method === 'vacuum') copy = vacuumInto(src, dest, info.pageCount, options.onPages);
      else {
        const copied =
          method === 'copy' && info.journalMode === 'wal' && named
            ? await walFileCopy(src, live, dest, { ...steps, pageCount: info.pageCount }, named)
            : undefined;
        copy = copied ?? (await onlineBackup(src, dest, steps, info.journalMode === 'wal'));
      }
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      if (e instanceof SnapshotFailure) throw e;
      if (isBusy(e)) throw lockedFailure(live, busyTimeoutMs, e);
      throw new SnapshotFailure(`copying ${live} failed: ${(e as Error).message}`, 'copy', [], { cause: e });
    } finally {
      closeQuietly(src);
    }
    throwIfAborted(signal);
    const checked = await checkSnapshot(dest, options, workers);
    return { ...copy, live: liveFacts, ...checked };
  } catch (e) {
    await removeWithSidecars(dest);
    throw e;
  } finally {
    workers.close();
  }
}

/** How the copy went: the method used (a file copy falls back to the online backup) and its steps. */
interface CopyOutcome {
  readonly method: SnapshotMethod;
  readonly restarts: number;
  readonly steps: number;
}

type StepOptions = SnapshotOptions & { busyTimeoutMs: number; pageSize: number };

/** How often a running `cp` is looked at (its progress, the background flush). */
const COPY_POLL_MS = 8;

/**
 * `copy`: the database file, then its WAL, copied by `cp` while `src` holds a read transaction (why
 * that is consistent: the module's comment). Undefined, with nothing left at `dest`, where that way
 * is closed: no `cp` to start, no write access to the `-shm`, no `-wal` beside the file, or the path
 * no longer names the file SQLite opened (`named`); the caller then takes the online backup.
 */
async function walFileCopy(
  src: SqliteDatabase,
  live: string,
  dest: string,
  options: StepOptions & { pageCount: number },
  named: Stats,
): Promise<CopyOutcome | undefined> {
  // SQLite names the WAL and the -shm after the file the path resolves to.
  const real = await fsp.realpath(live);
  // A reader that cannot lock the -shm reads the WAL without a read mark there, which holds no
  // checkpoint back: its read transaction does not keep the files still enough to be copied.
  if (!(await readWritable(`${real}-shm`))) return undefined;
  const { pageSize, pageCount, signal } = options;
  src.prepare('BEGIN').run();
  try {
    src.prepare('SELECT count(*) FROM sqlite_schema').get();
    throwIfAborted(signal);
    const fd = openSync(dest, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, PRIVATE_FILE);
    const every = options.flushEveryBytes ?? flushInterval(pageCount * pageSize);
    const flush = new BackgroundFlush(syncable(fd), () => every);
    let outcome: CopyOutcome | undefined;
    try {
      options.onPages?.(0, pageCount);
      let seen = 0;
      const copied = await copyWithCp(real, dest, signal, () => {
        const bytes = fstatSync(fd).size;
        flush.wrote(Math.max(0, bytes - seen), bytes);
        seen = Math.max(seen, bytes);
        options.onPages?.(Math.min(pageCount, Math.floor(bytes / pageSize)), pageCount);
      });
      // A reader in WAL mode has the WAL open (SQLite creates it if need be), so it is there while
      // this read transaction lasts; if it is not, something else is going on: no file copy then.
      const wal = `${real}-wal`;
      const walCopied =
        copied &&
        (await fsp.stat(wal).catch(() => undefined))?.isFile() === true &&
        (await copyWithCp(wal, `${dest}-wal`, signal));
      const now = await fsp.stat(real);
      if (walCopied && now.dev === named.dev && now.ino === named.ino) {
        outcome = { method: 'copy', restarts: 0, steps: 1 };
      }
      await flush.done();
    } finally {
      await flush.settled();
      closeSync(fd);
    }
    if (outcome === undefined) {
      await removeWithSidecars(dest);
      return undefined;
    }
    options.onPages?.(pageCount, pageCount);
    return outcome;
  } finally {
    if (src.inTransaction) src.prepare('COMMIT').run();
  }
}

async function readWritable(file: string): Promise<boolean> {
  try {
    await fsp.access(file, constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * `cp -- from to`, calling `tick` every {@link COPY_POLL_MS} while it runs. False when there is no
 * `cp` to start; a copy that fails (no space left, an I/O error) throws, with what `cp` said. When
 * `tick` throws, `cp` is stopped and that is thrown once it has exited.
 */
export async function copyWithCp(
  from: string,
  to: string,
  signal: AbortSignal | undefined,
  tick?: () => void,
): Promise<boolean> {
  throwIfAborted(signal);
  const stop = new AbortController();
  let tickFailure: { error: unknown } | undefined;
  const timer =
    tick === undefined
      ? undefined
      : setInterval(() => {
          if (tickFailure) return;
          try {
            tick();
          } catch (e) {
            tickFailure = { error: e };
            stop.abort();
          }
        }, COPY_POLL_MS);
  let exit: ChildOutput;
  try {
    exit = await runChild('cp', ['--', from, to], { signal: anySignal(signal, stop.signal), maxBuffer: 2048 });
  } finally {
    clearInterval(timer);
  }
  throwIfAborted(signal);
  if (tickFailure) throw tickFailure.error;
  if (exit.spawnError) {
    if ((exit.spawnError as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new SnapshotFailure(`cannot start cp to copy ${from}: ${exit.spawnError.message}`, 'copy', [], {
      cause: exit.spawnError,
    });
  }
  if (exit.failed) {
    const why = exit.stderr.trim().slice(0, 500) || `cp ended with ${exit.signal ?? `exit code ${exit.exitCode}`}`;
    throw new SnapshotFailure(`copying ${from} failed: ${why}`, 'copy');
  }
  return true;
}

async function onlineBackup(
  src: SqliteDatabase,
  dest: string,
  options: StepOptions,
  wal: boolean,
): Promise<CopyOutcome> {
  // The copy reads the live file through SQLite's memory map instead of one pread per page (~15 %
  // less time for a 100 MiB copy). SQLite maps at most the file's size and remaps at each read
  // transaction, so a file the application grows or truncates between steps is still read right.
  src.pragma(`mmap_size = ${MAX_MMAP}`);
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

async function backupSteps(src: SqliteDatabase, dest: string, options: StepOptions): Promise<CopyOutcome> {
  const perStep = Math.max(1, Math.floor(options.pagesPerStep ?? SQLITE_SOURCE_DEFAULTS.pagesPerStep));
  const maxRestarts = Math.max(0, Math.floor(options.maxRestarts ?? SQLITE_SOURCE_DEFAULTS.maxRestarts));
  let restarts = 0;
  let steps = 0;
  let lastDone = -1;
  let rate = 0;
  let busySince: number | undefined;
  // Bytes SQLite wrote so far (a page copied again after a restart counts again); the flush of
  // what it wrote, once the file exists.
  let written = 0;
  let flush: BackgroundFlush | undefined;
  let flushFd: number | undefined;
  try {
    const result = await src.backup(dest, {
      progress: ({ totalPages, remainingPages }) => {
        // Throwing here is how better-sqlite3 cancels a backup between two steps.
        throwIfAborted(options.signal);
        if (flush?.failure !== undefined) {
          const e = flush.failure as Error;
          throw new SnapshotFailure(`writing ${dest} failed: ${e.message}`, 'copy', [], { cause: e });
        }
        steps += 1;
        const done = totalPages - remainingPages;
        const more = Math.max(0, done - Math.max(0, lastDone)) * options.pageSize;
        written += more;
        const every = options.flushEveryBytes ?? flushInterval(totalPages * options.pageSize);
        if (flush === undefined && written >= every) {
          flushFd = openForSync(dest);
          // What SQLite wrote before the file could be opened here is flushed by the first flush.
          if (flushFd !== undefined) flush = new BackgroundFlush(syncable(flushFd), () => every);
          flush?.wrote(written, written);
        } else flush?.wrote(more, written);
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
    await flush?.done();
    return { method: 'backup', restarts, steps };
  } finally {
    await flush?.settled();
    if (flushFd !== undefined) closeSync(flushFd);
  }
}

/** A numeric descriptor as a {@link Syncable}. */
function syncable(fd: number): Syncable {
  return {
    datasync: () =>
      new Promise<void>((resolve, reject) => {
        fdatasync(fd, (e) => (e ? reject(e) : resolve()));
      }),
  };
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
): CopyOutcome {
  onPages?.(0, pageCount);
  src.prepare('VACUUM INTO ?').run(dest);
  onPages?.(pageCount, pageCount);
  return { method: 'vacuum', restarts: 0, steps: 1 };
}

async function checkSnapshot(
  dest: string,
  options: SnapshotOptions,
  workers: CheckWorkers,
): Promise<Pick<SnapshotResult, 'snapshot' | 'counts' | 'extra' | 'file'>> {
  const Database = await loadSqliteDriver();
  const mode = options.integrity ?? SQLITE_SOURCE_DEFAULTS.integrity;
  // Stops the workers and the hashing when this function fails before they finish.
  const stop = new AbortController();
  const signal = anySignal(options.signal, stop.signal);
  let db: SqliteDatabase | undefined;
  try {
    db = new Database(dest, { fileMustExist: true });
    // Written without SQLite's own fsyncs (the recovery and checkpoint of a copied WAL, this switch):
    // the file is flushed once, below, beside the check and the hash.
    db.pragma('synchronous = OFF');
    // One self-contained file: no -wal to lose between here and the off-site copy. This is the
    // last write to the file; from here on it is only read (and hashed).
    db.pragma('journal_mode = DELETE');
    db.close();
    const flushing = syncFile(dest, { dataOnly: true });
    db = new Database(dest, { readonly: true, fileMustExist: true });
    const fileBytes = (await fsp.stat(dest)).size;
    const wanted = options.counts ?? [];
    const present = tableNames(db);
    const missing = wanted.filter((t) => !present.has(t));
    if (missing.length > 0) {
      throw new SnapshotFailure(`tables to count are missing: ${missing.join(', ')}`, 'tables', missing);
    }
    const parts = checkParts(mode, mode === 'full' ? checkWeights(db) : [], undefined, fileBytes);
    const checking = runIntegrityCheck(dest, parts, { fileBytes, signal, workers });
    const hashing = hashFile(dest, signal);
    // Both are awaited below; until then a rejection must not count as unhandled.
    checking.catch(() => {});
    hashing.catch(() => {});
    flushing.catch(() => {});
    // The main thread's share while the workers check and the thread pool reads for the hash.
    const counts = countRows(db, wanted);
    const extra = options.inspect?.(db) ?? {};
    const info = fileInfo(db);
    const [checked, hashed, flushed] = await Promise.allSettled([checking, hashing, flushing]);
    if (checked.status === 'rejected') throw checked.reason;
    if (checked.value.problems.length > 0) {
      throw new SnapshotFailure(
        `the snapshot failed PRAGMA ${mode === 'quick' ? 'quick_check' : 'integrity_check'}; the live database is probably damaged (try sqlite3 .recover on a copy)`,
        'integrity',
        checked.value.problems,
      );
    }
    if (hashed.status === 'rejected') throw hashed.reason;
    if (flushed.status === 'rejected') {
      const e = flushed.reason as Error;
      throw new SnapshotFailure(`writing ${dest} failed: ${e.message}`, 'copy', [], { cause: e });
    }
    return {
      snapshot: {
        sqliteVersion: info.sqliteVersion,
        pageSize: info.pageSize,
        pageCount: info.pageCount,
        userVersion: info.userVersion,
      },
      counts,
      extra,
      file: hashed.value,
    };
  } catch (e) {
    if (options.signal?.aborted) throw options.signal.reason;
    if (e instanceof SnapshotFailure) throw e;
    const code = e instanceof CheckError ? e.code : sqliteCode(e);
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
    stop.abort();
    closeQuietly(db);
  }
}

/**
 * What each table's part of the check costs, roughly: the full check looks every row up in every
 * index, so rows × (1 + indexes). Only tables with indexes are counted (through the smallest
 * index, which is cheap); the others cost little beyond what `quick_check` does anyway.
 */
function checkWeights(db: SqliteDatabase): { name: string; weight: number }[] {
  const rows = db
    .prepare(
      `SELECT t.name AS name, (SELECT count(*) FROM sqlite_schema i WHERE i.type = 'index' AND i.tbl_name = t.name) AS indexes
       FROM sqlite_schema t WHERE t.type = 'table'`,
    )
    .all() as { name: string; indexes: number }[];
  return rows.map(({ name, indexes }) => {
    if (indexes === 0) return { name, weight: 1 };
    const n = db.prepare(`SELECT count(*) AS n FROM ${quoteIdent(name)}`).get() as { n: number | bigint };
    return { name, weight: Number(n.n) * (1 + indexes) };
  });
}

/** The files SQLite keeps beside a database. */
export const SIDECAR_SUFFIXES = ['-wal', '-shm', '-journal'] as const;

/** Remove a database file and its `-wal`, `-shm` and `-journal` files, if present. */
export async function removeWithSidecars(file: string): Promise<void> {
  await Promise.all([file, ...SIDECAR_SUFFIXES.map((s) => `${file}${s}`)].map((f) => fsp.rm(f, { force: true })));
}
