/**
 * Hostile-input-safe tar extraction. Every entry goes through one rule set ({@link EntryRules})
 * before anything is written; extraction happens in a staging folder beside the destination that
 * is renamed into place only when complete.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { constants, createReadStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar, { type Header } from 'tar-stream';
import { throwIfAborted } from '../../core/abort.js';
import { ArchiveError } from '../../core/errors.js';
import { exists as lexists, fsyncDir } from '../../core/fs.js';
import { type Logger, silentLogger } from '../../core/logger.js';

/** Progress of an extraction or a scan. */
export interface ExtractProgress {
  /** Entries processed so far (files, folders, links). */
  readonly entries: number;
  /** File bytes processed so far. */
  readonly bytes: number;
  /** The entry just processed. */
  readonly name: string;
}

/** Limits and options shared by {@link extractArchive} and {@link scanArchive}. */
export interface ArchiveReadOptions {
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
  /** Largest size one file entry may declare, in bytes. @default unlimited */
  readonly maxEntrySize?: number;
  /** Largest total of file sizes the archive may declare, in bytes. @default unlimited */
  readonly maxTotalSize?: number;
  /**
   * Most entries the archive may hold. Each entry's name is kept in memory (about 100 bytes) to
   * apply the link and overwrite rules, so this bounds memory. @default 2_000_000
   */
  readonly maxEntries?: number;
  /** Keep setuid/setgid bits. @default false */
  readonly preserveSpecialBits?: boolean;
  readonly onProgress?: (progress: ExtractProgress) => void;
}

/** Options of {@link extractArchive}. */
export interface ExtractArchiveOptions extends ArchiveReadOptions {
  /**
   * Replace an existing `destDir`: the old one is renamed aside and removed only after the new
   * one is in place. Without it an existing `destDir` is an error. @default false
   */
  readonly overwrite?: boolean;
  /** fsync every file and folder before the final rename. @default true */
  readonly fsync?: boolean;
}

/** Totals of an archive. `directories` does not count the root entry (`./`). */
export interface ArchiveStats {
  readonly entries: number;
  readonly files: number;
  readonly directories: number;
  readonly symlinks: number;
  readonly hardlinks: number;
  /** Bytes of regular file content. */
  readonly bytes: number;
  /** `tar.gz` when the file started with the gzip magic bytes, else `tar`. */
  readonly format: 'tar' | 'tar.gz';
}

/** What {@link extractArchive} returns. */
export interface ExtractResult extends ArchiveStats {
  /** Absolute path of the extracted folder. */
  readonly destDir: string;
}

const DIR = 1;
const FILE = 2;
const SYMLINK = 3;
type Kind = typeof DIR | typeof FILE | typeof SYMLINK;

/** What the rules decided for one entry; the extractor only carries it out. */
export type EntryAction =
  | { readonly type: 'root'; readonly mode: number; readonly mtime: Date }
  | {
      readonly type: 'directory';
      readonly path: string;
      readonly parents: readonly string[];
      readonly exists: boolean;
      readonly mode: number;
      readonly mtime: Date;
    }
  | {
      readonly type: 'file';
      readonly path: string;
      readonly parents: readonly string[];
      readonly replace: boolean;
      readonly mode: number;
      readonly mtime: Date;
      readonly size: number;
    }
  | {
      readonly type: 'symlink';
      readonly path: string;
      readonly parents: readonly string[];
      readonly replace: boolean;
      readonly target: string;
      readonly mtime: Date;
    }
  | {
      readonly type: 'hardlink';
      readonly path: string;
      readonly parents: readonly string[];
      readonly replace: boolean;
      readonly target: string;
    };

/** A tar header as tar-stream decodes it (pax records included). */
export type RawHeader = Pick<Header, 'name' | 'type' | 'size' | 'mode' | 'mtime'> & {
  readonly linkname?: string | null;
  readonly pax?: unknown;
};

function split(name: string, entry: string, what: string): string[] {
  if (name.includes('\0')) throw new ArchiveError(`${what} contains a NUL byte`, entry);
  if (name.includes('\\')) throw new ArchiveError(`${what} contains a backslash`, entry);
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) throw new ArchiveError(`${what} is an absolute path`, entry);
  return name.split('/').filter((s) => s !== '' && s !== '.');
}

