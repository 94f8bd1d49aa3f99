import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { coalesce } from '../../../../src/engines/_shared/coalesce.js';

async function through(chunks: Buffer[], size: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of Readable.from(chunks).pipe(coalesce(size))) out.push(c as Buffer);
  return out;
}

describe('coalesce', () => {
  it('gathers small chunks into chunks of at least the size, bytes and order unchanged', async () => {
    const chunks = Array.from({ length: 1000 }, (_, i) => Buffer.alloc(1 + (i % 700), i % 251));
    const out = await through(chunks, 4096);
    expect(Buffer.concat(out).equals(Buffer.concat(chunks))).toBe(true);
    for (const c of out.slice(0, -1)) expect(c.length).toBeGreaterThanOrEqual(4096);
    expect(out.length).toBeLessThan(chunks.length / 5);
  });

  it('passes a large chunk through as is and flushes what is held at the end', async () => {
    const big = Buffer.alloc(10_000, 7);
    const out = await through([big, Buffer.from('ab'), Buffer.from('c')], 4096);
    expect(out[0]).toBe(big);
    expect(out.map((c) => c.toString('latin1')).slice(1)).toEqual(['abc']);
    expect(await through([], 4096)).toEqual([]);
  });
});
