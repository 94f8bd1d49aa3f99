import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isLockedError, type LockedError } from '../../../src/core/errors.js';
import { acquireLock, inspectLock, LOCK_FILE } from '../../../src/core/lock.js';
import { tempDir } from '../../helpers/context.js';

const child = path.join(import.meta.dirname, 'fixtures', 'lock-child.ts');
let dir: string;
let cleanup: () => Promise<void>;
const children: ChildProcess[] = [];
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  await cleanup();
});

function spawnHolder(waitMs = 0): ChildProcess {
  const c = fork(child, [dir, String(waitMs)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(c);
  return c;
}
async function next(c: ChildProcess): Promise<{ event: string; code?: string; pid?: number }> {
  const [m] = await once(c, 'message');
  return m as { event: string };
}

describe('work directory lock', () => {
  it('a second process gets LockedError naming the holder', async () => {
    const holder = spawnHolder();
    expect((await next(holder)).event).toBe('locked');
    const e = await acquireLock(dir).catch((x: unknown) => x);
    expect(isLockedError(e)).toBe(true);
    expect((e as LockedError).holder).toMatchObject({ pid: holder.pid, host: os.hostname() });
    expect((e as Error).message).toContain(`pid ${holder.pid}`);
    const contender = spawnHolder();
    expect(await next(contender)).toMatchObject({ event: 'error', code: 'ERR_LOCKED' });
    holder.send('release');
    expect((await next(holder)).event).toBe('released');
    const mine = await acquireLock(dir);
    await mine.release();
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(false);
  });

  it('a waiting process gets the lock when the holder releases it', async () => {
    const holder = spawnHolder();
    await next(holder);
    const waiting = acquireLock(dir, { waitMs: 30_000, pollMs: 20 });
    holder.send('release');
    const lock = await waiting;
    expect(lock.info.pid).toBe(process.pid);
    await lock.release();
  });

  it('takes over the lock of a process killed with SIGKILL', async () => {
    const holder = spawnHolder();
    await next(holder);
    holder.kill('SIGKILL');
    await once(holder, 'exit');
    expect(await inspectLock(dir)).toMatchObject({ pid: holder.pid, stale: true });
    const lock = await acquireLock(dir);
    expect(lock.info.pid).toBe(process.pid);
    await lock.release();
  });

  it('only one of several contenders wins a stale lock', async () => {
    const holder = spawnHolder();
    await next(holder);
    holder.kill('SIGKILL');
    await once(holder, 'exit');
    const contenders = [spawnHolder(), spawnHolder(), spawnHolder()];
    const outcomes = await Promise.all(contenders.map((c) => next(c)));
    expect(outcomes.filter((o) => o.event === 'locked')).toHaveLength(1);
    expect(outcomes.filter((o) => o.event === 'error').every((o) => o.code === 'ERR_LOCKED')).toBe(true);
  });

  it("release never removes somebody else's lock", async () => {
    const lock = await acquireLock(dir);
    await fsp.writeFile(
      path.join(dir, LOCK_FILE),
      JSON.stringify({ pid: 1, host: os.hostname(), startedAt: 'x', token: 'other' }),
    );
    await lock.release();
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(true);
  });

  it("an abort while waiting rejects with the caller's reason", async () => {
    const holder = spawnHolder();
    await next(holder);
    const ctl = new AbortController();
    const reason = new Error('give up');
    const p = acquireLock(dir, { waitMs: 60_000, pollMs: 10, signal: ctl.signal });
    ctl.abort(reason);
    await expect(p).rejects.toBe(reason);
  });
});
