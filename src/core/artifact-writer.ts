/**
 * The artifact writer: streams bytes into `<workDir>/<source>/<name>.partial`, counts them and
 * computes sha256 in the same pass, fsyncs, and renames to the final name. A crash leaves only a
 * `.partial` file, which no manifest ever names and the next run removes.
 *
 * @module
 */
import { createHash, type Hash } from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { throwIfAborted } from './abort.js';
import { DuplicatiKitError, fileTypeOf, NotRegularFileError } from './errors.js';
import { BackgroundFlush, fsyncDir, mkdirPrivate, PRIVATE_FILE, safeRelativePath, syncFile } from './fs.js';

/** A file a source wrote into the work directory, as the manifest records it. */
export interface ArtifactRef {
  /** Path relative to the work directory, with forward slashes: `<source>/<name>`. */
  readonly path: string;
  readonly bytes: number;
  /** Lower-case hex sha256 of the file's bytes. */
  readonly sha256: string;
  /** What the bytes are: `sqlite`, `sql`, `sql.gz`, `tar`, `tar.gz`, `ndjson`, `json`, … */
  readonly format: string;
}

/** Options of one artifact write. */
export interface ArtifactWriteOptions {
  /** What the bytes are, recorded in the manifest. */
  readonly format: string;
  readonly signal?: AbortSignal;
  /**
   * The name to commit the artifact under, when it is known only after writing began (a dump
   * named after what it found, started before that was read). The partial file carries `name`
   * meanwhile. If it rejects or is not a valid name, the artifact fails and its partial file is
   * removed.
   */
  readonly commitAs?: PromiseLike<string>;
}

/** A later name that fails before the commit waits for it is reported there, not as unhandled. */
function handled(later: PromiseLike<string> | undefined): void {
  later?.then(undefined, () => {});
}

/** Suffix of files still being written. */
export const PARTIAL_SUFFIX = '.partial';

/** The data {@link ArtifactWriter.write} accepts. */
export type ArtifactData = Readable | AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>;

/** A writable end for producers that push bytes (`child.stdout.pipe(sink.stream)`). */
export interface ArtifactSink {
  /** Write the artifact's bytes here, then call {@link ArtifactSink.finish}. */
  readonly stream: Writable;
  /** Wait for the stream to finish, fsync, rename into place, and return the reference. */
  finish(): Promise<ArtifactRef>;
  /** Give up: destroy the stream and remove the partial file. */
  abort(reason?: unknown): Promise<void>;
}

/**
 * Bytes per read of {@link hashFile}: 1 MiB, or 4 MiB for a file of 512 MiB or more. Its two buffers
 * are fresh memory, and each 4 KiB page of it costs a fault on first touch: a new process hashed an
 * 83 MiB dump in ~71 ms with 1 MiB buffers and in ~90 ms with 4 MiB ones, while 1 MiB reads cost a
 * 1 GiB file ~40 ms more (~720 against ~680 ms).
 */
function hashChunk(size: number): number {
  return size >= 512 * 1024 * 1024 ? 4 * 1024 * 1024 : 1024 * 1024;
}

/**
 * A writable that hashes and counts what it writes to a file. The write of each batch is issued
 * to the thread pool before the batch is hashed on the main thread, so hashing overlaps the disk
 * write instead of adding to it.
 */
class HashingFileSink extends Writable {
  readonly hash: Hash = createHash('sha256');
  bytes = 0;
  private fh: fsp.FileHandle | undefined;
  /** Its failure fails the artifact at `_final`. */
  private flush: BackgroundFlush | undefined;

  constructor(
    private readonly file: string,
    private readonly onBytes?: (n: number) => void,
  ) {
    super({ highWaterMark: 1 << 20 });
  }

