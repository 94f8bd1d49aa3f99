import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDuplicatiKitError } from '../../../../src/core/errors.js';
import { MysqlSource } from '../../../../src/engines/mysql/source.js';
import { MysqlTarget } from '../../../../src/engines/mysql/target.js';
import { makeContext, tempDir } from '../../../helpers/context.js';
import { restoreInputFor } from '../../../helpers/restore-input.js';
import { available, CONN, sql } from './mariadb.js';

const tag = randomBytes(3).toString('hex');
const up = await available();

async function databasesLike(pattern: string): Promise<string[]> {
  return (await sql(`SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '${pattern}';`)).map(
    (r) => r[0] as string,
  );
}

/** Every trigger, view, routine and event of `db` as information_schema describes it (read independently of the code under test). */
async function objectsOf(db: string): Promise<string[]> {
  const rows = await sql(
    `SELECT 'trigger', TRIGGER_NAME, CONCAT_WS(' | ', EVENT_MANIPULATION, ACTION_TIMING, EVENT_OBJECT_TABLE, ACTION_ORDER, ACTION_STATEMENT, SQL_MODE, DEFINER, CHARACTER_SET_CLIENT) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '${db}'
     UNION ALL SELECT 'view', TABLE_NAME, CONCAT_WS(' | ', VIEW_DEFINITION, DEFINER, SECURITY_TYPE, CHARACTER_SET_CLIENT) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = '${db}'
     UNION ALL SELECT LOWER(ROUTINE_TYPE), ROUTINE_NAME, CONCAT_WS(' | ', ROUTINE_DEFINITION, DTD_IDENTIFIER, IS_DETERMINISTIC, SQL_MODE, DEFINER, CHARACTER_SET_CLIENT) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '${db}'
     UNION ALL SELECT 'event', EVENT_NAME, CONCAT_WS(' | ', EVENT_DEFINITION, STATUS, INTERVAL_VALUE, INTERVAL_FIELD, ON_COMPLETION, SQL_MODE, TIME_ZONE, DEFINER) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '${db}'
     ORDER BY 1, 2;`,
  );
  return rows.map((r) => r.join(' :: '));
}

async function dataOf(db: string): Promise<string[][]> {
  return sql(
    `SELECT id, n FROM t ORDER BY id; SELECT COUNT(*) FROM log; SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${db}' ORDER BY 1;`,
    db,
  );
}

