/**
 * A streaming tar packer over a folder tree, used by {@link ArchiveSource}. It walks with
 * `fs.opendir` keeping one directory handle open at a time, streams file contents with
 * backpressure, never follows symlinks, and skips sockets, FIFOs and devices with a warning.
 *
 * @module
 */
import { closeSync, constants, fstatSync, promises as fsp, openSync, readSync, type Stats } from 'node:fs';
import path from 'node:path';
import tar, { type Pack } from 'tar-stream';
import { anySignal, raceSignal, throwIfAborted } from '../../core/abort.js';
import { type Logger, silentLogger } from '../../core/logger.js';

/** What a file that changed size while it was read does to the archive. */
export type ChangedFilePolicy = 'warn' | 'fail';

/** Options of {@link packTree}. */
export interface PackTreeOptions {
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
  /** Relative paths under the root to archive (files or folders). @default the whole root */
  readonly include?: readonly string[];
  /** `*` / `?` / `**` globs on relative paths; see {@link compileExcludes}. */
  readonly exclude?: readonly string[];
  /** Exact relative paths (forward slashes) left out with everything under them; no glob syntax. */
  readonly excludePaths?: readonly string[];
  /** Record uid/gid in headers. @default true */
  readonly owner?: boolean;
  /** Store files with several links once, the others as hardlink entries. @default true */
  readonly hardlinks?: boolean;
  /**
   * A file whose size differs after it was read: `warn` pads with zeros or cuts it to the size
   * declared in its header (the archive stays valid, the file's copy is inconsistent) and counts
   * it in `changed`; `fail` aborts the archive. @default 'warn'
   */
  readonly onChangedFile?: ChangedFilePolicy;
  /** Called after each file with the running totals. */
  readonly onProgress?: (stats: Readonly<PackStats>) => void;
}

/** Totals of one packed tree. `directories` does not count the root. */
export interface PackStats {
  files: number;
  directories: number;
  symlinks: number;
  hardlinks: number;
  /** Bytes of regular file content (as declared in the headers). */
  bytes: number;
  /** Sockets, FIFOs, devices, and entries that vanished while walking. */
  skipped: number;
  /** Files whose size or mtime changed while they were read. */
  changed: number;
  /** Up to 20 relative paths of changed files, for the report. */
  changedPaths: string[];
}

/**
 * Raised by the packer for a file that changed while read when the policy is `fail`.
 *
 * @example
 * ```ts
 * const { stream, done } = packTree(root, { onChangedFile: 'fail' });
 * done.catch((e) => { if (e instanceof FileChangedError) console.error(e.path); });
 * ```
 */
export class FileChangedError extends Error {
  readonly path: string;
  constructor(rel: string) {
    super(`${rel} changed while it was archived`);
    this.name = 'FileChangedError';
    this.path = rel;
  }
}

/**
 * The walker stopped because the archive stream was destroyed before the walk finished: whoever
 * consumed it failed (a full disk, a closed pipe) and holds the real cause.
 */
export class PackStreamClosedError extends Error {
  constructor() {
    super('the archive stream was closed before the walk finished');
    this.name = 'PackStreamClosedError';
  }
}

const CHUNK = 1 << 20;
const SMALL_FILE = 256 * 1024;
const MAX_USTAR_MTIME = 0o77777777777;

function globToRegExp(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        out += '.*';
        i++;
      } else out += '[^/]*';
    } else if (c === '?') out += '[^/]';
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return out;
}

/**
 * Compile exclude globs into one predicate on forward-slash relative paths. `*` matches within
 * one path segment, `**` across segments, `?` one character. A pattern without `/` matches any
 * segment's name (`*.tmp`, `cache`); a pattern with `/` matches the whole relative path from the
 * root (a leading `/` is ignored). Excluding a folder excludes everything under it.
 *
 * @example
 * ```ts
 * const excluded = compileExcludes(['*.tmp', 'cache', 'logs/2024-*']);
 * excluded('a/b/x.tmp'); // true
 * excluded('logs/2024-01'); // true
 * ```
 */
