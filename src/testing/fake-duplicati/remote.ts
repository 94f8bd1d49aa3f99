/**
 * The fake's remote target, for recoveries: a run of a job whose `TargetURL` is `file://<folder>`
 * with an existing folder keeps its version there (one folder per version, with a `fileset.json`),
 * so another fake server that has never seen the job can read it directly, as a real server's
 * "restore from backup files" does (temporary backup → `filesets?from-remote-only=true` →
 * `copytotemp` → `repair` with a time → `files` / `restore`).
 *
 * The errors are the ones 2.0.7.3 answers (captured live): a wrong passphrase
 * `Failed to decrypt data (invalid passphrase?): Invalid password or corrupted data`
 * (`CryptographicException`), no passphrase for an encrypted backup `encrypted-storage`, a missing
 * folder `The folder X does not exist` (`FolderMissingException`), a folder without versions
 * `No filesets found on remote target` (`UserInformationException`).
 *
 * Not modelled: the dblock/dindex/dlist files themselves (whole files are kept), compression.
 * The passphrase is never stored: only a salted SHA-256 check value.
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { StoredEntry } from './store.js';

/** Prefix of a version folder inside the target folder. */
export const REMOTE_VERSION_PREFIX = 'duplicati-fake-';
const FILESET = 'fileset.json';

/** A version read back from the target folder. */
export interface RemoteVersion {
  readonly time: Date;
  readonly dir: string;
  readonly entries: StoredEntry[];
  readonly fileCount: number;
  readonly fileSizes: number;
  readonly isFull: boolean;
}

/** A remote read that failed the way the real server fails it. */
export class RemoteReadError extends Error {
  constructor(
    message: string,
    /** The .NET exception type the 2.0.7.3 reply names (`null`: the reply is `{"Error": message}`). */
    readonly type: string | null,
  ) {
    super(message);
    this.name = 'RemoteReadError';
  }
}

/** The local folder of a `file://` target URL (query string dropped); undefined for other schemes. */
export function targetFolder(targetUrl: string): string | undefined {
  if (!targetUrl.startsWith('file://')) return undefined;
  const raw = targetUrl.slice('file://'.length).split('?')[0] ?? '';
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** The target folder when it exists (the fake then keeps its versions there). */
export async function existingTargetFolder(targetUrl: string): Promise<string | undefined> {
  const folder = targetFolder(targetUrl);
  if (!folder || !path.isAbsolute(folder)) return undefined;
  try {
    return (await stat(folder)).isDirectory() ? folder : undefined;
  } catch {
    return undefined;
  }
}

/** A fresh version folder inside the target folder. */
export function remoteVersionDir(folder: string): string {
  return path.join(folder, `${REMOTE_VERSION_PREFIX}${randomBytes(8).toString('hex')}`);
}

function check(salt: string, passphrase: string): string {
  return createHash('sha256').update(`${salt}\0${passphrase}`).digest('hex');
}

/** What `fileset.json` holds. */
interface FilesetFile {
  readonly format: 'duplicati-kit-fake-fileset/1';
  readonly time: string;
  readonly isFull: boolean;
  readonly fileCount: number;
  readonly fileSizes: number;
  readonly encryption: { readonly salt: string; readonly check: string } | null;
  readonly entries: readonly StoredEntry[];
}

/** The text of `fileset.json` for a version stored in `dir`. */
export function filesetText(v: Omit<RemoteVersion, 'dir'>, passphrase: string | null): string {
  const salt = randomBytes(16).toString('hex');
  const file: FilesetFile = {
    format: 'duplicati-kit-fake-fileset/1',
    time: v.time.toISOString(),
    isFull: v.isFull,
    fileCount: v.fileCount,
    fileSizes: v.fileSizes,
    encryption: passphrase ? { salt, check: check(salt, passphrase) } : null,
    entries: v.entries,
  };
  return JSON.stringify(file);
}

/** Name of the file a version folder describes itself in. */
export const FILESET_FILE = FILESET;

/**
 * Read every version kept in the target folder, oldest first, checking the passphrase as the
 * real server does when it decrypts the dlist files.
 *
 * @throws {RemoteReadError} with the real server's message.
 */
export async function readRemoteVersions(targetUrl: string, passphrase: string | null): Promise<RemoteVersion[]> {
  const folder = targetFolder(targetUrl);
  if (folder === undefined) throw new RemoteReadError(`fake: cannot read the target ${targetUrl}`, 'Exception');
  let names: string[];
  try {
    names = await readdir(folder);
  } catch {
    throw new RemoteReadError(`The folder ${folder} does not exist`, 'FolderMissingException');
  }
  const out: RemoteVersion[] = [];
  for (const name of names.filter((n) => n.startsWith(REMOTE_VERSION_PREFIX)).sort()) {
    const dir = path.join(folder, name);
    let file: FilesetFile;
    try {
      file = JSON.parse(await readFile(path.join(dir, FILESET), 'utf8')) as FilesetFile;
    } catch {
      continue; // a version whose run has not finished yet
    }
    if (file.encryption) {
      if (!passphrase) throw new RemoteReadError('encrypted-storage', null);
      if (check(file.encryption.salt, passphrase) !== file.encryption.check) {
        throw new RemoteReadError(
          'Failed to decrypt data (invalid passphrase?): Invalid password or corrupted data',
          'CryptographicException',
        );
      }
    }
    out.push({
      time: new Date(file.time),
      dir,
      entries: [...file.entries],
      fileCount: file.fileCount,
      fileSizes: file.fileSizes,
      isFull: file.isFull,
    });
  }
  if (out.length === 0) throw new RemoteReadError('No filesets found on remote target', 'UserInformationException');
  return out.sort((a, b) => a.time.getTime() - b.time.getTime());
}
