/**
 * Every source on a full disk: a real 2 MiB tmpfs as the work folder, a source with more data than
 * that. The plan must report a NoSpaceError naming the folder (not the tool's `Connection reset by
 * peer` / `Got errno 32`), leave no `.partial` behind, release its lock, and settle (no unhandled
 * rejection). Mounting needs root; elsewhere the file skips with one line.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isNoSpaceError, isPlanError, type NoSpaceError, type PlanError } from '../../../src/core/errors.js';
import { LOCK_FILE } from '../../../src/core/lock.js';
import type { BackupSource } from '../../../src/contracts/types.js';
import { ArchiveSource } from '../../../src/engines/archive/index.js';
import { DirectorySource } from '../../../src/engines/directory/index.js';
import { MysqlSource } from '../../../src/engines/mysql/index.js';
import { PostgresSource } from '../../../src/engines/postgres/index.js';
import { SqliteSource } from '../../../src/engines/sqlite/index.js';
import { createBackupPlan } from '../../../src/plan/backup-plan.js';
import { tempDir } from '../../helpers/context.js';
import { available as mariadbAvailable, sql as mysql } from '../engines/mysql/mariadb.js';
import { PG, pgAvailable, sql as pgSql, uniqueDb } from '../engines/postgres/pg-helpers.js';

async function canMount(dir: string): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  try {
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', dir]);
    return true;
  } catch {
    return false;
  }
}

let tmp: { dir: string; cleanup: () => Promise<void> };
let mnt = '';
let mounted = false;
const unhandled: unknown[] = [];
const onUnhandled = (e: unknown): void => {
  unhandled.push(e);
};

beforeAll(async () => {
  tmp = await tempDir('dk-full-');
  mnt = path.join(tmp.dir, 'mnt');
  await fsp.mkdir(mnt);
  mounted = await canMount(mnt);
  if (!mounted) console.warn('skipping disk-full tests: cannot mount a small tmpfs here (needs root)');
  process.on('unhandledRejection', onUnhandled);
});

afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  if (mounted) await execa('umount', [mnt]);
  await tmp.cleanup();
});

/** Every file left under `dir`, relative. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fsp.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(path.relative(dir, path.join(e.parentPath, e.name)));
  }
  return out;
}

/** Prepare `source` in a work folder on the full disk and return its error. */
async function prepareOnFullDisk(source: BackupSource): Promise<NoSpaceError> {
  const workDir = path.join(mnt, `work-${source.name}`);
  const plan = createBackupPlan({ workDir, sources: [source] });
  const err = await plan.prepare().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isPlanError(err), String(err)).toBe(true);
  const failed = (err as PlanError).results.find((r) => !r.ok);
  expect(failed?.error?.message).toMatch(/no space left on device writing to .*work-/);
  expect(failed?.error?.message).not.toMatch(/Connection reset|errno 32|Broken pipe|EPIPE/i);
  expect(isNoSpaceError(failed?.error)).toBe(true);
  const noSpace = failed?.error as NoSpaceError;
  expect(noSpace.folder).toBe(path.join(workDir, source.name));
  const left = await filesUnder(workDir);
  expect(left.filter((f) => f.endsWith('.partial'))).toEqual([]);
  expect(left).not.toContain(LOCK_FILE);
  await plan.cleanup();
  await fsp.rm(workDir, { recursive: true, force: true });
  expect(unhandled).toEqual([]);
  return noSpace;
}

describe('sources on a full disk (2 MiB tmpfs)', () => {
  it('ArchiveSource: a typed error naming the folder, no partial, no lock, no unhandled rejection', async (t) => {
    if (!mounted) return t.skip();
    const root = path.join(tmp.dir, 'tree');
    await fsp.mkdir(path.join(root, 'sub'), { recursive: true });
    await fsp.writeFile(path.join(root, 'big.bin'), randomBytes(20 << 20));
    await fsp.writeFile(path.join(root, 'sub', 'more.bin'), randomBytes(1 << 20));
    await prepareOnFullDisk(new ArchiveSource({ name: 'tree', root }));
    await prepareOnFullDisk(new ArchiveSource({ name: 'treegz', root, gzip: true }));
  });

  it('DirectorySource listing and SqliteSource snapshot', async (t) => {
    if (!mounted) return t.skip();
    const db = path.join(tmp.dir, 'big.db');
    await execa('sqlite3', [
      db,
      'CREATE TABLE t(x); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<4000) INSERT INTO t SELECT randomblob(1024) FROM n;',
    ]);
    await prepareOnFullDisk(new SqliteSource({ name: 'lite', path: db }));
    const many = path.join(tmp.dir, 'many');
    await fsp.mkdir(many);
    await Promise.all(
      Array.from({ length: 15000 }, (_, i) => fsp.writeFile(path.join(many, `${'f'.repeat(200)}-${i}`), '')),
    );
    await prepareOnFullDisk(new DirectorySource({ name: 'dir', paths: [many], listing: true }));
  });

  it('PostgresSource: the full disk wins over pg_dump’s broken pipe', async (t) => {
    if (!mounted || !(await pgAvailable())) return t.skip();
    const db = uniqueDb('full');
    await pgSql('postgres', `CREATE DATABASE ${db}`);
    try {
      await pgSql(
        db,
        'CREATE TABLE t AS SELECT g, md5(g::text) || md5((g+1)::text) AS s FROM generate_series(1, 120000) g',
      );
      await prepareOnFullDisk(new PostgresSource({ name: 'pg', connection: { ...PG, database: db } }));
    } finally {
      await pgSql('postgres', `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    }
  });

  it('MysqlSource: the full disk wins over mariadb-dump’s errno 32', async (t) => {
    if (!mounted || !(await mariadbAvailable())) return t.skip();
    const db = `dk_full_${randomBytes(4).toString('hex')}`;
    await mysql(`CREATE DATABASE ${db}`);
    try {
      await mysql(
        'CREATE TABLE t (id INT PRIMARY KEY, s TEXT); INSERT INTO t SELECT seq, REPEAT(MD5(seq), 4) FROM seq_1_to_40000;',
        db,
      );
      await prepareOnFullDisk(
        new MysqlSource({ name: 'my', connection: { host: '127.0.0.1', port: 3306, user: 'root', databases: [db] } }),
      );
    } finally {
      await mysql(`DROP DATABASE IF EXISTS ${db}`);
    }
  });
});
