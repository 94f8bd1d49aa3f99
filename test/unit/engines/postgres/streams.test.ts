import { randomBytes } from 'node:crypto';
import { PassThrough, Readable, type Transform, Writable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type BlockPool, createBlockPool, createBlockStream } from '../../../../src/engines/_shared/block-stream.js';
import { createParallelGzip } from '../../../../src/engines/_shared/gzip-parallel.js';
import { createReplaceStream } from '../../../../src/engines/postgres/load.js';
import { cutInto } from './chunks.js';

async function runAll(chunks: Buffer[], stages: Transform[]): Promise<Buffer> {
  const out: Buffer[] = [];
  await (pipeline as (...a: unknown[]) => Promise<void>)(
    Readable.from(chunks),
    ...stages,
    async (src: AsyncIterable<Buffer>) => {
      for await (const c of src) out.push(c);
    },
  );
  return Buffer.concat(out);
}

async function run(chunks: Buffer[], t: Transform): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), t, async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) out.push(c);
  });
  return Buffer.concat(out);
}

describe('parallel gzip', () => {
  it('round-trips any input as a multi-member gzip stream', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 5000 }), { maxLength: 12 }), async (parts) => {
        const chunks = parts.map((p) => Buffer.from(p));
        const gz = await run(chunks, createParallelGzip({ blockSize: 1024, inFlight: 3 }));
        expect(gunzipSync(gz).equals(Buffer.concat(chunks))).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('emits one member per block, in order', async () => {
    const input = Buffer.from('abcdefghij'.repeat(1000));
    const gz = await run([input], createParallelGzip({ blockSize: 2048 }));
    let members = 0;
    for (let i = 0; i + 2 < gz.length; i++) if (gz[i] === 0x1f && gz[i + 1] === 0x8b && gz[i + 2] === 8) members++;
    expect(members).toBeGreaterThanOrEqual(Math.ceil(input.length / 2048));
    expect(gunzipSync(gz).toString()).toBe(input.toString());
  });

  it('round-trips incompressible blocks, whose gzip member is larger than the block', async () => {
    const input = randomBytes(3 * 65536 + 17);
    for (const level of [0, 1, 6]) {
      const gz = await run(
        cutInto(input, [7000, 65536, 100]),
        createParallelGzip({ level, blockSize: 65536, inFlight: 2 }),
      );
      expect(gz.length).toBeGreaterThan(input.length);
      expect(gunzipSync(gz).equals(input)).toBe(true);
    }
  });

  it('turns empty input into a valid empty gzip file', async () => {
    const gz = await run([], createParallelGzip());
    expect(gunzipSync(gz).length).toBe(0);
  });

  it('writes each block as the member a fresh gzip would, on any window, reusing its zlib streams', async () => {
    // Many more blocks than streams: every stream is reset and reused; each member must be
    // byte for byte what a new zlib stream makes of that block alone.
    const input = Buffer.from(
      Array.from({ length: 4000 }, (_, i) => `${i}\t${(i * 7919) % 1000}\tphoto-${i % 97}.jpg\n`).join(''),
    );
    const blockSize = 4096;
    for (const [level, windowBits, inFlight] of [
      [1, 12, 1],
      [1, 15, 3],
      [6, 9, 2],
    ] as const) {
      const gz = await run(
        cutInto(input, [1000, 5000, 333]),
        createParallelGzip({ level, windowBits, blockSize, inFlight }),
      );
      const expected: Buffer[] = [];
      for (let i = 0; i < input.length; i += blockSize) {
        expected.push(gzipSync(input.subarray(i, i + blockSize), { level, windowBits }));
      }
      expect(gz.equals(Buffer.concat(expected))).toBe(true);
      expect(gunzipSync(gz).equals(input)).toBe(true);
    }
  });

  it('stops cleanly when the pipeline is aborted while blocks are compressing', async () => {
    const ac = new AbortController();
    const input = randomBytes(1 << 20);
    let sent = 0;
    const source = new Readable({
      read() {
        if (sent === 4) ac.abort(new Error('stop'));
        this.push(sent++ < 64 ? input : null);
      },
    });
    const sink = new Writable({ write: (_c, _e, done) => done() });
    await expect(
      pipeline(source, createParallelGzip({ level: 1, blockSize: 1 << 20 }), sink, { signal: ac.signal }),
    ).rejects.toThrow();
    expect(sent).toBeLessThan(64);
  });

  it('rejects bad options', () => {
    expect(() => createParallelGzip({ level: 11 })).toThrow(RangeError);
    expect(() => createParallelGzip({ blockSize: 10 })).toThrow(RangeError);
    expect(() => createParallelGzip({ windowBits: 8 })).toThrow(RangeError);
    expect(() => createParallelGzip({ windowBits: 16 })).toThrow(RangeError);
  });
});

