/**
 * Issue #17 item 5: two restores of the same targets at once. The second one fails with a
 * LockedError naming the holder — per live path (whatever state folder each uses) and per restore
 * state folder (the built CLI) — and touches nothing.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isLockedError, type LockedError } from '../../../src/core/errors.js';
import { acquireLock } from '../../../src/core/lock.js';
import { SqliteSource } from '../../../src/engines/sqlite/source.js';
import { SqliteTarget } from '../../../src/engines/sqlite/target.js';
import { ArchiveTarget } from '../../../src/engines/_shared/archive-target.js';
import { restoreWithChecklist } from '../../../src/ops/checklist-restore.js';
import { listRestorePoints, rollbackRestore } from '../../../src/ops/restore-points.js';
import { createBackupPlan } from '../../../src/plan/backup-plan.js';
import { createRestorePlan } from '../../../src/plan/restore-plan.js';
import { requireBuiltCli, runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/context.js';

let dir: string;
let cleanup: () => Promise<void>;
let live: string;
let from: string;

const rows = (): string => {
  const d = new Database(live, { readonly: true });
  try {
    return (d.prepare('SELECT group_concat(v) AS v FROM (SELECT v FROM t ORDER BY id)').get() as { v: string }).v;
  } finally {
    d.close();
  }
};

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('dk-restore-locks-'));
  live = path.join(dir, 'live', 'app.db');
  from = path.join(dir, 'backup');
  await fsp.mkdir(path.dirname(live), { recursive: true });
  const db = new Database(live);
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a'), ('b');");
  db.close();
  const plan = createBackupPlan({ workDir: from, sources: [new SqliteSource({ name: 'app', path: live })] });
  expect((await plan.prepare()).ok).toBe(true);
  const w = new Database(live);
  w.exec("INSERT INTO t (v) VALUES ('old')");
  w.close();
});
afterEach(() => cleanup());

describe('restore locks', () => {
  it('a restore of a live path another process is restoring fails with LockedError naming it, touching nothing', async () => {
    // The documented lock of a live path: `.<name>.dk-restore.lock` beside it.
    const held = await acquireLock(path.dirname(live), {
      name: '.app.db.dk-restore.lock',
      purpose: 'restore of app.db by the other terminal',
    });
    try {
      const err = await createRestorePlan({ targets: [new SqliteTarget({ source: 'app', path: live })] })
        .run({ from })
        .catch((e: unknown) => e);
      expect(isLockedError(err)).toBe(true);
      expect((err as LockedError).holder?.pid).toBe(process.pid);
      expect((err as Error).message).toContain(`locked by pid ${process.pid}`);
      expect((err as Error).message).toContain('restore of app.db by the other terminal');
      expect(rows()).toBe('a,b,old');
      // The same through the checklist, with its own state folder: gate 6 fails, naming the holder.
      const report = await restoreWithChecklist({
        from,
        targets: [new SqliteTarget({ source: 'app', path: live })],
        stateDir: path.join(dir, 'other-state'),
      });
      expect(report.ok).toBe(false);
      const gate = report.gates.find((g) => g.id === 'restore');
      expect(gate?.code).toBe('ERR_LOCKED');
      expect(gate?.reason).toContain(`pid ${process.pid}`);
      expect(rows()).toBe('a,b,old');
    } finally {
      await held.release();
    }
    // Once free, the restore runs.
    await createRestorePlan({ targets: [new SqliteTarget({ source: 'app', path: live })] }).run({ from });
    expect(rows()).toBe('a,b');
  });

  it('rollback by hand takes the same locks: it cannot undo under a running restore', async () => {
    const stateDir = path.join(dir, 'state');
    const targets = [new SqliteTarget({ source: 'app', path: live })];
    const report = await restoreWithChecklist({ from, targets, stateDir });
    expect(report.ok).toBe(true);
    const id = report.record?.id as string;
    const held = await acquireLock(stateDir, { purpose: 'restore (test holder)' });
    try {
      const err = await rollbackRestore({ stateDir, id, targets }).catch((e: unknown) => e);
      expect(isLockedError(err)).toBe(true);
      expect((err as Error).message).toContain('(restore (test holder))');
    } finally {
      await held.release();
    }
    expect((await rollbackRestore({ stateDir, id, targets })).ok).toBe(true);
    expect(rows()).toBe('a,b,old');
  });

  it('the built CLI: a second restore into a state folder in use fails at gate 4 naming the holder', async () => {
    requireBuiltCli();
    const config = path.join(dir, 'duplicati-kit.json');
    await fsp.writeFile(
      config,
      JSON.stringify({
        workDir: from,
        sources: [{ type: 'sqlite', name: 'app', path: live }],
        restore: { targets: [{ type: 'sqlite', name: 'app', source: 'app', path: live }], stateDir: 'state' },
      }),
    );
    await fsp.mkdir(path.join(dir, 'state'));
    const held = await acquireLock(path.join(dir, 'state'), { purpose: 'restore (the first one)' });
    try {
      const r = await runCli(['--config', config, 'restore', '--from', from], {
        cwd: dir,
        env: { STATE_DIRECTORY: '', DUPLICATI_URL: '' },
      });
      expect(r.code).not.toBe(0);
      expect(r.stdout).toMatch(/4 {2}Record the current state \(a way back\) +FAILED/);
      expect(r.stdout).toContain(`is locked by pid ${process.pid}`);
      expect(r.stdout).toContain('(restore (the first one))');
      expect(rows()).toBe('a,b,old');
      expect(await listRestorePoints({ stateDir: path.join(dir, 'state') })).toEqual([]);
    } finally {
      await held.release();
    }
  });

  it('an archive target locks its folder too', () => {
    expect(new ArchiveTarget({ source: 'conf', dest: path.join(dir, 'conf'), overwrite: true }).replaces()).toEqual([
      path.join(dir, 'conf'),
    ]);
  });
});
