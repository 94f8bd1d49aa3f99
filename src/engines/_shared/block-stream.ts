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
export function createBlockStream(blockSize: number = 1 << 20, pool?: BlockPool): Transform {
  if (!Number.isInteger(blockSize) || blockSize < 1) throw new RangeError('blockSize must be a positive integer');
  if (pool && pool.blockSize !== blockSize) throw new RangeError('the pool holds blocks of another size');
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
        block ??= pool ? pool.take() : Buffer.allocUnsafe(blockSize);
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

/**
 * Full blocks handed back for reuse once their last reader is done with them (`give`), so a long
 * stream fills the same few blocks instead of a fresh 1 MiB allocation each — each of which the
 * kernel faults in page by page and the garbage collector frees again. Only a block this pool
 * issued is taken back; a consumer must give a block only when no one else can still read it.
 */
export interface BlockPool {
  readonly blockSize: number;
  /** A block to fill: a returned one, or a new one. */
  take(): Buffer;
  /** Hand back a block this pool issued (anything else is ignored). */
  give(block: Buffer): void;
}

/** A {@link BlockPool} keeping at most `keep` returned blocks. */
export function createBlockPool(blockSize: number, keep = 8): BlockPool {
  const issued = new WeakSet<Buffer>();
  const free: Buffer[] = [];
  return {
    blockSize,
    take() {
      const b = free.pop() ?? Buffer.allocUnsafe(blockSize);
      issued.add(b);
      return b;
    },
    give(block) {
      if (!issued.delete(block) || free.length >= keep) return;
      free.push(block);
    },
  };
}
