import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresSource } from '../../../../src/engines/postgres/source.js';
import { makeContext, tempDir } from '../../../helpers/context.js';
import { dropDatabases, PG, pgAvailable, sql, uniqueDb } from './pg-helpers.js';

const available = await pgAvailable();

/**
 * pg_dump starts right after the snapshot is exported; the `before` hook (an app's version, read
 * for the file name) runs beside it, and the artifact is committed under the name it gives.
 * pg_dump is held at a table lock another session keeps until `before` has seen it waiting there.
 * The source's own transaction ends while pg_dump still writes, once `during` is done.
 */
describe.skipIf(!available)('PostgresSource: pg_dump starts before the before-hook is done', () => {
  const db = uniqueDb('pg_early');
  const connection = { ...PG, database: db };
  let work: { dir: string; cleanup: () => Promise<void> };

  beforeAll(async () => {
    work = await tempDir();
    await sql('postgres', `CREATE DATABASE ${db}`);
    await sql(db, 'CREATE TABLE gate (id int); INSERT INTO gate SELECT generate_series(1, 10);');
    // ~60 MB of COPY data: pg_dump writes for a while after its first MiB, also on a loaded host.
    await sql(
      db,
      'CREATE TABLE bulk (id int, v text); INSERT INTO bulk SELECT g, md5(g::text) FROM generate_series(1, 1500000) g;',
    );
  });
  afterAll(async () => {
    await dropDatabases([db]);
    await work.cleanup();
  });

  /** Run `fn` while another session holds an exclusive lock on `gate` (until `release()` or the end). */
  async function withGate(fn: (release: () => Promise<void>) => Promise<void>): Promise<void> {
    const client = new pg.Client(connection);
    client.on('error', () => {});
    await client.connect();
    await client.query('BEGIN');
    await client.query('LOCK TABLE gate IN ACCESS EXCLUSIVE MODE');
    let released: Promise<void> | undefined;
    const release = (): Promise<void> => {
      released ??= client
        .query('COMMIT')
        .then(() => client.end())
        .catch(() => {});
      return released;
    };
    try {
      await fn(release);
    } finally {
      await release();
    }
  }

  /** pg_dump backends of this database, and whether one waits for a lock. */
  async function pgDumps(): Promise<{ n: number; waiting: boolean }> {
    const rows = await sql<{ wait: string | null }>(
      db,
      `SELECT wait_event_type AS wait FROM pg_stat_activity WHERE datname = '${db}' AND application_name = 'pg_dump'`,
    );
    return { n: rows.length, waiting: rows.some((r) => r.wait === 'Lock') };
  }

  async function until(test: () => Promise<boolean>, ms = 10_000): Promise<boolean> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (await test()) return true;
      await new Promise((r) => setTimeout(r, 20));
    }
    return false;
  }

  it('runs the before-hook while pg_dump runs and commits the artifact under the name it gives', async () => {
    await withGate(async (release) => {
      const source = new PostgresSource(
        { name: 'pg-early', connection, format: 'sql.gz' },
        {
          before: async () => {
            const seen = await until(async () => (await pgDumps()).waiting);
            await release();
            return { pgDumpRunning: seen };
          },
          artifactName: (_info, before) => `app-v${before.pgDumpRunning ? 'seen' : 'unseen'}.sql.gz`,
        },
      );
      const ctx = makeContext(work.dir, source.name);
      const prepared = await source.prepare(ctx);
      expect(prepared.metadata?.pgDumpRunning).toBe(true);
      expect(prepared.artifacts.map((a) => a.path)).toEqual(['pg-early/app-vseen.sql.gz']);
      expect(await fsp.readdir(path.join(work.dir, 'pg-early'))).toEqual(['app-vseen.sql.gz']);
      expect((prepared.metadata as { counts: Record<string, number> }).counts).toEqual({
        'public.gate': 10,
        'public.bulk': 1500000,
      });
    });
  });

  it('a failing before-hook stops pg_dump, is the error the source reports, and leaves no file', async () => {
    await withGate(async () => {
      const source = new PostgresSource(
        { name: 'pg-early-fail', connection, format: 'sql' },
        {
          before: async () => {
            expect(await until(async () => (await pgDumps()).waiting)).toBe(true);
            throw new Error('this is not the app database');
          },
          artifactName: () => 'never.sql',
        },
      );
      const ctx = makeContext(work.dir, source.name);
      await expect(source.prepare(ctx)).rejects.toThrow('this is not the app database');
      // pg_dump was killed: its backend goes away though the lock it waits for is still held
      expect(await until(async () => (await pgDumps()).n === 0)).toBe(true);
      const dir = path.join(work.dir, 'pg-early-fail');
      expect(existsSync(dir) ? await fsp.readdir(dir) : []).toEqual([]);
    });
  });

  it("ends its own snapshot transaction while pg_dump still writes, after the during-hook's reads", async () => {
    const watcher = new pg.Client(connection);
    await watcher.connect();
    const seen: { pgDump: number; kit: number }[] = [];
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const { rows } = await watcher.query<{ app: string }>(
          `SELECT application_name AS app FROM pg_stat_activity WHERE datname = '${db}' AND pid <> pg_backend_pid()`,
        );
        seen.push({
          pgDump: rows.filter((r) => r.app === 'pg_dump').length,
          kit: rows.filter((r) => r.app === 'duplicati-kit').length,
        });
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    try {
      const source = new PostgresSource(
        { name: 'pg-early-end', connection, format: 'sql', counts: ['gate', 'bulk'] },
        {
          // Changed after the snapshot: the hook still reads the snapshot (10 rows), so the
          // transaction is still open while it runs.
          during: async (s) => {
            // Through the watcher's open connection: a new one is slow on a loaded host, and the
            // source's transaction waits for this hook.
            await watcher.query('INSERT INTO gate VALUES (11)');
            const n = Number((await s.query<{ n: string }>('SELECT count(*) AS n FROM gate'))[0]?.n);
            return { gateInSnapshot: n };
          },
        },
      );
      const prepared = await source.prepare(makeContext(work.dir, source.name));
      const meta = prepared.metadata as { counts: Record<string, number>; gateInSnapshot: number };
      expect(meta.gateInSnapshot).toBe(10);
      expect(meta.counts).toEqual({ 'public.gate': 10, 'public.bulk': 1500000 });
      // Some moment when pg_dump was still connected and the source's own session was gone.
      expect(seen.some((o) => o.pgDump > 0 && o.kit === 0)).toBe(true);
      // And nothing of either left once prepare returned.
      const { rows } = await watcher.query(
        `SELECT 1 FROM pg_stat_activity WHERE datname = '${db}' AND application_name IN ('pg_dump', 'duplicati-kit')`,
      );
      expect(rows).toEqual([]);
    } finally {
      watching = false;
      await watch;
      await watcher.end();
      await sql(db, 'DELETE FROM gate WHERE id = 11');
    }
  });

  it('a failing during-hook fails the source with its reason, leaves no file and no connection', async () => {
    const source = new PostgresSource(
      { name: 'pg-early-during', connection, format: 'sql' },
      {
        during: async () => {
          throw new Error('the app tables are not readable');
        },
      },
    );
    const ctx = makeContext(work.dir, source.name);
    const err = await source.prepare(ctx).then(
      () => undefined,
      (e: unknown) => e as { code?: string; message?: string },
    );
    expect(err?.code).toBe('ERR_PG_METADATA');
    expect(err?.message).toContain('the app tables are not readable');
    const dir = path.join(work.dir, 'pg-early-during');
    expect(existsSync(dir) ? await fsp.readdir(dir) : []).toEqual([]);
    const left = await sql<{ n: number }>(
      db,
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = '${db}' AND application_name IN ('pg_dump', 'duplicati-kit')`,
    );
    expect(left[0]?.n).toBe(0);
  });
});
