/**
 * `coalesce`: a pass-through stream that gathers small chunks into larger ones.
 *
 * @module
 */
import { Transform } from 'node:stream';

/**
 * Gather written chunks into chunks of at least `size` bytes (the last one may be shorter); bytes
 * and their order are unchanged. A tar of many small files arrives as a header and a few KB per
 * file; zlib runs one thread-pool job per written chunk, so 200 k small files were 600 k tiny jobs
 * whose round trips, not the compression, set the pace. Chunks already `size` or larger pass as
 * they are.
 *
 * @example
 * ```ts
 * await pipeline(packTree(root).stream, coalesce(), createGzip(), out);
 * ```
 */
export function coalesce(size = 128 * 1024): Transform {
  let parts: Buffer[] = [];
  let held = 0;
  const take = (): Buffer => {
    const out = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, held);
    parts = [];
    held = 0;
    return out;
  };
  return new Transform({
    highWaterMark: size,
    transform(chunk: Buffer, _enc, callback) {
      if (held === 0 && chunk.length >= size) return callback(null, chunk);
      parts.push(chunk);
      held += chunk.length;
      callback(null, held >= size ? take() : undefined);
    },
    flush(callback) {
      callback(null, held > 0 ? take() : undefined);
    },
  });
}