/**
 * The safety rules of extraction, applied to each header in archive order. It keeps an index of
 * every path seen (folder, file or symlink) so that it can reject, before anything is written:
 * absolute names, `..`, NUL and backslashes; device files and FIFOs; symlinks whose target leaves
 * the tree; hardlinks to anything but a file extracted earlier; entries written through a symlink
 * or a file; a file replacing a folder or a folder replacing a file; sizes over the limits.
 *
 * Symlink targets must be relative, and `..` may only lead the target (`../../lib/x`, not
 * `a/../x`): resolved from the link's folder they then stay inside the tree whatever the other
 * links are, because every folder on the way up is a real folder the extraction created.
 *
 * @example
 * ```ts
 * const rules = new EntryRules({ maxEntrySize: 1 << 30 });
 * rules.check({ name: 'a/b.txt', type: 'file', size: 3, mode: 0o644, mtime: new Date() }); // { type: 'file', … }
 * rules.check({ name: '../x', type: 'file', size: 0, mode: 0o644, mtime: new Date() }); // throws ArchiveError
 * ```
 */
export class EntryRules {
  readonly #index = new Map<string, Kind>();
  readonly #maxEntrySize: number;
  readonly #maxTotalSize: number;
  readonly #maxEntries: number;
  readonly #modeMask: number;
  #declared = 0;
  #entries = 0;

  constructor(options: ArchiveReadOptions = {}) {
    this.#maxEntrySize = options.maxEntrySize ?? Number.POSITIVE_INFINITY;
    this.#maxTotalSize = options.maxTotalSize ?? Number.POSITIVE_INFINITY;
    this.#maxEntries = options.maxEntries ?? 2_000_000;
    this.#modeMask = options.preserveSpecialBits ? 0o7777 : 0o1777;
  }

  /** Decide what to do with one entry, or throw an {@link ArchiveError} naming it. */
  check(h: RawHeader): EntryAction {
    const entry = h.name;
    if (++this.#entries > this.#maxEntries) {
      throw new ArchiveError(`archive has more than ${this.#maxEntries} entries`, entry, {
        code: 'ERR_ARCHIVE_LIMIT',
      });
    }
    const type = h.type as string | null;
    if (type === 'character-device' || type === 'block-device') {
      throw new ArchiveError('device files are not extracted', entry);
    }
    if (type === 'fifo') throw new ArchiveError('FIFOs are not extracted', entry);
    if (
      type !== 'file' &&
      type !== 'contiguous-file' &&
      type !== 'directory' &&
      type !== 'symlink' &&
      type !== 'link'
    ) {
      throw new ArchiveError(`unsupported entry type ${JSON.stringify(type)}`, entry);
    }
    const parts = split(entry, entry, 'name');
    if (parts.includes('..')) throw new ArchiveError('name contains a ".." segment', entry);
    const size = h.size;
    if (!Number.isSafeInteger(size) || size < 0) throw new ArchiveError('invalid size', entry);
    const isFile = type === 'file' || type === 'contiguous-file';
    if (!isFile && size > 0) throw new ArchiveError(`a ${type} entry carries ${size} bytes of data`, entry);
    const mode = (h.mode ?? 0) & this.#modeMask;
    const mtime = mtimeOf(h);

    if (parts.length === 0) {
      if (type !== 'directory') throw new ArchiveError('an entry without a name must be the root folder', entry);
      return { type: 'root', mode, mtime };
    }
    const rel = parts.join('/');
    const parents = this.#parents(parts, entry);
    const existing = this.#index.get(rel);

    if (type === 'directory') {
      if (existing !== undefined && existing !== DIR) {
        throw new ArchiveError('a folder entry would replace a file or link of the same name', entry);
      }
      this.#index.set(rel, DIR);
      return { type: 'directory', path: rel, parents, exists: existing === DIR, mode, mtime };
    }
    if (existing === DIR) throw new ArchiveError(`a ${type} entry would overwrite a folder`, entry);
    const replace = existing !== undefined;

    if (type === 'symlink') {
      const target = h.linkname ?? '';
      if (!target) throw new ArchiveError('symlink without a target', entry);
      const tparts = split(target, entry, 'symlink target');
      let up = 0;
      while (up < tparts.length && tparts[up] === '..') up++;
      if (tparts.slice(up).includes('..')) {
        throw new ArchiveError(`symlink target ${JSON.stringify(target)} has ".." after a name`, entry);
      }
      if (up > parts.length - 1) {
        throw new ArchiveError(`symlink target ${JSON.stringify(target)} escapes the destination`, entry);
      }
      this.#index.set(rel, SYMLINK);
      return { type: 'symlink', path: rel, parents, replace, target, mtime };
    }

    if (type === 'link') {
      const tparts = split(h.linkname ?? '', entry, 'hardlink target');
      if (tparts.includes('..')) throw new ArchiveError('hardlink target contains a ".." segment', entry);
      const target = tparts.join('/');
      if (!target) throw new ArchiveError('hardlink without a target', entry);
      if (target === rel) throw new ArchiveError('hardlink to itself', entry);
      if (this.#index.get(target) !== FILE) {
        throw new ArchiveError(`hardlink target ${JSON.stringify(h.linkname)} is not a file extracted earlier`, entry);
      }
      this.#index.set(rel, FILE);
      return { type: 'hardlink', path: rel, parents, replace, target };
    }

    if (size > this.#maxEntrySize) {
      throw new ArchiveError(`entry declares ${size} bytes, over the limit of ${this.#maxEntrySize}`, entry, {
        code: 'ERR_ARCHIVE_LIMIT',
      });
    }
    this.#declared += size;
    if (this.#declared > this.#maxTotalSize) {
      throw new ArchiveError(`archive declares more than ${this.#maxTotalSize} bytes`, entry, {
        code: 'ERR_ARCHIVE_LIMIT',
      });
    }
    this.#index.set(rel, FILE);
    return { type: 'file', path: rel, parents, replace, mode, mtime, size };
  }

