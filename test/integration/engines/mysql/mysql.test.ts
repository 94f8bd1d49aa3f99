import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDumpError, isVerificationError } from '../../../../src/core/errors.js';
import { MYSQL_DUMP_OPTIONS, MysqlSource } from '../../../../src/engines/mysql/source.js';
import { MysqlTarget } from '../../../../src/engines/mysql/target.js';
import { makeContext, tempDir } from '../../../helpers/context.js';
import { restoreInputFor } from '../../../helpers/restore-input.js';
import { available, CONN, sql } from './mariadb.js';

const tag = randomBytes(3).toString('hex');
const created: string[] = [];
function db(name: string): string {
  const n = `dk_${name}_${tag}`;
  created.push(n);
  return n;
}

const up = await available();

async function databasesLike(prefix: string): Promise<string[]> {
  return (await sql(`SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '${prefix}%';`)).map(
    (r) => r[0] as string,
  );
}

describe.skipIf(!up)('MysqlSource and MysqlTarget against MariaDB', () => {
  const app = db('app');
  let work: Awaited<ReturnType<typeof tempDir>>;

  beforeAll(async () => {
    work = await tempDir('dk-mysql-');
    await sql(`CREATE DATABASE ${app};`);
    await sql(
      `CREATE TABLE photos (id INT PRIMARY KEY, title VARCHAR(100), data BLOB);
       CREATE TABLE albums (id INT PRIMARY KEY, name TEXT);
       INSERT INTO photos VALUES (1, 'tab\\there', x'00ff10'), (2, 'quote '' and \\\\ back', NULL), (3, 'line\\nbreak', x'');
       INSERT INTO albums VALUES (1, 'summer'), (2, 'winter');
       CREATE TABLE empty_t (id INT);
       CREATE TABLE big (id INT PRIMARY KEY, note TEXT, raw VARBINARY(64));
       INSERT INTO big SELECT seq, CONCAT('it''s (', seq, '),\n(;'), UNHEX(MD5(seq)) FROM seq_1_to_20000;`,
      app,
    );
  });

  afterAll(async () => {
    if (!up) return;
    for (const name of [...created, ...(await databasesLike(`dk_%${tag}`))]) {
      await sql(`DROP DATABASE IF EXISTS \`${name}\`;`);
    }
    for (const name of await databasesLike(`dk\\_app\\_${tag}\\_`)) await sql(`DROP DATABASE IF EXISTS \`${name}\`;`);
    await work?.cleanup();
  });

  it('dumps with the safe options, counts rows and records the server version', async () => {
    const source = new MysqlSource({ name: 'db', connection: { ...CONN, database: app } });
    const ctx = makeContext(work.dir, 'db');
    await source.check(ctx);
    const prepared = await source.prepare(ctx);
    expect(prepared.artifacts).toHaveLength(1);
    expect(prepared.metadata?.counts).toEqual({ [app]: { albums: 2, big: 20000, empty_t: 0, photos: 3 } });
    expect(String(prepared.metadata?.serverVersion)).toMatch(/MariaDB/);
    const text = await fsp.readFile(path.join(work.dir, 'db', `${app}.sql`), 'utf8');
    expect(text).toContain('INSERT INTO `photos`');
    expect(text).toContain('0x00FF10');
    expect(text).not.toMatch(/CREATE DATABASE/);
    expect(MYSQL_DUMP_OPTIONS).toEqual(
      expect.arrayContaining(['--single-transaction', '--routines', '--events', '--triggers', '--hex-blob']),
    );
  });

  it('verifies in a scratch database, restores with a swap, rolls back and finalizes', async () => {
    const dir = path.join(work.dir, 'swap');
    const source = new MysqlSource({ name: 'db', connection: { ...CONN, database: app }, format: 'sql.gz' });
    const prepared = await source.prepare(makeContext(dir, 'db'));
    const input = restoreInputFor(source, prepared, dir);
    const target = new MysqlTarget({ connection: CONN });
    const ctx = makeContext(dir, 'db');

    const report = await target.verify(input, ctx);
    expect(report.ok).toBe(true);
    expect(await databasesLike(`${app}_restore_`)).toEqual([]);

    await sql('INSERT INTO albums VALUES (3, "after backup");', app);
    const out = await target.restore(input, ctx);
    expect(await sql('SELECT COUNT(*) FROM albums;', app)).toEqual([['2']]);
    expect(await sql('SELECT title FROM photos WHERE id = 1;', app)).toEqual([['tab\\there']]);
    const safety = String((out.state?.swaps as { safety: string }[] | undefined)?.[0]?.safety);
    expect(await sql('SELECT COUNT(*) FROM albums;', safety)).toEqual([['3']]);

    await target.rollback(out, ctx);
    expect(await sql('SELECT COUNT(*) FROM albums;', app)).toEqual([['3']]);
    expect(await databasesLike(safety)).toEqual([]);

    const again = await target.restore(input, ctx);
    await target.finalize(again, ctx);
    expect(await sql('SELECT COUNT(*) FROM albums;', app)).toEqual([['2']]);
    expect(await databasesLike(`${app}_before_restore_`)).toEqual([]);
    expect(await databasesLike(`${app}_restore_`)).toEqual([]);
  });

  it('restores under another name, and scratch mode never touches it', async () => {
    const dir = path.join(work.dir, 'other');
    const source = new MysqlSource({ name: 'db', connection: { ...CONN, database: app }, counts: ['albums'] });
    const prepared = await source.prepare(makeContext(dir, 'db'));
    expect(prepared.metadata?.counts).toEqual({ [app]: { albums: 2 } });
    const input = restoreInputFor(source, prepared, dir);
    const copy = db('copy');
    const scratch = new MysqlTarget({ connection: CONN, database: copy, scratch: true });
    const res = await scratch.restore(input, makeContext(dir, 'db'));
    expect(res.restored).toEqual([]);
    expect(await databasesLike(copy)).toEqual([]);
    const fresh = new MysqlTarget({ connection: CONN, database: copy });
    const first = await fresh.restore(input, makeContext(dir, 'db'));
    expect(await sql('SELECT COUNT(*) FROM photos;', copy)).toEqual([['3']]);
    // Rolling back a restore into a database that did not exist removes it again.
    await fresh.rollback(first, makeContext(dir, 'db'));
    expect(await databasesLike(copy)).toEqual([]);
    await fresh.finalize(await fresh.restore(input, makeContext(dir, 'db')), makeContext(dir, 'db'));
    expect(await sql('SELECT COUNT(*) FROM photos;', copy)).toEqual([['3']]);
    expect(await databasesLike(`${copy}_`)).toEqual([]);
  });

  it('connects through the Unix socket when one is given', async (t) => {
    const socket = (await sql('SELECT @@socket;'))[0]?.[0] ?? '';
    const usable = await fsp.stat(socket).then(
      (s) => s.isSocket(),
      () => false,
    );
    if (!usable) {
      if (process.env.CI) throw new Error(`the MariaDB socket ${socket} is required in CI`);
      t.skip(`no MariaDB socket at ${socket}`);
    }
    const source = new MysqlSource({
      name: 'db',
      connection: { user: 'root', socket, database: app },
      counts: ['albums'],
    });
    const prepared = await source.prepare(makeContext(path.join(work.dir, 'sock'), 'db'));
    expect(prepared.metadata?.counts).toEqual({ [app]: { albums: 2 } });
  });

  it('a dump whose counts do not match fails verification and leaves the live database alone', async () => {
    const dir = path.join(work.dir, 'bad');
    const source = new MysqlSource({ name: 'db', connection: { ...CONN, database: app } });
    const prepared = await source.prepare(makeContext(dir, 'db'));
    const input = restoreInputFor(source, prepared, dir);
    const tampered = {
      ...input,
      entry: { ...input.entry, metadata: { ...input.entry.metadata, counts: { [app]: { albums: 99 } } } },
    };
    const target = new MysqlTarget({ connection: CONN });
    const report = await target.verify(tampered, makeContext(dir, 'db'));
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.name === `counts:${app}`)?.detail).toMatch(/albums: 2 rows, manifest says 99/);
    const err = await target.restore(tampered, makeContext(dir, 'db')).catch((e: unknown) => e);
    expect(isVerificationError(err)).toBe(true);
    expect(await databasesLike(`${app}_restore_`)).toEqual([]);
  });

  it('a database with a trigger swaps: the trigger is recreated in live and the old one comes back on rollback', async () => {
    const trig = db('trig');
    await sql(`CREATE DATABASE ${trig};`);
    await sql(
      'CREATE TABLE t (id INT); CREATE TRIGGER t_bi BEFORE INSERT ON t FOR EACH ROW SET NEW.id = NEW.id + 1; INSERT INTO t VALUES (1);',
      trig,
    );
    const dir = path.join(work.dir, 'trig');
    const source = new MysqlSource({ name: 'db', connection: { ...CONN, database: trig } });
    const prepared = await source.prepare(makeContext(dir, 'db'));
    expect(await fsp.readFile(path.join(dir, 'db', `${trig}.sql`), 'utf8')).toContain('TRIGGER');
    await sql(
      'DROP TRIGGER t_bi; CREATE TRIGGER t_bi BEFORE INSERT ON t FOR EACH ROW SET NEW.id = NEW.id + 100;',
      trig,
    );
    const input = restoreInputFor(source, prepared, dir);
    const target = new MysqlTarget({ connection: CONN });
    const report = await target.verify(input, makeContext(dir, 'db'));
    expect(report.checks.find((c) => c.name === `counts:${trig}`)?.ok).toBe(true);
    expect(report.checks.find((c) => c.name === `objects:${trig}`)).toMatchObject({ ok: true });
    const out = await target.restore(input, makeContext(dir, 'db'));
    await sql('INSERT INTO t VALUES (10);', trig);
    expect(await sql('SELECT id FROM t ORDER BY id;', trig)).toEqual([['2'], ['11']]);
    await target.rollback(out, makeContext(dir, 'db'));
    await sql('INSERT INTO t VALUES (10);', trig);
    expect(await sql('SELECT id FROM t ORDER BY id;', trig)).toEqual([['2'], ['110']]);
  });

  it('a failed dump is a DumpError with the redacted stderr and leaves no artifact', async () => {
    const dir = path.join(work.dir, 'fail');
    const secret = `pw-${tag}-secret`;
    const source = new MysqlSource({
      name: 'db',
      connection: { ...CONN, user: `nobody_${tag}`, password: secret, database: app },
    });
    const err = await source.prepare(makeContext(dir, 'db')).catch((e: unknown) => e);
    expect((err as Error).name).toMatch(/SourceUnavailableError|DumpError/);
    expect((err as Error).message).toMatch(/Access denied/);
    expect((err as Error).message).not.toContain(secret);
    const missing = new MysqlSource({ name: 'db', connection: { ...CONN, databases: [app, `nope_${tag}`] } });
    const err2 = await missing.prepare(makeContext(dir, 'db')).catch((e: unknown) => e);
    expect(isDumpError(err2)).toBe(true);
    const left = await fsp.readdir(path.join(dir, 'db')).catch(() => []);
    expect(left).toEqual([]);
  });

  it('a password with quotes, backslashes and # reaches the tools through the option file only', async () => {
    const user = `dk_u_${tag}`;
    const password = `p"a'ss\\w#rd ${tag}`;
    const lit = password.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
    await sql(`CREATE USER '${user}'@'%' IDENTIFIED BY '${lit}'; GRANT ALL ON \`${app}\`.* TO '${user}'@'%';`);
    try {
      const dir = path.join(work.dir, 'pw');
      const file = path.join(work.dir, 'pw.txt');
      await fsp.writeFile(file, `${password}\n`);
      const source = new MysqlSource({ name: 'db', connection: { ...CONN, user, passwordFile: file, database: app } });
      const prepared = await source.prepare(makeContext(dir, 'db'));
      expect(prepared.metadata?.counts).toEqual({ [app]: { albums: 2, big: 20000, empty_t: 0, photos: 3 } });
      const wrong = new MysqlSource({
        name: 'db',
        connection: { ...CONN, user, password: `${password}x`, database: app },
      });
      const err = await wrong.prepare(makeContext(dir, 'db2')).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/Access denied/);
      expect((err as Error).message).not.toContain(password);
    } finally {
      await sql(`DROP USER IF EXISTS '${user}'@'%';`);
    }
  });

  it('databases: all dumps every user database but no system one', async () => {
    const dir = path.join(work.dir, 'all');
    const source = new MysqlSource({ name: 'db', connection: { ...CONN, databases: 'all' }, counts: 'none' });
    await source.check(makeContext(dir, 'db'));
    const prepared = await source.prepare(makeContext(dir, 'db'));
    const names = prepared.artifacts.map((a) => a.path);
    expect(names).toContain(`db/${app}.sql`);
    expect(names).not.toContain('db/mysql.sql');
    expect(names).not.toContain('db/information_schema.sql');
  });

  it('databases: all leaves out a database dropped during the backup, and names it; a named one fails', async () => {
    const gone = db('zzz_gone');
    await sql(`CREATE DATABASE ${gone}; CREATE TABLE ${gone}.t (i int); INSERT INTO ${gone}.t VALUES (1);`);
    const dir = path.join(work.dir, 'all-dropped');
    const source = new MysqlSource({ name: 'db', connection: { ...CONN, databases: 'all' }, counts: 'none' });
    let dropped = false;
    const ctx = {
      ...makeContext(dir, 'db'),
      // After the first database is dumped (the listing is done by then), the last one is dropped,
      // before anything else runs (a synchronous client).
      onProgress: () => {
        if (dropped) return;
        dropped = true;
        execFileSync('mariadb', ['-h127.0.0.1', '-P3306', '-uroot', '-e', `DROP DATABASE ${gone}`]);
      },
    };
    const prepared = await source.prepare(ctx);
    expect(dropped).toBe(true);
    const meta = prepared.metadata as { databases: string[]; droppedDuringBackup?: string[] };
    expect(meta.droppedDuringBackup).toEqual([gone]);
    expect(meta.databases).toContain(app);
    expect(meta.databases).not.toContain(gone);
    expect(prepared.artifacts.map((a) => a.path)).not.toContain(`db/${gone}.sql`);
    expect((await fsp.readdir(path.join(dir, 'db'))).filter((f) => f.startsWith(gone))).toEqual([]);

    const named = new MysqlSource({ name: 'db', connection: { ...CONN, databases: [app, gone] }, counts: 'none' });
    const err = await named.prepare(makeContext(path.join(work.dir, 'named-gone'), 'db')).catch((e: unknown) => e);
    expect(isDumpError(err)).toBe(true);
    expect((err as Error).message).toContain(gone);
    expect(await fsp.readdir(path.join(work.dir, 'named-gone', 'db')).catch(() => [])).toEqual([]);
  });
});
