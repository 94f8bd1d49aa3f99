/**
 * Backups are data, never code: a tampered plain-SQL dump cannot run psql meta-commands on the
 * restoring host (verify, drills' scratch loads, restores, the cluster globals), pgDumpArgs cannot
 * move the dump out of the work folder, and a dump without the data of tables that had rows is a
 * failed backup.
 */
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isConfigError, isDumpError, isRestoreError } from '../../../../src/core/errors.js';
import { PostgresSource } from '../../../../src/engines/postgres/source.js';
import { PostgresTarget } from '../../../../src/engines/postgres/target.js';
import { makeContext, tempDir } from '../../../helpers/context.js';
import { databasesLike, dropDatabases, PG, pgAvailable, sql, uniqueDb } from './pg-helpers.js';
import { restoreInputFor } from './restore-input.js';

const available = await pgAvailable();

/** Data whose dump has backslashes, quotes and semicolons everywhere pg_dump may write them. */
const TRICKY = String.raw`
CREATE SCHEMA "we;ird\sch";
CREATE TYPE mood AS ENUM ('a\b', 'it''s', 'semi;colon');
CREATE TABLE "we;ird\sch"."ta""ble$x" (id int PRIMARY KEY, "col;\" text DEFAULT 'C:\' CHECK ("col;\" ~ '^[^\\]*\\?.*$' OR true), m mood, arr int[], js jsonb);
COMMENT ON TABLE "we;ird\sch"."ta""ble$x" IS 'ends in backslash \';
COMMENT ON COLUMN "we;ird\sch"."ta""ble$x".id IS 'has -- dashes and /* stars */ and \! bang and :DBNAME';
INSERT INTO "we;ird\sch"."ta""ble$x" VALUES
 (1, E'line1\nline2\\.\n\\.', 'a\b', '{1,2,3}', '{"k":"v\\n\"q"}'),
 (2, '\.', 'it''s', NULL, NULL),
 (3, E'\\! id > /tmp/x', 'semi;colon', '{}', '[]'),
 (4, E'tab\there\r\ncrlf', NULL, NULL, NULL),
 (5, 'ünïcödé 日本 \ end', NULL, NULL, NULL);
CREATE FUNCTION f_dollar(x text) RETURNS text LANGUAGE plpgsql AS $fn$
BEGIN
  -- a comment with \! id
  RETURN x || E'\\' || '$$' || $q$ \o /tmp/out $q$;
END;
$fn$;
CREATE FUNCTION f_atomic(a int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT a + 1; SELECT CASE WHEN a > 0 THEN a ELSE 0 END; END;
CREATE FUNCTION f_set() RETURNS text LANGUAGE sql SET standard_conforming_strings = off AS $$ SELECT 'x' $$;
CREATE VIEW v_slice AS SELECT (arr)[1:2] AS s, arr[1:id] AS t, 1.5e3 AS r, $a1$x$a1$ AS dq FROM "we;ird\sch"."ta""ble$x";
CREATE TABLE copy_table ("COPY" text, "FROM stdin;" text);
INSERT INTO copy_table VALUES ('COPY x FROM stdin;', '\.');
CREATE TABLE parted (id int, v text) PARTITION BY RANGE (id);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (100);
INSERT INTO parted VALUES (1, 'p\1');
CREATE UNLOGGED TABLE unlogged_t (v text); INSERT INTO unlogged_t VALUES ('u');
CREATE TABLE big (id int, t text);
INSERT INTO big SELECT g, repeat(md5(g::text), 3) || E'\\' FROM generate_series(1, 5000) g;
SELECT lo_from_bytea(0, E'\\x5c21206964'::bytea);
CREATE TABLE empty_t (id int);
`;

/** A digest of everything TRICKY created, to compare a restored copy with the original. */
const DIGEST = String.raw`
SELECT md5(concat_ws('|',
  (SELECT string_agg(concat_ws(',', id, "col;\", m, arr, js), ';' ORDER BY id) FROM "we;ird\sch"."ta""ble$x"),
  f_dollar('in'), f_atomic(4), f_set(),
  (SELECT string_agg(concat_ws(',', s, t, r, dq), ';') FROM v_slice),
  (SELECT string_agg(concat_ws(',', "COPY", "FROM stdin;"), ';') FROM copy_table),
  (SELECT string_agg(v, ';') FROM parted), (SELECT count(*) FROM big), (SELECT md5(string_agg(t, '' ORDER BY id)) FROM big),
  obj_description('"we;ird\sch"."ta""ble$x"'::regclass, 'pg_class'),
  (SELECT string_agg(encode(lo_get(oid), 'escape'), ';') FROM pg_largeobject_metadata)
)) AS d`;