describe.skipIf(!up)('MysqlTarget swaps databases with triggers, views, routines and events (MariaDB)', () => {
  const app = `dk_obj_${tag}`;
  let work: Awaited<ReturnType<typeof tempDir>>;

  beforeAll(async () => {
    work = await tempDir('dk-mysql-obj-');
    await sql(`CREATE DATABASE ${app};`);
    await sql(
      `CREATE TABLE t (id INT PRIMARY KEY, n INT);
       CREATE TABLE log (msg VARCHAR(100));
       CREATE SEQUENCE s START WITH 100;
       INSERT INTO t VALUES (1, 10), (2, 20);
       INSERT INTO log VALUES ('seed');
       DELIMITER //
       CREATE FUNCTION dbl(x INT) RETURNS INT DETERMINISTIC RETURN x * 2 //
       CREATE PROCEDURE addrow(IN i INT) BEGIN INSERT INTO t VALUES (i, dbl(i)); INSERT INTO log VALUES (CONCAT('added café ☕ ', i)); END //
       SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION' //
       CREATE TRIGGER t_bi BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.n = NEW.n + 1; END //
       CREATE TRIGGER t_bi2 BEFORE INSERT ON t FOR EACH ROW FOLLOWS t_bi SET NEW.n = NEW.n * 10 //
       SET SESSION sql_mode = DEFAULT //
       DELIMITER ;
       CREATE VIEW v AS SELECT id, dbl(n) AS d FROM t;
       CREATE VIEW a_top AS SELECT id, d FROM v WHERE d > 0;
       CREATE EVENT ev ON SCHEDULE EVERY 1 DAY DISABLE DO INSERT INTO log VALUES ('event');`,
      app,
    );
  });

  afterAll(async () => {
    if (!up) return;
    for (const name of await databasesLike(`${app}%`)) await sql(`DROP DATABASE IF EXISTS \`${name}\`;`);
    await work?.cleanup();
  });

  it('dumps, restores with a swap that recreates every object, rolls back exactly and finalizes', async () => {
    const dir = path.join(work.dir, 'swap');
    const source = new MysqlSource({ name: 'db', connection: { ...CONN, database: app } });
    const prepared = await source.prepare(makeContext(dir, 'db'));
    expect(prepared.metadata?.counts).toEqual({ [app]: { log: 1, t: 2 } });
    const dumped = await objectsOf(app);
    const dumpedData = await sql('SELECT id, n FROM t ORDER BY id;', app);
    expect(dumped.filter((o) => o.startsWith('trigger'))).toHaveLength(2);
    expect(dumped).toHaveLength(7);

    // The live database moves on after the backup: other objects, other rows.
    await sql(
      `INSERT INTO t VALUES (3, 30);
       CREATE OR REPLACE VIEW v AS SELECT id, n AS d FROM t;
       DROP PROCEDURE addrow;
       DROP TRIGGER t_bi2;
       CREATE TRIGGER t_au AFTER UPDATE ON t FOR EACH ROW INSERT INTO log VALUES ('updated');
       ALTER EVENT ev ENABLE;
       CREATE PROCEDURE only_live() SELECT 1;`,
      app,
    );
    const before = await objectsOf(app);
    const beforeData = await dataOf(app);
    expect(before).not.toEqual(dumped);

    const input = restoreInputFor(source, prepared, dir);
    const target = new MysqlTarget({ connection: CONN });
    const ctx = makeContext(dir, 'db');
    const report = await target.verify(input, ctx);
    expect(report.ok).toBe(true);
    expect(report.checks.find((c) => c.name === `objects:${app}`)?.detail).toBe(
      'restored: 1 event, 1 function, 1 procedure, 2 triggers, 2 views; live: 1 event, 1 function, 1 procedure, 2 triggers, 2 views (recreated around the table swap)',
    );
    expect(await objectsOf(app)).toEqual(before);

    const out = await target.restore(input, ctx);
    expect(await objectsOf(app)).toEqual(dumped);
    expect(await sql('SELECT id, n FROM t ORDER BY id;', app)).toEqual(dumpedData);
    const counts = await sql('SELECT COUNT(*) FROM t; SELECT COUNT(*) FROM log;', app);
    expect(counts).toEqual([['2'], ['1']]);
    // The objects work in the live database: the procedure calls the function, both triggers fire
    // in order, the views read through the function, the sequence came along.
    await sql('CALL addrow(7);', app);
    expect(await sql('SELECT n FROM t WHERE id = 7; SELECT msg FROM log WHERE msg LIKE "added%";', app)).toEqual([
      ['150'],
      ['added café ☕ 7'],
    ]);
    expect(await sql('SELECT d FROM a_top WHERE id = 7;', app)).toEqual([['300']]);
    expect(await sql('SELECT NEXTVAL(s);', app)).toEqual([['100']]);
    expect(await sql(`SELECT STATUS FROM information_schema.EVENTS WHERE EVENT_SCHEMA = '${app}';`)).toEqual([
      ['DISABLED'],
    ]);
    const safety = String(out.safetyCopy);
    expect(safety).toMatch(new RegExp(`^${app}_before_restore_`));
    expect(await sql(`SELECT COUNT(*) FROM t;`, safety)).toEqual([['3']]);
    expect(await databasesLike(`${app}\\_restore\\_%`)).toEqual([]);

    await target.rollback(out, ctx);
    expect(await objectsOf(app)).toEqual(before);
    expect(await dataOf(app)).toEqual(beforeData);
    expect(await databasesLike(`${app}\\_%`)).toEqual([]);

    const again = await target.restore(input, ctx);
    await target.finalize(again, ctx);
    expect(await objectsOf(app)).toEqual(dumped);
    expect(await sql('SELECT COUNT(*) FROM t;', app)).toEqual([['2']]);
    expect(await databasesLike(`${app}\\_%`)).toEqual([]);
  });

  it('a failure while recreating the objects puts the previous tables and objects back', async () => {
    const dir = path.join(work.dir, 'fail');
    const source = new MysqlSource({ name: 'db', connection: { ...CONN, database: app } });
    const prepared = await source.prepare(makeContext(dir, 'db'));
    await sql('INSERT INTO t VALUES (50, 5); CREATE OR REPLACE VIEW v AS SELECT id, n + 1 AS d FROM t;', app);
    const before = await objectsOf(app);
    const beforeData = await dataOf(app);
    const target = new MysqlTarget(
      { connection: CONN },
      {
        rewriteObject: (o) =>
          o.kind === 'view' && o.name === 'a_top' ? 'CREATE VIEW a_top AS SELECT * FROM no_such_table' : o.definition,
      },
    );
    const err = await target
      .restore(restoreInputFor(source, prepared, dir), makeContext(dir, 'db'))
      .catch((e: unknown) => e);
    expect(isDuplicatiKitError(err)).toBe(true);
    expect((err as Error).message).toMatch(/no_such_table/);
    expect(await objectsOf(app)).toEqual(before);
    expect(await dataOf(app)).toEqual(beforeData);
    expect(await databasesLike(`${app}\\_%`)).toEqual([]);
  });

  it('restores a database with objects under a name that does not exist yet, and rollback removes it', async () => {
    const dir = path.join(work.dir, 'new');
    const source = new MysqlSource({ name: 'db', connection: { ...CONN, database: app } });
    const prepared = await source.prepare(makeContext(dir, 'db'));
    const copy = `${app}_copy`;
    const target = new MysqlTarget({ connection: CONN, database: copy });
    const out = await target.restore(restoreInputFor(source, prepared, dir), makeContext(dir, 'db'));
    expect((await objectsOf(copy)).map((o) => o.split(' :: ').slice(0, 2).join(' '))).toEqual(
      (await objectsOf(app)).map((o) => o.split(' :: ').slice(0, 2).join(' ')),
    );
    expect(await sql('SELECT dbl(21); SELECT COUNT(*) FROM v;', copy)).toEqual(
      await sql('SELECT dbl(21); SELECT COUNT(*) FROM v;', app),
    );
    await target.rollback(out, makeContext(dir, 'db'));
    expect(await databasesLike(`${copy}%`)).toEqual([]);
  });
});
