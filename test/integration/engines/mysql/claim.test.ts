import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { neverAborted } from '../../../../src/core/abort.js';
import { MysqlEndpoint } from '../../../../src/engines/mysql/client.js';
import { claimMysqlDatabases } from '../../../../src/engines/mysql/swap.js';
import { available, CONN } from './mariadb.js';

const up = await available();

describe.skipIf(!up)('MySQL restore claims against MariaDB', () => {
  const live = `dk_claim_${randomBytes(3).toString('hex')}`;
  const a = new MysqlEndpoint(CONN, { source: 'claim-a', kind: 'mysql' });
  const b = new MysqlEndpoint(CONN, { source: 'claim-b', kind: 'mysql' });

  beforeAll(async () => {
    await a.open('restore', neverAborted());
    await b.open('restore', neverAborted());
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  it('a claim is free for the next run the moment release returns (no waiting on the server)', async () => {
    // A restore's rollback claims again right after the restore released: that must never find
    // the restore's own lock still held by a connection the server has not finished closing.
    for (let i = 0; i < 25; i++) {
      const first = await claimMysqlDatabases(i % 2 ? a : b, [live], neverAborted());
      expect('release' in first).toBe(true);
      const held = await claimMysqlDatabases(i % 2 ? b : a, [live], neverAborted());
      expect(held).toEqual({ busy: [live] });
      if ('release' in first) await first.release();
      const next = await claimMysqlDatabases(i % 2 ? b : a, [live], neverAborted());
      expect('release' in next).toBe(true);
      if ('release' in next) await next.release();
    }
  });
});
