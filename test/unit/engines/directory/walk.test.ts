import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compileFilters } from '../../../../src/core/filters.js';
import { type ListingEntry, walkTree } from '../../../../src/engines/directory/walk.js';
import { tempDir } from '../../../helpers/context.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

/** `n` files spread over nested folders: a/0..k/b/file-i.jpg of `i + 1` bytes. */
async function many(root: string, n: number): Promise<number> {
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const d = path.join(root, 'a', String(i % 7), 'b');
    await fsp.mkdir(d, { recursive: true });
    await fsp.writeFile(path.join(d, `file-${i}.jpg`), 'x'.repeat(i + 1));
    bytes += i + 1;
  }
  return bytes;
}

describe('walkTree', () => {
  it('counts every file of a tree larger than one slice, gives the same figures whatever the slice size', async () => {
    const bytes = await many(dir, 300);
    const expected = { files: 300, bytes, dirs: 1 + 7 + 7, symlinks: 0 };
    expect(await walkTree(dir)).toEqual(expected);
    expect(await walkTree(dir, { yieldEvery: 1 })).toEqual(expected);
    expect(await walkTree(dir, { yieldEvery: 37 })).toEqual(expected);
    // A trailing slash on the root changes nothing, relative paths included.
    const rels: string[] = [];
    await walkTree(`${dir}/`, { yieldEvery: 10, onEntry: (e) => void rels.push(e.path) });
    expect(rels).toContain('a/3/b/file-3.jpg');
    expect(rels.every((r) => !r.startsWith('/') && !r.includes('//'))).toBe(true);
    expect(rels).toHaveLength(300 + 15);
  });

  it('returns to the event loop between slices, so a timer fires during a long walk', async () => {
    await many(dir, 200);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    try {
      await walkTree(dir, { yieldEvery: 5 });
    } finally {
      clearInterval(timer);
    }
    expect(ticks).toBeGreaterThan(0);
  });

  it('stops at an abort between slices with the signal reason', async () => {
    await many(dir, 200);
    const ac = new AbortController();
    let seen = 0;
    const walking = walkTree(dir, {
      yieldEvery: 10,
      signal: ac.signal,
      onEntry: () => {
        if (++seen === 50) ac.abort(new Error('stop now'));
      },
    });
    await expect(walking).rejects.toThrow('stop now');
    expect(seen).toBeLessThan(70);
    await expect(walkTree(dir, { signal: AbortSignal.abort(new Error('before')) })).rejects.toThrow('before');
  });

  it('awaits a promise onEntry returns (backpressure) and skips excluded folders and files', async () => {
    await many(dir, 40);
    await fsp.mkdir(path.join(dir, 'a', 'thumbs'), { recursive: true });
    await fsp.writeFile(path.join(dir, 'a', 'thumbs', 't.webp'), 'tt');
    await fsp.writeFile(path.join(dir, 'a', 'x.tmp'), 'tmp');
    await fsp.symlink('0/b/file-0.jpg', path.join(dir, 'a', 'latest.jpg'));
    const order: string[] = [];
    let pending = 0;
    const stats = await walkTree(dir, {
      filter: compileFilters(['*/thumbs/', '*.tmp']),
      onEntry: (e: ListingEntry) => {
        expect(pending).toBe(0);
        pending++;
        return new Promise<void>((r) =>
          setTimeout(() => {
            pending--;
            order.push(`${e.type}:${e.path}`);
            r();
          }, 0),
        );
      },
    });
    expect(stats).toMatchObject({ files: 40, symlinks: 1, dirs: 1 + 7 + 7 });
    expect(order).toContain('symlink:a/latest.jpg');
    expect(order.some((o) => o.includes('thumbs') || o.endsWith('.tmp'))).toBe(false);
  });

  it('fails clearly for a root that does not exist', async () => {
    await expect(walkTree(path.join(dir, 'nope'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('walkTree on a live tree', () => {
  it('leaves out files and folders removed while it walks, and still fails for a missing root', async () => {
    await many(dir, 60);
    await fsp.mkdir(path.join(dir, 'z-album', 'inner'), { recursive: true });
    await fsp.writeFile(path.join(dir, 'z-album', 'inner', 'p.jpg'), 'p');
    let removed = false;
    const stats = await walkTree(dir, {
      yieldEvery: 1,
      onEntry: async () => {
        // The first entry seen: remove a whole album and a file the walk has not reached yet.
        if (removed) return;
        removed = true;
        await fsp.rm(path.join(dir, 'z-album'), { recursive: true, force: true });
        await fsp.rm(path.join(dir, 'a', '6', 'b', 'file-55.jpg'));
        await fsp.rm(path.join(dir, 'a', '5', 'b'), { recursive: true });
      },
    });
    // Removed before the walk went down into them: 60 − 8 files of a/5/b − file-55 (the album's p.jpg too).
    expect(stats.files).toBe(51);
  });
});
