import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isPlanError } from '../../../../src/core/errors.js';
import { MysqlSource } from '../../../../src/engines/mysql/source.js';
import { MysqlTarget } from '../../../../src/engines/mysql/target.js';
import { createBackupPlan } from '../../../../src/plan/backup-plan.js';
import { createRestorePlan } from '../../../../src/plan/restore-plan.js';
import { tempDir } from '../../../helpers/context.js';
import { MemoryTarget, TextSource } from '../../../helpers/fake-sources.js';
import { available, CONN, sql } from './mariadb.js';

const up = await available();
const db = `dk_plan_${randomBytes(3).toString('hex')}`;

describe.skipIf(!up)('MySQL through the backup and restore plans', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    if (!up) return;
    const left = await sql(`SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '${db}%';`);
    for (const [name] of left) await sql(`DROP DATABASE IF EXISTS \`${name}\`;`);
    for (const c of cleanups) await c();
  });

  it('a later target failing rolls the swapped database back; a clean run restores and drops the safety copy', async () => {
    const { dir, cleanup } = await tempDir('dk-mysql-plan-');
    cleanups.push(cleanup);
    await sql(`CREATE DATABASE ${db};`);
    await sql('CREATE TABLE notes (id INT PRIMARY KEY, body TEXT); INSERT INTO notes VALUES (1, "kept");', db);
    const work = path.join(dir, 'work');
    const backup = createBackupPlan({
      workDir: work,
      sources: [
        new MysqlSource({ name: 'db', connection: { ...CONN, database: db } }),
        new TextSource('notes', { 'a.txt': 'x' }),
      ],
    });
    const prepared = await backup.prepare({});
    expect(prepared.manifest?.sources.find((s) => s.name === 'db')?.metadata.counts).toEqual({ [db]: { notes: 1 } });

    await sql('INSERT INTO notes VALUES (2, "after the backup");', db);
    const failing = createRestorePlan({
      targets: [new MysqlTarget({ connection: CONN }), new MemoryTarget('mem', { failRestore: true })],
    });
    const err = await failing.run({ from: work }).catch((e: unknown) => e);
    expect(isPlanError(err)).toBe(true);
    expect(await sql('SELECT COUNT(*) FROM notes;', db)).toEqual([['2']]);
    expect(
      await sql(`SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '${db}\\_%';`),
    ).toEqual([]);

    const ok = createRestorePlan({ targets: [new MysqlTarget({ connection: CONN }), new MemoryTarget('mem')] });
    const report = await ok.run({ from: work });
    expect(report.ok).toBe(true);
    expect(await sql('SELECT id, body FROM notes;', db)).toEqual([['1', 'kept']]);
    expect(
      await sql(`SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '${db}\\_%';`),
    ).toEqual([]);
  });
});
