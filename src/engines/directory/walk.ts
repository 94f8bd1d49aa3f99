/**
 * `walkTree`: the streamed folder walk both the directory source (counting, listing) and the
 * directory target (checking restored folders) use.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { throwIfAborted } from '../../core/abort.js';
import type { PathFilter } from '../../core/filters.js';

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

/**
 * Walk a tree without following links, skipping what `filter` excludes. Folders are read as
 * streams (`opendir`), so a folder of a million photos costs no more memory than one of ten.
 */
export async function walkTree(
  root: string,
  options: {
    filter?: PathFilter;
    signal?: AbortSignal;
    onEntry?: (entry: ListingEntry) => void | Promise<void>;
  } = {},
): Promise<TreeStats> {
  const stats: TreeStats = { files: 0, bytes: 0, dirs: 0, symlinks: 0 };
  const stack: string[] = [root];
  while (stack.length > 0) {
    throwIfAborted(options.signal);
    const dir = stack.pop() as string;
    const handle = await fsp.opendir(dir, { bufferSize: 256 });
    for await (const d of handle) {
      const abs = path.join(dir, d.name);
      const rel = path.relative(root, abs).split(path.sep).join('/');
      if (d.isDirectory()) {
        if (options.filter?.excludes(`${abs}/`)) continue;
        stats.dirs++;
        stack.push(abs);
        if (options.onEntry) {
          const st = await fsp.lstat(abs);
          await options.onEntry({ path: rel, type: 'dir', size: 0, mtimeMs: st.mtimeMs, mode: st.mode & 0o7777 });
        }
        continue;
      }
      if (options.filter?.excludes(abs)) continue;
      if (d.isSymbolicLink()) {
        stats.symlinks++;
        if (options.onEntry) {
          const st = await fsp.lstat(abs);
          await options.onEntry({ path: rel, type: 'symlink', size: 0, mtimeMs: st.mtimeMs, mode: st.mode & 0o7777 });
        }
        continue;
      }
      if (!d.isFile()) continue;
      const st = await fsp.lstat(abs);
      stats.files++;
      stats.bytes += st.size;
      if (options.onEntry) {
        await options.onEntry({ path: rel, type: 'file', size: st.size, mtimeMs: st.mtimeMs, mode: st.mode & 0o7777 });
      }
    }
  }
  return stats;
}
