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
 * @module
 */
import { Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';

const gzipAsync = promisify(gzip);

/** Options of {@link createParallelGzip}. */
export interface ParallelGzipOptions {
  /** zlib level 1–9. @default 6 (same as `gzip`) */
  readonly level?: number;
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
  const blockSize = options.blockSize ?? 1 << 20;
  const inFlight = Math.max(1, options.inFlight ?? 4);
  const consumed = options.onConsumed;
  if (!Number.isInteger(level) || level < 0 || level > 9) throw new RangeError('gzip level must be 0–9');
  if (!Number.isInteger(blockSize) || blockSize < 1024) throw new RangeError('blockSize must be at least 1024');

  // deflate's worst case is a few bytes per 16 KiB stored block plus the gzip header and trailer.
  const chunkSize = blockSize + (blockSize >> 10) + 1024;
  let parts: Buffer[] = [];
  let partBytes = 0;
  const queue: Promise<Buffer>[] = [];
  let started = false;

  const startBlock = (): void => {
    const inputs = parts;
    const block = inputs.length === 1 ? (inputs[0] as Buffer) : Buffer.concat(inputs, partBytes);
    parts = [];
    partBytes = 0;
    started = true;
    const p = gzipAsync(block, { level, chunkSize });
    p.catch(() => {});
    if (consumed) {
      const back = consumed;
      // Copied into a new block: the inputs are free now. Compressed as is: once zlib is done.
      if (inputs.length > 1) for (const b of inputs) back(b);
      else
        p.then(
          () => back(block),
          () => {},
        );
    }
    queue.push(p);
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
            while (queue.length >= inFlight) this.push(await (queue.shift() as Promise<Buffer>));
          }
        }
      };
      run().then(() => done(), done);
    },
    flush(this: Transform, done: TransformCallback): void {
      const run = async (): Promise<void> => {
        // An empty input still becomes a valid (empty) gzip file.
        if (partBytes > 0 || !started) startBlock();
        while (queue.length > 0) this.push(await (queue.shift() as Promise<Buffer>));
      };
      run().then(() => done(), done);
    },
  });
}
