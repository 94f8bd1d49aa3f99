/**
 * Where a recovery reads the backup from.
 *
 * - {@link duplicatiDirectReader}: a Duplicati server that has never seen the job reads the
 *   target's files directly, as the web UI's "Direct restore from backup files" does (2.0.7.3:
 *   `POST /backups?temporary=true`, `GET /backup/{id}/filesets?from-remote-only=true`, then per
 *   restore `copytotemp` → `repair` with the version's time and paths → `restore`).
 * - {@link restoredTreeReader}: a folder where the backup was already restored with its full
 *   paths (plan B: `Duplicati.CommandLine.exe restore … --restore-path=DIR`).
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { DuplicatiKitError, errorGuard } from '../../core/errors.js';
import { asFolderPath, exists } from '../../core/fs.js';
import type { DuplicatiClient } from '../../duplicati/client.js';
import type { FileEntry } from '../../duplicati/types.js';
import { RECOVERY_SOURCE } from './types.js';

/** One version of the backup. Version 0 is the newest. */
export interface RecoveryVersion {
  readonly version: number;
  readonly time: string;
}

/**
 * A folder of the backup and where it is restored to (its content lands directly in `to`), or
 * with `file`, a single file and the path it is restored to.
 */
export interface FolderRestore {
  readonly from: string;
  readonly to: string;
  readonly file?: boolean;
}

/** What a recovery needs from the backup. */
export interface BackupReader {
  /** Human-readable origin, without credentials. */
  readonly describe: string;
  versions(signal: AbortSignal): Promise<RecoveryVersion[]>;
  /** The staged folder (with `manifest.json` and `recovery/`) inside the version at `time`. */
  findStagedFolder(time: string, signal: AbortSignal): Promise<string>;
  /** Restore folders of the version at `time`, each into its own destination. */
  restoreFolders(time: string, folders: readonly FolderRestore[], signal: AbortSignal): Promise<void>;
  /**
   * Restore several folders and files of the version at `time` in one pass: everything lands under
   * `to` by its path below `prefix` (their deepest common folder). Readers that cannot, leave it out.
   */
  restoreMany?(
    time: string,
    items: readonly FolderRestore[],
    prefix: string,
    to: string,
    signal: AbortSignal,
  ): Promise<void>;
  /** Bytes of the files under `folder` (or of the file, with `file`) in the version at `time` (free-space preflight). */
  folderBytes?(time: string, folder: string, signal: AbortSignal, file?: boolean): Promise<number>;
  /** Whether `p` (a backed-up path written without a trailing `/`) is a folder in the version at `time`. */
  isFolder?(time: string, p: string, signal: AbortSignal): Promise<boolean>;
}

/** The backup holds nothing duplicati-kit staged, or cannot be read with what was given. */
export class RecoveryError extends DuplicatiKitError {
  static override readonly errorName: string = 'RecoveryError';
  static override readonly defaultCode: string = 'ERR_RECOVERY';
}
/** True for a {@link RecoveryError}. */
export const isRecoveryError = errorGuard<RecoveryError>('RecoveryError');

const KIT_MARKER = `${RECOVERY_SOURCE}/RECOVERY.md`;

function noKit(where: string): RecoveryError {
  return new RecoveryError(
    `${where} holds no duplicati-kit backup (no ${KIT_MARKER} in this version): it was not staged by the duplicati-kit hook, or it predates the recovery kit`,
    { code: 'ERR_RECOVERY_NO_KIT' },
  );
}

/** Options of {@link duplicatiDirectReader}. */
export interface DirectReaderOptions {
  /** The Duplicati server of the new host. */
  readonly client: DuplicatiClient;
  /** The target URL, with its credentials. */
  readonly targetUrl: string;
  /** The backup's passphrase; null for an unencrypted backup. */
  readonly passphrase: string | null;
  /** Extra Duplicati options for reading (e.g. `{ 'dblock-size': '50mb' }`). */
  readonly options?: Readonly<Record<string, string>>;
  /** Longest a single restore may take. @default 24 h */
  readonly restoreTimeoutMs?: number;
}

