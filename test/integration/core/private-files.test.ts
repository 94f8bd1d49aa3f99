/**
 * Every file and folder a backup plan writes is its owner's only (0600 / 0700), whatever the umask
 * and even when the work folder existed with wider permissions: the dumps hold what the live data
 * holds, and the live SQLite database here is 0600.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArchiveSource } from '../../../src/engines/archive/index.js';
import { DirectorySource } from '../../../src/engines/directory/index.js';
import { SqliteSource } from '../../../src/engines/sqlite/index.js';
import { keepLocalCopy } from '../../../src/ops/retention.js';
import { createBackupPlan } from '../../../src/plan/backup-plan.js';
import { tempDir } from '../../helpers/context.js';

/** `rel: mode` of everything under `dir` (and `dir` itself as `.`) whose mode is not owner-only. */
async function notPrivate(dir: string): Promise<string[]> {
  const out: string[] = [];
  const check = async (p: string): Promise<void> => {
    const st = await fsp.lstat(p);
    const mode = st.mode & 0o777;
    const want = st.isDirectory() ? 0o700 : 0o600;
    if (mode !== want) out.push(`${path.relative(dir, p) || '.'}: ${mode.toString(8)}`);
  };
  await check(dir);
  for (const e of await fsp.readdir(dir, { withFileTypes: true, recursive: true })) {
    await check(path.join(e.parentPath, e.name));
  }
  return out;
}

let tmp: { dir: string; cleanup: () => Promise<void> };
let oldUmask = 0;

beforeEach(async () => {
  tmp = await tempDir('dk-private-');
  oldUmask = process.umask(0);
});

afterEach(async () => {
  process.umask(oldUmask);
  await tmp.cleanup();
});

describe('what a backup plan writes is private to its owner', () => {
  it('umask 0 and a pre-existing 0755 work folder: every folder 0700, every file 0600', async () => {
    const live = path.join(tmp.dir, 'live');
    await fsp.mkdir(path.join(live, 'conf'), { recursive: true });
    const db = path.join(live, 'app.db');
    await execa('sqlite3', [db, "CREATE TABLE t(x); INSERT INTO t VALUES ('secret');"]);
    await fsp.chmod(db, 0o600);
    await fsp.writeFile(path.join(live, 'conf', 'app.conf'), 'password=hunter2\n', { mode: 0o600 });
    const workDir = path.join(tmp.dir, 'work');
    await fsp.mkdir(workDir, { mode: 0o755 });
    await fsp.chmod(workDir, 0o755);

    const plan = createBackupPlan({
      workDir,
      sources: [
        new SqliteSource({ name: 'app', path: db }),
        new ArchiveSource({ name: 'conf', root: path.join(live, 'conf'), gzip: true }),
        new DirectorySource({ name: 'files', paths: [path.join(live, 'conf')], listing: true }),
      ],
    });
    const prepared = await plan.prepare();
    expect(prepared.ok).toBe(true);
    expect((await fsp.readdir(path.join(workDir, 'app'))).length).toBeGreaterThan(0);
    expect(await notPrivate(workDir)).toEqual([]);

    // A second run over the same folder, and the dated local copy, stay private too.
    await plan.prepare();
    expect(await notPrivate(workDir)).toEqual([]);
    const copies = path.join(tmp.dir, 'copies');
    const copy = await keepLocalCopy(workDir, copies);
    expect(await notPrivate(copy)).toEqual([]);
    await plan.cleanup();
  });
});
