/**
 * Putting a verified SQLite snapshot in place of a live database, with a way back.
 *
 * Order matters: the snapshot is copied to a temp file beside the live one, checked, given the
 * live file's mode and owner, and fsynced before anything live is touched. The in-use check opens
 * the live file read-write and closes it, which checkpoints and deletes its `-wal`. Then the step
 * is written ahead (`beforeSwap`: the temp file, the safety name, the live file's inode), the live
 * file is hard-linked to the safety name (copied when the file system has no hard links), and the
 * temp file is renamed over the live one — one atomic rename, so the live path is never missing:
 * a SIGKILL at any instant leaves the old file or the new one there. A stale `-wal` never stays
 * next to the new file: SQLite would replay it into the restored database.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { constants, type Stats, promises as fsp } from 'node:fs';
import path from 'node:path';
import { throwIfAborted } from '../../core/abort.js';
import { exists, fsyncDir, syncFile } from '../../core/fs.js';
import {
  closeQuietly,
  countRows,
  integrityProblems,
  isBusy,
  loadSqliteDriver,
  type SqliteDatabase,
  sqliteCode,
  tableNames,
} from './driver.js';
import { removeWithSidecars, SIDECAR_SUFFIXES } from './snapshot.js';
import type { JsonValue } from '../../contracts/types.js';
import { SQLITE_TARGET_DEFAULTS } from './options.js';

/** One named check, as a VerificationReport lists it. */
export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail?: string;
  /** The service whose running is the only reason this check fails (see `RestoreTarget.precheck`). */
  readonly service?: string;
}

/** Options of {@link checkDatabaseFile}. */
export interface CheckFileOptions {
  /** Row counts the file must have (from the manifest). */
  readonly counts?: Readonly<Record<string, number>>;
  readonly integrity?: 'full' | 'quick';
  /** Open read-write (only for a file nobody else uses: a WAL-mode file needs its -shm). */
  readonly readWrite?: boolean;
  /** Extra checks on the open file. */
  readonly extra?: (db: SqliteDatabase) => Check[];
}

/**
 * Open a database file and check it: integrity, then the row counts. Never throws for a bad
 * file: an unreadable file is a failed `open` check.
 *
 * @example
 * ```ts
 * const checks = await checkDatabaseFile('/restore/app.db', { counts: { users: 3 } });
 * const ok = checks.every((c) => c.ok);
 * ```
 */
export async function checkDatabaseFile(file: string, options: CheckFileOptions = {}): Promise<Check[]> {
  const Database = await loadSqliteDriver();
  const checks: Check[] = [];
  let db: SqliteDatabase | undefined;
  try {
    db = new Database(file, { fileMustExist: true, readonly: options.readWrite !== true });
    const problems = integrityProblems(db, options.integrity ?? SQLITE_TARGET_DEFAULTS.integrity);
    checks.push(
      problems.length === 0
        ? { name: 'integrity_check', ok: true }
        : { name: 'integrity_check', ok: false, detail: problems.slice(0, 5).join('; ') },
    );
    if (problems.length > 0) return checks;
    const expected = options.counts ?? {};
    const present = tableNames(db);
    for (const [table, want] of Object.entries(expected)) {
      if (!present.has(table)) {
        checks.push({ name: `count:${table}`, ok: false, detail: `table missing (manifest: ${want} rows)` });
        continue;
      }
      const got = countRows(db, [table])[table];
      checks.push(
        got === want
          ? { name: `count:${table}`, ok: true, detail: String(got) }
          : { name: `count:${table}`, ok: false, detail: `${got} rows, manifest says ${want}` },
      );
    }
    if (options.extra) checks.push(...options.extra(db));
  } catch (e) {
    const code = sqliteCode(e);
    const name = code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB' ? 'integrity_check' : 'open';
    checks.push({ name, ok: false, detail: `${code ?? 'error'}: ${(e as Error).message}` });
  } finally {
    closeQuietly(db);
  }
  return checks;
}

/**
 * The precheck of a live database a restore will replace: is another process holding it open?
 * Tagged with the service that must be stopped, so a maintenance window that stops it can waive it.
 *
 * @example
 * ```ts
 * const checks = await liveInUseChecks(['/var/lib/jellyfin/data/jellyfin.db'], 'jellyfin');
 * ```
 */
