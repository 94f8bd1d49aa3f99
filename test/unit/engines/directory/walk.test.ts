import { execFileSync } from 'node:child_process';
import { readdirSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compileFilters } from '../../../../src/core/filters.js';
import { batchSize, finishInParallel } from '../../../../src/engines/directory/parallel-walk.js';
import { BOOT_AHEAD, bootAfter, type ListingEntry, walkTree } from '../../../../src/engines/directory/walk.js';
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

describe('walkTree on every core (a counting walk past parallelAfter)', () => {
  /** `folders` folders of 3 files each, nested two deep, with symlinks, a FIFO, excluded files and folders. */
  async function wide(root: string, folders: number): Promise<void> {
    for (let i = 0; i < folders; i++) {
      const d = path.join(root, `y${i % 5}`, `m${i}`);
      await fsp.mkdir(d, { recursive: true });
      for (let f = 0; f < 3; f++) await fsp.writeFile(path.join(d, `p${f}.jpg`), 'x'.repeat(i + f));
      if (i % 10 === 0) await fsp.symlink('p0.jpg', path.join(d, 'latest.jpg'));
      if (i % 17 === 0) await fsp.writeFile(path.join(d, 'junk.tmp'), 'tmp');
      if (i % 23 === 0) {
        await fsp.mkdir(path.join(d, 'thumbs'));
        await fsp.writeFile(path.join(d, 'thumbs', 't.webp'), 'tt');
      }
    }
    await fsp.mkdir(path.join(root, 'empty'));
    execFileSync('mkfifo', [path.join(root, 'y0', 'm0', 'pipe')]);
  }

  it('gives the same figures as the walk on one thread, with and without filters', async () => {
    await wide(dir, 300);
    for (const filter of [undefined, compileFilters(['*/thumbs/', '*.tmp']), compileFilters(['[/m1\\d*/$]'])]) {
      const one = await walkTree(dir, { ...(filter ? { filter } : {}), parallelAfter: Number.POSITIVE_INFINITY });
      // 0: the threads take the whole walk; 10: started after 2 entries, they take over at 10 at
      // the latest (part walked here, the rest there).
      for (const parallelAfter of [0, 10]) {
        const all = await walkTree(dir, { ...(filter ? { filter } : {}), parallelAfter });
        expect(all).toEqual(one);
      }
      expect(one.files).toBeGreaterThan(0);
    }
    expect(await walkTree(dir, { parallelAfter: 0 })).toMatchObject({ files: 300 * 3 + 18 + 14, symlinks: 30 });
    // A filter that is only a function cannot be rebuilt on another thread: the walk stays on this
    // one and still counts right.
    const custom = { excludes: (p: string) => p.endsWith('.tmp') };
    expect(await walkTree(dir, { filter: custom, parallelAfter: 0 })).toEqual(
      await walkTree(dir, { filter: compileFilters(['*.tmp']), parallelAfter: Number.POSITIVE_INFINITY }),
    );
  });

  it('worker threads count what one thread counts', async () => {
    await wide(dir, 120);
    const filter = compileFilters(['*/thumbs/', '*.tmp']);
    const one = await walkTree(dir, { filter, parallelAfter: Number.POSITIVE_INFINITY });
    const counts = { files: 0, bytes: 0, dirs: 0, symlinks: 0 };
    await finishInParallel([dir], counts, filter.patterns ?? [], 2, undefined);
    // The root itself is not counted as a folder by either.
    expect(counts).toEqual(one);
  });

  it("a worker's folder error reaches the caller as fs throws it", async () => {
    // Deeper than PATH_MAX: opendir of the deepest folder fails with ENAMETOOLONG, on any thread.
    const name = 'd'.repeat(250);
    execFileSync('bash', [
      '-c',
      `cd "$1" && mkdir top && cd top && for i in $(seq 1 20); do mkdir ${name} && cd ${name}; done`,
      '_',
      dir,
    ]);
    for (let i = 0; i < 40; i++) await fsp.mkdir(path.join(dir, 'top', `side${i}`));
    try {
      for (const parallelAfter of [0, 10, Number.POSITIVE_INFINITY]) {
        await expect(walkTree(dir, { parallelAfter })).rejects.toMatchObject({ code: 'ENAMETOOLONG' });
      }
      const counts = { files: 0, bytes: 0, dirs: 0, symlinks: 0 };
      const err = (await finishInParallel([dir], counts, [], 1, undefined).catch((e: unknown) => e)) as Error;
      expect(err).toMatchObject({ code: 'ENAMETOOLONG', syscall: 'opendir' });
      expect(err.message).toMatch(/^ENAMETOOLONG: name too long, opendir/);
    } finally {
      // rm -r goes down relative to each folder; fs.rm cannot unlink past PATH_MAX.
      execFileSync('rm', ['-rf', path.join(dir, 'top')]);
    }
  });

  it('threads started ahead and not needed are let go: the walk ends on this thread and none stays', async () => {
    await wide(dir, 40);
    const one = await walkTree(dir, { parallelAfter: Number.POSITIVE_INFINITY });
    // Linux: this process's threads. A worker that is never terminated keeps waiting for folders.
    const threads = (): number => readdirSync('/proc/self/task').length;
    const before = threads();
    // Started after 100 entries; the rest of a walk of ~200 is over long before they run.
    expect(await walkTree(dir, { parallelAfter: 500 })).toEqual(one);
    const entries = one.files + one.dirs + one.symlinks;
    expect(bootAfter(500)).toBeLessThan(entries);
    expect(entries).toBeLessThan(500);
    const deadline = Date.now() + 5_000;
    while (threads() > before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(threads()).toBe(before);
  });

  it('starts its threads after a fifth of parallelAfter, at most 4,000 entries, never with Infinity', () => {
    expect(bootAfter(20_000)).toBe(BOOT_AHEAD);
    expect(BOOT_AHEAD).toBe(4_000);
    expect(bootAfter(500)).toBe(100);
    expect(bootAfter(0)).toBe(0);
    // Infinity keeps the whole walk on this thread: the threads are never started.
    expect(bootAfter(Number.POSITIVE_INFINITY)).toBe(Number.POSITIVE_INFINITY);
  });

  it('hands out fewer folders at a time as the walk nears its end', () => {
    expect(batchSize(1_000, 2)).toBe(16);
    expect(batchSize(40, 2)).toBe(10);
    expect(batchSize(5, 2)).toBe(1);
    expect(batchSize(1, 4)).toBe(1);
    expect(batchSize(0, 0)).toBe(1);
  });

  it('stops at an abort during the parallel part with the signal reason', async () => {
    await wide(dir, 600);
    const ac = new AbortController();
    const walking = walkTree(dir, { parallelAfter: 0, signal: ac.signal });
    setTimeout(() => ac.abort(new Error('stop the walk')), 0);
    await expect(walking).rejects.toThrow('stop the walk');
  });
});