export function compileExcludes(patterns: readonly string[]): (rel: string) => boolean {
  const byName: string[] = [];
  const byPath: string[] = [];
  for (const raw of patterns) {
    const p = raw.replace(/^\/+/, '').replace(/\/+$/, '');
    if (!p) continue;
    (p.includes('/') ? byPath : byName).push(globToRegExp(p));
  }
  const name = byName.length ? new RegExp(`^(?:${byName.join('|')})$`, 's') : undefined;
  const full = byPath.length ? new RegExp(`^(?:${byPath.join('|')})$`, 's') : undefined;
  return (rel) => (name?.test(path.posix.basename(rel)) ?? false) || (full?.test(rel) ?? false);
}

type Header = Partial<Omit<tar.Header, 'pax'>> & { name: string; pax?: Record<string, string> };

type Meta = Pick<Header, 'mode' | 'uid' | 'gid' | 'mtime' | 'pax'>;

function timeFields(st: Stats): Meta {
  const secs = Math.floor(st.mtimeMs / 1000);
  // tar-stream writes mtime as a signed 32-bit octal field; outside it, pax carries the value.
  if (secs < 0 || secs > MAX_USTAR_MTIME || secs > 0x7fffffff) {
    return { mtime: new Date(0), pax: { mtime: String(secs) } };
  }
  return { mtime: new Date(secs * 1000) };
}

interface Emitter {
  once(event: string, listener: (arg?: unknown) => void): unknown;
  off(event: string, listener: (arg?: unknown) => void): unknown;
}

function waitDrain(w: Emitter, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (err?: unknown): void => {
      w.off('drain', onDrain);
      w.off('error', onError);
      w.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };
    const onAbort = (): void => done(signal.reason);
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    const onDrain = (): void => done();
    const onError = (e?: unknown): void => done(e ?? new Error('tar entry failed'));
    const onClose = (): void => done(new Error('tar entry closed before it was written'));
    w.once('drain', onDrain);
    w.once('error', onError);
    w.once('close', onClose);
  });
}

/**
 * Stream a tar archive of `root`. Returns the archive's bytes as `stream` (a stream tar-stream
 * owns; pipe it somewhere) and `done`, which settles when the walk finished and resolves to the
 * totals. On error or abort the stream is destroyed with the error and `done` rejects.
 *
 * The root itself is followed when it is a symlink; nothing under it is. The first entry is `./`
 * (the root's mode and mtime); names are relative, directories end with `/`.
 *
 * @example
 * ```ts
 * const { stream, done } = packTree('/srv/app/config', { exclude: ['*.tmp'], signal });
 * const ref = await ctx.artifacts.write('config.tar', stream, { format: 'tar', signal });
 * const stats = await done;
 * ```
 */
export function packTree(root: string, options: PackTreeOptions = {}): { stream: Pack; done: Promise<PackStats> } {
  const pack = tar.pack();
  // When the consumer fails (a full disk) the stream is destroyed; the walker must stop then
  // instead of waiting forever for a drain, so `done` always settles.
  const closed = new AbortController();
  let finalized = false;
  pack.once('close', () => {
    if (!finalized) closed.abort(new PackStreamClosedError());
  });
  const signal = anySignal(options.signal, closed.signal);
  const done = (async () => {
    const walker = new Walker(path.resolve(root), pack, options, signal);
    try {
      await walker.run();
    } catch (e) {
      pack.destroy(e instanceof Error ? e : new Error(String(e)));
      throw e;
    }
    finalized = true;
    pack.finalize();
    return walker.stats;
  })();
  // The caller observes failures through the stream and `done`; this keeps an unobserved
  // rejection from crashing the process while the consumer is still reading.
  done.catch(() => {});
  return { stream: pack, done };
}

class Walker {
  readonly stats: PackStats = {
    files: 0,
    directories: 0,
    symlinks: 0,
    hardlinks: 0,
    bytes: 0,
    skipped: 0,
    changed: 0,
    changedPaths: [],
  };
  readonly #signal: AbortSignal;
  readonly #log: Logger;
  readonly #excluded: (rel: string) => boolean;
  readonly #links = new Map<string, string>();
  readonly #owner: boolean;
  readonly #hardlinks: boolean;
  readonly #policy: ChangedFilePolicy;
  /** The settle function of the entry being written; the walk writes one entry at a time. */
  #pending: ((err?: unknown) => void) | undefined;