  #parents(parts: readonly string[], entry: string): string[] {
    const created: string[] = [];
    let p = '';
    for (let i = 0; i < parts.length - 1; i++) {
      p = p ? `${p}/${parts[i]}` : (parts[i] as string);
      const k = this.#index.get(p);
      if (k === undefined) {
        this.#index.set(p, DIR);
        created.push(p);
      } else if (k === SYMLINK) {
        throw new ArchiveError(`entry would be written through the symlink ${JSON.stringify(p)}`, entry);
      } else if (k === FILE) {
        throw new ArchiveError(`entry would be written under the file ${JSON.stringify(p)}`, entry);
      }
    }
    return created;
  }
}

function mtimeOf(h: RawHeader): Date {
  const pax = h.pax as Record<string, string> | null | undefined;
  const raw = pax?.mtime;
  if (raw !== undefined) {
    const secs = Number.parseFloat(raw);
    if (Number.isFinite(secs)) return new Date(Math.floor(secs) * 1000);
  }
  return h.mtime instanceof Date && Number.isFinite(h.mtime.getTime()) ? h.mtime : new Date(0);
}

/**
 * Counts the bytes of the decompressed tar and where the last non-zero byte is, so the end can
 * be checked: a complete archive ends with at least two zero blocks after its last entry.
 */
class TailTracker extends Transform {
  total = 0;
  lastNonZeroEnd = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    for (let i = chunk.length - 1; i >= 0; i--) {
      if (chunk[i] !== 0) {
        this.lastNonZeroEnd = this.total + i + 1;
        break;
      }
    }
    this.total += chunk.length;
    cb(null, chunk);
  }
}

