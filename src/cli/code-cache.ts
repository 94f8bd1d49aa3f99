/**
 * V8's code cache for the CLI bundle: the bytecode of every function a command ran, kept per
 * command in the user's cache folder and handed back to V8 at the next start, so a start compiles
 * almost nothing (Node 20 has no `module.enableCompileCache`; `vm.Script` `cachedData` works on
 * every Node the package supports).
 *
 * A cache file holds code this process will run, so it is only read from a folder and a file that
 * belong to the user running it and that no one else may write: `sudo duplicati-kit …` keeping the
 * caller's `HOME` must not run bytecode the caller could have planted. V8 itself checks the Node
 * version and flags, but recognises its source only by length, so a file's name carries the
 * bundle's own identity (its device, inode, size and mtime): a rebuilt or reinstalled bundle
 * never meets the bytecode of another.
 *
 * Nothing here may fail a command: every error leaves the start as it would be without a cache.
 * `DUPLICATI_KIT_CODE_CACHE=off` turns it off.
 *
 * @module
 */
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  type Stats,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { ownedPrivately, userCacheFolder } from '../core/user-cache.js';

export { ownedPrivately };

/** The folder of the cache files, or undefined when there is none to use. */
export function codeCacheDir(env: NodeJS.ProcessEnv): string | undefined {
  const dir = userCacheFolder(env, 'DUPLICATI_KIT_CODE_CACHE');
  return dir === undefined ? undefined : path.join(dir, 'v8');
}

/**
 * 64-bit FNV-1a of `s`, in hex. Only names files: two builds' names meet by accident with odds of
 * 2^-64, and a name chosen on purpose buys nothing (only the user may write the folder). Not
 * `node:crypto`, which would cost every start of the launcher ~7 ms to load (a listing hook run
 * needs nothing else).
 */
function hash(s: string): string {
  let h = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(s, 'utf8')) h = ((h ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h.toString(16).padStart(16, '0');
}

/**
 * The cache file's name: the bundle's path, then its identity on disk and this Node, then the
 * command. `place` is the name's start shared by every build installed at that path.
 */
export function codeCacheName(
  bundlePath: string,
  bundle: Stats,
  command: string | undefined,
): { name: string; prefix: string; place: string } {
  const id = [process.version, process.arch, bundle.dev, bundle.ino, bundle.size, bundle.mtimeMs, bundle.ctimeMs];
  const place = hash(path.resolve(bundlePath));
  const prefix = `${place}-${hash(id.join(':'))}`;
  const cmd = command !== undefined && /^[a-z][a-z0-9-]{0,31}$/.test(command) ? command : '_';
  return { name: `${prefix}-${cmd}.bin`, prefix, place };
}

/** Where this start's cache is read from and written to. */
export interface CodeCacheSlot {
  readonly dir: string;
  readonly file: string;
  readonly prefix: string;
  readonly place: string;
  readonly uid: number;
}

/** The slot for `bundle` and `command`, or undefined when caching is off or impossible here. */
export function codeCacheSlot(
  bundlePath: string,
  command: string | undefined,
  env: NodeJS.ProcessEnv,
): CodeCacheSlot | undefined {
  const dir = codeCacheDir(env);
  const uid = process.getuid?.();
  if (dir === undefined || uid === undefined) return undefined;
  try {
    const { name, prefix, place } = codeCacheName(bundlePath, statSync(bundlePath), command);
    return { dir, file: path.join(dir, name), prefix, place, uid };
  } catch {
    return undefined;
  }
}

/** The cached bytecode of `slot`, when the folder and the file are the user's own and private. */
export function readCodeCache(slot: CodeCacheSlot): Buffer | undefined {
  let fd: number | undefined;
  try {
    if (!ownedPrivately(statSync(slot.dir), slot.uid)) return undefined;
    // O_NOFOLLOW: a symlink planted in the folder is not followed to someone else's file.
    fd = openSync(slot.file, constants.O_RDONLY | constants.O_NOFOLLOW);
    const st = fstatSync(fd);
    if (!st.isFile() || !ownedPrivately(st, slot.uid)) return undefined;
    return readFileSync(fd);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Caches of another install, or a write a crash left, untouched this long are removed when a cache
 * is stored: each install (each `npx` version, each clone) has its own, and nothing else would ever
 * remove them. An install still in use whose caches go only stores them again at its next start.
 */
const OTHER_INSTALL_MAX_AGE_MS = 30 * 24 * 60 * 60 * 1000;

/**
 * Store `data` as the cache of `slot` (mode 0600, written aside and renamed into place, so a
 * concurrent start reads the old file or the new one), and remove the caches of earlier builds at
 * the same path; another install's caches only once they are {@link OTHER_INSTALL_MAX_AGE_MS} old.
 */
export function writeCodeCache(slot: CodeCacheSlot, data: Buffer): boolean {
  const tmp = `${slot.file}.${process.pid}.tmp`;
  try {
    mkdirSync(slot.dir, { recursive: true, mode: 0o700 });
    if (!ownedPrivately(statSync(slot.dir), slot.uid)) return false;
    writeFileSync(tmp, data, { mode: 0o600, flag: 'wx' });
    renameSync(tmp, slot.file);
  } catch {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing was written
    }
    return false;
  }
  const now = Date.now();
  let names: string[] = [];
  try {
    names = readdirSync(slot.dir);
  } catch {
    // a stale cache is only disk space
  }
  for (const name of names) {
    const file = path.join(slot.dir, name);
    try {
      if (!name.endsWith('.bin') && !name.endsWith('.tmp')) continue;
      const stale = name.startsWith(`${slot.place}-`) && !name.startsWith(`${slot.prefix}-`);
      if (stale && name.endsWith('.bin')) {
        unlinkSync(file);
        continue;
      }
      if (file === slot.file) continue;
      const st = lstatSync(file);
      if (st.isFile() && st.uid === slot.uid && now - st.mtimeMs > OTHER_INSTALL_MAX_AGE_MS) unlinkSync(file);
    } catch {
      // a stale cache is only disk space
    }
  }
  return true;
}
