/**
 * Photo-library shaped trees for the scale benchmarks: many files whose sizes look like photos
 * (1–8 MB) but which are sparse (ftruncate, no data blocks), so a million of them cost inodes, not
 * gigabytes. Three shapes:
 *
 * - `wide`: `<root>/library/<user>/<nn>/<file>`: few, wide folders (~1,000 files each), like
 *   Immich's `upload/<user>/<xx>/<yy>` or one camera folder per import.
 * - `deep`: `<root>/<year>/<month>/<day>/<file>`: year/month/day folders (~50 files a day).
 * - `immich`: `<root>/library/<user-uuid>/<yyyy>/<yyyy-mm-dd>/IMG_<n>.jpg`: Immich's storage
 *   template layout, tiny real files (Duplicati reads them); `immichPath()` names asset `i`.
 *
 * Deterministic: the same arguments build the same tree.
 */
import { closeSync, ftruncateSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';

export type TreeShape = 'wide' | 'deep' | 'immich';

export const TREE_SHAPES: readonly TreeShape[] = ['wide', 'deep', 'immich'];

const USERS = ['7f1a2c3e-0000-4000-8000-000000000001', '7f1a2c3e-0000-4000-8000-000000000002'];

/** Relative path of file `i` in a tree of `files` files of `shape`. */
export function relPath(shape: TreeShape, i: number, files: number): string {
  switch (shape) {
    case 'wide': {
      const user = i % 2;
      const folder = Math.floor(i / 2 / 1000);
      return `library/user${user}/${String(folder).padStart(4, '0')}/IMG_${String(i).padStart(7, '0')}.jpg`;
    }
    case 'deep': {
      // ~50 files a day over as many days as needed, from 2000-01-01 on (28-day months keep it simple).
      const day = Math.floor(i / 50);
      const y = 2000 + Math.floor(day / (12 * 28));
      const m = Math.floor(day / 28) % 12;
      const d = day % 28;
      return `${y}/${String(m + 1).padStart(2, '0')}/${String(d + 1).padStart(2, '0')}/DSC_${String(i).padStart(7, '0')}.jpg`;
    }
    case 'immich':
      return immichPath(i, files).slice('/data/'.length);
  }
}

/** `originalPath` of asset `i` as Immich stores it (container prefix `/data/`), storage-template layout. */
export function immichPath(i: number, _files: number): string {
  const user = USERS[i % USERS.length] as string;
  const day = Math.floor(i / 40);
  const y = 2010 + Math.floor(day / 336);
  const m = String((Math.floor(day / 28) % 12) + 1).padStart(2, '0');
  const d = String((day % 28) + 1).padStart(2, '0');
  return `/data/library/${user}/${y}/${y}-${m}-${d}/IMG_${String(i).padStart(7, '0')}.jpg`;
}

/**
 * Write the tree under `root`. `wide` and `deep` files are sparse (1–8 MB apparent size, no data);
 * `immich` files hold 16 bytes (Duplicati reads and dedups them, so they must differ).
 * Returns the apparent bytes.
 */
export function generatePhotoTree(root: string, shape: TreeShape, files: number): number {
  let lastDir = '';
  let bytes = 0;
  for (let i = 0; i < files; i++) {
    const file = path.join(root, relPath(shape, i, files));
    const dir = path.dirname(file);
    if (dir !== lastDir) {
      mkdirSync(dir, { recursive: true });
      lastDir = dir;
    }
    const fd = openSync(file, 'w');
    if (shape === 'immich') {
      bytes += writeSync(fd, `asset ${String(i).padStart(9, '0')}\n`);
    } else {
      const size = 1_000_000 + ((i * 2_654_435_761) % 7_000_000);
      ftruncateSync(fd, size);
      bytes += size;
    }
    closeSync(fd);
  }
  return bytes;
}
