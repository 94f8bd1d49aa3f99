/**
 * The PostgreSQL swap against the real server: all renames in one transaction (a failure half-way
 * changes nothing), swap-back safe to run again after an interruption, the claim that keeps two
 * runs apart, and the sweep of what killed runs left (only names of the target's own shape).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { claimDatabases, sweepLeftovers } from '../../../../src/engines/postgres/admin.js';
import { claimAndSweep, swapBack, swapInAll } from '../../../../src/engines/postgres/restore-steps.js';
import { openDriverSession, type SqlSession } from '../../../../src/engines/postgres/session.js';
import { silentLogger } from '../../../../src/core/logger.js';
import { PostgresTarget } from '../../../../src/engines/postgres/target.js';
import { makeContext } from '../../../helpers/context.js';
import { databasesLike, dropDatabases, PG, pgAvailable, sql, uniqueDb } from './pg-helpers.js';

const available = await pgAvailable();
const where = { source: 'pg', kind: 'postgres', phase: 'restore' as const };
const prefix = uniqueDb('swap');
const CONN = { ...PG, database: 'postgres', password: undefined, sslmode: undefined };

async function makeDb(name: string, body: string): Promise<void> {
  await sql('postgres', `CREATE DATABASE "${name}"`);
  await sql(name, `CREATE TABLE t (v text); INSERT INTO t VALUES ('${body}')`);
}
const body = async (name: string) => (await sql<{ v: string }>(name, 'SELECT v FROM t'))[0]?.v;
const admin = (): Promise<SqlSession> => openDriverSession(CONN, 'postgres');

describe.skipIf(!available)('PostgreSQL swap (real server)', () => {
  afterAll(async () => dropDatabases(await databasesLike(prefix)));

  it('swaps a set in one transaction; a rename failing half-way changes nothing', async () => {
    const [a, b] = [`${prefix}_a`, `${prefix}_b`];
    await makeDb(a, 'old a');
    await makeDb(b, 'old b');
    await makeDb(`${a}_restore_00000001`, 'new a');
    const s = await admin();
    try {
      // b's restored database is missing: the second half of the transaction fails.
      const err = await swapInAll(
        s,
        [
          { live: a, fresh: `${a}_restore_00000001` },
          { live: b, fresh: `${b}_restore_00000002` },
        ],
        where,
      ).catch((e: unknown) => e);
      expect((err as { code?: string }).code).toBe('ERR_PG_SWAP');
      expect(await body(a)).toBe('old a');
      expect(await body(b)).toBe('old b');
      expect(await databasesLike(`${a}_before_restore_`)).toEqual([]);
      expect(await body(`${a}_restore_00000001`)).toBe('new a');

      await makeDb(`${b}_restore_00000002`, 'new b');
      const swapped = await swapInAll(
        s,
        [
          { live: a, fresh: `${a}_restore_00000001` },
          { live: b, fresh: `${b}_restore_00000002` },
        ],
        where,
      );
      expect(await body(a)).toBe('new a');
      expect(await body(b)).toBe('new b');
      expect(await body(swapped[0]?.safety as string)).toBe('old a');
      const allow = await sql<{ n: string }>(
        'postgres',
        `SELECT count(*) AS n FROM pg_database WHERE NOT datallowconn AND starts_with(datname, '${prefix}')`,
      );
      expect(Number(allow[0]?.n)).toBe(0);

      // Swap-back of a: the safety copy takes the live name again, the restored one goes.
      await swapBack(s, a, swapped[0]?.safety as string);
      expect(await body(a)).toBe('old a');
      // Run again after it completed: nothing to swap back, said clearly, live untouched.
      await expect(swapBack(s, a, swapped[0]?.safety as string)).rejects.toThrow(/does not exist/);
      expect(await body(a)).toBe('old a');
    } finally {
      await s.close();
    }
  });

  it('a swap-back of a swap that never committed renames nothing and drops the scratch database', async () => {
    const live = `${prefix}_c`;
    await makeDb(live, 'old c');
    await makeDb(`${live}_restore_0000000a`, 'new c');
    const s = await admin();
    try {
      await swapBack(s, live, `${live}_before_restore_20260101T000000`, `${live}_restore_0000000a`);
      expect(await body(live)).toBe('old c');
      expect(await databasesLike(`${live}_restore_`)).toEqual([]);
    } finally {
      await s.close();
    }
  });

  it('one run at a time per live database; the sweep drops only stale names of its own shape', async () => {
    const live = `${prefix}_d`;
    await makeDb(live, 'old d');
    const stale = `${live}_restore_0000abcd`;
    const busy = `${live}_restore_0000beef`;
    const failed = `${live}_failed_restore_20260101T000000`;
    const safety = `${live}_before_restore_20260101T000000`;
    const other = `${live}_restore_me`;
    for (const n of [stale, busy, failed, safety, other]) await makeDb(n, n);
    const first = await admin();
    const second = await openDriverSession(CONN, 'template1');
    const user = await openDriverSession(CONN, busy);
    try {
      await claimAndSweep(first, [live], where, { logger: silentLogger, dryRun: false });
      // Another session (even on another database) cannot claim it while the first holds it.
      expect(await claimDatabases(second, [live])).toEqual([live]);
      const err = await claimAndSweep(second, [live], where, { logger: silentLogger, dryRun: false }).catch((e) => e);
      expect((err as { code?: string }).code).toBe('ERR_PG_BUSY');
      const left = await databasesLike(live);
      expect(left).toEqual([live, busy, safety, other].sort());
      await first.close();
      expect(await claimDatabases(second, [live])).toEqual([]);
      await user.close();
      expect(await sweepLeftovers(second, live)).toEqual([busy]);
    } finally {
      await first.close();
      await second.close();
      await user.close();
    }
  });

  it('PostgresTarget.recover drops the scratch databases a killed run left, and nothing else', async () => {
    const live = `${prefix}_e`;
    await makeDb(live, 'old e');
    await makeDb(`${live}_restore_0000cafe`, 'stale');
    await makeDb(`${live}_before_restore_20260101T000000`, 'restore point');
    const target = new PostgresTarget({ connection: { ...PG, database: live } });
    expect(await target.recover(makeContext('/tmp', 'pg'))).toEqual([`${live}_restore_0000cafe`]);
    expect(await databasesLike(live)).toEqual([live, `${live}_before_restore_20260101T000000`]);
  });
});
