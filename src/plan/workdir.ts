/**
 * The work directory a backup plan owns. A marker file claims it, so cleanup never deletes a folder
 * the user pointed at by mistake (their home, a photo library): a non-empty folder without the
 * marker is refused.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
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
 * The entries an earlier run left in a claimed work directory, once its manifest is removed and
 * the folder fsynced (so a crash mid-cleanup never leaves a manifest naming deleted files); the
 * marker and the lock are not among them. Undefined for a folder that does not exist or is not
 * claimed.
 */
async function leftovers(dir: string): Promise<string[] | undefined> {
  try {
    await fsp.access(path.join(dir, WORKDIR_MARKER));
  } catch {
    return undefined;
  }
  await fsp.rm(path.join(dir, MANIFEST_FILE), { force: true });
  await fsyncDir(dir);
  return (await fsp.readdir(dir)).filter(
    (n) => n !== WORKDIR_MARKER && n !== LOCK_FILE && !n.startsWith(`${LOCK_FILE}.`),
  );
}

/**
 * Empty a claimed work directory: the manifest goes first, then everything else except the marker
 * and the lock. Does nothing for a folder that does not exist or is not claimed.
 */
export async function emptyWorkDir(dir: string, signal?: AbortSignal): Promise<string[]> {
  throwIfAborted(signal);
  const names = (await leftovers(dir)) ?? [];
  for (const name of names) {
    throwIfAborted(signal);
    await fsp.rm(path.join(dir, name), { recursive: true, force: true });
  }
  return names;
}

/** Prefix of the folder {@link setAsideWorkDir} moves an earlier run's files into. */
export const SET_ASIDE_PREFIX = '.dk-removing-';

/** What {@link setAsideWorkDir} moved, and the removal still under way. */
export interface SetAside {
  /** The entries of the earlier run (names in the work directory). */
  readonly removed: string[];
  /** Settles once they are gone: undefined, or the error that kept them. Never rejects. */
  readonly done: Promise<Error | undefined>;
}

/**
 * Empty a claimed work directory like {@link emptyWorkDir}, without waiting for the disk to free
 * large files: the manifest is removed first (and the folder fsynced), then every other entry is
 * renamed into one `.dk-removing-<id>` folder, which is removed in the background. A caller awaits
 * `done` before it writes a manifest or releases the lock; a crash in between leaves a folder the
 * next run removes like any other leftover. An entry that cannot be renamed is removed in place.
 */
export async function setAsideWorkDir(dir: string, signal?: AbortSignal): Promise<SetAside> {
  throwIfAborted(signal);
  const names = await leftovers(dir);
  if (!names?.length) return { removed: [], done: Promise.resolve(undefined) };
  throwIfAborted(signal);
  const aside = path.join(dir, `${SET_ASIDE_PREFIX}${randomBytes(6).toString('hex')}`);
  await fsp.mkdir(aside, { mode: PRIVATE_DIR });
  for (const name of names) {
    throwIfAborted(signal);
    try {
      await fsp.rename(path.join(dir, name), path.join(aside, name));
    } catch {
      await fsp.rm(path.join(dir, name), { recursive: true, force: true });
    }
  }
  const done = fsp.rm(aside, { recursive: true, force: true }).then(
    () => undefined,
    (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
  );
  return { removed: names, done };
}
