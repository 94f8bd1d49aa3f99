import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCopyField, parseCopyColumns, readCopyRows } from '../../../../src/engines/postgres/copy-rows.js';

/** COPY text-format encoding of one value, as pg_dump writes it. */
function encode(v: string | null): string {
  if (v === null) return '\\N';
  return v
    .replace(/\\/g, '\\\\')
    .replace(/\t/g, '\\t')
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r')
    .split('\b')
    .join('\\b')
    .split('\f')
    .join('\\f')
    .split('\v')
    .join('\\v');
}

/** Feed `text` in chunks of `size` bytes (UTF-8 sequences may be cut, as on a pipe). */
function chunked(text: string, size: number): Readable {
  const buf = Buffer.from(text);
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) parts.push(buf.subarray(i, i + size));
  return Readable.from(parts);
}

async function collect(text: string, size: number, tables: string[], columns: string[]) {
  const rows: (string | null | undefined)[][] = [];
  const r = await readCopyRows(
    chunked(text, size),
    tables,
    columns,
    (b) => {
      for (const row of b) rows.push([...row]);
    },
    { batchSize: 3 },
  );
  return { ...r, rows };
}

const DUMP = [
  '--',
  '-- PostgreSQL database dump',
  '--',
  '',
  "SELECT pg_catalog.set_config('search_path', '', false);",
  'CREATE FUNCTION public.f() RETURNS text LANGUAGE sql AS $$',
  'COPY public.asset (id, "originalPath") FROM stdin;',
  '$$;',
  '',
  '--',
  '-- Data for Name: album; Type: TABLE DATA',
  '--',
  '',
  'COPY public.album (id, "albumName") FROM stdin;',
  `1\t${'x'.repeat(5000)}`,
  '\\.',
  '',
  '--',
  '-- Data for Name: asset; Type: TABLE DATA',
  '--',
  '',
  'COPY public.asset (id, "ownerId", "originalPath", status, "deletedAt") FROM stdin;',
  'a1\tu1\t/data/upload/u1/Été 1.jpg\tactive\t\\N',
  'a2\tu1\t/data/upload/u1/tab\\there.jpg\ttrashed\t2026-01-01',
  'a3\tu1\t/data/upload/u1/back\\\\slash\\302\\251.jpg\tdeleted\t2026-01-01',
  'a4\tu2\t/data/upload/u2/hex\\x41.jpg\tactive\t\\N',
  '\\.',
  '',
  'COPY public.person (id) FROM stdin;',
  'p1',
  '\\.',
  '',
].join('\n');

describe('reading COPY rows out of a plain dump', () => {
  it('parses quoted and plain column lists', () => {
    expect(parseCopyColumns('COPY public.asset (id, "originalPath", "we""ird, name", status) FROM stdin;')).toEqual([
      'id',
      'originalPath',
      'we"ird, name',
      'status',
    ]);
    expect(parseCopyColumns('COPY public.t FROM stdin;')).toBeUndefined();
  });

  it('decodes every escape of the text format, and \\N as null', () => {
    expect(decodeCopyField(Buffer.from('\\N'))).toBeNull();
    expect(decodeCopyField(Buffer.from('a\\tb\\nc\\\\d\\101\\x42\\q'))).toBe('a\tb\nc\\dABq');
    expect(decodeCopyField(Buffer.from('\\303\\251'))).toBe('é');
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.constant(null)), (v) => {
        expect(decodeCopyField(Buffer.from(encode(v)))).toBe(v);
      }),
    );
  });

  it('reads the chosen columns of the wanted table at every chunk size, skipping look-alike lines', async () => {
    for (const size of [1, 2, 3, 7, 64, 4096, 1 << 20]) {
      const r = await collect(DUMP, size, ['public.asset', 'public.assets'], ['originalPath', 'status', 'nope']);
      expect(r.table).toBe('public.asset');
      expect(r.rows).toEqual([
        ['/data/upload/u1/Été 1.jpg', 'active', undefined],
        ['/data/upload/u1/tab\there.jpg', 'trashed', undefined],
        ['/data/upload/u1/back\\slash©.jpg', 'deleted', undefined],
        ['/data/upload/u2/hexA.jpg', 'active', undefined],
      ]);
    }
  });

  it('reports no table when the dump holds none of them', async () => {
    const r = await collect(DUMP, 100, ['public.assets'], ['originalPath']);
    expect(r).toEqual({ table: undefined, rows: [] });
  });

  it('round-trips generated rows, batch by batch', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.string({ unit: 'binary' }), fc.oneof(fc.string(), fc.constant(null))), { maxLength: 20 }),
        fc.integer({ min: 1, max: 50 }),
        async (data, size) => {
          const text = [
            '--',
            '-- Data for Name: assets; Type: TABLE DATA; Schema: public; Owner: postgres',
            '--',
            '',
            'COPY public.assets (id, "originalPath", note) FROM stdin;',
            ...data.map(([p, n], i) => `${i}\t${encode(p)}\t${encode(n)}`),
            '\\.',
            '',
          ].join('\n');
          const r = await collect(text, size, ['public.assets'], ['note', 'originalPath']);
          expect(r.rows).toEqual(data.map(([p, n]) => [n, p]));
        },
      ),
    );
  });
});
