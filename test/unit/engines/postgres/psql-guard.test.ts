import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createPsqlGuard, psqlHasRestrict, UnsafeDumpError } from '../../../../src/engines/postgres/psql-guard.js';
import { cutInto } from './chunks.js';

/** Run `text` through a guard in chunks of the given sizes; the output, or the guard's error. */
async function guard(
  text: string | Buffer,
  cuts: readonly number[] = [1 << 20],
  options: Parameters<typeof createPsqlGuard>[0] = {},
): Promise<string | UnsafeDumpError> {
  const g = createPsqlGuard(options);
  const out: Buffer[] = [];
  g.on('data', (c: Buffer) => out.push(c));
  try {
    await new Promise<void>((resolve, reject) => {
      g.on('end', resolve);
      g.on('error', reject);
      Readable.from(cutInto(Buffer.isBuffer(text) ? text : Buffer.from(text), cuts)).pipe(g);
    });
  } catch (e) {
    if (e instanceof UnsafeDumpError) return e;
    throw e;
  }
  return Buffer.concat(out).toString('utf8');
}

const CUTS = [[1 << 20], [1], [2], [3], [7], [1, 2, 5, 13]];

const HEADER = `--\n-- PostgreSQL database dump\n--\n\n\\restrict AbC123\n\nSET standard_conforming_strings = on;\n`;
const FOOTER = `\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict AbC123\n\n`;

