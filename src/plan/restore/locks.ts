/**
 * Restore locks: one per live path a target replaces (beside it), so two restores of the same
 * file or folder — from two configs, two state folders, two terminals — never interleave.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { acquireLock, type LockHandle } from '../../core/lock.js';
import type { Logger } from '../../core/logger.js';
import type { RestoreTarget } from '../../contracts/types.js';

/** The lock file of a live path: `.<name>.dk-restore.lock` in its folder. */
export function restoreLockOf(live: string): { dir: string; name: string } {
  const abs = path.resolve(live);
  return { dir: path.dirname(abs), name: `.${path.basename(abs)}.dk-restore.lock` };
}

/** Locks held on a set of live paths; `release` frees them all (safe to call twice). */
export interface RestoreLocks {
  readonly paths: readonly string[];
  release(): Promise<void>;
}

/**
 * Lock every path the targets replace (`replaces()`), in a stable order. A path another live
 * process holds fails with a {@link LockedError} naming the holder (pid, host, start, purpose);
 * locks already taken are released first. A lock left by a dead process is taken over.
 *
 * @example
 * ```ts
 * const locks = await lockRestoreTargets(targets, { purpose: 'restore', signal });
 * try { … } finally { await locks.release(); }
 * ```
 */
export async function lockRestoreTargets(
  targets: readonly RestoreTarget[],
  options: { purpose: string; signal?: AbortSignal; logger?: Logger },
): Promise<RestoreLocks> {
  const paths = [...new Set(targets.flatMap((t) => t.replaces?.() ?? []).map((p) => path.resolve(p)))].sort();
  const held: LockHandle[] = [];
  const release = async (): Promise<void> => {
    for (const h of held.splice(0).reverse()) await h.release();
  };
  try {
    for (const p of paths) {
      const { dir, name } = restoreLockOf(p);
      await fsp.mkdir(dir, { recursive: true });
      held.push(
        await acquireLock(dir, {
          name,
          purpose: `${options.purpose} of ${p}`,
          ...(options.signal ? { signal: options.signal } : {}),
          ...(options.logger ? { logger: options.logger } : {}),
        }),
      );
    }
  } catch (e) {
    await release();
    throw e;
  }
  return { paths, release };
}
