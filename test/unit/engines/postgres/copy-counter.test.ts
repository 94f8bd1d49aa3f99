import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCopyRowCounter, parseCopyTarget } from '../../../../src/engines/postgres/copy-counter.js';
import { cutInto } from './chunks.js';

function dumpText(tables: { name: string; rows: string[] }[]): string {
  const parts = [
    '--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\n',
    // A function body with a line starting with COPY must not be taken for table data.
    'CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$\nBEGIN\nCOPY fake.t FROM stdin;\nEND $$;\n\n',
  ];
  for (const t of tables) {
    parts.push(
      `--\n-- Data for Name: x; Type: TABLE DATA; Schema: s; Owner: o\n--\n\nCOPY ${t.name} (id, v) FROM stdin;\n`,
    );
    for (const r of t.rows) parts.push(`${r}\n`);
    parts.push('\\.\n\n\n');
  }
  parts.push('--\n-- PostgreSQL database dump complete\n--\n');
  return parts.join('');
}

async function count(text: string, cuts: number[]): Promise<Record<string, number>> {
  const buf = Buffer.from(text);
  const chunks = cutInto(buf, cuts);
  const counter = createCopyRowCounter();
  let passed = 0;
  await pipeline(Readable.from(chunks), counter, async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) passed += c.length;
  });
  expect(passed).toBe(buf.length);
  return counter.counts;
}

describe('COPY row counter', () => {
  it('parses quoted and unquoted table names', () => {
    expect(parseCopyTarget('COPY public.items (id, v) FROM stdin;')).toBe('public.items');
    expect(parseCopyTarget('COPY public."user" (id) FROM stdin;')).toBe('public.user');
    expect(parseCopyTarget('COPY "we""ird schema"."a.b" FROM stdin;')).toBe('we"ird schema.a.b');
    expect(parseCopyTarget('COPY items FROM stdin;')).toBeUndefined();
  });

  it('counts rows per table whatever the chunk borders, and ignores COPY in function bodies', async () => {
    const row = fc.string({ maxLength: 30 }).map((s) => s.replace(/[\n\\]/g, ' '));
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(
          fc.record({
            name: fc.constantFrom('public.a', 'public."user"', 's."T x"'),
            rows: fc.array(row, { maxLength: 20 }),
          }),
          {
            maxLength: 3,
            selector: (t) => t.name,
          },
        ),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }),
        async (tables, cuts) => {
          const expected = Object.fromEntries(
            tables.map((t) => [parseCopyTarget(`COPY ${t.name} FROM stdin;`), t.rows.length]),
          );
          expect(await count(dumpText(tables), cuts)).toEqual(expected);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('handles rows far longer than a chunk', async () => {
    const long = 'x'.repeat(100_000);
    const counts = await count(dumpText([{ name: 'public.big', rows: [long, long, 'short'] }]), [4096, 777]);
    expect(counts).toEqual({ 'public.big': 3 });
  });
});
