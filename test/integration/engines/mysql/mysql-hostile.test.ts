/**
 * A tampered MariaDB dump cannot run client commands on the restoring host, and a target's
 * `connection.database` is honoured (never silently replaced by the dumped database's name).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isConfigError, isRestoreError } from '../../../../src/core/errors.js';
import { MysqlSource } from '../../../../src/engines/mysql/source.js';
import { MysqlTarget } from '../../../../src/engines/mysql/target.js';
import { makeContext, tempDir } from '../../../helpers/context.js';
import { restoreInputFor } from '../../../helpers/restore-input.js';
import { available, CONN, sql } from './mariadb.js';

const up = await available();
const tag = randomBytes(3).toString('hex');

describe.skipIf(!up)('hostile MariaDB dumps and target database names', () => {
  const app = `dk_happ_${tag}`;
  const copy = `dk_hcopy_${tag}`;
  let work: Awaited<ReturnType<typeof tempDir>>;

  const rows = async (db: string): Promise<string[]> =>
    (await sql('SELECT name FROM items ORDER BY id;', db)).map((r) => r[0] as string);
  const databasesLike = async (prefix: string): Promise<string[]> =>
    (await sql(`SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '${prefix}%';`)).map(
      (r) => r[0] as string,
    );

  beforeAll(async () => {
    work = await tempDir('dk-mysql-hostile-');
    await sql(`CREATE DATABASE ${app};`);
    await sql(
      `CREATE TABLE items (id INT PRIMARY KEY, name TEXT);
       INSERT INTO items VALUES (1, 'one'), (2, 'back\\\\slash \\\\! not a command'), (3, 'system touch x');`,
      app,
    );
  });

  afterAll(async () => {
    if (!up) return;
    for (const name of await databasesLike(`dk\\_h%${tag}`)) await sql(`DROP DATABASE IF EXISTS \`${name}\`;`);
    await work?.cleanup();
  });

  const dump = async (name: string) => {
    const source = new MysqlSource({ name, connection: { ...CONN, database: app } });
    const prepared = await source.prepare(makeContext(work.dir, name));
    return restoreInputFor(source, prepared, work.dir);
  };

  it('a legitimate dump with backslashes and command-like text loads (binary mode, sandbox)', async () => {
    const input = await dump('legit');
    const target = new MysqlTarget({ connection: CONN, database: `${copy}_legit` });
    const ctx = makeContext(work.dir, target.name);
    const out = await target.restore(input, ctx);
    await target.finalize?.(out, ctx);
    expect(await rows(`${copy}_legit`)).toEqual(await rows(app));
  });

  for (const [what, line] of [
    ['\\!', (m: string) => `\\! touch ${m}`],
    ['system', (m: string) => `system touch ${m}`],
    ['source', (m: string) => `source ${m}.sql`],
  ] as const) {
    it(`a dump whose sandbox line was replaced by ${what} runs nothing and is refused`, async () => {
      const marker = path.join(work.dir, `pwned-${what.replace(/\W/g, '')}`);
      await fsp.writeFile(`${marker}.sql`, `SELECT 1;\n\\! touch ${marker}\n`);
      const input = await dump(`tamper-${what.replace(/\W/g, '')}`);
      const file = input.artifacts[0]?.file as string;
      const text = await fsp.readFile(file, 'utf8');
      await fsp.writeFile(file, text.replace(/^\/\*M!999999\\- enable the sandbox mode \*\/ ?\n/, `${line(marker)}\n`));
      const before = await rows(app);

      const drill = new MysqlTarget({ connection: CONN, scratch: true });
      const report = await drill.verify(input, makeContext(work.dir, drill.name));
      expect(existsSync(marker), 'the command in the dump ran').toBe(false);
      expect(report.ok).toBe(false);

      const target = new MysqlTarget({ connection: CONN });
      const err = await target.restore(input, makeContext(work.dir, target.name)).catch((e: unknown) => e);
      expect(existsSync(marker), 'the command in the dump ran').toBe(false);
      expect(isRestoreError(err)).toBe(true);
      if (what === '\\!') expect((err as { code?: string }).code).toBe('ERR_UNSAFE_DUMP');
      expect(await rows(app)).toEqual(before);
      expect(await databasesLike(`${app}\\_`)).toEqual([]);
    });
  }

  it('connection.database is the database restored into; the live one of the dump stays as it was', async () => {
    const input = await dump('rename');
    await sql("INSERT INTO items VALUES (4, 'written after the dump');", app);
    const target = new MysqlTarget({ connection: { ...CONN, database: copy } });
    const ctx = makeContext(work.dir, target.name);
    const out = await target.restore(input, ctx);
    await target.finalize?.(out, ctx);
    expect(await rows(app)).toContain('written after the dump');
    expect(await rows(copy)).toEqual((await rows(app)).slice(0, 3));
    expect(await rows(copy)).toHaveLength(3);
  });

  it('refuses connection.databases and a connection.database that disagrees with database', () => {
    const issue = (o: unknown) => {
      try {
        new MysqlTarget(o as never);
        return undefined;
      } catch (e) {
        return e;
      }
    };
    const many = issue({ connection: { ...CONN, databases: [app] } });
    expect(isConfigError(many)).toBe(true);
    expect((many as Error).message).toMatch(/databases/);
    const both = issue({ connection: { ...CONN, database: 'a' }, database: 'b' });
    expect(isConfigError(both)).toBe(true);
    expect(issue({ connection: { ...CONN, database: 'a' }, database: 'a' })).toBeUndefined();
  });
});