export async function liveInUseChecks(files: readonly string[], service: string): Promise<Check[]> {
  const checks: Check[] = [];
  for (const file of files) {
    const inUse = await isDatabaseInUse(file);
    checks.push({
      name: `in-use:${path.basename(file)}`,
      ok: !inUse,
      detail: inUse
        ? `${file} is open in another process; stop the application before restoring`
        : (await exists(file))
          ? `${file} is not held by another process`
          : `${file} does not exist yet`,
      ...(inUse ? { service } : {}),
    });
  }
  return checks;
}

/**
 * True when another connection holds the database open or locked. Works for WAL databases (every
 * open WAL connection keeps a shared lock) and for rollback-journal ones in a transaction; an idle
 * rollback-journal connection holds no lock and cannot be seen, hence "stop the app first".
 *
 * @example
 * ```ts
 * if (await isDatabaseInUse('/var/lib/jellyfin/data/jellyfin.db')) throw new Error('stop Jellyfin first');
 * ```
 */
export async function isDatabaseInUse(file: string): Promise<boolean> {
  if (!(await exists(file))) return false;
  const Database = await loadSqliteDriver();
  let db: SqliteDatabase | undefined;
  try {
    db = new Database(file, { fileMustExist: true, timeout: 0 });
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
    db.exec('COMMIT');
    return false;
  } catch (e) {
    if (isBusy(e)) return true;
    throw e;
  } finally {
    closeQuietly(db);
  }
}

/** What {@link installDatabase} did; JSON so it travels in `RestoreOutput.state`. */
export interface InstallState {
  readonly [key: string]: JsonValue;
  readonly live: string;
  /** The safety copy (the old database file, moved or copied aside), or null when there was none. */
  readonly safety: string | null;
  /** Sidecar suffixes moved aside with the safety copy (`-wal`, `-shm`, `-journal`). */
  readonly sidecars: string[];
  /** The temp file the new database is renamed from (removed by {@link putBack} if still there). */
  readonly tmp?: string;
  /** Inode (`dev:ino`) of the live file before the swap: tells {@link putBack} whether the swap happened. */
  readonly liveInode?: string;
}

/** Options of {@link installDatabase}. */
export interface InstallOptions {
  /** The verified snapshot to copy into place (left untouched). */
  readonly snapshot: string;
  /** The live database path. */
  readonly live: string;
  /** Journal mode to give the installed file (`wal` for a WAL application). */
  readonly journalMode?: string;
  /** Checks run on the temp copy before, and on the live file after, the swap. */
  readonly check: (file: string) => Promise<Check[]>;
  /** Replace the file even while another process has it open (unsafe; the safety copy is then an online backup). */
  readonly force?: boolean;
  /** Owner and mode for the new file when there is no live file to copy them from. */
  readonly owner?: { readonly uid: number; readonly gid: number };
  readonly mode?: number;
  readonly signal?: AbortSignal;
  /**
   * Called (and awaited) with the way back before anything live is touched: write it ahead
   * (`ctx.restoreJournal.record`), so {@link putBack} can undo the swap from any point of it.
   */
  readonly beforeSwap?: (state: InstallState) => Promise<void>;
}

