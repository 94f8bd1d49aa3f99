/**
 * The counting walk on every core: folders are handed out, a batch at a time, to worker threads,
 * each of which reads its folders and `lstat`s their files with synchronous calls and sends back
 * its counts and the sub-folders it found. Used by
 * {@link walkTree} when nothing needs the entries themselves (no listing), once a walk has shown
 * it is big enough to pay for a thread's start (~30 ms).
 *
 * The one function that reads a folder, {@link scanFolders}, is written here in TypeScript and
 * handed to the workers as source text (it uses only what it is passed), so it is type-checked
 * and tested like the rest.
 *
 * @module
 */
import type * as fs from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

/** Counts of a walk (the same fields as `TreeStats`). */
export interface Counts {
  files: number;
  bytes: number;
  dirs: number;
  symlinks: number;
}

/** A failed folder read, as a worker reports it. */
interface ScanError {
  readonly message: string;
  readonly code?: string;
  readonly syscall?: string;
  readonly path?: string;
}

/**
 * Read `folders` (absolute paths, never the walk's root) and `lstat` their files: add to `into`,
 * return the sub-folders to visit. A folder that vanished since its parent was read is skipped.
 * Self-contained on purpose (no imports, no module constants): its source text is the worker's.
 */
function scanFolders(
  fsm: Pick<typeof import('node:fs'), 'opendirSync' | 'lstatSync'>,
  sep: string,
  folders: readonly string[],
  excludes: readonly RegExp[],
  into: Counts,
): string[] {
  const found: string[] = [];
  const noThrow = { throwIfNoEntry: false } as const;
  const excluded = (p: string): boolean => {
    for (const r of excludes) if (r.test(p)) return true;
    return false;
  };
  for (const dir of folders) {
    let handle: fs.Dir;
    try {
      handle = fsm.opendirSync(dir, { bufferSize: 1024 });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException)?.code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      throw e;
    }
    const prefix = dir.endsWith(sep) ? dir : dir + sep;
    try {
      for (let d = handle.readSync(); d !== null; d = handle.readSync()) {
        const abs = prefix + d.name;
        let isFile = d.isFile();
        let isDir = !isFile && d.isDirectory();
        let isLink = !isFile && !isDir && d.isSymbolicLink();
        let known: fs.Stats | undefined;
        const unknown =
          !isFile && !isDir && !isLink && !d.isFIFO() && !d.isSocket() && !d.isCharacterDevice() && !d.isBlockDevice();
        if (unknown) {
          // No d_type from this file system (some NFS, old XFS): ask.
          known = fsm.lstatSync(abs, noThrow);
          if (!known) continue;
          isFile = known.isFile();
          isDir = known.isDirectory();
          isLink = known.isSymbolicLink();
        }
        if (isFile) {
          if (excludes.length > 0 && excluded(abs)) continue;
          const st = known ?? fsm.lstatSync(abs, noThrow);
          if (!st) continue;
          into.files++;
          into.bytes += st.size;
        } else if (isDir) {
          if (excludes.length > 0 && excluded(`${abs}/`)) continue;
          into.dirs++;
          found.push(abs);
        } else if (isLink) {
          if (excludes.length > 0 && excluded(abs)) continue;
          into.symlinks++;
        }
      }
    } finally {
      handle.closeSync();
    }
  }
  return found;
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const scanFolders = ${scanFolders.toString()};
const excludes = workerData.excludes.map((r) => new RegExp(r.source, r.flags));
parentPort.on('message', (folders) => {
  const counts = { files: 0, bytes: 0, dirs: 0, symlinks: 0 };
  try {
    const found = scanFolders(fs, workerData.sep, folders, excludes, counts);
    parentPort.postMessage({ counts, found });
  } catch (e) {
    parentPort.postMessage({ error: { message: String(e && e.message || e), code: e && e.code, syscall: e && e.syscall, path: e && e.path } });
  }
});
`;

/** Folders a thread takes at a time: enough to amortise a message, few enough to share the tail. */
const BATCH = 16;

/** Most worker threads one walk starts. */
const MAX_WORKERS = 4;

/** Young generation of a walk worker, MiB. */
const WORKER_YOUNG_MB = 2;

function errorOf(e: ScanError): Error {
  return Object.assign(new Error(e.message), {
    ...(e.code ? { code: e.code } : {}),
    ...(e.syscall ? { syscall: e.syscall } : {}),
    ...(e.path ? { path: e.path } : {}),
  });
}

/** Worker threads this machine can use for a walk: one per core, at most {@link MAX_WORKERS}; none on one core. */
export function walkWorkers(): number {
  const cores = availableParallelism();
  return cores < 2 ? 0 : Math.min(MAX_WORKERS, cores);
}

/**
 * Folders handed to a thread at once: {@link BATCH} while many wait, fewer towards the end, so no
 * thread is left with a long last batch while the others are idle (on 1,000-file folders a batch of
 * 16 is ~50 ms of one core's work).
 */
export function batchSize(pending: number, workers: number): number {
  return Math.max(1, Math.min(BATCH, Math.floor(pending / (2 * Math.max(1, workers)))));
}

/**
 * Worker threads for the rest of a counting walk, started before they are needed: a thread takes
 * ~30 ms to start, during which the walk goes on on this thread ({@link WalkPool.online} says when
 * they run). {@link WalkPool.finish} hands them what is left; {@link WalkPool.close} lets unused
 * ones go. Threads that failed to start make `finish` reject with their error.
 */
export class WalkPool {
  readonly #threads: Worker[] = [];
  readonly #workers: number;
  #started = 0;
  #error: { e: unknown } | undefined;
  #onError: ((e: unknown) => void) | undefined;
  #onMessage: ((w: Worker, m: { counts: Counts; found: string[] } | { error: ScanError }) => void) | undefined;
  #closed = false;
  #finishing = false;

  /**
   * A thread `new Worker` cannot start (a pids limit, no memory) fails the pool as one that fails
   * later does ({@link failed}); the threads it did start are let go.
   */
  constructor(workers: number, excludes: readonly RegExp[]) {
    this.#workers = workers;
    try {
      this.#start(workers, excludes);
    } catch (e) {
      this.#error ??= { e };
      this.close();
    }
  }

  #start(workers: number, excludes: readonly RegExp[]): void {
    for (let i = 0; i < workers; i++) {
      const w = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { sep: path.sep, excludes: excludes.map((r) => ({ source: r.source, flags: r.flags })) },
        // Every lstat makes a Stats object that dies at once: a small young generation keeps a
        // worker's memory flat in the tree's size.
        resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_MB },
      });
      this.#threads.push(w);
      w.once('online', () => this.#started++);
      w.on('message', (m: { counts: Counts; found: string[] } | { error: ScanError }) => this.#onMessage?.(w, m));
      w.on('error', (e) => {
        this.#error ??= { e };
        this.#onError?.(e);
      });
    }
  }

  /** True once every thread runs. */
  get online(): boolean {
    return this.#started >= this.#workers && this.#error === undefined;
  }

  /** True when a thread failed before {@link finish} was called: the walk can go on without them. */
  get failed(): boolean {
    return this.#error !== undefined && !this.#finishing;
  }

  /**
   * Finish a walk whose remaining folders are `pending`, adding to `into`: the threads take up to
   * {@link BATCH} folders at a time ({@link batchSize}) until none are left, while this thread only
   * hands them out (its young generation cannot be capped, the workers' can: measured faster, and
   * the same peak memory at 100 k and 1 M files). Rejects with the first folder error (as `fs`
   * would throw it) or the signal's reason; the threads are gone when it settles.
   */
  finish(pending: string[], into: Counts, signal: AbortSignal | undefined): Promise<void> {
    this.#finishing = true;
    return new Promise<void>((resolve, reject) => {
      const idle = [...this.#threads];
      // Handed out oldest first: the walk on this thread left its shallowest, unread folders at
      // the start (a whole album or user), and found sub-folders go to the end, so the big parts
      // are split up early and the last batches are small.
      let head = 0;
      let busy = 0;
      let settled = false;
      const done = (e?: unknown) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        this.close();
        if (e === undefined) resolve();
        else reject(e);
      };
      const onAbort = () => done(signal?.reason);
      if (signal?.aborted) return done(signal.reason);
      if (this.#error) return done(this.#error.e);
      signal?.addEventListener('abort', onAbort, { once: true });
      const feed = () => {
        while (idle.length > 0 && head < pending.length) {
          busy++;
          const n = batchSize(pending.length - head, this.#workers);
          (idle.pop() as Worker).postMessage(pending.slice(head, head + n));
          head += n;
        }
        if (head >= 1024 && head * 2 >= pending.length) {
          pending.splice(0, head);
          head = 0;
        }
        if (head >= pending.length && busy === 0) done();
      };
      this.#onError = (e) => done(e);
      this.#onMessage = (w, m) => {
        // A reply that was already on its way when the walk failed or was stopped adds nothing.
        if (settled) return;
        busy--;
        if ('error' in m) {
          done(errorOf(m.error));
          return;
        }
        into.files += m.counts.files;
        into.bytes += m.counts.bytes;
        into.dirs += m.counts.dirs;
        into.symlinks += m.counts.symlinks;
        for (const f of m.found) pending.push(f);
        idle.push(w);
        feed();
      };
      feed();
    });
  }

  /** Let the threads go (started or not); idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#threads) void w.terminate().catch(() => {});
  }
}

/**
 * {@link WalkPool.finish} on `workers` threads started for it. Rejects with the first folder error
 * (as `fs` would throw it) or the signal's reason; the threads are gone when it settles.
 */
export function finishInParallel(
  pending: string[],
  into: Counts,
  excludes: readonly RegExp[],
  workers: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  return new WalkPool(workers, excludes).finish(pending, into, signal);
}
