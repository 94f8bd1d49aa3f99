import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresSource } from '../../../../src/engines/postgres/source.js';
import { type PostgresTargetHooks, PostgresTarget } from '../../../../src/engines/postgres/target.js';
import type { SqlSession } from '../../../../src/engines/postgres/session.js';
import { makeContext, tempDir } from '../../../helpers/context.js';
import { databasesLike, dropDatabases, PG, pgAvailable, sql, uniqueDb } from './pg-helpers.js';
import { restoreInputFor } from './restore-input.js';

const available = await pgAvailable();

/** What an `inspect` hook saw of the loaded database while it ran. */
type Seen = {
  database: string;
  /** Sessions of this program on the loaded database while the hook ran (its own included). */
  sessions: number;
  /** The hook's backend and the backends of the other sessions on the loaded database. */
  own: number;
  others: number[];
  counts: Readonly<Record<string, number>>;
  /** `max_parallel_workers_per_gather` of the hook's session. */
  workers: string;
};

/** A hook that looks at the loaded database on the session it was given, then takes the counts. */
function recordingHooks(seen: Seen[]): PostgresTargetHooks {
  return {
    inspect: async (_input, loaded: SqlSession, _ctx, counts) => {
      const [me] = await loaded.query<{ db: string; pid: number }>(
        'SELECT current_database() AS db, pg_backend_pid() AS pid',
      );
      const others = await loaded.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'duplicati-kit' AND pid <> pg_backend_pid()`,
      );
      const [w] = await loaded.query<{ w: string }>("SELECT current_setting('max_parallel_workers_per_gather') AS w");
      const got = await counts;
      seen.push({
        workers: String(w?.w),
        database: me?.db ?? '',
        sessions: others.length + 1,
        own: Number(me?.pid),
        others: others.map((r) => Number(r.pid)),
        counts: got,
      });
      return [{ name: 'hook', ok: got['public.items'] === 321, detail: JSON.stringify(got) }];
    },
  };
}

describe.skipIf(!available)('PostgresTarget: the app checks run beside the row counts', () => {
  const db = uniqueDb('inspect');
  let work: { dir: string; cleanup: () => Promise<void> };

  beforeAll(async () => {
    work = await tempDir();
    await sql('postgres', `CREATE DATABASE ${db}`);
    await sql(
      db,
      `CREATE TABLE public.items (id int PRIMARY KEY, v text);
       INSERT INTO public.items SELECT g, md5(g::text) FROM generate_series(1, 321) g;
       CREATE TABLE public.notes (id int);
       INSERT INTO public.notes SELECT generate_series(1, 9);`,
    );
  });

  afterAll(async () => {
    await dropDatabases(await databasesLike(db));
    await work.cleanup();
  });

  const connection = { ...PG, database: db };

  it('gives inspect its own session on the loaded database and the counts as a promise', async () => {
    const source = new PostgresSource({ name: 'main', connection });
    const prepared = await source.prepare(makeContext(work.dir, source.name));
    const seen: Seen[] = [];
    const target = new PostgresTarget({ connection, scratch: true }, recordingHooks(seen));
    const report = await target.verify(restoreInputFor(source, prepared, work.dir), makeContext(work.dir, 'main'));

    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.checks.map((c) => c.name)).toEqual(expect.arrayContaining(['counts', 'hook', 'load']));
    expect(seen).toHaveLength(1);
    const s = seen[0] as Seen;
    // The scratch database, not the live one; the counting session is another backend on it.
    expect(s.database).not.toBe(db);
    expect(s.database.startsWith(`${db}_restore_`)).toBe(true);
    expect(s.sessions).toBe(2);
    expect(s.others).not.toContain(s.own);
    expect(s.counts).toEqual({ 'public.items': 321, 'public.notes': 9 });
    // The two sessions share the cores: neither starts parallel workers.
    expect(s.workers).toBe('0');
    // Every session on the scratch database was closed and the database dropped.
    expect(await databasesLike(`${db}_restore_`)).toEqual([]);
  });

  it('a failing hook fails the restore before the swap and leaves the live database as it was', async () => {
    const source = new PostgresSource({ name: 'main', connection });
    const prepared = await source.prepare(makeContext(work.dir, source.name));
    const target = new PostgresTarget(
      { connection },
      {
        inspect: async (_input, _loaded, _ctx, counts) => {
          const got = await counts;
          return [{ name: 'hook', ok: false, detail: `refused ${Object.keys(got).length} tables` }];
        },
      },
    );
    const before = await sql<{ oid: number }>('postgres', `SELECT oid FROM pg_database WHERE datname = '${db}'`);
    await expect(
      target.restore(restoreInputFor(source, prepared, work.dir), makeContext(work.dir, 'main')),
    ).rejects.toThrow(/does not match the manifest/);
    const after = await sql<{ oid: number }>('postgres', `SELECT oid FROM pg_database WHERE datname = '${db}'`);
    expect(after).toEqual(before);
    expect(await databasesLike(`${db}_restore_`)).toEqual([]);
  });

  it('a load that fails closes the sessions opened for the checks and drops the scratch database', async () => {
    const source = new PostgresSource({ name: 'main', connection });
    const prepared = await source.prepare(makeContext(work.dir, source.name));
    const input = restoreInputFor(source, prepared, work.dir);
    // A dump whose last statement fails: psql stops and the single transaction rolls back.
    const { promises: fsp } = await import('node:fs');
    const file = input.artifacts[0]?.file as string;
    await fsp.appendFile(file, '\nSELECT no_such_function();\n');
    const seen: Seen[] = [];
    const target = new PostgresTarget({ connection, scratch: true }, recordingHooks(seen));
    const report = await target.verify(input, makeContext(work.dir, 'main'));
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.name === 'load')?.ok).toBe(false);
    expect(seen).toEqual([]);
    expect(await databasesLike(`${db}_restore_`)).toEqual([]);
    const left = await sql<{ n: number }>(
      'postgres',
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname LIKE '${db}\\_restore\\_%'`,
    );
    expect(left[0]?.n).toBe(0);
  });
});
