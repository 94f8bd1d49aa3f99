/**
 * Kill harness, PostgreSQL: the built CLI restores a `postgres` entry (from a folder) and is
 * SIGKILLed before, during and after every statement it sends and every client it starts. After
 * each kill: the live database exists, accepts connections and holds exactly the old or the new
 * rows; when it holds the new ones, the safety copy holds the old ones and the target's rollback
 * puts them back; the next run drops every scratch database a kill left.
 *
 * CI runs the swap's points at all three moments and every fifth other point `before`;
 * DK_CRASH_FULL=1 runs every point at every moment.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/app/config.js';
import { PostgresTarget } from '../../../src/engines/postgres/index.js';
import { makeContext, tempDir } from '../../helpers/context.js';
import { requireBuiltCli } from '../../helpers/cli.js';
import { databasesLike, dropDatabases, PG, pgAvailable, sql, uniqueDb } from '../engines/postgres/pg-helpers.js';
import { countPoints, pointsToTry, runKilled } from './db-harness.js';

const available = await pgAvailable();
const FULL = process.env.DK_CRASH_FULL === '1';

describe.skipIf(!available)('kill harness: PostgreSQL restore through the built CLI', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  const live = uniqueDb('crashpg');
  const template = uniqueDb('crashtpl');
  const OLD = 'a,b,after';
  const NEW = 'a,b';

  const content = async (db: string): Promise<string> =>
    String((await sql<{ s: string }>(db, "SELECT string_agg(body, ',' ORDER BY id) AS s FROM notes"))[0]?.s);
  const safetyCopies = async () => (await databasesLike(`${live}_before_restore_`)).sort();
  const restoreArgs = () => ['--config', path.join(dir, 'cfg.json'), 'restore', '--from', path.join(dir, 'staging')];

  /** Live is the old content again, nothing else of its name (the points then number alike). */
  async function reset(): Promise<void> {
    await dropDatabases(await databasesLike(live));
    await sql('postgres', `CREATE DATABASE ${live} TEMPLATE ${template}`);
  }

  beforeAll(async () => {
    requireBuiltCli();
    ({ dir, cleanup } = await tempDir('dk-crash-pg-'));
    await sql('postgres', `CREATE DATABASE ${live}`);
    await sql(
      live,
      "CREATE TABLE notes (id serial PRIMARY KEY, body text); INSERT INTO notes (body) VALUES ('a'), ('b')",
    );
    const connection = { ...PG, database: live };
    await writeFile(
      path.join(dir, 'cfg.json'),
      JSON.stringify({
        workDir: path.join(dir, 'staging'),
        sources: [{ type: 'postgres', name: 'app-db', connection }],
        restore: { targets: [{ type: 'postgres', name: 'app-db', connection }], stateDir: 'state' },
      }),
    );
    const cfg = await loadConfig(path.join(dir, 'cfg.json'));
    expect((await cfg.backupPlan().prepare()).ok).toBe(true);
    await sql(live, "INSERT INTO notes (body) VALUES ('after')");
    expect(await content(live)).toBe(OLD);
    await sql('postgres', `CREATE DATABASE ${template} TEMPLATE ${live}`);
  });

  afterAll(async () => {
    await dropDatabases([...(await databasesLike(live)), template]);
    await cleanup?.();
  });

  it('leaves the live database old or new, reachable, with a way back, after a kill at every point', async () => {
    await reset();
    const counted = await countPoints(restoreArgs(), dir);
    expect(counted.run.code, counted.run.stderr).toBe(0);
    expect(await content(live)).toBe(NEW);
    const isSwap = (p: { text: string }) => /^(BEGIN|COMMIT|ROLLBACK)$|RENAME TO|pg_terminate_backend/.test(p.text);
    const tries = pointsToTry(counted.points, FULL, isSwap);
    expect(counted.points.filter(isSwap).length).toBeGreaterThan(0);
    const target = new PostgresTarget({ connection: { ...PG, database: live } });
    const failures: string[] = [];
    const seen = { old: 0, new: 0, killed: 0 };
    for (const t of tries) {
      await reset();
      const run = await runKilled(restoreArgs(), dir, { DK_KILL_AT: String(t.n), DK_KILL_WHEN: t.when });
      const at = `point ${t.n} ${t.when} (${t.text.slice(0, 60)})`;
      if (run.signal === 'SIGKILL') seen.killed++;
      else if (run.code !== 0) failures.push(`${at}: the run neither died nor succeeded: ${run.stderr.slice(-300)}`);
      // Live exists, accepts connections (a connection is made), and is old or new.
      let now: string;
      try {
        now = await content(live);
        const allow = await sql<{ ok: boolean }>(
          'postgres',
          `SELECT datallowconn AS ok FROM pg_database WHERE datname = '${live}'`,
        );
        if (allow[0]?.ok !== true) failures.push(`${at}: live refuses connections`);
      } catch (e) {
        failures.push(`${at}: live is unreachable: ${(e as Error).message}`);
        continue;
      }
      const copies = await safetyCopies();
      if (now === OLD) {
        seen.old++;
        if (copies.length) failures.push(`${at}: live is old but a safety copy exists: ${copies.join(', ')}`);
      } else if (now === NEW) {
        seen.new++;
        // The way back: the safety copy holds the old rows, and rollback puts them in place.
        const safety = copies[0];
        if (copies.length !== 1 || safety === undefined || (await content(safety)) !== OLD) {
          failures.push(
            `${at}: live is new but there is no single safety copy with the old rows (${copies.join(', ')})`,
          );
          continue;
        }
        await target.rollback(
          { restored: [], state: { database: live, safety } },
          makeContext(path.join(dir, 'rollback'), 'app-db'),
        );
        if ((await content(live)) !== OLD) failures.push(`${at}: rollback did not put the old rows back`);
      } else {
        failures.push(`${at}: live holds neither the old nor the new rows: ${now}`);
      }
    }
    // A kill after the load leaves a scratch database; the next run drops it and finishes.
    await reset();
    const load = counted.points.find((p) => p.kind === 'client');
    expect(load).toBeDefined();
    // By kind, not number: this run first recovers what the loop's last kill left, which numbers
    // its points differently from the counting pass.
    await runKilled(restoreArgs(), dir, { DK_KILL_KIND: 'client', DK_KILL_WHEN: 'after' });
    expect((await databasesLike(`${live}_restore_`)).length).toBe(1);
    const next = await runKilled(restoreArgs(), dir, {});
    expect(next.code, next.stderr).toBe(0);
    const left = (await databasesLike(live)).filter((d) => d !== live && !d.includes('_before_restore_'));
    console.info(
      `kill harness (PostgreSQL): ${counted.points.length} points, ${tries.length} kills tried (${FULL ? 'full' : 'CI subset'}), ${seen.killed} killed, live old ${seen.old} / new ${seen.new}, ${failures.length} failures`,
    );
    expect(failures).toEqual([]);
    expect(left).toEqual([]);
  }, 1_800_000);
});
