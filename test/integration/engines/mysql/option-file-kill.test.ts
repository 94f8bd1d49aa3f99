/**
 * The password the MySQL tools read must not outlive a SIGKILL of the process (issue 17, item 15):
 * the real CLI library in a child process dumps a real MariaDB database as a user with a password,
 * is SIGKILLed while mariadb-dump runs, and afterwards no file under its temp folder or work folder
 * holds the password.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../../helpers/context.js';
import { available, sql } from './mariadb.js';

const SRC = path.resolve(import.meta.dirname, '..', '..', '..', '..', 'src');
const hex = randomBytes(4).toString('hex');
const DB = `dk_kill_${hex}`;
const USER = `dk_kill_${hex}`;
const PASSWORD = `Kill-${randomBytes(12).toString('hex')}`;

let tmp: { dir: string; cleanup: () => Promise<void> };
let up = false;

beforeAll(async () => {
  tmp = await tempDir('dk-mysql-kill-');
  up = await available();
  if (!up) return;
  await sql(`CREATE DATABASE ${DB}`);
  await sql(
    `CREATE TABLE t (id INT PRIMARY KEY, s TEXT); INSERT INTO t SELECT seq, REPEAT(MD5(seq), 8) FROM seq_1_to_300000;`,
    DB,
  );
  await sql(`CREATE USER '${USER}'@'%' IDENTIFIED BY '${PASSWORD}'; GRANT ALL PRIVILEGES ON *.* TO '${USER}'@'%';`);
});

afterAll(async () => {
  if (up) await sql(`DROP DATABASE IF EXISTS ${DB}; DROP USER IF EXISTS '${USER}'@'%';`);
  await tmp.cleanup();
});

/** Every file under `dir` whose bytes contain `needle`. */
async function filesHolding(dir: string, needle: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fsp.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const p = path.join(e.parentPath, e.name);
    const text = await fsp.readFile(p).catch(() => Buffer.alloc(0));
    if (text.includes(needle)) out.push(path.relative(dir, p));
  }
  return out;
}

async function waitFor(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

describe('MySQL option file and SIGKILL', () => {
  it('three SIGKILLs during a dump leave no file with the password; cleanup and the next run succeed', async (t) => {
    if (!up) return t.skip();
    const script = path.join(tmp.dir, 'dump.mts');
    const work = path.join(tmp.dir, 'work');
    const tmpd = path.join(tmp.dir, 'tmp');
    await fsp.mkdir(tmpd);
    await fsp.writeFile(
      script,
      `import { createBackupPlan } from ${JSON.stringify(path.join(SRC, 'plan', 'backup-plan.ts'))};
import { MysqlSource } from ${JSON.stringify(path.join(SRC, 'engines', 'mysql', 'index.ts'))};
const plan = createBackupPlan({ workDir: ${JSON.stringify(work)}, lockWaitMs: 5000, sources: [new MysqlSource({ name: 'db',
  connection: { host: '127.0.0.1', port: 3306, user: ${JSON.stringify(USER)}, passwordFile: process.env.PWFILE, databases: [${JSON.stringify(DB)}] } })] });
if (process.argv[2] === 'cleanup') await plan.cleanup(); else await plan.prepare();
`,
    );
    const pwFile = path.join(tmp.dir, 'pw');
    await fsp.writeFile(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
    const env = { ...process.env, TMPDIR: tmpd, PWFILE: pwFile };
    const partial = path.join(work, 'db', `${DB}.sql.partial`);
    let killedDuringDump = 0;
    for (let i = 0; i < 3; i++) {
      const child = spawn(process.execPath, ['--import', 'tsx', script], { env, stdio: 'ignore' });
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      const dumping = await waitFor(async () => (await fsp.stat(partial).catch(() => undefined)) !== undefined, 30_000);
      await new Promise((r) => setTimeout(r, i * 100));
      child.kill('SIGKILL');
      await exited;
      if (dumping) killedDuringDump++;
      expect(await filesHolding(tmpd, PASSWORD)).toEqual([]);
      expect(await filesHolding(work, PASSWORD)).toEqual([]);
    }
    expect(killedDuringDump).toBe(3);
    const run = (args: string[]) =>
      new Promise<number>((resolve) =>
        execFile(process.execPath, ['--import', 'tsx', script, ...args], { env }, (e) =>
          resolve(e ? Number(e.code ?? 1) : 0),
        ),
      );
    expect(await run(['cleanup'])).toBe(0);
    expect(await run([])).toBe(0);
    expect(await filesHolding(tmpd, PASSWORD)).toEqual([]);
    expect((await fsp.readdir(path.join(work, 'db'))).filter((f) => f.endsWith('.sql'))).toEqual([`${DB}.sql`]);
  });
});
