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
 */
describe.skipIf(!available)('PostgresSource: pg_dump starts before the before-hook is done', () => {
  const db = uniqueDb('pg_early');
  const connection = { ...PG, database: db };
  let work: { dir: string; cleanup: () => Promise<void> };

  beforeAll(async () => {
    work = await tempDir();
    await sql('postgres', `CREATE DATABASE ${db}`);
    await sql(db, 'CREATE TABLE gate (id int); INSERT INTO gate SELECT generate_series(1, 10);');
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
      expect((prepared.metadata as { counts: Record<string, number> }).counts).toEqual({ 'public.gate': 10 });
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
});
