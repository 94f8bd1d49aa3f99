import { describe, expect, it } from 'vitest';
import { isRestoreError } from '../../../../src/core/errors.js';
import { swapInAll } from '../../../../src/engines/postgres/restore-steps.js';
import type { SqlSession } from '../../../../src/engines/postgres/session.js';

/**
 * The database catalogue of a server, as the swap statements see it: rename, drop, lookups by
 * name. `failFrom` names databases whose RENAME fails (the real server cannot be made to fail a
 * rename in the middle of a swap on demand).
 */
function catalogue(names: string[], failFrom: string[] = []) {
  const dbs = new Set(names);
  const ident = (s: string, re: RegExp): string[] =>
    [...(re.exec(s) ?? [])].slice(1).map((x) => x.replace(/^"|"$/g, '').replace(/""/g, '"'));
  const session: SqlSession = {
    async query<T extends Record<string, unknown>>(sql: string): Promise<T[]> {
      const lit = /datname = '((?:[^']|'')*)'/.exec(sql)?.[1]?.replace(/''/g, "'");
      if (sql.includes('FROM pg_database') && lit !== undefined) {
        return (dbs.has(lit)
          ? [{ owner: 'postgres', encoding: 'UTF8', collate: 'C', ctype: 'C' }]
          : []) as unknown as T[];
      }
      return [];
    },
    async exec(sql: string): Promise<void> {
      const rename = ident(sql, /^ALTER DATABASE ("(?:[^"]|"")*") RENAME TO ("(?:[^"]|"")*")$/);
      if (rename.length === 2) {
        const [from, to] = rename as [string, string];
        if (!dbs.has(from)) throw new Error(`database "${from}" does not exist`);
        if (dbs.has(to)) throw new Error(`database "${to}" already exists`);
        if (failFrom.includes(from)) throw new Error(`database "${from}" is being accessed by other users`);
        dbs.delete(from);
        dbs.add(to);
        return;
      }
      const allow = ident(sql, /^ALTER DATABASE ("(?:[^"]|"")*") ALLOW_CONNECTIONS/);
      if (allow.length === 1) {
        if (!dbs.has(allow[0] as string)) throw new Error(`database "${allow[0]}" does not exist`);
        return;
      }
      const drop = ident(sql, /^DROP DATABASE IF EXISTS ("(?:[^"]|"")*")$/);
      if (drop.length === 1) {
        dbs.delete(drop[0] as string);
        return;
      }
      throw new Error(`unexpected statement: ${sql}`);
    },
    // biome-ignore lint/correctness/useYield: the swap never streams rows; a call is a bug in the test
    async *cursor() {
      throw new Error('unexpected cursor');
    },
    async close(): Promise<void> {},
  };
  return { session, dbs };
}

const where = { source: 'pg', kind: 'postgres', phase: 'restore' as const };

describe('swapping a set of restored databases in', () => {
  it('swaps all in order and reports each safety copy', async () => {
    const c = catalogue(['a', 'b', 'a_restore_00000001', 'b_restore_00000002', 'new_restore_00000003']);
    const done: string[] = [];
    const swapped = await swapInAll(
      c.session,
      [
        { live: 'a', fresh: 'a_restore_00000001' },
        { live: 'b', fresh: 'b_restore_00000002' },
        { live: 'new', fresh: 'new_restore_00000003' },
      ],
      where,
      (live) => done.push(live),
    );
    expect(done).toEqual(['a', 'b', 'new']);
    expect(swapped.map((s) => s.database)).toEqual(['a', 'b', 'new']);
    expect(swapped[0]?.safety).toMatch(/^a_before_restore_\d{8}T\d{6}$/);
    expect(swapped[2]?.safety).toBeNull();
    expect([...c.dbs].sort()).toEqual(['a', 'b', 'new', swapped[0]?.safety, swapped[1]?.safety].sort());
  });

  it('when the third swap fails, the first two are swapped back and every live database is as before', async () => {
    const c = catalogue(['a', 'b', 'c', 'a_restore_1', 'b_restore_2', 'c_restore_3'], ['c_restore_3']);
    const err = await swapInAll(
      c.session,
      [
        { live: 'a', fresh: 'a_restore_1' },
        { live: 'b', fresh: 'b_restore_2' },
        { live: 'c', fresh: 'c_restore_3' },
      ],
      where,
    ).catch((e: unknown) => e);
    expect((err as Error).message).toBe('database "c_restore_3" is being accessed by other users');
    // Live names hold the old databases again; the restored copies of a and b are dropped, the
    // unswapped c_restore_3 is left for the caller to drop.
    expect([...c.dbs].sort()).toEqual(['a', 'b', 'c', 'c_restore_3']);
  });

  it('when swapping back fails too, a RestoreError names what needs a hand', async () => {
    const c = catalogue(['a', 'b', 'a_restore_1', 'b_restore_2'], ['b_restore_2']);
    // The safety copy of a vanishes before the swap back.
    const original = c.session.exec.bind(c.session);
    c.session.exec = async (sql: string) => {
      if (/RENAME TO "b"$/.test(sql)) {
        for (const d of [...c.dbs]) if (d.startsWith('a_before_restore_')) c.dbs.delete(d);
      }
      return original(sql);
    };
    const err = await swapInAll(
      c.session,
      [
        { live: 'a', fresh: 'a_restore_1' },
        { live: 'b', fresh: 'b_restore_2' },
      ],
      where,
    ).catch((e: unknown) => e);
    expect(isRestoreError(err)).toBe(true);
    expect((err as { code: string }).code).toBe('ERR_PG_ROLLBACK');
    expect((err as Error).message).toMatch(/swapping back failed for a \(safety copy a_before_restore_\d{8}T\d{6}\)/);
  });
});
