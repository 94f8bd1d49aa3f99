/**
 * One lock file per work directory, so two runs (a nightly hook and a manual run) never write into
 * the same staging folder at once. The file holds the holder's pid, host and start time; a lock
 * left by a dead process on this host is taken over.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sleep, throwIfAborted } from './abort.js';
import { LockedError } from './errors.js';
import { silentLogger, type Logger } from './logger.js';

/** Name of the lock file inside a work directory. */
export const LOCK_FILE = '.duplicati-kit.lock';

/** What a lock file holds. */
export interface LockInfo {
  readonly pid: number;
  readonly host: string;
  readonly startedAt: string;
  /** Linux: the process start time from /proc, to tell a reused pid from the holder. */
  readonly procStart?: string;
  /** Random token identifying this acquisition. */
  readonly token: string;
  /** What holds it, e.g. `prepare`. */
  readonly purpose?: string;
}

/** A held lock. */
export interface LockHandle {
  readonly file: string;
  readonly info: LockInfo;
  /** Remove the lock file if it is still ours. Safe to call twice. */
  release(): Promise<void>;
}

/** Options of {@link acquireLock}. */
export interface AcquireLockOptions {
  /** How long to wait for a live holder before failing with LockedError. @default 0 */
  readonly waitMs?: number;
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
  /** Recorded in the lock file and shown to a second runner. */
  readonly purpose?: string;
  /** Poll interval while waiting. @default 200 */
  readonly pollMs?: number;
  /** Name of the lock file inside `dir` (several locks may share a folder). @default LOCK_FILE */
  readonly name?: string;
}

async function procStartOf(pid: number): Promise<string | undefined> {
  if (process.platform !== 'linux') return undefined;
  try {
    const stat = await fsp.readFile(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime), counted after the parenthesised command name, which may hold spaces.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19];
  } catch {
    return undefined;
  }
}

/** Whether process `pid` runs (EPERM: it does, under another user). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readLock(
  file: string,
): Promise<{ info: LockInfo | undefined; raw: string; mtimeMs: number } | undefined> {
  try {
    const [raw, st] = await Promise.all([fsp.readFile(file, 'utf8'), fsp.stat(file)]);
    let info: LockInfo | undefined;
    try {
      const v = JSON.parse(raw) as Partial<LockInfo>;
      if (typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.token === 'string') info = v as LockInfo;
    } catch {
      info = undefined;
    }
    return { info, raw, mtimeMs: st.mtimeMs };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** A lock file whose content is unreadable and older than this is a crashed half-write. */
const CORRUPT_GRACE_MS = 5_000;
/** A takeover guard older than this was left by a process that died mid-takeover. */
const GUARD_GRACE_MS = 10_000;

async function isStale(lock: { info: LockInfo | undefined; mtimeMs: number }): Promise<boolean> {
  const { info } = lock;
  if (!info) return Date.now() - lock.mtimeMs > CORRUPT_GRACE_MS;
  if (info.host !== os.hostname()) return false;
  if (!pidAlive(info.pid)) return true;
  if (info.procStart !== undefined) {
    const now = await procStartOf(info.pid);
    if (now !== undefined && now !== info.procStart) return true;
  }
  return false;
}

/**
 * Take the lock of `dir`. A second runner gets a {@link LockedError} naming the holder, or waits
 * up to `waitMs`. A stale lock (its pid is dead on this host, or was reused) is taken over; only
 * one of several contenders wins the takeover.
 *
 * @example
 * ```ts
 * const lock = await acquireLock('/srv/backup/staging', { waitMs: 60_000, signal });
 * try { … } finally { await lock.release(); }
 * ```
 */
export async function acquireLock(dir: string, options: AcquireLockOptions = {}): Promise<LockHandle> {
  const file = path.join(dir, options.name ?? LOCK_FILE);
  const logger = options.logger ?? silentLogger;
  const deadline = Date.now() + (options.waitMs ?? 0);
  const info: LockInfo = {
    pid: process.pid,
    host: os.hostname(),
    startedAt: new Date().toISOString(),
    token: randomBytes(8).toString('hex'),
    ...(options.purpose ? { purpose: options.purpose } : {}),
  };
  const procStart = await procStartOf(process.pid);
  const content = JSON.stringify(procStart ? { ...info, procStart } : info);

  for (;;) {
    throwIfAborted(options.signal);
    let fh: fsp.FileHandle | undefined;
    try {
      fh = await fsp.open(file, 'wx', 0o600);
      await fh.writeFile(content);
      await fh.sync();
      await fh.close();
      fh = undefined;
      const handle = makeHandle(file, JSON.parse(content) as LockInfo);
      return handle;
    } catch (e) {
      await fh?.close().catch(() => {});
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const held = await readLock(file);
    if (!held) continue;
    if (await isStale(held)) {
      logger.warn('taking over a stale lock', { file, holder: held.info ?? held.raw.slice(0, 200) });
      await takeOver(file, held.raw);
      continue;
    }
    if (Date.now() >= deadline) {
      const h = held.info;
      throw new LockedError(
        h
          ? `${dir} is locked by pid ${h.pid} on ${h.host} since ${h.startedAt}${h.purpose ? ` (${h.purpose})` : ''}`
          : `${dir} is locked (lock file ${file} is being written)`,
        file,
        h ? { pid: h.pid, host: h.host, startedAt: h.startedAt } : undefined,
      );
    }
    await sleep(Math.min(options.pollMs ?? 200, Math.max(1, deadline - Date.now())), options.signal);
  }
}

/** Remove a stale lock, but only if it still holds `staleRaw`: a guard file serialises contenders. */
async function takeOver(file: string, staleRaw: string): Promise<void> {
  const guard = `${file}.takeover`;
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(guard, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    const st = await fsp.stat(guard).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > GUARD_GRACE_MS) await fsp.rm(guard, { force: true });
    else await sleep(20);
    return;
  }
  try {
    const now = await fsp.readFile(file, 'utf8').catch(() => undefined);
    if (now === staleRaw) await fsp.rm(file, { force: true });
  } finally {
    await fh.close();
    await fsp.rm(guard, { force: true });
  }
}

function makeHandle(file: string, info: LockInfo): LockHandle {
  let released = false;
  return {
    file,
    info,
    release: async () => {
      if (released) return;
      released = true;
      const held = await readLock(file);
      if (held?.info?.token === info.token) await fsp.rm(file, { force: true });
    },
  };
}

/** Read the lock of `dir` without taking it: the holder and whether it is stale, or undefined. */
export async function inspectLock(
  dir: string,
  name: string = LOCK_FILE,
): Promise<(LockInfo & { stale: boolean }) | undefined> {
  const held = await readLock(path.join(dir, name));
  if (!held?.info) return undefined;
  return { ...held.info, stale: await isStale(held) };
}
