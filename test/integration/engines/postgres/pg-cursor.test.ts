/**
 * SqlSession.cursor against the real server, through both session kinds: the `pg` driver (local
 * executor) and a long-lived psql (docker executor, here a fake docker that runs the local psql).
 * Rows arrive in bounded batches, in order, with awkward text intact; stopping early or a failing
 * query leaves the session usable and outside any transaction.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgEndpoint } from '../../../../src/engines/postgres/endpoint.js';
import type { SqlSession } from '../../../../src/engines/postgres/session.js';
import { tempDir } from '../../../helpers/context.js';
import { writeFakeDocker } from '../../apps/immich/fixture.js';
import { dropDatabases, PG, pgAvailable, sql, uniqueDb } from './pg-helpers.js';

const available = await pgAvailable();

describe.skipIf(!available)('SqlSession.cursor', () => {
  const db = uniqueDb('cursor');
  let work: { dir: string; cleanup: () => Promise<void> };
  let docker: string;

  beforeAll(async () => {
    work = await tempDir('dk-cursor-');
    docker = (await writeFakeDocker(work.dir)).command;
    await sql('postgres', `CREATE DATABASE ${db}`);
    await sql(
      db,
      `CREATE TABLE t (id int PRIMARY KEY, p text NOT NULL);
       INSERT INTO t SELECT g, '/data/upload/' || g || E'/line\\nbreak "quoted" é.jpg' FROM generate_series(1, 5001) g;`,
    );
  });

  afterAll(async () => {
    await dropDatabases([db]);
    await work?.cleanup();
  });

  const open = async (kind: 'driver' | 'psql'): Promise<SqlSession> => {
    const endpoint = new PgEndpoint(
      { ...PG, database: db },
      kind === 'driver' ? 'local' : { docker: { container: 'immich_postgres', command: docker } },
      undefined,
      { source: 'test', kind: 'postgres' },
    );
    const signal = new AbortController().signal;
    return endpoint.open(await endpoint.resolve(signal), db, 'verify', signal);
  };

  it.each(['driver', 'psql'] as const)('streams every row in bounded batches (%s)', async (kind) => {
    const s = await open(kind);
    try {
      const sizes: number[] = [];
      let expected = 1;
      for await (const batch of s.cursor<{ id: number; p: string }>('SELECT id, p FROM t ORDER BY id', 2000)) {
        sizes.push(batch.length);
        for (const r of batch) {
          expect(Number(r.id)).toBe(expected);
          expect(r.p).toBe(`/data/upload/${expected}/line\nbreak "quoted" é.jpg`);
          expected++;
        }
      }
      expect(sizes).toEqual([2000, 2000, 1001]);

      // Stopping early closes the cursor and its transaction.
      for await (const batch of s.cursor('SELECT id FROM t ORDER BY id', 10)) {
        expect(batch).toHaveLength(10);
        break;
      }
      expect(await s.query<{ ro: string }>('SELECT current_setting($$transaction_read_only$$) AS ro')).toEqual([
        { ro: 'off' },
      ]);
      expect(await s.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_cursors')).toEqual([{ n: 0 }]);

      // A failing query rejects, and the session goes on.
      const iterate = async () => {
        for await (const _ of s.cursor('SELECT nope FROM t')) expect.unreachable();
      };
      await expect(iterate()).rejects.toThrow(/nope/);
      expect(await s.query<{ n: number }>('SELECT count(*)::int AS n FROM t')).toEqual([{ n: 5001 }]);
    } finally {
      await s.close();
    }
  });
});
