/**
 * `walkTree`: the streamed folder walk both the directory source (counting, listing) and the
 * directory target (checking restored folders) use.
 *
 * @module
 */
import { type Dir, type Dirent, lstatSync, opendirSync, type Stats } from 'node:fs';
import path from 'node:path';
import { throwIfAborted } from '../../core/abort.js';
import type { PathFilter } from '../../core/filters.js';
import { WalkPool, walkWorkers } from './parallel-walk.js';

/** Figures of one folder tree. */
export interface TreeStats {
  files: number;
  bytes: number;
  dirs: number;
  symlinks: number;
}

/** One line of a listing artifact. */
export interface ListingEntry {
  readonly path: string;
  readonly type: 'file' | 'dir' | 'symlink';
  readonly size: number;
  readonly mtimeMs: number;
  readonly mode: number;
}

/** Options of {@link walkTree}. */
export interface WalkOptions {
  filter?: PathFilter;
  signal?: AbortSignal;
  onEntry?: (entry: ListingEntry) => void | Promise<void>;
  /**
   * Entries handled between two returns to the event loop (the walk's system calls are
   * synchronous in between, a few milliseconds of blocking at most). @default 512
   */
  yieldEvery?: number;
  /**
   * Most entries walked on this thread before the rest of a counting walk (no `onEntry`) goes to
   * worker threads, one per core (this thread then only hands folders out); `Infinity` keeps it
   * on this thread. The threads are started after a fifth of it (at most 4,000 entries) and
   * take over as soon as they run, ~30 ms later; a walk that ends before then lets them go
   * unused. @default 20000
   */
  parallelAfter?: number;
}

const vanished = (e: unknown): boolean => {
  const code = (e as NodeJS.ErrnoException)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
};

/**
 * Entries walked before a counting walk starts its worker threads (or fewer, a fifth of
 * `parallelAfter`): on a warm cache ~10 ms of walking, so a small tree never starts them, while a
 * large one walks on here during the threads' ~30 ms start instead of waiting for them.
 */
export const BOOT_AHEAD = 4000;

/**
 * Entries after which a counting walk with `parallelAfter` starts its threads: a fifth of it, at
 * most {@link BOOT_AHEAD}; never when `parallelAfter` is `Infinity` (the walk stays on this thread).
 */
export function bootAfter(parallelAfter: number): number {
  return parallelAfter === Number.POSITIVE_INFINITY ? parallelAfter : Math.min(BOOT_AHEAD, parallelAfter / 5);
}

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const NO_THROW = { throwIfNoEntry: false } as const;

/** What an entry is, from its `d_type`; `unknown` when the file system does not say (some NFS, old XFS). */
function kindOf(d: Dirent): Kind {
  if (d.isFile()) return 'file';
  if (d.isDirectory()) return 'dir';
  if (d.isSymbolicLink()) return 'symlink';
  if (d.isFIFO() || d.isSocket() || d.isCharacterDevice() || d.isBlockDevice()) return 'other';
  return 'unknown';
}

type Kind = 'file' | 'dir' | 'symlink' | 'other' | 'unknown';

function kindOfStats(st: Stats | undefined): Kind {
  if (!st) return 'other'; // gone since the folder was read
  return st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
}

/**
 * Walk a tree without following links, skipping what `filter` excludes. Folders are read as
 * streams (`opendir`, one handle open at a time), so a folder of a million photos costs no more
 * memory than one of ten; only the folders still to visit are kept. Files and folders removed
 * while the walk runs (a live library) are left out, not an error; a missing root is one.
 *
 * The directory reads and `lstat`s are synchronous calls made in slices of `yieldEvery` entries
 * with a return to the event loop (and an abort check) between slices: on a warm cache an `lstat`
 * costs about a microsecond, a promise round trip through the thread pool fifty, which made the
 * walk of a million-file library take minutes instead of seconds. A promise `onEntry` returns is
 * awaited (the listing's backpressure); return nothing when there is nothing to wait for.
 *
 * @example
 * ```ts
 * const { files, bytes } = await walkTree('/srv/photos', { signal });
 * ```
 */
