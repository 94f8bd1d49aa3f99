/**
 * A counting walk whose worker threads cannot start (a container's pids limit, no memory for a
 * thread) goes on on the main thread and counts the same: `node:worker_threads` is replaced here
 * by threads that fail to start, at once or a moment later.
 */
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { walkTree } from '../../../../src/engines/directory/walk.js';
import { tempDir } from '../../../helpers/context.js';

const how = vi.hoisted(() => ({ fail: 'at-once' as 'at-once' | 'later', started: 0 }));

vi.mock('node:worker_threads', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:worker_threads')>();
  // Imported here: the factory runs before this file's imports.
  const { EventEmitter } = await import('node:events');
  class FailingWorker extends EventEmitter {
    constructor() {
      super();
      how.started++;
      if (how.fail === 'at-once') {
        throw Object.assign(new Error('Worker initialization failure: EAGAIN'), { code: 'ERR_WORKER_INIT_FAILED' });
      }
      setImmediate(() => this.emit('error', new Error('the thread could not start')));
    }
    postMessage(): void {}
    terminate(): Promise<number> {
      return Promise.resolve(1);
    }
  }
  return { ...real, Worker: FailingWorker };
});

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

/** `folders` folders of 3 files each, two deep, with a symlink now and then. */
async function tree(root: string, folders: number): Promise<void> {
  for (let i = 0; i < folders; i++) {
    const d = path.join(root, `y${i % 5}`, `m${i}`);
    await fsp.mkdir(d, { recursive: true });
    for (let f = 0; f < 3; f++) await fsp.writeFile(path.join(d, `p${f}.jpg`), 'x'.repeat(i + f));
    if (i % 10 === 0) await fsp.symlink('p0.jpg', path.join(d, 'latest.jpg'));
  }
  execFileSync('mkfifo', [path.join(root, 'y0', 'm0', 'pipe')]);
}

describe('walkTree when its worker threads cannot start', () => {
  it('goes on on this thread when starting a thread throws', async () => {
    await tree(dir, 300);
    const one = await walkTree(dir, { parallelAfter: Number.POSITIVE_INFINITY });
    how.fail = 'at-once';
    how.started = 0;
    expect(await walkTree(dir, { parallelAfter: 0 })).toEqual(one);
    expect(how.started).toBeGreaterThan(0);
    expect(one).toMatchObject({ files: 900, symlinks: 30 });
  });

  it('goes on on this thread when a thread fails before the walk hands anything over', async () => {
    // 1,300 entries: the threads start after 200 (a fifth of 1,000), fail at the next turn of the
    // event loop (the walk returns to it every 64 entries here), and the walk must not hand over
    // at 1,000 entries to threads that failed.
    await tree(dir, 400);
    const one = await walkTree(dir, { parallelAfter: Number.POSITIVE_INFINITY });
    how.fail = 'later';
    how.started = 0;
    expect(await walkTree(dir, { parallelAfter: 1_000, yieldEvery: 64 })).toEqual(one);
    expect(how.started).toBeGreaterThan(0);
  });
});