describe('block stream', () => {
  it('regroups any chunks into blocks of exactly blockSize, the last one shorter', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 12 }),
        fc.integer({ min: 1, max: 2048 }),
        async (parts, blockSize) => {
          const chunks = parts.map((p) => Buffer.from(p));
          const input = Buffer.concat(chunks);
          // A Writable sees the chunks as emitted (async iteration would join what is buffered).
          const out: Buffer[] = [];
          const sink = new Writable({
            write(c: Buffer, _e, done) {
              out.push(c);
              done();
            },
          });
          await pipeline(Readable.from(chunks), createBlockStream(blockSize), sink);
          expect(Buffer.concat(out).equals(input)).toBe(true);
          expect(out.length).toBe(Math.ceil(input.length / blockSize));
          for (const c of out.slice(0, -1)) expect(c.length).toBe(blockSize);
          if (out.length) expect((out.at(-1) as Buffer).length).toBe(input.length - (out.length - 1) * blockSize);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('rejects a bad block size', () => {
    expect(() => createBlockStream(0)).toThrow(RangeError);
    expect(() => createBlockStream(1.5)).toThrow(RangeError);
  });
});

describe('block pool', () => {
  it('reuses blocks the gzip stage hands back, and the output is still exactly the input', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 3000 }), { minLength: 1, maxLength: 40 }),
        async (parts) => {
          const chunks = parts.map((p) => Buffer.from(p));
          const pool = createBlockPool(1024, 2);
          const seen: Buffer[] = [];
          let issued = 0;
          const take = pool.take.bind(pool);
          const counting: BlockPool = {
            blockSize: 1024,
            take: () => {
              issued++;
              return take();
            },
            give: (b) => pool.give(b),
          };
          const gz = await runAll(chunks, [
            createBlockStream(1024, counting),
            // A stage between them that keeps copies of what it sees, as the row counter does.
            new PassThrough({
              transform(chunk: Buffer, _e, done) {
                seen.push(Buffer.from(chunk));
                done(null, chunk);
              },
            }),
            createParallelGzip({ blockSize: 1024, inFlight: 2, onConsumed: (b) => counting.give(b) }),
          ]);
          expect(gunzipSync(gz).equals(Buffer.concat(chunks))).toBe(true);
          expect(Buffer.concat(seen).equals(Buffer.concat(chunks))).toBe(true);
          expect(issued).toBeGreaterThan(0);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('takes back only the blocks it issued, and keeps at most `keep` of them', () => {
    const pool = createBlockPool(16, 1);
    const a = pool.take();
    const b = pool.take();
    pool.give(Buffer.alloc(16));
    pool.give(a.subarray(0, 8));
    expect(pool.take()).not.toBe(a);
    pool.give(a);
    pool.give(a);
    pool.give(b);
    expect(pool.take()).toBe(a);
    expect(pool.take()).not.toBe(b);
    expect(() => createBlockStream(32, pool)).toThrow(RangeError);
  });
});

describe('replace stream', () => {
  const search = "SELECT pg_catalog.set_config('search_path', '', false);";
  const repl = "SELECT pg_catalog.set_config('search_path', 'public, pg_catalog', true);";

  /** `createReplaceStream(from, to)` gives what `split(from).join(to)` gives, however the text is cut. */
  async function replacesLikeSed(
    pieces: fc.Arbitrary<string[]>,
    cuts: fc.Arbitrary<number[]>,
    from: string,
    to: string,
    numRuns: number,
    sep = '',
  ): Promise<void> {
    await fc.assert(
      fc.asyncProperty(pieces, cuts, async (parts, at) => {
        const text = Buffer.from(parts.join(sep));
        const out = await run(cutInto(text, at), createReplaceStream(from, to));
        expect(out.toString()).toBe(text.toString().split(from).join(to));
      }),
      { numRuns },
    );
  }

  it('replaces like sed s///g whatever the chunk borders', async () => {
    const pieces = fc.array(
      fc.oneof(fc.constant(search), fc.string({ maxLength: 40 }), fc.constant('SELECT pg_catalog.set_')),
      { maxLength: 20 },
    );
    await replacesLikeSed(
      pieces,
      fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 10 }),
      search,
      repl,
      100,
      '\n',
    );
  });

  it('replaces like sed s///g when chunks are longer than the pattern (matches across borders)', async () => {
    const pieces = fc.array(
      fc.oneof(fc.constant(search), fc.string({ maxLength: 90 }), fc.constant("set_config('search_path'")),
      { maxLength: 30 },
    );
    const cuts = fc.array(fc.integer({ min: 40, max: 200 }), { minLength: 1, maxLength: 10 });
    await replacesLikeSed(pieces, cuts, search, repl, 200);
  });

  it('replaces a self-overlapping pattern left to right, as sed does, whatever the chunk sizes', async () => {
    const pieces = fc.array(fc.constantFrom('a', 'b', 'ab', 'abab'), { maxLength: 40 });
    const cuts = fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 8 });
    await replacesLikeSed(pieces, cuts, 'abab', 'X', 300);
  });

  it('passes text without the pattern through unchanged', async () => {
    const out = await buffer(
      Readable.from([Buffer.from('CREATE TABLE a (id int);\n')]).pipe(createReplaceStream(search, repl)),
    );
    expect(out.toString()).toBe('CREATE TABLE a (id int);\n');
  });
});