describe.skipIf(!available)('hostile PostgreSQL dumps', () => {
  const db = uniqueDb('hostile');
  const connection = { ...PG, database: db };
  let work: { dir: string; cleanup: () => Promise<void> };
  let marker: string;
  let original: string;

  beforeAll(async () => {
    work = await tempDir();
    marker = path.join(work.dir, 'pwned');
    await sql('postgres', `CREATE DATABASE ${db}`);
    await sql(db, TRICKY);
    original = String((await sql<{ d: string }>(db, DIGEST))[0]?.d);
  });

  afterAll(async () => {
    await dropDatabases(await databasesLike(db));
    await work.cleanup();
  });

  for (const format of ['sql', 'sql.gz'] as const) {
    it(`loads real pg_dump output of tricky data (${format}) through the guard, byte for byte`, async () => {
      const source = new PostgresSource({ name: `tricky-${format.replace('.', '-')}`, connection, format });
      const prepared = await source.prepare(makeContext(work.dir, source.name));
      const copy = `${db}_copy_${format.replace('.', '_')}`;
      const target = new PostgresTarget({ connection, database: copy });
      const input = restoreInputFor(source, prepared, work.dir);
      const ctx = makeContext(work.dir, target.name);
      const report = await target.verify(input, ctx);
      expect(report.checks.filter((c) => !c.ok)).toEqual([]);
      const out = await target.restore(input, ctx);
      await target.finalize?.(out, ctx);
      expect(String((await sql<{ d: string }>(copy, DIGEST))[0]?.d)).toBe(original);
    });
  }

  /** A fresh plain dump of the database whose text `tamper` rewrites. */
  const tampered = async (name: string, tamper: (text: string) => string) => {
    const source = new PostgresSource({ name, connection });
    const prepared = await source.prepare(makeContext(work.dir, source.name));
    const input = restoreInputFor(source, prepared, work.dir);
    const file = input.artifacts[0]?.file as string;
    await fsp.writeFile(file, tamper(await fsp.readFile(file, 'utf8')));
    return { source, input };
  };

  const attacks: [string, (marker: string) => (text: string) => string][] = [
    ['\\! in place of the \\restrict line', (m) => (t) => t.replace(/^\\restrict .*$/m, `\\! touch ${m}`)],
    [
      '\\! after a statement, \\restrict removed',
      (m) => (t) =>
        t.replace(/^\\restrict .*$/m, '').replace('SET lock_timeout = 0;', `SET lock_timeout = 0; \\! touch ${m}`),
    ],
    [
      '\\o after the COPY data',
      (m) => (t) => t.replace(/^\\restrict .*$/m, '').replace(/^\\\.$/m, `\\.\n\\o ${m}\nSELECT 1;`),
    ],
    ['\\copy to a program', (m) => (t) => t.replace(/^\\restrict .*$/m, `\\copy (select 1) to program 'touch ${m}'`)],
    ['\\setenv and \\!', (m) => (t) => t.replace(/^\\restrict .*$/m, `\\setenv X ${m}\n\\! touch $X`)],
  ];
  for (const [what, attack] of attacks) {
    it(`refuses a dump with ${what}: nothing runs, nothing is loaded, live stays as it was`, async () => {
      await fsp.rm(marker, { force: true });
      const { input } = await tampered('tamper', attack(marker));
      const before = String((await sql<{ d: string }>(db, DIGEST))[0]?.d);
      const drill = new PostgresTarget({ connection, scratch: true });
      const report = await drill.verify(input, makeContext(work.dir, drill.name));
      expect(existsSync(marker), 'the command in the dump ran').toBe(false);
      expect(report.ok).toBe(false);
      expect(report.checks.find((c) => c.name === 'load')?.detail).toMatch(/psql meta-command|refused/);
      const target = new PostgresTarget({ connection });
      const err = await target.restore(input, makeContext(work.dir, target.name)).catch((e: unknown) => e);
      expect(isRestoreError(err)).toBe(true);
      expect((err as { code?: string }).code).toBe('ERR_UNSAFE_DUMP');
      expect(existsSync(marker)).toBe(false);
      expect(String((await sql<{ d: string }>(db, DIGEST))[0]?.d)).toBe(before);
      expect((await databasesLike(`${db}_`)).filter((d) => !d.includes('_copy_'))).toEqual([]);
    });
  }

  it('refuses a cluster dump whose globals.sql holds a meta-command: no role is created, nothing runs', async () => {
    const evil = `${db}_evil`;
    const source = new PostgresSource({
      name: 'cluster',
      connection: { ...PG, database: 'postgres' },
      databases: [db],
    });
    const prepared = await source.prepare(makeContext(work.dir, source.name));
    const input = restoreInputFor(source, prepared, work.dir);
    const globals = input.artifacts.find((a) => a.path.endsWith('globals.sql'))?.file as string;
    const text = await fsp.readFile(globals, 'utf8');
    await fsp.writeFile(globals, text.replace(/^\\restrict .*$/m, `CREATE ROLE ${evil};\n\\! touch ${marker}`));
    await fsp.rm(marker, { force: true });
    const target = new PostgresTarget({ connection: { ...PG, database: 'postgres' }, scratch: true });
    const err = await target.restore(input, makeContext(work.dir, target.name)).catch((e: unknown) => e);
    expect(existsSync(marker), 'the command in the dump ran').toBe(false);
    expect((err as { code?: string }).code).toBe('ERR_UNSAFE_DUMP');
    expect(await sql('postgres', `SELECT 1 FROM pg_roles WHERE rolname = '${evil}'`)).toEqual([]);
    expect((await databasesLike(`${db}_`)).filter((d) => !d.includes('_copy_'))).toEqual([]);
  });

  it('refuses pgDumpArgs that would move, compress or re-encode the dump (getopt spellings included)', () => {
    for (const bad of [
      ['--fil=/tmp/x'],
      ['-xf/tmp/x'],
      ['--for=c'],
      ['-Z9'],
      ['--file', '/tmp/x'],
      ['-f', '/x'],
      ['--compress=9'],
      ['-E', 'SJIS'],
      ['--encoding=SJIS'],
      ['-C'],
      ['--create'],
      ['mydb'],
      ['--'],
      ['-Ot'],
      ['--schema-only'],
      ['--inserts'],
      ['--exclude-table-d=x'],
      ['--host=evil'],
      ['-j4'],
      ['--section=pre-data'],
    ]) {
      const err = (() => {
        try {
          return new PostgresSource({ connection, pgDumpArgs: bad });
        } catch (e) {
          return e;
        }
      })();
      expect(isConfigError(err), bad.join(' ')).toBe(true);
      expect((err as Error).message).toMatch(/pgDumpArgs/);
    }
    for (const good of [
      ['--exclude-table-data=big'],
      ['-Ox'],
      ['-T', 'big'],
      ['--exclude-table', 'big'],
      ['-Tbig', '--no-comments'],
    ]) {
      expect(() => new PostgresSource({ connection, pgDumpArgs: good }), good.join(' ')).not.toThrow();
    }
  });

  it('an abbreviated --file in pgDumpArgs never writes outside the work folder', async () => {
    const outside = path.join(work.dir, 'outside.sql');
    let prepared: unknown;
    try {
      const source = new PostgresSource({ name: 'fil', connection, pgDumpArgs: [`--fil=${outside}`] });
      prepared = await source.prepare(makeContext(work.dir, source.name));
    } catch (e) {
      prepared = e;
    }
    expect(isConfigError(prepared)).toBe(true);
    expect(existsSync(outside)).toBe(false);
  });

  it('filters that leave out data are honoured: --exclude-table-data dumps no rows of that table', async () => {
    const source = new PostgresSource({
      name: 'excl',
      connection,
      pgDumpArgs: ['-T', 'empty_t', '--exclude-table-data=big'],
    });
    const prepared = await source.prepare(makeContext(work.dir, source.name));
    const counts = (prepared.metadata as { counts: Record<string, number> }).counts;
    expect(counts['public.big']).toBeUndefined();
    expect(counts['public.parted_1']).toBe(1);
  });

  /** A pg_dump in a bin folder that reports the real version but writes what `script` writes. */
  const fakePgDump = async (name: string, script: string): Promise<string> => {
    const dir = path.join(work.dir, name);
    await fsp.mkdir(dir, { recursive: true });
    const real = (await fsp.readdir('/usr/lib/postgresql')).sort().reverse()[0];
    const bin = `/usr/lib/postgresql/${real}/bin/pg_dump`;
    await fsp.writeFile(
      path.join(dir, 'pg_dump'),
      `#!/bin/sh\nif [ "$1" = --version ]; then exec ${bin} --version; fi\n${script.replaceAll('PG_DUMP', bin)}\n`,
      { mode: 0o755 },
    );
    return dir;
  };

  it('a pg_dump that writes nothing is a failed dump, not an empty verified backup', async () => {
    const binDir = await fakePgDump('empty-bin', 'exit 0');
    for (const format of ['sql', 'custom'] as const) {
      const source = new PostgresSource({ name: `empty-${format}`, connection, binDirs: [binDir], format });
      const err = await source.prepare(makeContext(work.dir, source.name)).catch((e: unknown) => e);
      expect(isDumpError(err), format).toBe(true);
      expect((err as Error).message).toMatch(/does not end with|not a pg_dump custom archive/);
      expect(await fsp.readdir(path.join(work.dir, source.name)).catch(() => [])).toEqual([]);
    }
  });

  it('a dump without the data of tables that have rows is a failed dump', async () => {
    const binDir = await fakePgDump('nodata-bin', `exec PG_DUMP "$@" '--exclude-table-data=*'`);
    const source = new PostgresSource({ name: 'nodata', connection, binDirs: [binDir] });
    const err = await source.prepare(makeContext(work.dir, source.name)).catch((e: unknown) => e);
    expect(isDumpError(err)).toBe(true);
    expect((err as Error).message).toMatch(/holds no data for tables that have rows: .*public\.big/);
    expect((err as Error).message).not.toMatch(/empty_t/);
  });
});