/** Raised by {@link installDatabase}; `stage` says whether anything live was touched. */
export class InstallFailure extends Error {
  constructor(
    message: string,
    readonly stage: 'precheck' | 'in-use' | 'swap' | 'postcheck',
    readonly checks: readonly Check[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'InstallFailure';
  }
}

function failed(checks: readonly Check[]): Check[] {
  return checks.filter((c) => !c.ok);
}

/**
 * Copy `snapshot` into place of `live` with a safety copy of the old files. On a failure after the
 * swap the safety copy is put back before the error is thrown.
 *
 * @example
 * ```ts
 * const state = await installDatabase({ snapshot, live: '/srv/app/app.db', journalMode: 'wal',
 *   check: (f) => checkDatabaseFile(f, { readWrite: true }) });
 * // later: await dropSafetyCopy(state) — or await putBack(state)
 * ```
 */
export async function installDatabase(options: InstallOptions): Promise<InstallState> {
  const { live, signal } = options;
  const dir = path.dirname(live);
  await fsp.mkdir(dir, { recursive: true });
  const before = await statOrUndefined(live);
  const tmp = path.join(dir, `.${path.basename(live)}.dk-restore-${randomBytes(4).toString('hex')}`);
  let state: InstallState | undefined;
  try {
    await fsp.copyFile(options.snapshot, tmp, constants.COPYFILE_FICLONE);
    throwIfAborted(signal);
    const pre = await options.check(tmp);
    if (failed(pre).length > 0) {
      throw new InstallFailure('the snapshot failed its checks; nothing live was touched', 'precheck', failed(pre));
    }
    if (options.journalMode) await setJournalMode(tmp, options.journalMode);
    await copyOwnership(tmp, before, options);
    await syncFile(tmp);
    throwIfAborted(signal);
    const inUse = await isDatabaseInUse(live);
    if (inUse && !options.force) {
      throw new InstallFailure(
        `${live} is open in another process; stop the application before restoring (or pass force: true to replace it anyway, which the running application will not notice and may corrupt)`,
        'in-use',
      );
    }
    // `state` is set as soon as the step is written ahead: a failure from there on puts back.
    await swapIn(live, tmp, before !== undefined, inUse, async (s) => {
      state = s;
      await options.beforeSwap?.(s);
    });
    const post = await options.check(live);
    if (failed(post).length > 0) {
      throw new InstallFailure('the restored database failed its checks after the swap', 'postcheck', failed(post));
    }
    return state as InstallState;
  } catch (e) {
    await removeWithSidecars(tmp);
    if (state) await putBack(state);
    if (e instanceof InstallFailure || signal?.aborted) throw e;
    throw new InstallFailure(`restoring ${live} failed: ${(e as Error).message}`, state ? 'swap' : 'precheck', [], {
      cause: e,
    });
  }
}

async function statOrUndefined(file: string): Promise<Stats | undefined> {
  try {
    return await fsp.stat(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

async function setJournalMode(file: string, mode: string): Promise<void> {
  if (!/^[a-z]+$/i.test(mode)) throw new Error(`invalid journal mode ${JSON.stringify(mode)}`);
  const Database = await loadSqliteDriver();
  const db = new Database(file, { fileMustExist: true });
  try {
    db.pragma(`journal_mode = ${mode}`);
  } finally {
    db.close();
  }
  // Closing the only connection checkpoints and deletes -wal/-shm; make sure none is left behind.
  await Promise.all(SIDECAR_SUFFIXES.map((s) => fsp.rm(`${file}${s}`, { force: true })));
}

/** Give `file` the mode and owner of the file it replaces (or of its folder when there is none). */
async function copyOwnership(
  file: string,
  like: Stats | undefined,
  options: Pick<InstallOptions, 'owner' | 'mode'>,
): Promise<void> {
  const parent = like ? undefined : await fsp.stat(path.dirname(file));
  const mode = like ? like.mode & 0o7777 : (options.mode ?? 0o644);
  const uid = like?.uid ?? options.owner?.uid ?? parent?.uid;
  const gid = like?.gid ?? options.owner?.gid ?? parent?.gid;
  await fsp.chmod(file, mode);
  if (uid === undefined || gid === undefined) return;
  const st = await fsp.stat(file);
  if (st.uid === uid && st.gid === gid) return;
  try {
    await fsp.chown(file, uid, gid);
  } catch (e) {
    throw new Error(
      `cannot give the restored file owner ${uid}:${gid} like the one it replaces (${(e as NodeJS.ErrnoException).code}); run the restore as root or as that user`,
      { cause: e },
    );
  }
}

async function inodeOf(file: string): Promise<string | undefined> {
  try {
    const st = await fsp.stat(file, { bigint: true });
    return `${st.dev}:${st.ino}`;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * The swap itself: write ahead, keep the old file under the safety name (a hard link, or a copy),
 * drop the old sidecars from beside the live name, rename the temp file over the live one.
 */
async function swapIn(
  live: string,
  tmp: string,
  hadLive: boolean,
  inUse: boolean,
  beforeSwap: InstallOptions['beforeSwap'],
): Promise<InstallState> {
  const dir = path.dirname(live);
  const safety = hadLive ? safetyName(live) : null;
  const sidecars: string[] = [];
  if (safety && !inUse) for (const s of SIDECAR_SUFFIXES) if (await exists(`${live}${s}`)) sidecars.push(s);
  const liveInode = await inodeOf(live);
  const state: InstallState = {
    live,
    safety,
    sidecars,
    tmp,
    ...(liveInode !== undefined ? { liveInode } : {}),
  };
  await beforeSwap?.(state);
  if (safety) {
    if (inUse) await backupAside(live, safety);
    else await keepAside(live, safety, sidecars);
  }
  // The old sidecars are kept with the safety copy; beside the new file SQLite would replay them.
  for (const s of SIDECAR_SUFFIXES) await fsp.rm(`${live}${s}`, { force: true });
  await fsp.rename(tmp, live);
  await fsyncDir(dir);
  return state;
}

/** Hard-link (or, where links are not supported, copy) the live file and its sidecars to `safety`. */
async function keepAside(live: string, safety: string, sidecars: readonly string[]): Promise<void> {
  for (const s of ['', ...sidecars]) {
    try {
      await fsp.link(`${live}${s}`, `${safety}${s}`);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EMLINK' && code !== 'EXDEV') {
        throw e;
      }
      // A copy appears under its name only once complete: putBack never takes a torn one.
      const partial = `${safety}${s}.partial`;
      await fsp.copyFile(`${live}${s}`, partial, constants.COPYFILE_FICLONE);
      await syncFile(partial);
      await fsp.rename(partial, `${safety}${s}`);
    }
  }
  await fsyncDir(path.dirname(live));
}

function safetyName(live: string): string {
  const stamp = new Date().toISOString().replace(/[-:.]/g, '').replace('T', '-').slice(0, 15);
  return `${live}.dk-safety-${stamp}-${randomBytes(2).toString('hex')}`;
}

/** Rename the live file and its sidecars aside; the sidecars keep their pairing (`<safety>-wal`). */
export async function moveAside(live: string): Promise<InstallState> {
  if (!(await exists(live))) {
    // A -wal without its database belongs to nothing; beside the new file SQLite would replay it.
    await Promise.all(SIDECAR_SUFFIXES.map((s) => fsp.rm(`${live}${s}`, { force: true })));
    return { live, safety: null, sidecars: [] };
  }
  const safety = safetyName(live);
  const sidecars: string[] = [];
  await fsp.rename(live, safety);
  for (const s of SIDECAR_SUFFIXES) {
    if (await exists(`${live}${s}`)) {
      await fsp.rename(`${live}${s}`, `${safety}${s}`);
      sidecars.push(s);
    }
  }
  await fsyncDir(path.dirname(live));
  return { live, safety, sidecars };
}

/**
 * The file is open elsewhere: take a consistent copy through the online backup API instead,
 * written under a `.partial` name and renamed once complete.
 */
async function backupAside(live: string, safety: string): Promise<void> {
  const partial = `${safety}.partial`;
  const Database = await loadSqliteDriver();
  const db = new Database(live, { readonly: true, fileMustExist: true });
  try {
    await db.backup(partial, { progress: () => 0x7fffffff });
  } finally {
    db.close();
  }
  await syncFile(partial);
  await fsp.rename(partial, safety);
  await fsyncDir(path.dirname(live));
}

/** Remove the sidecars first, then the file: a kill in between never leaves a foreign `-wal` behind. */
async function removeSidecarsFirst(file: string): Promise<void> {
  for (const s of SIDECAR_SUFFIXES) await fsp.rm(`${file}${s}`, { force: true });
  await fsp.rm(file, { force: true });
}

/**
 * Undo {@link installDatabase} (or {@link moveAside}): the restored file goes, the safety copy
 * comes back. Idempotent, and safe from any point of an interrupted install or of an interrupted
 * putBack: a safety copy that does not exist means the live file was never replaced (or was
 * already put back); a live file that still has its old inode means the swap never happened.
 */
export async function putBack(state: InstallState): Promise<void> {
  const { live, safety } = state;
  const dir = path.dirname(live);
  if (state.tmp) await removeWithSidecars(state.tmp);
  for (const s of ['', ...SIDECAR_SUFFIXES]) await fsp.rm(`${safety ?? live}${s}.partial`, { force: true });
  if (safety === null) {
    // There was no live file before: the restored one goes.
    await removeSidecarsFirst(live);
    await fsyncDir(dir);
    return;
  }
  if (!(await exists(safety))) return;
  const now = await inodeOf(live);
  if (state.liveInode !== undefined && now === state.liveInode) {
    // Interrupted before the rename: live is the old file; the safety links are extra names of it.
    await removeWithSidecars(safety);
    await fsyncDir(dir);
    return;
  }
  // A live file is the restored one: its sidecars go. A missing one was moved aside (moveAside)
  // and any sidecar still beside it is the old database's, not yet moved: it stays.
  if (now !== undefined) for (const s of SIDECAR_SUFFIXES) await fsp.rm(`${live}${s}`, { force: true });
  await fsp.rename(safety, live);
  for (const s of state.sidecars) {
    if (await exists(`${safety}${s}`)) await fsp.rename(`${safety}${s}`, `${live}${s}`);
  }
  await fsyncDir(dir);
}

/** Drop the safety copy once the restore is final. Idempotent. */
export async function dropSafetyCopy(state: InstallState): Promise<void> {
  if (state.tmp) await removeWithSidecars(state.tmp);
  if (state.safety === null) return;
  await removeWithSidecars(state.safety);
  await fsyncDir(path.dirname(state.live));
}