  constructor(
    readonly root: string,
    readonly pack: Pack,
    readonly options: PackTreeOptions,
    signal: AbortSignal,
  ) {
    this.#signal = signal;
    this.#log = options.logger ?? silentLogger;
    const globs = compileExcludes(options.exclude ?? []);
    const exact = new Set(options.excludePaths ?? []);
    this.#excluded = exact.size ? (rel) => exact.has(rel) || globs(rel) : globs;
    this.#owner = options.owner ?? true;
    this.#hardlinks = options.hardlinks ?? true;
    this.#policy = options.onChangedFile ?? 'warn';
    // One listener for the walk (the signal is this walk's own): it rejects the entry being written.
    signal.addEventListener('abort', () => this.#pending?.(signal.reason), { once: true });
  }

  async run(): Promise<void> {
    const rootStat = await fsp.stat(this.root);
    if (!rootStat.isDirectory()) throw new Error(`${this.root} is not a folder`);
    await this.#entry({ name: './', type: 'directory', ...this.#meta(rootStat) });
    const starts = this.#starts();
    const emitted = new Set<string>();
    for (const rel of starts) {
      const parts = rel.split('/');
      for (let i = 1; i < parts.length; i++) {
        const parent = parts.slice(0, i).join('/');
        if (emitted.has(parent)) continue;
        emitted.add(parent);
        const st = await fsp.lstat(path.join(this.root, parent));
        if (!st.isDirectory()) throw new Error(`${parent} (a parent of the include path ${rel}) is not a folder`);
        await this.#entry({ name: `${parent}/`, type: 'directory', ...this.#meta(st) });
        this.stats.directories++;
      }
      if (rel !== '' && this.#excluded(rel)) continue;
      await this.#walkFrom(rel);
    }
  }

  /** Include paths, without those inside another include path. */
  #starts(): string[] {
    const list = [...new Set(this.options.include ?? [])];
    if (list.length === 0) return [''];
    return list.filter((p) => !list.some((q) => q !== p && p.startsWith(`${q}/`)));
  }

  #meta(st: Stats): Meta {
    // Passing the full st_mode keeps a 0o000 permission from being replaced by tar-stream's default.
    const m: Meta = { mode: st.mode, ...timeFields(st) };
    if (this.#owner && st.uid <= 0o7777777 && st.gid <= 0o7777777) {
      m.uid = st.uid;
      m.gid = st.gid;
    }
    return m;
  }