describe('psql guard', () => {
  const legit = [
    `COMMENT ON TABLE t IS 'ends in backslash \\';\nSELECT 1;\n`,
    `CREATE FUNCTION f() RETURNS text LANGUAGE plpgsql AS $_$\nBEGIN\n  -- \\! id\n  RETURN E'\\\\' || '$$' || $q$ \\o x $q$;\nEND;\n$_$;\n`,
    `CREATE FUNCTION g(a int) RETURNS int LANGUAGE sql\n    BEGIN ATOMIC\n SELECT (a + 1);\n SELECT CASE WHEN (a > 0) THEN a ELSE 0 END AS "case";\nEND;\n`,
    `COPY public.t (a, "b;c") FROM stdin;\na\\\\b\t\\N\n\\\\.\t\\.x\nx\\ny\tCOPY x FROM stdin;\n\\.\nSELECT 2;\n`,
    `CREATE VIEW v AS SELECT t.arr[1:2] AS s, t.arr[1:"t".id] AS u, 1.5e3 AS r, x::text FROM t;\n`,
    `SELECT E'it\\'s', 'it''s', U&'\\0041', B'0101', X'1F', N'n', "q""i", $a1$x$a1$, /* a /* nested */ \\! */ 1;\n`,
    `COPY public.crlf (a) FROM stdin;\r\nx\r\n\\.\r\nSELECT 3;\r\n`,
  ];
  for (const [n, body] of legit.entries()) {
    it(`passes legitimate SQL unchanged but for \\restrict lines (case ${n}), at every chunk border`, async () => {
      const input = HEADER + body + FOOTER;
      const expected = input.replace(/^\\(un)?restrict AbC123\n/gm, '');
      for (const cuts of CUTS) expect(await guard(input, cuts)).toBe(expected);
    });
  }

  const hostile: [string, string][] = [
    ['a shell command', `\\! id > /tmp/x\n`],
    ['a shell command after a statement', `SELECT 1; \\! id\n`],
    ['output to a file', `\\o /tmp/x\nSELECT 1;\n`],
    ['\\copy to a program', `\\copy (select 1) to program 'id'\n`],
    ['an include', `\\i /etc/passwd\n`],
    ['\\ir', `\\ir x.sql\n`],
    ['gexec', `SELECT 'x' \\gexec\n`],
    ['setenv', `\\setenv PAGER id\n`],
    ['write buffer', `SELECT 1 \\w /tmp/x\n`],
    ['large object export', `\\lo_export 1 /tmp/x\n`],
    ['a forced semicolon', `SELECT 1 \\; SELECT 2;\n`],
    ['a meta-command after COPY data', `COPY t (a) FROM stdin;\nx\n\\.\n\\! id\n`],
    ['a meta-command after a CSV COPY', `COPY t FROM stdin WITH (FORMAT csv);\n'\n\\.\n\\! id\n'\n`],
    ['COPY FROM PROGRAM', `COPY t FROM PROGRAM 'id';\n`],
    ['text after COPY on its line', `COPY t (a) FROM stdin; '\nx\n\\.\n\\! id\n'\n`],
    ['a psql variable', `SELECT :DBNAME;\n`],
    ['a quoted psql variable', `SELECT :'USER';\n`],
    ['a bad \\restrict line', `\\restrict key \\! id\n`],
    ['a bare carriage return', `SELECT 'a'\r'b';\n\\! id\n`],
    ['a number glued to E', `SELECT 1e'\\'; \\! id; --';\n`],
    ['a NUL byte', `SELECT \u0000'\n\\! id\n`],
    ['an unsafe client encoding', `SET client_encoding = 'SJIS';\n`],
    ['a meta-command after parentheses that hide a semicolon', `SELECT (1; COPY t (a) FROM stdin;\n\\! id\n`],
    [
      'a meta-command after a BEGIN ATOMIC semicolon',
      `CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; COPY t (a) FROM stdin;\n\\! id\n`,
    ],
    ['a dollar-quote lookalike after a digit', `SELECT 1$a$ ' $a$; \\! id; ';\n`],
    [
      'a meta-command psql reads once standard strings are off',
      `SET standard_conforming_strings = off;\nSELECT 'a\\' ' \\! id ';\n`,
    ],
  ];
  for (const [what, body] of hostile) {
    it(`refuses ${what}, at every chunk border`, async () => {
      for (const cuts of CUTS) {
        const r = await guard(HEADER + body + FOOTER, cuts);
        expect(r, `cuts ${cuts.join(',')}`).toBeInstanceOf(UnsafeDumpError);
      }
    });
  }

  it('with copyFreeze, freezes each COPY … FROM stdin and changes nothing else, at every chunk border', async () => {
    const body =
      `CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$\nCOPY y FROM stdin;\n$$;\n` +
      `COMMENT ON TABLE t IS 'COPY z FROM stdin;';\n` +
      `COPY public.t (a, "b;c") FROM stdin;\nCOPY x FROM stdin;\n\\.\n` +
      `CREATE VIEW w AS SELECT rank() OVER (PARTITION BY a) FROM t;\n` +
      `COPY public.crlf (a) FROM stdin;\r\nx\r\n\\.\r\n`;
    const input = HEADER + body + FOOTER;
    const expected = input
      .replace(/^\\(un)?restrict AbC123\n/gm, '')
      .replace('COPY public.t (a, "b;c") FROM stdin;', 'COPY public.t (a, "b;c") FROM stdin (FREEZE);')
      .replace('COPY public.crlf (a) FROM stdin;', 'COPY public.crlf (a) FROM stdin (FREEZE);');
    for (const cuts of CUTS) expect(await guard(input, cuts, { copyFreeze: true }), `cuts ${cuts}`).toBe(expected);
  });

  it('with copyFreeze, stops freezing once a partitioned table is declared (its root COPY refuses FREEZE)', async () => {
    const body =
      `COPY public.a (x) FROM stdin;\n1\n\\.\n` +
      `CREATE TABLE public.p (id integer)\nPARTITION BY RANGE (id);\n` +
      `COPY public.p (id) FROM stdin;\n1\n\\.\n`;
    const input = HEADER + body + FOOTER;
    const expected = input
      .replace(/^\\(un)?restrict AbC123\n/gm, '')
      .replace('COPY public.a (x) FROM stdin;', 'COPY public.a (x) FROM stdin (FREEZE);');
    for (const cuts of CUTS) expect(await guard(input, cuts, { copyFreeze: true }), `cuts ${cuts}`).toBe(expected);
  });

  it('knows which psql versions have \\restrict', () => {
    expect(psqlHasRestrict('15.20')).toBe(true);
    expect(psqlHasRestrict('15.13')).toBe(false);
    expect(psqlHasRestrict('14.19')).toBe(true);
    expect(psqlHasRestrict('17.5')).toBe(false);
    expect(psqlHasRestrict('18.0')).toBe(true);
    expect(psqlHasRestrict('12.22')).toBe(false);
  });
});