export async function walkTree(root: string, options: WalkOptions = {}): Promise<TreeStats> {
  const stats: TreeStats = { files: 0, bytes: 0, dirs: 0, symlinks: 0 };
  const { filter, signal, onEntry } = options;
  const yieldEvery = Math.max(1, options.yieldEvery ?? 512);
  // Folders still to visit, as [absolute path, path relative to the root] (depth first).
  const start = path.normalize(root);
  const top = start.length > 1 && start.endsWith(path.sep) ? start.slice(0, -1) : start;
  const stack: [string, string][] = [[top, '']];
  let budget = yieldEvery;
  // A counting walk (nothing wants the entries) of a big tree goes on on worker threads, one per
  // core; a listing keeps its order and its backpressure on this thread.
  const patterns = filter ? filter.patterns : [];
  let workers = onEntry || !patterns ? 0 : walkWorkers();
  const parallelAfter = options.parallelAfter ?? 20_000;
  const bootAt = bootAfter(parallelAfter);
  let pool: WalkPool | undefined;
  let walked = 0;
  throwIfAborted(signal);
  try {
    while (stack.length > 0) {
      if (workers > 0 && !pool && walked >= bootAt) pool = new WalkPool(workers, patterns ?? []);
      // Threads that cannot start (a pids limit, no memory): the walk goes on here.
      if (pool?.failed) {
        pool.close();
        pool = undefined;
        workers = 0;
      }
      if (pool && (pool.online || walked >= parallelAfter)) {
        await pool.finish(
          stack.map(([dir]) => dir),
          stats,
          signal,
        );
        throwIfAborted(signal);
        return stats;
      }
      const [dir, dirRel] = stack.pop() as [string, string];
      let handle: Dir;
      try {
        handle = opendirSync(dir, { bufferSize: 1024 });
      } catch (e) {
        // A folder removed (or replaced by a file) since its parent was read: gone, like a live
        // library's moved album; the root itself must exist.
        if (dir !== top && vanished(e)) continue;
        throw e;
      }
      const prefix = dir.endsWith(path.sep) ? dir : dir + path.sep;
      const relPrefix = dirRel ? `${dirRel}/` : '';
      try {
        for (let d = handle.readSync(); d !== null; d = handle.readSync()) {
          walked++;
          if (--budget <= 0) {
            budget = yieldEvery;
            await yieldToLoop();
            throwIfAborted(signal);
          }
          const abs = prefix + d.name;
          let kind = kindOf(d);
          let known: Stats | undefined;
          if (kind === 'unknown') {
            known = lstatSync(abs, NO_THROW);
            kind = kindOfStats(known);
          }
          if (kind === 'file') {
            if (filter?.excludes(abs)) continue;
            const st = known ?? lstatSync(abs, NO_THROW);
            if (!st) continue; // removed since the folder was read
            stats.files++;
            stats.bytes += st.size;
            if (onEntry) {
              const wait = onEntry({
                path: relPrefix + d.name,
                type: 'file',
                size: st.size,
                mtimeMs: st.mtimeMs,
                mode: st.mode & 0o7777,
              });
              if (wait) await wait;
            }
          } else if (kind === 'dir') {
            if (filter?.excludes(`${abs}/`)) continue;
            stats.dirs++;
            const rel = relPrefix + d.name;
            stack.push([abs, rel]);
            const st = onEntry ? (known ?? lstatSync(abs, NO_THROW)) : undefined;
            if (onEntry && st) {
              const wait = onEntry({ path: rel, type: 'dir', size: 0, mtimeMs: st.mtimeMs, mode: st.mode & 0o7777 });
              if (wait) await wait;
            }
          } else if (kind === 'symlink') {
            if (filter?.excludes(abs)) continue;
            stats.symlinks++;
            const st = onEntry ? (known ?? lstatSync(abs, NO_THROW)) : undefined;
            if (onEntry && st) {
              const wait = onEntry({
                path: relPrefix + d.name,
                type: 'symlink',
                size: 0,
                mtimeMs: st.mtimeMs,
                mode: st.mode & 0o7777,
              });
              if (wait) await wait;
            }
          }
        }
      } finally {
        handle.closeSync();
      }
    }
    return stats;
  } finally {
    pool?.close();
  }
}