  /**
   * Write one entry and wait until tar-stream took it (or the walk was stopped). One abort
   * listener for the whole walk rejects the entry being written, instead of a listener added and
   * removed per entry (~2 µs each, a tenth of a small file's cost).
   */
  #entry(header: Header, body?: Buffer): Promise<void> {
    throwIfAborted(this.#signal);
    return new Promise<void>((resolve, reject) => {
      const settle = (err?: unknown): void => {
        if (this.#pending !== settle) return;
        this.#pending = undefined;
        if (err !== undefined && err !== null) reject(err);
        else resolve();
      };
      this.#pending = settle;
      const sink = body ? this.pack.entry(header, body, settle) : this.pack.entry(header, settle);
      // A destroyed archive destroys the entry being written with its error, which reaches
      // `settle` through the callback; unheard, the entry's 'error' event was an uncaught
      // exception (a walk stopped while the entry waited for the reader).
      sink.on('error', ignore);
    });
  }

  /**
   * Depth-first, pre-order: a folder's header, then its entries, then its sub-folders, so each
   * subtree is contiguous (GNU tar sets a folder's mtime when it leaves it). One folder handle is
   * open at a time; only the paths of pending sub-folders are held.
   */
  async #walkFrom(startRel: string): Promise<void> {
    const stack = [startRel];
    while (stack.length > 0) {
      throwIfAborted(this.#signal);
      const rel = stack.pop() as string;
      const abs = rel ? path.join(this.root, rel) : this.root;
      if (rel) {
        let st: Stats;
        try {
          st = await fsp.lstat(abs);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT' && rel !== startRel) {
            this.#vanished(rel);
            continue;
          }
          throw e;
        }
        if (!st.isDirectory()) {
          await this.#visit(rel, undefined);
          continue;
        }
        await this.#entry({ name: `${rel}/`, type: 'directory', ...this.#meta(st) });
        this.stats.directories++;
      }
      let dir: import('node:fs').Dir;
      try {
        dir = await fsp.opendir(abs, { bufferSize: 256 });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' && rel !== startRel) {
          this.#vanished(rel);
          continue;
        }
        throw e;
      }
      const subdirs: string[] = [];
      for await (const d of dir) {
        const childRel = rel ? `${rel}/${d.name}` : d.name;
        if (this.#excluded(childRel)) continue;
        if (await this.#visit(childRel, d.isDirectory() ? 'dir' : d.isFile() ? 'file' : undefined)) {
          subdirs.push(childRel);
        }
      }
      for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i] as string);
    }
  }

  /** Archive one non-folder path. Returns true when it is a folder (walked later by the caller). */
  async #visit(rel: string, hint: 'dir' | 'file' | undefined): Promise<boolean> {
    throwIfAborted(this.#signal);
    if (hint === 'dir') return true;
    const abs = path.join(this.root, rel);
    if (hint === 'file') return this.#file(rel, abs);
    let st: Stats;
    try {
      st = await fsp.lstat(abs);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        this.#vanished(rel);
        return false;
      }
      throw e;
    }
    if (st.isDirectory()) return true;
    if (st.isFile()) return this.#file(rel, abs);
    if (st.isSymbolicLink()) {
      let target: string;
      try {
        target = await fsp.readlink(abs);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
          this.#vanished(rel);
          return false;
        }
        throw e;
      }
      await this.#entry({ name: rel, type: 'symlink', linkname: target, ...this.#meta(st) });
      this.stats.symlinks++;
      return false;
    }
    const what = st.isSocket()
      ? 'socket'
      : st.isFIFO()
        ? 'FIFO'
        : st.isBlockDevice() || st.isCharacterDevice()
          ? 'device'
          : 'special file';
    this.#log.warn(`skipping ${what} ${rel}`, { path: rel });
    this.stats.skipped++;
    return false;
  }

  #vanished(rel: string): void {
    this.#log.warn(`${rel} disappeared while archiving; skipped`, { path: rel });
    this.stats.skipped++;
  }

  /**
   * A small regular file read with synchronous calls: open, fstat, read, fstat, close cost a few
   * microseconds from the page cache, against five thread-pool round trips (~1 ms a file on a busy
   * 2-core host, which made 200 k small files take minutes). Returns `undefined` for what the
   * asynchronous path handles (large files, hard links), `'vanished'` or `'other'` (not a regular
   * file any more: a symlink or FIFO swapped in after readdir; O_NOFOLLOW and O_NONBLOCK as below).
   */
  #readSmall(abs: string): { st: Stats; buf: Buffer; got: number; after: Stats } | 'vanished' | 'other' | undefined {
    let fd: number;
    try {
      fd = openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return 'vanished';
      if (code === 'ELOOP') return 'other';
      throw e;
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) return 'other';
      if (st.size > SMALL_FILE || (this.#hardlinks && st.nlink > 1)) return undefined;
      const buf = Buffer.allocUnsafe(st.size);
      let got = 0;
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, got);
        if (n === 0) break;
        got += n;
      }
      if (got < buf.length) buf.fill(0, got);
      return { st, buf, got, after: fstatSync(fd) };
    } finally {
      closeSync(fd);
    }
  }

  async #file(rel: string, abs: string): Promise<false> {
    const small = this.#readSmall(abs);
    if (small === 'vanished') {
      this.#vanished(rel);
      return false;
    }
    if (small === 'other') return this.#visit(rel, undefined) as Promise<false>;
    if (small) {
      const { st, buf, got, after } = small;
      await this.#entry({ name: rel, type: 'file', size: st.size, ...this.#meta(st) }, buf);
      if (got !== st.size || after.size !== st.size || after.mtimeMs !== st.mtimeMs)
        this.#changed(rel, st.size, after.size);
      this.stats.files++;
      this.stats.bytes += st.size;
      this.options.onProgress?.(this.stats);
      return false;
    }
    let fh: fsp.FileHandle;
    try {
      // O_NOFOLLOW: a file swapped for a symlink after readdir is not followed; O_NONBLOCK: one
      // swapped for a FIFO does not hang the open.
      fh = await fsp.open(abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        this.#vanished(rel);
        return false;
      }
      if (code === 'ELOOP') return this.#visit(rel, undefined) as Promise<false>;
      throw e;
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) {
        await fh.close();
        return this.#visit(rel, undefined) as Promise<false>;
      }
      const size = st.size;
      if (this.#hardlinks && st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const first = this.#links.get(key);
        if (first !== undefined) {
          await this.#entry({ name: rel, type: 'link', linkname: first, ...this.#meta(st) });
          this.stats.hardlinks++;
          return false;
        }
        this.#links.set(key, rel);
      }
      const header: Header = { name: rel, type: 'file', size, ...this.#meta(st) };
      let got: number;
      if (size <= SMALL_FILE) {
        const buf = Buffer.allocUnsafe(size);
        got = await readFully(fh, buf, 0);
        if (got < size) buf.fill(0, got);
        await this.#entry(header, buf);
      } else {
        got = await this.#stream(fh, header, size);
      }
      const after = await fh.stat();
      if (got !== size || after.size !== size || after.mtimeMs !== st.mtimeMs) this.#changed(rel, size, after.size);
      this.stats.files++;
      this.stats.bytes += size;
      this.options.onProgress?.(this.stats);
      return false;
    } finally {
      await fh.close().catch(() => {});
    }
  }

  async #stream(fh: fsp.FileHandle, header: Header, size: number): Promise<number> {
    let sinkErr: unknown;
    let sink!: ReturnType<Pack['entry']>;
    const finished = new Promise<void>((resolve, reject) => {
      sink = this.pack.entry(header, (err) => (err ? reject(err) : resolve()));
    });
    // Settled only through the awaits below; a destroyed archive must not reject it unobserved.
    finished.catch(() => {});
    sink.on('error', (e: unknown) => {
      sinkErr = e;
    });
    let pos = 0;
    let got = 0;
    try {
      while (pos < size) {
        throwIfAborted(this.#signal);
        if (sinkErr) throw sinkErr;
        const want = Math.min(CHUNK, size - pos);
        const buf = Buffer.allocUnsafe(want);
        const n = got === pos ? await readFully(fh, buf, pos) : 0;
        got += n;
        // Past the end of a file that shrank, the declared size is filled with zeros.
        if (n < want) buf.fill(0, n);
        pos += want;
        if (!sink.write(buf)) await waitDrain(sink, this.#signal);
      }
      sink.end(undefined);
    } catch (e) {
      sink.destroy(e instanceof Error ? e : new Error(String(e)));
      await raceSignal(finished, this.#signal).catch(() => {});
      throw e;
    }
    await raceSignal(finished, this.#signal);
    return got;
  }

  #changed(rel: string, declared: number, now: number): void {
    if (this.#policy === 'fail') throw new FileChangedError(rel);
    this.#log.warn(`${rel} changed while it was archived; its copy may be inconsistent`, {
      path: rel,
      declaredBytes: declared,
      currentBytes: now,
    });
    this.stats.changed++;
    if (this.stats.changedPaths.length < 20) this.stats.changedPaths.push(rel);
  }
}

function ignore(): void {}

/** Read into `buf` from `position` until it is full or the file ends; returns the bytes read. */
async function readFully(fh: fsp.FileHandle, buf: Buffer, position: number): Promise<number> {
  let off = 0;
  while (off < buf.length) {
    const { bytesRead } = await fh.read(buf, off, buf.length - off, position + off);
    if (bytesRead === 0) break;
    off += bytesRead;
  }
  return off;
}
