/**
 * gzip on all cores: the input is cut into blocks, each block becomes one gzip member compressed
 * on libuv's thread pool (zlib's async API), and members are emitted in input order. The output
 * is a multi-member gzip stream, which `gunzip`, `zcat`, Node's zlib and Immich's restore all
 * read as one file.
 *
 * Each block is compressed by ONE thread-pool job: zlib is given an output buffer larger than the
 * block can grow to (`chunkSize`), instead of its 16 KiB default, which splits a 1 MiB block into
 * a dozen-odd jobs with a round trip through the main thread after each (the thread waits for the
 * main thread, and the main thread spends its time on callbacks instead of feeding the threads).
 *
 * The `inFlight` zlib streams are made once and reset between members: a new stream per block
 * costs the main thread ~0.5 ms (its state and a 1 MiB output buffer, allocated and faulted in
 * again), a tenth of what compressing the block at level 1 costs a thread.
 *
 * @module
 */
import { Transform, type TransformCallback } from 'node:stream';
import { constants, createGzip, type Gzip } from 'node:zlib';

/** Options of {@link createParallelGzip}. */
export interface ParallelGzipOptions {
  /** zlib level 1–9. @default 6 (same as `gzip`) */
  readonly level?: number;
  /**
   * zlib's window (log2 of its size in bytes, 9–15). Any gunzip reads every window size.
   * @default 15 (same as `gzip`)
   */
  readonly windowBits?: number;
  /** Bytes of input per gzip member. @default 1 MiB */
  readonly blockSize?: number;
  /**
   * Blocks compressing at once (bounds memory to about `inFlight × blockSize` twice over).
   * @default 4, the size of libuv's default thread pool
   */
  readonly inFlight?: number;
  /**
   * Called with each input chunk once it is compressed and nothing here reads it any more (a
   * {@link BlockPool} takes its own blocks back).
   */
  readonly onConsumed?: (chunk: Buffer) => void;
}

/** One zlib stream that compresses one whole block into one gzip member at a time. */
interface Compressor {
  /** The member of `block`; the stream is reset for the next one when it resolves. */
  member(block: Buffer): Promise<Buffer>;
  close(): void;
}

function createCompressor(level: number, windowBits: number, chunkSize: number): Compressor {
  // Every write is a whole member: Z_FINISH as the flush of each write compresses the block and
  // writes the trailer in one thread-pool job; reset then starts the next member with a header.
  const z: Gzip = createGzip({ level, windowBits, chunkSize, flush: constants.Z_FINISH });
  let out: Buffer[] = [];
  let failure: Error | undefined;
  let reject: ((e: Error) => void) | undefined;
  z.on('data', (b: Buffer) => out.push(b));
  z.on('error', (e: Error) => {
    failure ??= e;
    reject?.(e);
  });
  return {
    member(block) {
      return new Promise<Buffer>((resolve, fail) => {
        if (failure) return fail(failure);
        reject = fail;
        z.write(block, (err) => {
          reject = undefined;
          if (err || failure) return fail(err ?? failure);
          // Closed meanwhile (the stage was destroyed): zlib still calls back, with nothing to reset.
          if (z.destroyed) return fail(new Error('the gzip stage was closed while compressing'));
          const parts = out;
          out = [];
          // Gzip inherits zlib's reset(); Node's type declarations give it to Deflate only.
          (z as unknown as { reset(): void }).reset();
          resolve(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts));
        });
      });
    },
    close() {
      z.destroy();
    },
  };
}

/**
 * A Transform stream that gzips its input with several threads, as a multi-member gzip stream.
 *
 * @example
 * ```ts
 * await pipeline(child.stdout, createParallelGzip({ level: 6 }), createWriteStream('dump.sql.gz'));
 * ```
 */
export function createParallelGzip(options: ParallelGzipOptions = {}): Transform {
  const level = options.level ?? 6;
  const windowBits = options.windowBits ?? 15;
  const blockSize = options.blockSize ?? 1 << 20;
  const inFlight = Math.max(1, options.inFlight ?? 4);
  const consumed = options.onConsumed;
  if (!Number.isInteger(level) || level < 0 || level > 9) throw new RangeError('gzip level must be 0–9');
  if (!Number.isInteger(windowBits) || windowBits < 9 || windowBits > 15)
    throw new RangeError('gzip windowBits must be 9–15');
  if (!Number.isInteger(blockSize) || blockSize < 1024) throw new RangeError('blockSize must be at least 1024');

  // deflate's worst case is a few bytes per 16 KiB stored block plus the gzip header and trailer.
  const chunkSize = blockSize + (blockSize >> 10) + 1024;
  let parts: Buffer[] = [];
  let partBytes = 0;
  // Members in input order, each with the compressor it holds until it is emitted.
  const queue: { member: Promise<Buffer>; compressor: Compressor }[] = [];
  const idle: Compressor[] = [];
  const all: Compressor[] = [];
  let started = false;

  const startBlock = (): void => {
    const inputs = parts;
    const block = inputs.length === 1 ? (inputs[0] as Buffer) : Buffer.concat(inputs, partBytes);
    parts = [];
    partBytes = 0;
    started = true;
    let compressor = idle.pop();
    if (!compressor) {
      compressor = createCompressor(level, windowBits, chunkSize);
      all.push(compressor);
    }
    const member = compressor.member(block);
    member.catch(() => {});
    if (consumed) {
      const back = consumed;
      // Copied into a new block: the inputs are free now. Compressed as is: once zlib is done.
      if (inputs.length > 1) for (const b of inputs) back(b);
      else
        member.then(
          () => back(block),
          () => {},
        );
    }
    queue.push({ member, compressor });
  };
  const next = async (): Promise<Buffer> => {
    const { member, compressor } = queue.shift() as (typeof queue)[number];
    const out = await member;
    idle.push(compressor);
    return out;
  };

  return new Transform({
    readableHighWaterMark: blockSize,
    writableHighWaterMark: blockSize,
    transform(this: Transform, chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
      const run = async (): Promise<void> => {
        let rest = chunk;
        while (rest.length > 0) {
          const take = Math.min(rest.length, blockSize - partBytes);
          parts.push(take === rest.length ? rest : rest.subarray(0, take));
          partBytes += take;
          rest = rest.subarray(take);
          if (partBytes >= blockSize) {
            startBlock();
            // Backpressure: wait for the oldest block before queueing more than `inFlight`.
            while (queue.length >= inFlight) this.push(await next());
          }
        }
      };
      run().then(() => done(), done);
    },
    flush(this: Transform, done: TransformCallback): void {
      const run = async (): Promise<void> => {
        // An empty input still becomes a valid (empty) gzip file.
        if (partBytes > 0 || !started) startBlock();
        while (queue.length > 0) this.push(await next());
      };
      run().then(() => done(), done);
    },
    destroy(this: Transform, err: Error | null, cb: (error: Error | null) => void): void {
      for (const c of all) c.close();
      cb(err);
    },
  });
}
