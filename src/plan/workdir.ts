/**
 * The work directory a backup plan owns. A marker file claims it, so cleanup never deletes a folder
 * the user pointed at by mistake (their home, a photo library): a non-empty folder without the
 * marker is refused.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { throwIfAborted } from '../core/abort.js';
import { ConfigError } from '../core/errors.js';
import { fsyncDir, PRIVATE_DIR, PRIVATE_FILE } from '../core/fs.js';
import { LOCK_FILE } from '../core/lock.js';
import { MANIFEST_FILE } from '../core/manifest.js';

/** Marker file that says a folder is a duplicati-kit work directory. */
export const WORKDIR_MARKER = '.duplicati-kit-workdir';

/**
 * Create `dir` if needed and make sure it is ours: empty, or carrying the marker. Throws a
 * ConfigError for a non-empty folder without the marker.
 */
export async function claimWorkDir(dir: string, signal?: AbortSignal): Promise<void> {
  throwIfAborted(signal);
  await fsp.mkdir(dir, { recursive: true, mode: PRIVATE_DIR });
  const marker = path.join(dir, WORKDIR_MARKER);
  try {
    await fsp.access(marker);
    // Dumps hold whatever the live data holds: the folder is the owner's only, even if it existed.
    await fsp.chmod(dir, PRIVATE_DIR);
    return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const entries = (await fsp.readdir(dir)).filter((e) => e !== LOCK_FILE && !e.startsWith(`${LOCK_FILE}.`));
  if (entries.length > 0) {
    throw new ConfigError(
      `work directory ${dir} is not empty and was not created by duplicati-kit; refusing to use it (its contents would be deleted on cleanup). Point workDir at an empty or new folder.`,
      [{ path: 'workDir', message: 'must be an empty folder or one duplicati-kit created' }],
    );
  }
  await fsp.writeFile(
    marker,
    'This folder is a duplicati-kit work directory. Everything in it except this file is deleted on cleanup.\n',
    { mode: PRIVATE_FILE },
  );
  await fsp.chmod(dir, PRIVATE_DIR);
  await fsyncDir(dir);
}

/**
 * Empty a claimed work directory: the manifest goes first (so a crash mid-cleanup never leaves a
 * manifest naming deleted files), then everything else except the marker and the lock.
 * Does nothing for a folder that does not exist or is not claimed.
 */
export async function emptyWorkDir(dir: string, signal?: AbortSignal): Promise<string[]> {
  throwIfAborted(signal);
  try {
    await fsp.access(path.join(dir, WORKDIR_MARKER));
  } catch {
    return [];
  }
  await fsp.rm(path.join(dir, MANIFEST_FILE), { force: true });
  await fsyncDir(dir);
  const removed: string[] = [];
  for (const name of await fsp.readdir(dir)) {
    if (name === WORKDIR_MARKER || name === LOCK_FILE || name.startsWith(`${LOCK_FILE}.`)) continue;
    throwIfAborted(signal);
    await fsp.rm(path.join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
