import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../../src/core/logger.js';
import { serverSpaceCheck } from '../../../../src/engines/postgres/server-space.js';
import { openDriverSession, type SqlSession } from '../../../../src/engines/postgres/session.js';
import { PostgresSource } from '../../../../src/engines/postgres/source.js';
import { PostgresTarget } from '../../../../src/engines/postgres/target.js';
import { createBackupPlan } from '../../../../src/plan/backup-plan.js';
import { createRestorePlan } from '../../../../src/plan/restore-plan.js';
import { tempDir } from '../../../helpers/context.js';
import { databasesLike, dropDatabases, PG, pgAvailable, sql, uniqueDb } from './pg-helpers.js';

// A restore needs room inside the PostgreSQL server, not only for the dump: the source records the
// database's size, the target compares it (plus the load's WAL) with the free space of the server's
// own data directory — when it can prove that directory is this server's, seen from here.

const available = await pgAvailable();

/** A driver session on the test server as `user`. */
const session = (user: string): Promise<SqlSession> =>
  openDriverSession({ ...PG, user, database: 'postgres', password: undefined, sslmode: undefined }, 'postgres');

describe.skipIf(!available)('free space inside the PostgreSQL server', () => {
  const db = uniqueDb('space');
  const role = `dk_space_${Date.now().toString(36)}`;
  let work: { dir: string; cleanup: () => Promise<void> };
  let workDir: string;
  let dataDir: string;

  beforeAll(async () => {
    work = await tempDir('dk-space-');
    workDir = path.join(work.dir, 'work');
    await sql('postgres', `CREATE DATABASE ${db}`);
    await sql(db, 'CREATE TABLE items AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 5000) g');
    await sql('postgres', `CREATE ROLE ${role} LOGIN`);
    dataDir = (await sql<{ d: string }>('postgres', "SELECT current_setting('data_directory') AS d"))[0]?.d as string;
  });

  afterAll(async () => {
    await sql('postgres', `DROP ROLE IF EXISTS ${role}`);
    await dropDatabases(await databasesLike(db));
    await work.cleanup();
  });

  it("measures the server's own data directory, and refuses a database bigger than its free space", async () => {
    const s = await session(PG.user);
    try {
      const small = await serverSpaceCheck(s, 50 * 1024 * 1024);
      expect(small.ok).toBe(true);
      expect(small.detail).toContain(`free in ${dataDir}`);
      const st = await fsp.statfs(dataDir);
      const huge = await serverSpaceCheck(s, st.bavail * st.bsize + 1);
      expect(huge.ok).toBe(false);
      expect(huge.detail).toMatch(new RegExp(`^not enough free space in ${dataDir}: the database was`));
    } finally {
      await s.close();
    }
  });

  it('does not measure for a role that may not read data_directory', async () => {
    const s = await session(role);
    try {
      const r = await serverSpaceCheck(s, 1e18);
      expect(r).toEqual({
        name: 'server-space',
        ok: true,
        detail: 'not measured: the role may not read data_directory (superuser or pg_read_all_settings)',
      });
    } finally {
      await s.close();
    }
  });

  it('the source records the database size; a verify refuses a backup the server has no room for', async () => {
    const source = new PostgresSource({ name: 'main', connection: { ...PG, database: db } });
    const prepared = await createBackupPlan({ sources: [source], workDir }).prepare();
    expect(prepared.ok).toBe(true);
    const recorded = prepared.results[0]?.metadata.databaseBytes;
    const actual = Number((await sql<{ n: string }>(db, 'SELECT pg_database_size(current_database()) AS n'))[0]?.n);
    expect(recorded).toBe(actual);
    const target = () => new PostgresTarget({ name: 'main', connection: { ...PG, database: db }, source: 'main' });
    const fits = await createRestorePlan({ targets: [target()], logger: silentLogger }).run({
      from: workDir,
      dryRun: true,
      reject: false,
    });
    expect(fits.entries[0]?.verification?.checks.find((c) => c.name === 'server-space')?.ok).toBe(true);
    // The same backup, had the database been larger than the server's free space.
    const manifestFile = path.join(workDir, 'manifest.json');
    const manifest = JSON.parse(await fsp.readFile(manifestFile, 'utf8'));
    manifest.sources[0].metadata.databaseBytes = 2 ** 60;
    await fsp.writeFile(manifestFile, JSON.stringify(manifest));
    const refused = await createRestorePlan({ targets: [target()], logger: silentLogger }).run({
      from: workDir,
      dryRun: true,
      reject: false,
    });
    const check = refused.entries[0]?.verification?.checks.find((c) => c.name === 'server-space');
    expect(check?.ok).toBe(false);
    expect(refused.ok).toBe(false);
  });
});
