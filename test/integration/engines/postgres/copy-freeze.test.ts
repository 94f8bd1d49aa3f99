/**
 * A plain dump loaded into a new database in one transaction has its rows frozen (COPY … FREEZE):
 * checked with pg_visibility on a real server. A file PostgreSQL refuses to freeze is loaded again
 * as it was written, and a dump with a partitioned table is loaded without FREEZE from there on.
 */
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResolvedPgConnection } from '../../../../src/engines/postgres/connection.js';
import { PgExecutor } from '../../../../src/engines/postgres/executor.js';
import { loadDump } from '../../../../src/engines/postgres/load.js';
import { tempDir } from '../../../helpers/context.js';
import { dropDatabases, PG, pgAvailable, sql, uniqueDb } from './pg-helpers.js';

const available = await pgAvailable();

describe.skipIf(!available)('loading a plain dump with COPY FREEZE', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  const created: string[] = [];
  const executor = new PgExecutor('local');
  const conn = (database: string): ResolvedPgConnection => ({
    ...PG,
    database,
    password: undefined,
    sslmode: undefined,
  });

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('dk-pg-freeze-'));
  });
  afterAll(async () => {
    await dropDatabases(created);
    await cleanup();
  });

  async function newDb(prefix: string): Promise<string> {
    const db = uniqueDb(prefix);
    created.push(db);
    await sql('postgres', `CREATE DATABASE ${db}`);
    return db;
  }

  async function load(file: string, database: string, copyFreeze: boolean): Promise<void> {
    const rows = await sql<{ v: number }>('postgres', "SELECT current_setting('server_version_num')::int / 10000 AS v");
    const { pick } = await executor.findToolFor('psql', Number(rows[0]?.v));
    if (!pick) throw new Error('no psql');
    await loadDump({
      executor,
      tool: pick,
      conn: conn(database),
      database,
      file,
      format: 'sql',
      copyFreeze,
      signal: AbortSignal.timeout(60_000),
      where: { source: 'db', kind: 'postgres', phase: 'restore' },
      secrets: [],
    });
  }

  /** Pages of `table` whose rows are all frozen, and all its pages (pg_visibility). */
  async function frozenPages(db: string, table: string): Promise<{ frozen: number; pages: number }> {
    await sql(db, 'CREATE EXTENSION IF NOT EXISTS pg_visibility');
    const r = await sql<{ frozen: string; pages: string }>(
      db,
      `SELECT count(*) FILTER (WHERE all_frozen) AS frozen, count(*) AS pages FROM pg_visibility_map('${table}')`,
    );
    return { frozen: Number(r[0]?.frozen), pages: Number(r[0]?.pages) };
  }

  it('freezes the rows of every table the dump creates, and loads the same rows', async () => {
    const src = await newDb('freeze_src');
    await sql(
      src,
      `CREATE TABLE items (id int PRIMARY KEY, note text);
       INSERT INTO items SELECT g, 'COPY x FROM stdin;' || g FROM generate_series(1, 20000) g;
       CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$ SELECT 'COPY y FROM stdin;' $$;`,
    );
    const file = path.join(dir, 'items.sql');
    execFileSync('pg_dump', ['-h', PG.host, '-p', String(PG.port), '-U', PG.user, '-f', file, src]);
    const frozen = await newDb('freeze_on');
    await load(file, frozen, true);
    const plain = await newDb('freeze_off');
    await load(file, plain, false);
    const on = await frozenPages(frozen, 'items');
    expect(on.pages).toBeGreaterThan(10);
    expect(on.frozen).toBe(on.pages);
    expect((await frozenPages(plain, 'items')).frozen).toBe(0);
    const digest = `SELECT count(*) AS n, md5(string_agg(id || note, ',' ORDER BY id)) AS h, f() AS f FROM items`;
    expect(await sql(frozen, digest)).toEqual(await sql(src, digest));
  });

  it('loads a file PostgreSQL will not freeze (its table made in an earlier subtransaction) as it was written', async () => {
    const file = path.join(dir, 'savepoint.sql');
    await fsp.writeFile(
      file,
      'CREATE TABLE public.t (a integer);\nSAVEPOINT s;\nCOPY public.t (a) FROM stdin;\n1\n2\n\\.\nRELEASE SAVEPOINT s;\n',
    );
    const db = await newDb('freeze_refused');
    await load(file, db, true);
    expect(await sql(db, 'SELECT count(*)::int AS n FROM t')).toEqual([{ n: 2 }]);
  });

  it('loads a dump that COPYs into a partitioned root (--load-via-partition-root)', async () => {
    const src = await newDb('freeze_part');
    await sql(
      src,
      `CREATE TABLE parted (id int, v text) PARTITION BY RANGE (id);
       CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (1000);
       CREATE TABLE plain_t (id int);
       INSERT INTO parted SELECT g, 'v' FROM generate_series(1, 500) g;
       INSERT INTO plain_t SELECT generate_series(1, 10);`,
    );
    const file = path.join(dir, 'parted.sql');
    execFileSync('pg_dump', ['-h', PG.host, '-U', PG.user, '--load-via-partition-root', '-f', file, src]);
    expect(await fsp.readFile(file, 'utf8')).toMatch(/^COPY public\.parted /m);
    const db = await newDb('freeze_part_to');
    await load(file, db, true);
    expect(
      await sql(db, 'SELECT (SELECT count(*) FROM parted)::int AS p, (SELECT count(*) FROM plain_t)::int AS t'),
    ).toEqual([{ p: 500, t: 10 }]);
  });
});
