/**
 * Kill harness, MySQL/MariaDB: the built CLI restores a `mysql` entry (from a folder) and is
 * SIGKILLed before, during and after every client it starts (each is one batch of statements:
 * the engine talks to the server through the `mariadb` client). After each kill: the live
 * database holds exactly the old or the new rows (one `RENAME TABLE` moves them all), and after the
 * next run's recovery (`MysqlTarget.recover`) its view is there and matches, and a new content has
 * a safety database with the old rows that rollback puts back. The last run finds nothing left.
 *
 * CI runs the swap's points `before` and `after` and every fifth other point `before`;
 * DK_CRASH_FULL=1 runs every point at every moment.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/app/config.js';
import { MysqlTarget } from '../../../src/engines/mysql/index.js';
import { requireBuiltCli } from '../../helpers/cli.js';
import { makeContext, tempDir } from '../../helpers/context.js';
import { available as mariadbAvailable, CONN, sql } from '../engines/mysql/mariadb.js';
import { countPoints, pointsToTry, runKilled } from './db-harness.js';

const available = await mariadbAvailable();
const FULL = process.env.DK_CRASH_FULL === '1';

describe.skipIf(!available)('kill harness: MySQL/MariaDB restore through the built CLI', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  const live = `dk_crashmy_${randomBytes(4).toString('hex')}`;
  const OLD = 'a,b,after';
  const NEW = 'a,b';

  const databases = async (): Promise<string[]> =>
    (
      await sql(`SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '${live}%' ORDER BY 1;`)
    ).map((r) => r[0] ?? '');
  const content = async (db: string, from = 'notes'): Promise<string> =>
    (await sql(`SELECT IFNULL(GROUP_CONCAT(body ORDER BY id), '') FROM \`${db}\`.\`${from}\`;`))[0]?.[0] ?? '';
  const restoreArgs = () => ['--config', path.join(dir, 'cfg.json'), 'restore', '--from', path.join(dir, 'staging')];
  const ctx = () => makeContext(path.join(dir, 'recover'), 'app-db');

  async function reset(): Promise<void> {
    for (const db of await databases()) await sql(`DROP DATABASE \`${db}\`;`);
    await sql(
      `CREATE DATABASE \`${live}\`; USE \`${live}\`; CREATE TABLE notes (id INT PRIMARY KEY AUTO_INCREMENT, body TEXT); INSERT INTO notes (body) VALUES ('a'), ('b'), ('after'); CREATE VIEW v AS SELECT id, body FROM notes;`,
    );
  }

  beforeAll(async () => {
    requireBuiltCli();
    ({ dir, cleanup } = await tempDir('dk-crash-my-'));
    await sql(
      `CREATE DATABASE \`${live}\`; USE \`${live}\`; CREATE TABLE notes (id INT PRIMARY KEY AUTO_INCREMENT, body TEXT); INSERT INTO notes (body) VALUES ('a'), ('b'); CREATE VIEW v AS SELECT id, body FROM notes;`,
    );
    const connection = { ...CONN, database: live };
    await writeFile(
      path.join(dir, 'cfg.json'),
      JSON.stringify({
        workDir: path.join(dir, 'staging'),
        sources: [{ type: 'mysql', name: 'app-db', connection }],
        restore: { targets: [{ type: 'mysql', name: 'app-db', connection: CONN }], stateDir: 'state' },
      }),
    );
    const cfg = await loadConfig(path.join(dir, 'cfg.json'));
    expect((await cfg.backupPlan().prepare()).ok).toBe(true);
  });

  afterAll(async () => {
    for (const db of await databases()) await sql(`DROP DATABASE \`${db}\`;`);
    await cleanup?.();
  });

  it('leaves the live database old or new, whole after recovery, with a way back, after a kill at every point', async () => {
    await reset();
    const counted = await countPoints(restoreArgs(), dir);
    expect(counted.run.code, counted.run.stderr).toBe(0);
    expect(await content(live)).toBe(NEW);
    // The swap starts where the safety database is created.
    const swapStart = counted.points.find((p) => /CREATE DATABASE `[^`]*_before_restore_/.test(p.text))?.n ?? 0;
    expect(swapStart).toBeGreaterThan(0);
    // A client started just before the kill runs its batch anyway (nothing kills it): `sent` is
    // `after` for MySQL, so CI tries `before` and `after`.
    // CI: every swap statement killed before it is sent (after statement N is the state before N+1);
    // DK_CRASH_FULL=1 adds 'sent' and 'after' at every point.
    const tries = pointsToTry(counted.points, FULL, (p) => p.n >= swapStart).filter((t) => FULL || t.when === 'before');
    const target = new MysqlTarget({ connection: CONN });
    const failures: string[] = [];
    const seen = { old: 0, new: 0, killed: 0 };
    for (const t of tries) {
      await reset();
      const run = await runKilled(restoreArgs(), dir, { DK_KILL_AT: String(t.n), DK_KILL_WHEN: t.when });
      const at = `point ${t.n} ${t.when} (${t.text.slice(-40)})`;
      if (run.signal === 'SIGKILL') seen.killed++;
      else if (run.code !== 0) failures.push(`${at}: the run neither died nor succeeded: ${run.stderr.slice(-300)}`);
      // A client started at the kill may still be running its batch: let it end.
      await new Promise((r) => setTimeout(r, 300));
      let now: string;
      try {
        now = await content(live);
      } catch (e) {
        failures.push(`${at}: live tables unreadable: ${(e as Error).message}`);
        continue;
      }
      if (now !== OLD && now !== NEW) failures.push(`${at}: live holds neither the old nor the new rows: ${now}`);
      // The next run's recovery: finish or undo the swap, drop scratch databases.
      await target.recover(ctx());
      const after = await content(live);
      if (after !== now) failures.push(`${at}: recovery changed the rows from ${now} to ${after}`);
      const view = await content(live, 'v').catch((e: Error) => `(view: ${e.message})`);
      if (view !== after) failures.push(`${at}: after recovery the view shows ${view}, the table ${after}`);
      const safeties = (await databases()).filter((d) => d.includes('_before_restore_'));
      const others = (await databases()).filter((d) => d !== live && !d.includes('_before_restore_'));
      if (others.length) failures.push(`${at}: recovery left ${others.join(', ')}`);
      if (after === OLD) {
        seen.old++;
        if (safeties.length) failures.push(`${at}: live is old but a safety database exists: ${safeties.join(', ')}`);
      } else if (after === NEW) {
        seen.new++;
        const safety = safeties[0];
        if (safeties.length !== 1 || safety === undefined || (await content(safety)) !== OLD) {
          failures.push(`${at}: live is new but no single safety database holds the old rows`);
          continue;
        }
        await target.rollback({ restored: [], state: { swaps: [{ live, safety, created: false }] } }, ctx());
        if ((await content(live)) !== OLD) failures.push(`${at}: rollback did not put the old rows back`);
        if ((await content(live, 'v')) !== OLD) failures.push(`${at}: rollback did not put the view back`);
      }
    }
    console.info(
      `kill harness (MySQL): ${counted.points.length} points, ${tries.length} kills tried (${FULL ? 'full' : 'CI subset'}), ${seen.killed} killed, live old ${seen.old} / new ${seen.new}, ${failures.length} failures`,
    );
    expect(failures).toEqual([]);
  }, 1_800_000);
});