/** A Duplicati server reading the target directly (no local database, no job). */
export function duplicatiDirectReader(o: DirectReaderOptions): BackupReader {
  const dup = o.client;
  const extra = Object.entries(o.options ?? {}).map(([name, value]) => ({ name, value }));
  let listing: string | undefined;
  const temp = async (signal: AbortSignal, fastFail: boolean): Promise<string> => {
    const settings = fastFail ? [{ name: 'number-of-retries', value: '0' }, ...extra] : extra;
    return (
      await dup.backups.createTemporary({ targetUrl: o.targetUrl, passphrase: o.passphrase, settings }, { signal })
    ).id;
  };
  // One temporary copy per version, its database built once (the version at `time`, all paths): the
  // search for the staged folder and every restore use it (a repair per restore costs a pass each).
  const copies = new Map<string, Promise<string>>();
  const prepared = (time: string, signal: AbortSignal): Promise<string> => {
    let p = copies.get(time);
    if (!p) {
      p = build(time, signal);
      p.catch(() => copies.delete(time));
      copies.set(time, p);
    }
    return p;
  };
  const build = async (time: string, signal: AbortSignal): Promise<string> => {
    const base = await temp(signal, false);
    const { id } = await dup.backups.copyToTemp(base, { signal });
    const { taskId } = await dup.backups.repairForRestore(id, { time, signal });
    if (taskId === null) throw new RecoveryError('the Duplicati server started no repair task');
    const done = await dup.tasks.wait(taskId, { signal, totalTimeout: o.restoreTimeoutMs ?? 86_400_000 });
    if (done.status !== 'Completed') {
      throw new RecoveryError(`Duplicati could not read the version at ${time}: ${done.errorMessage ?? done.status}`, {
        code: 'ERR_RECOVERY_READ',
      });
    }
    return id;
  };
  // One listing per path (`<path>*`: the path itself and, for a folder, everything below it).
  const listings = new Map<string, Promise<FileEntry[]>>();
  const under = (time: string, p: string, signal: AbortSignal): Promise<FileEntry[]> => {
    const key = `${time}\0${p}`;
    let l = listings.get(key);
    if (!l) {
      l = prepared(time, signal).then(
        async (id) => (await dup.backups.files(id, { time, search: `${p.replace(/\/+$/, '')}*`, signal })).files,
      );
      l.catch(() => listings.delete(key));
      listings.set(key, l);
    }
    return l;
  };
  // Restore items of the version at `time` into `to` (below their common folder) in one task.
  const restoreInto = async (time: string, items: readonly FolderRestore[], to: string, signal: AbortSignal) => {
    const id = await prepared(time, signal);
    await fsp.mkdir(to, { recursive: true });
    const out = await dup.backups.restoreAndWait(id, {
      time,
      paths: items.map((f) => (f.file ? f.from : asFolderPath(f.from))),
      to,
      overwrite: false,
      signal,
      totalTimeout: o.restoreTimeoutMs ?? 86_400_000,
    });
    if (out.result !== 'Success' && out.result !== 'Warning') {
      throw new RecoveryError(
        `Duplicati could not restore ${items.map((f) => f.from).join(', ')} into ${to} (${out.result}): ${out.errors.join('; ') || 'see the server log'}`,
        { code: 'ERR_RECOVERY_RESTORE' },
      );
    }
  };
  return {
    describe: 'the Duplicati target (direct restore)',
    async versions(signal) {
      listing ??= await temp(signal, true);
      const list = await dup.backups.remoteVersions(listing, { signal });
      return list.map((v) => ({ version: v.version, time: v.time }));
    },
    async findStagedFolder(time, signal) {
      const id = await prepared(time, signal);
      const { files } = await dup.backups.files(id, { time, search: `*/${KIT_MARKER}`, signal });
      const hits = files.map((f) => f.path).filter((p) => p.endsWith(`/${KIT_MARKER}`));
      if (hits.length === 0) throw noKit('the target');
      if (hits.length > 1) {
        throw new RecoveryError(`the target holds several staged folders: ${hits.join(', ')}`, {
          code: 'ERR_RECOVERY_AMBIGUOUS',
        });
      }
      return asFolderPath((hits[0] as string).slice(0, -KIT_MARKER.length));
    },
    async folderBytes(time, folder, signal, file) {
      const files = await under(time, folder, signal);
      const own = file
        ? files.filter((f) => f.path === folder)
        : files.filter((f) => f.path.startsWith(asFolderPath(folder)));
      return own.reduce((n, f) => n + (f.isFolder ? 0 : Math.max(0, f.sizes[0] ?? 0)), 0);
    },
    async isFolder(time, p, signal) {
      // 2.0.7.3 matches a plain folder path only as an exact entry: list with a wildcard instead.
      return (await under(time, p, signal)).some((f) => f.path.startsWith(asFolderPath(p)));
    },
    async restoreMany(time, items, _prefix, to, signal) {
      // One restore task for all of them: the version's volumes are read once, not once per folder.
      await restoreInto(time, items, to, signal);
    },
    async restoreFolders(time, folders, signal) {
      // A single file lands in the restore folder under its own name.
      for (const f of folders) await restoreInto(time, [f], f.file ? path.dirname(f.to) : f.to, signal);
    },
  };
}

/** A folder where the backup was restored with its full paths (`<root>/srv/…`). */
export function restoredTreeReader(root: string): BackupReader {
  const inside = (p: string) => path.join(root, ...p.split('/').filter(Boolean));
  return {
    describe: `the restored tree ${root}`,
    async versions() {
      const st = await fsp.stat(root);
      return [{ version: 0, time: st.mtime.toISOString() }];
    },
    async findStagedFolder() {
      const hits: string[] = [];
      const walk = async (dir: string, rel: string, depth: number): Promise<void> => {
        if (depth > 8) return;
        if (await exists(path.join(dir, ...KIT_MARKER.split('/')))) hits.push(`/${rel}`);
        for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
          if (e.isDirectory() && e.name !== RECOVERY_SOURCE)
            await walk(path.join(dir, e.name), `${rel}${e.name}/`, depth + 1);
        }
      };
      await walk(root, '', 0);
      if (hits.length === 0) throw noKit(root);
      if (hits.length > 1) throw new RecoveryError(`${root} holds several staged folders: ${hits.join(', ')}`);
      return asFolderPath(hits[0] as string);
    },
    async isFolder(_time, p) {
      return (await fsp.stat(inside(p))).isDirectory();
    },
    async folderBytes(_time, folder, _signal, file) {
      if (file) return (await fsp.stat(inside(folder))).size;
      let n = 0;
      const walk = async (dir: string): Promise<void> => {
        for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
          const p = path.join(dir, e.name);
          if (e.isDirectory()) await walk(p);
          else if (e.isFile()) n += (await fsp.stat(p)).size;
        }
      };
      await walk(inside(folder));
      return n;
    },
    async restoreFolders(_time, folders) {
      for (const f of folders) {
        if (f.file) {
          await fsp.mkdir(path.dirname(f.to), { recursive: true });
          await fsp.copyFile(inside(f.from), f.to, fsp.constants.COPYFILE_EXCL);
          continue;
        }
        await fsp.mkdir(f.to, { recursive: true });
        await fsp.cp(inside(f.from), f.to, {
          recursive: true,
          force: false,
          errorOnExist: true,
          verbatimSymlinks: true,
        });
      }
    },
  };
}
