/** Generate a benchmark tree: many small files, a few large ones, in nested folders. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { dataPool } from './common.js';

/** Deterministic pseudo-random numbers (xorshift32) so runs build the same tree. */
function rng(seed: number): () => number {
  let x = seed | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

/**
 * Write `files` files totalling about `totalBytes` under `root`: 2 % of the files carry 60 % of
 * the bytes; folders hold ~50 files each, two levels deep. Returns the bytes written.
 */
export function generateTree(root: string, files: number, totalBytes: number): number {
  const pool = dataPool();
  const rand = rng(42);
  const large = Math.max(1, Math.round(files * 0.02));
  const small = files - large;
  const avgLarge = (totalBytes * 0.6) / large;
  const avgSmall = (totalBytes * 0.4) / Math.max(1, small);
  let written = 0;
  for (let i = 0; i < files; i++) {
    const dir = path.join(root, `d${String(Math.floor(i / 2500)).padStart(2, '0')}`, `e${Math.floor(i / 50) % 50}`);
    if (i % 50 === 0) mkdirSync(dir, { recursive: true });
    const avg = i % 50 === 7 && i / 50 < large ? avgLarge : avgSmall;
    const size = Math.floor(avg * 2 * rand());
    const chunks: Buffer[] = [];
    for (let left = size; left > 0; ) {
      const off = Math.floor(rand() * (pool.length - 1));
      const n = Math.min(left, pool.length - off);
      chunks.push(pool.subarray(off, off + n));
      left -= n;
    }
    writeFileSync(path.join(dir, `file-${i}.bin`), chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
    written += size;
  }
  return written;
}