  override _construct(callback: (error?: Error | null) => void): void {
    mkdirPrivate(path.dirname(this.file))
      .then(() => fsp.rm(this.file, { force: true }))
      .then(() => fsp.open(this.file, 'wx', PRIVATE_FILE))
      .then(
        (fh) => {
          this.fh = fh;
          this.flush = new BackgroundFlush(fh);
          callback();
        },
        (e: Error) => callback(e),
      );
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (error?: Error | null) => void): void {
    this._writev([{ chunk }], callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    const fh = this.fh;
    if (!fh) {
      callback(new Error('artifact file is not open'));
      return;
    }
    const bufs = chunks.map((c) => c.chunk);
    const pending = writeAll(fh, bufs);
    let n = 0;
    for (const b of bufs) {
      this.hash.update(b);
      n += b.length;
    }
    this.bytes += n;
    pending.then(
      () => {
        this.onBytes?.(n);
        this.flush?.wrote(n, this.bytes);
        callback();
      },
      (e: Error) => callback(e),
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    const fh = this.fh;
    this.fh = undefined;
    if (!fh) {
      callback();
      return;
    }
    Promise.resolve(this.flush?.done())
      .then(() => fh.sync())
      .then(() => fh.close())
      .then(
        () => callback(),
        (e: Error) =>
          fh.close().then(
            () => callback(e),
            () => callback(e),
          ),
      );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const fh = this.fh;
    this.fh = undefined;
    const done = (): void => callback(error);
    // Close only after a background flush settled: it still uses the descriptor.
    if (fh)
      Promise.resolve(this.flush?.settled())
        .then(() => fh.close())
        .then(done, done);
    else done();
  }
}

async function writeAll(fh: fsp.FileHandle, bufs: Buffer[]): Promise<void> {
  let rest = bufs;
  while (rest.length > 0) {
    const { bytesWritten } = await fh.writev(rest);
    let left = bytesWritten;
    const next: Buffer[] = [];
    for (const b of rest) {
      if (left >= b.length) left -= b.length;
      else {
        next.push(left > 0 ? b.subarray(left) : b);
        left = 0;
      }
    }
    rest = next;
  }
}

/**
 * Writes the artifacts of one source into `<workDir>/<source>/`. Plans create one per source and
 * hand it over as `ctx.artifacts`.
 *
 * @example
 * ```ts
 * const ref = await ctx.artifacts.write('dump.sql', child.stdout, { format: 'sql', signal: ctx.signal });
 * // ref = { path: 'db/dump.sql', bytes: 1234, sha256: '…', format: 'sql' }
 * ```
 */
export class ArtifactWriter {
  readonly #workDir: string;
  readonly #source: string;
  #written: ArtifactRef[] = [];
  readonly #onBytes: ((n: number) => void) | undefined;

  constructor(workDir: string, sourceName: string, options: { onBytes?: (n: number) => void } = {}) {
    this.#workDir = workDir;
    this.#source = sourceName;
    this.#onBytes = options.onBytes;
  }

  /**
   * A writer for a sub-folder (`<source>/<sub>/`) whose artifacts also count as this writer's.
   * Composite sources hand one to each part.
   */
  scoped(sub: string): ArtifactWriter {
    const safe = safeRelativePath(sub);
    if (!safe)
      throw new DuplicatiKitError(`invalid artifact folder ${JSON.stringify(sub)}`, { code: 'ERR_ARTIFACT_NAME' });
    const w = new ArtifactWriter(
      this.#workDir,
      `${this.#source}/${safe}`,
      this.#onBytes ? { onBytes: this.#onBytes } : {},
    );
    w.#written = this.#written;
    return w;
  }

  /** Absolute folder this writer writes into. */
  get dir(): string {
    return path.join(this.#workDir, this.#source);
  }

  /** Every artifact finished so far, in order. */
  get written(): readonly ArtifactRef[] {
    return [...this.#written];
  }

  #paths(name: string): { rel: string; final: string; partial: string } {
    const safe = safeRelativePath(name);
    if (!safe || safe.endsWith(PARTIAL_SUFFIX)) {
      throw new DuplicatiKitError(`invalid artifact name ${JSON.stringify(name)}`, { code: 'ERR_ARTIFACT_NAME' });
    }
    const final = path.join(this.dir, ...safe.split('/'));
    return { rel: `${this.#source}/${safe}`, final, partial: `${final}${PARTIAL_SUFFIX}` };
  }

  async #commit(
    p: { rel: string; final: string; partial: string },
    bytes: number,
    sha256: string,
    options: ArtifactWriteOptions,
  ) {
    const to = options.commitAs === undefined ? p : this.#paths(await options.commitAs);
    if (to !== p) {
      throwIfAborted(options.signal);
      await mkdirPrivate(path.dirname(to.final));
    }
    await fsp.rename(p.partial, to.final);
    await fsyncDir(path.dirname(to.final));
    if (path.dirname(to.final) !== path.dirname(p.partial)) await fsyncDir(path.dirname(p.partial));
    const ref: ArtifactRef = { path: to.rel, bytes, sha256, format: options.format };
    this.#written.push(ref);
    return ref;
  }

  /**
   * Stream `data` into the artifact `name`. Backpressure is respected; nothing is buffered
   * beyond the stream's high-water mark. On error or abort the partial file is removed.
   */
  async write(name: string, data: ArtifactData, options: ArtifactWriteOptions): Promise<ArtifactRef> {
    const sink = this.open(name, options);
    const readable = data instanceof Readable ? data : Readable.from(data, { objectMode: false });
    try {
      await pipeline(readable, sink.stream, options.signal ? { signal: options.signal } : {});
    } catch (e) {
      await sink.abort(e);
      // pipeline wraps an abort in its own AbortError; callers get their own reason back.
      if (options.signal?.aborted) throw options.signal.reason;
      throw e;
    }
    return sink.finish();
  }

  /**
   * Open a writable artifact for producers that push bytes. Call `finish()` after the stream
   * ended (or pipe into it with `pipeline` and then call `finish()`), or `abort()` on failure.
   */
  open(name: string, options: ArtifactWriteOptions): ArtifactSink {
    throwIfAborted(options.signal);
    const p = this.#paths(name);
    handled(options.commitAs);
    const stream = new HashingFileSink(p.partial, this.#onBytes);
    const finished = new Promise<void>((resolve, reject) => {
      stream.once('finish', resolve);
      stream.once('error', reject);
      stream.once('close', () => {
        if (!stream.writableFinished) reject(new Error('artifact stream closed before it finished'));
      });
    });
    finished.catch(() => {});
    let settled = false;
    return {
      stream,
      finish: async () => {
        if (settled) throw new Error('artifact already finished or aborted');
        if (!stream.writableEnded) stream.end();
        await finished;
        settled = true;
        try {
          return await this.#commit(p, stream.bytes, stream.hash.digest('hex'), options);
        } catch (e) {
          await fsp.rm(p.partial, { force: true });
          throw e;
        }
      },
      abort: async (reason?: unknown) => {
        settled = true;
        stream.destroy(reason instanceof Error ? reason : undefined);
        if (!stream.closed) await new Promise<void>((resolve) => stream.once('close', () => resolve()));
        await fsp.rm(p.partial, { force: true });
      },
    };
  }

  /**
   * For tools that write a file themselves (SQLite's online backup, `pg_dump -f`): `produce`
   * gets the partial path to write; the result is then hashed, fsynced and renamed into place.
   *
   * A producer that already hashed the finished file (beside other work, after its last write)
   * may return `{ bytes, sha256 }` instead; the size is checked against the file, and the file is
   * fsynced and renamed as usual. It must not write to the file after hashing it. Such a
   * producer reports the bytes it read through `progress` (this writer's `onBytes`).
   */
  async adopt(
    name: string,
    options: ArtifactWriteOptions,
    produce: (
      partialPath: string,
      signal: AbortSignal | undefined,
      progress: (n: number) => void,
    ) => Promise<void> | Promise<FileDigest | undefined>,
  ): Promise<ArtifactRef> {
    throwIfAborted(options.signal);
    const p = this.#paths(name);
    handled(options.commitAs);
    await mkdirPrivate(path.dirname(p.final));
    await fsp.rm(p.partial, { force: true });
    const onBytes = this.#onBytes;
    try {
      const produced = await produce(p.partial, options.signal, (n) => onBytes?.(n));
      throwIfAborted(options.signal);
      // Tools create their files with the umask's mode (0644); the copy is as private as the live data.
      await fsp.chmod(p.partial, PRIVATE_FILE);
      const { bytes, sha256 } = produced
        ? await checkDigest(p.partial, produced)
        : await hashFile(p.partial, options.signal);
      await syncFile(p.partial);
      return await this.#commit(p, bytes, sha256, options);
    } catch (e) {
      await fsp.rm(p.partial, { force: true });
      throw e;
    }
  }
}

/** Size and sha256 of a file, as a producer hashed it. */
export interface FileDigest {
  readonly bytes: number;
  /** Lower-case hex sha256. */
  readonly sha256: string;
}

/** A producer's digest, after checking it has the shape of one and the file's size. */
async function checkDigest(file: string, d: FileDigest): Promise<FileDigest> {
  const st = await fsp.lstat(file);
  if (!st.isFile()) throw new NotRegularFileError(file, fileTypeOf(st));
  if (!/^[0-9a-f]{64}$/.test(d.sha256) || st.size !== d.bytes) {
    throw new Error(
      `the producer of ${file} reported ${d.bytes} bytes, sha256 ${d.sha256}; the file has ${st.size} bytes`,
    );
  }
  return { bytes: d.bytes, sha256: d.sha256 };
}

/**
 * Stream a regular file through sha256; returns its size and hex digest. Anything else (a FIFO, a
 * device) is refused with a {@link NotRegularFileError} before a byte is read: it is opened
 * non-blocking and checked on the open descriptor, so a FIFO cannot hang the call.
 */
export async function hashFile(file: string, signal?: AbortSignal): Promise<{ bytes: number; sha256: string }> {
  throwIfAborted(signal);
  const hash = createHash('sha256');
  const fh = await fsp.open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new NotRegularFileError(file, fileTypeOf(st));
    // Two buffers: the next read in flight on the thread pool while this thread hashes the last
    // one (86 MB in ~70 ms instead of ~110 ms with a 1 MiB read stream).
    const chunk = hashChunk(st.size);
    let full = Buffer.allocUnsafe(chunk);
    let spare = Buffer.allocUnsafe(chunk);
    let bytes = 0;
    let reading = fh.read(full, 0, chunk, 0);
    for (;;) {
      const { bytesRead } = await reading;
      throwIfAborted(signal);
      if (bytesRead === 0) break;
      bytes += bytesRead;
      reading = fh.read(spare, 0, chunk, bytes);
      hash.update(full.subarray(0, bytesRead));
      [full, spare] = [spare, full];
    }
    return { bytes, sha256: hash.digest('hex') };
  } finally {
    await fh.close();
  }
}

/**
 * Remove the `.partial` files an interrupted or failed run left in `dir` (a source's folder) and
 * its sub-folders (scoped writers write there); a missing folder is fine. Symlinks are not followed.
 */
export async function removePartials(dir: string): Promise<void> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  await Promise.all(
    entries.map((e) => {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) return removePartials(p);
      return e.name.endsWith(PARTIAL_SUFFIX) ? fsp.rm(p, { force: true }) : undefined;
    }),
  );
}