async function isGzip(file: string): Promise<boolean> {
  const fh = await fsp.open(file, 'r');
  try {
    const buf = Buffer.alloc(2);
    const { bytesRead } = await fh.read(buf, 0, 2, 0);
    return bytesRead === 2 && buf[0] === 0x1f && buf[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

interface EntryHandler {
  /** Carry out one action; must consume `data` completely. Returns the file bytes written. */
  apply(action: EntryAction, data: AsyncIterable<Buffer>, name: string): Promise<void>;
}

function isZlibError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && code.startsWith('Z_');
}

function classify(e: unknown, lastEntry: string | undefined): unknown {
  if (e instanceof ArchiveError) return e;
  const err = e as NodeJS.ErrnoException;
  if (isZlibError(e)) {
    return new ArchiveError(`corrupt or truncated gzip data: ${err.message}`, lastEntry, {
      cause: e,
      code: 'ERR_ARCHIVE_CORRUPT',
    });
  }
  if (typeof err?.code === 'string' && err.syscall) {
    return new ArchiveError(`${err.syscall} failed: ${err.message}`, lastEntry, { cause: e, code: 'ERR_ARCHIVE_IO' });
  }
  return new ArchiveError(`corrupt or truncated tar data: ${(e as Error)?.message ?? String(e)}`, lastEntry, {
    cause: e,
    code: 'ERR_ARCHIVE_CORRUPT',
  });
}

/**
 * Read `file` entry by entry through the rules, handing each decision to `handler`. Throws an
 * {@link ArchiveError} for unsafe or damaged archives; a caller's abort is rethrown as is.
 */
async function readArchive(file: string, options: ArchiveReadOptions, handler: EntryHandler): Promise<ArchiveStats> {
  const signal = options.signal;
  throwIfAborted(signal);
  let gz: boolean;
  try {
    gz = await isGzip(file);
  } catch (e) {
    throw new ArchiveError(`cannot read ${file}: ${(e as Error).message}`, undefined, {
      cause: e,
      code: 'ERR_ARCHIVE_IO',
    });
  }
  const rules = new EntryRules(options);
  const stop = new AbortController();
  const tail = new TailTracker();
  const extract = tar.extract();
  const stages = [
    createReadStream(file, { highWaterMark: 1 << 20 }),
    ...(gz ? [createGunzip({ chunkSize: 64 * 1024 })] : []),
    tail,
    extract,
  ] as const;
  const feed = pipeline(stages as unknown as [NodeJS.ReadableStream, NodeJS.WritableStream], {
    signal: signal ? AbortSignal.any([signal, stop.signal]) : stop.signal,
  });
  let feedError: unknown;
  const fed = feed.then(
    () => true,
    (e: unknown) => {
      feedError = e;
      return false;
    },
  );
  const stats = { entries: 0, files: 0, directories: 0, symlinks: 0, hardlinks: 0, bytes: 0 };
  let lastEnd = 0;
  let lastEntry: string | undefined;
  try {
    for await (const entry of extract) {
      throwIfAborted(signal);
      const h = entry.header;
      lastEntry = h.name;
      const action = rules.check(h);
      await handler.apply(action, entry as AsyncIterable<Buffer>, h.name);
      stats.entries++;
      if (action.type === 'file') {
        stats.files++;
        stats.bytes += action.size;
      } else if (action.type === 'directory' && !action.exists) stats.directories++;
      else if (action.type === 'symlink') stats.symlinks++;
      else if (action.type === 'hardlink') stats.hardlinks++;
      lastEnd = (h as Header & { byteOffset?: number }).byteOffset ?? 0;
      lastEnd += Math.ceil(h.size / 512) * 512;
      options.onProgress?.({ entries: stats.entries, bytes: stats.bytes, name: h.name });
    }
    if (!(await fed)) throw feedError;
  } catch (e) {
    stop.abort();
    await fed;
    if (signal?.aborted) throw signal.reason;
    throw classify(e instanceof ArchiveError || !isZlibError(feedError) ? e : feedError, lastEntry);
  }
  if (tail.lastNonZeroEnd > lastEnd || tail.total - lastEnd < 1024) {
    throw new ArchiveError(
      tail.total === 0 ? 'archive is empty' : 'archive is truncated: no end-of-archive marker after the last entry',
      lastEntry,
      { code: 'ERR_ARCHIVE_CORRUPT' },
    );
  }
  return { ...stats, format: gz ? 'tar.gz' : 'tar' };
}

/**
 * Check a tar or tar.gz archive without writing anything: every entry goes through the same
 * rules as {@link extractArchive}, every byte is read (so corrupt or truncated data is found).
 *
 * @throws {ArchiveError} for an unsafe or damaged archive.
 * @example
 * ```ts
 * const stats = await scanArchive('/restore/staging/config/config.tar.gz', { signal });
 * console.log(stats.files, stats.bytes);
 * ```
 */
export async function scanArchive(file: string, options: ArchiveReadOptions = {}): Promise<ArchiveStats> {
  return readArchive(file, options, {
    async apply(action, data, name) {
      let n = 0;
      for await (const chunk of data) n += chunk.length;
      if (action.type === 'file' && n !== action.size) {
        throw new ArchiveError(`entry holds ${n} bytes but declares ${action.size}`, name, {
          code: 'ERR_ARCHIVE_CORRUPT',
        });
      }
    },
  });
}

interface DirAttrs {
  mode: number;
  mtime: Date | undefined;
}

/** Writes actions into a staging folder. */
class StagingWriter implements EntryHandler {
  readonly dirs = new Map<string, DirAttrs>();
  constructor(
    readonly stage: string,
    readonly fsync: boolean,
    readonly signal: AbortSignal | undefined,
  ) {
    this.dirs.set('', { mode: 0o755, mtime: undefined });
  }

  #abs(rel: string): string {
    return path.join(this.stage, ...rel.split('/'));
  }

  async apply(action: EntryAction, data: AsyncIterable<Buffer>, name: string): Promise<void> {
    if (action.type === 'root') {
      this.dirs.set('', { mode: action.mode, mtime: action.mtime });
      return drain(data);
    }
    for (const p of action.parents) {
      await fsp.mkdir(this.#abs(p), { mode: 0o700 });
      this.dirs.set(p, { mode: 0o755, mtime: undefined });
    }
    const abs = this.#abs(action.path);
    if (action.type === 'directory') {
      if (!action.exists) await fsp.mkdir(abs, { mode: 0o700 });
      this.dirs.set(action.path, { mode: action.mode, mtime: action.mtime });
      return drain(data);
    }
    if (action.replace) await fsp.unlink(abs);
    if (action.type === 'symlink') {
      await fsp.symlink(action.target, abs);
      await fsp.lutimes(abs, action.mtime, action.mtime);
      return drain(data);
    }
    if (action.type === 'hardlink') {
      await fsp.link(this.#abs(action.target), abs);
      return drain(data);
    }
    const fh = await fsp.open(
      abs,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
    try {
      let n = 0;
      for await (const chunk of data) {
        n += chunk.length;
        if (n > action.size) break;
        await writeAll(fh, chunk);
      }
      if (n !== action.size) {
        throw new ArchiveError(`entry holds ${n} bytes but declares ${action.size}`, name, {
          code: 'ERR_ARCHIVE_CORRUPT',
        });
      }
      await fh.chmod(action.mode);
      await fh.utimes(action.mtime, action.mtime);
      if (this.fsync) await fh.sync();
    } finally {
      await fh.close();
    }
  }

  /** Apply folder modes and mtimes, deepest first, after their contents are written. */
  async finish(): Promise<void> {
    const list = [...this.dirs.entries()].sort((a, b) => depth(b[0]) - depth(a[0]));
    for (const [rel, attrs] of list) {
      throwIfAborted(this.signal);
      const abs = rel ? this.#abs(rel) : this.stage;
      if (this.fsync) await fsyncDir(abs);
      await fsp.chmod(abs, attrs.mode);
      if (attrs.mtime) await fsp.utimes(abs, attrs.mtime, attrs.mtime);
    }
  }
}

function depth(rel: string): number {
  if (!rel) return 0;
  let n = 1;
  for (let i = 0; i < rel.length; i++) if (rel.charCodeAt(i) === 47) n++;
  return n;
}

async function drain(data: AsyncIterable<Buffer>): Promise<void> {
  for await (const _ of data) {
    // directories and links carry no data (the rules reject those that declare some)
  }
}

async function writeAll(fh: fsp.FileHandle, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off);
    off += bytesWritten;
  }
}

/**
 * Remove a tree even when extraction left read-only folders in it.
 *
 * @internal
 * @example
 * ```ts
 * await removeTree(output.safetyCopy);
 * ```
 */
export async function removeTree(p: string): Promise<void> {
  try {
    await fsp.rm(p, { recursive: true, force: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EACCES' && (e as NodeJS.ErrnoException).code !== 'EPERM') throw e;
    await makeWritable(p);
    await fsp.rm(p, { recursive: true, force: true });
  }
}

async function makeWritable(dir: string): Promise<void> {
  const st = await fsp.lstat(dir);
  if (!st.isDirectory()) return;
  await fsp.chmod(dir, 0o700);
  for (const d of await fsp.readdir(dir, { withFileTypes: true })) {
    if (d.isDirectory()) await makeWritable(path.join(dir, d.name));
  }
}

/**
 * A sibling path of `p` with a random suffix: `<p>.<tag>-<hex>`.
 *
 * @internal
 * @example
 * ```ts
 * siblingPath('/srv/app/config', 'safety'); // '/srv/app/config.safety-3f9a0c1b2d4e'
 * ```
 */
export function siblingPath(p: string, tag: string): string {
  return `${p}.${tag}-${randomBytes(6).toString('hex')}`;
}

/**
 * Extract `file` into a new staging folder beside `destDir` and return its path; the caller
 * renames it into place (see {@link swapIntoPlace}). On failure the staging folder is removed.
 * Missing parent folders of `destDir` are created.
 *
 * @internal
 * @example
 * ```ts
 * const { staging } = await extractToStaging(file, dest, { signal });
 * await swapIntoPlace(staging, dest, siblingPath(dest, 'safety'));
 * ```
 */
export async function extractToStaging(
  file: string,
  destDir: string,
  options: ExtractArchiveOptions = {},
): Promise<{ staging: string; stats: ArchiveStats }> {
  const dest = path.resolve(destDir);
  await fsp.mkdir(path.dirname(dest), { recursive: true });
  const staging = siblingPath(dest, 'partial');
  await fsp.mkdir(staging, { mode: 0o700 });
  const writer = new StagingWriter(staging, options.fsync ?? true, options.signal);
  try {
    const stats = await readArchive(file, options, writer);
    await writer.finish();
    return { staging, stats };
  } catch (e) {
    await removeTree(staging).catch((re: unknown) =>
      (options.logger ?? silentLogger).error('could not remove the staging folder', {
        staging,
        error: (re as Error).message,
      }),
    );
    if (options.signal?.aborted) throw options.signal.reason;
    throw classify(e, e instanceof ArchiveError ? e.entry : undefined);
  }
}

/**
 * Rename `staging` to `dest`. With `aside`, an existing `dest` is first renamed to that path
 * (and put back if the second rename fails); without it an existing `dest` is an error.
 *
 * @internal
 * @example
 * ```ts
 * const { moved } = await swapIntoPlace(staging, '/srv/app/config', '/srv/app/config.old-1');
 * ```
 */
export async function swapIntoPlace(staging: string, dest: string, aside?: string): Promise<{ moved: boolean }> {
  let moved = false;
  if (await lexists(dest)) {
    if (!aside) {
      throw new ArchiveError(`${dest} already exists; pass overwrite: true to replace it`, undefined, {
        code: 'ERR_ARCHIVE_DEST_EXISTS',
      });
    }
    await fsp.rename(dest, aside);
    moved = true;
  }
  try {
    await fsp.rename(staging, dest);
  } catch (e) {
    if (moved) await fsp.rename(aside as string, dest);
    throw e;
  }
  await fsyncDir(path.dirname(dest));
  return { moved };
}

/**
 * Extract a tar or tar.gz archive (gzip is detected from the magic bytes) into `destDir`, safely.
 *
 * Unsafe entries are rejected with an {@link ArchiveError} naming the entry: absolute paths, `..`
 * segments, NUL bytes or backslashes in names, symlinks whose target leaves `destDir`, hardlinks
 * to anything but a file extracted earlier, device files and FIFOs, entries written through a
 * symlink, a file replacing a folder, sizes over the limits, corrupt or truncated data. Nothing is
 * written outside `destDir`: the archive is extracted into `<destDir>.partial-<random>` beside it,
 * fsynced, and renamed to `destDir` only when complete. `destDir` must not exist unless
 * `overwrite` is set (missing parent folders are created). Modes (without setuid/setgid unless
 * `preserveSpecialBits`), mtimes and symlinks are restored; ownership is not. Data is streamed;
 * memory grows only with the number of entries (each name is indexed, see `maxEntries`).
 *
 * @throws {ArchiveError} for an unsafe or damaged archive, or an existing `destDir`.
 * @example
 * ```ts
 * import { extractArchive } from 'duplicati-kit';
 * const result = await extractArchive('/restore/config.tar.gz', '/srv/app/config', { signal });
 * console.log(`${result.files} files, ${result.bytes} bytes`);
 * ```
 */
export async function extractArchive(
  file: string,
  destDir: string,
  options: ExtractArchiveOptions = {},
): Promise<ExtractResult> {
  const dest = path.resolve(destDir);
  throwIfAborted(options.signal);
  if (!options.overwrite && (await lexists(dest))) {
    throw new ArchiveError(`${dest} already exists; pass overwrite: true to replace it`, undefined, {
      code: 'ERR_ARCHIVE_DEST_EXISTS',
    });
  }
  const { staging, stats } = await extractToStaging(file, dest, options);
  const aside = options.overwrite ? siblingPath(dest, 'old') : undefined;
  let moved: boolean;
  try {
    throwIfAborted(options.signal);
    ({ moved } = await swapIntoPlace(staging, dest, aside));
  } catch (e) {
    await removeTree(staging).catch(() => {});
    throw e;
  }
  if (moved && aside) {
    await removeTree(aside).catch((e: unknown) =>
      (options.logger ?? silentLogger).warn('could not remove the previous folder', {
        path: aside,
        error: (e as Error).message,
      }),
    );
  }
  return { ...stats, destDir: dest };
}
