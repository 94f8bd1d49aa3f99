/**
 * Regroups a byte stream into fixed-size blocks. A tool writing to a pipe hands Node whatever sits
 * in the pipe at each read: pg_dump writes 8 KiB at a time, so a 1 GiB dump arrives as ~130 000
 * chunks, and every stage after it (row counter, gzip, sha256, file writes) pays its per-chunk
 * cost that many times. After this stage they see ~1 000 chunks of 1 MiB.
 *
 * @module
 */
import { Transform, type TransformCallback } from 'node:stream';

/**
 * A Transform that emits its input as chunks of exactly `blockSize` bytes (the last one shorter).
 * Input chunks are copied once into the block being filled; a chunk that holds a whole block
 * while none is being filled is passed on as a slice, without a copy.
 *
 * @example
 * ```ts
 * await pipeline(child.stdout, createBlockStream(1 << 20), createParallelGzip(), sink);
 * ```
 */
export function createBlockStream(blockSize: number = 1 << 20): Transform {
  if (!Number.isInteger(blockSize) || blockSize < 1) throw new RangeError('blockSize must be a positive integer');
  let block: Buffer | undefined;
  let used = 0;
  return new Transform({
    readableHighWaterMark: blockSize,
    writableHighWaterMark: blockSize,
    transform(this: Transform, chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
      let off = 0;
      while (off < chunk.length) {
        if (used === 0 && chunk.length - off >= blockSize) {
          this.push(chunk.subarray(off, off + blockSize));
          off += blockSize;
          continue;
        }
        block ??= Buffer.allocUnsafe(blockSize);
        const n = chunk.copy(block, used, off, Math.min(chunk.length, off + blockSize - used));
        used += n;
        off += n;
        if (used === blockSize) {
          this.push(block);
          block = undefined;
          used = 0;
        }
      }
      done();
    },
    flush(this: Transform, done: TransformCallback): void {
      if (block && used > 0) this.push(block.subarray(0, used));
      block = undefined;
      used = 0;
      done();
    },
  });
}
