import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  isConfigError,
  isManifestError,
  isVerificationError,
  type VerificationError,
} from '../../../src/core/errors.js';
import { composeSources, composeTargets } from '../../../src/plan/compose.js';
import { createBackupPlan } from '../../../src/plan/backup-plan.js';
import { createRestorePlan, type RestorePlanError } from '../../../src/plan/restore-plan.js';
import { tempDir } from '../../helpers/context.js';
import { MemoryTarget, TextSource } from '../../helpers/fake-sources.js';

let dir: string;
let workDir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  workDir = path.join(dir, 'staging');
  await createBackupPlan({
    workDir,
    sources: [new TextSource('a', { 'x.txt': 'from a' }), new TextSource('b', { 'y.txt': 'from b' })],
  }).prepare();
});
afterEach(() => cleanup());

describe('createRestorePlan', () => {
  it('verifies checksums, routes entries, restores in order and finalizes', async () => {
    const ta = new MemoryTarget('ta', { source: 'a' });
    const tb = new MemoryTarget('tb', { source: 'b' });
    const report = await createRestorePlan({ targets: [ta, tb] }).run({ from: workDir });
    expect(report.ok).toBe(true);
    expect(report.checksums.every((c) => c.ok)).toBe(true);
    expect(report.entries.map((e) => [e.name, e.target, e.status])).toEqual([
      ['a', 'ta', 'restored'],
      ['b', 'tb', 'restored'],
    ]);
    expect(ta.calls).toEqual(['verify:a', 'restore:a', 'finalize']);
    expect(ta.live.get('a/x.txt')).toBe('from a');
  });

  it('refuses a damaged backup before any target sees it', async () => {
    await fsp.writeFile(path.join(workDir, 'b', 'y.txt'), 'from B');
    const ta = new MemoryTarget('ta');
    const e = await createRestorePlan({ targets: [ta] })
      .run({ from: workDir })
      .catch((x: unknown) => x);
    expect(isVerificationError(e)).toBe(true);
    expect((e as VerificationError).problems).toEqual([
      expect.objectContaining({ check: 'artifact b/y.txt', message: 'sha256 differs' }),
    ]);
    expect(ta.calls).toEqual([]);
    await fsp.rm(path.join(workDir, 'a', 'x.txt'));
    const report = await createRestorePlan({ targets: [ta] }).run({ from: workDir, reject: false });
    expect(report.ok).toBe(false);
    expect(report.checksums.filter((c) => !c.ok).map((c) => c.path)).toEqual(['a/x.txt', 'b/y.txt']);
  });

  it('refuses an artifact that is a link leading out of the backup', async () => {
    const outside = path.join(dir, 'outside.txt');
    await fsp.writeFile(outside, 'from a');
    await fsp.rm(path.join(workDir, 'a', 'x.txt'));
    await fsp.symlink(outside, path.join(workDir, 'a', 'x.txt'));
    const e = await createRestorePlan({ targets: [] })
      .run({ from: workDir })
      .catch((x: unknown) => x);
    expect((e as VerificationError).problems[0]?.message).toBe('resolves outside the restore folder');
  });

  it('a failing verify restores nothing', async () => {
    const ta = new MemoryTarget('ta', { source: 'a' });
    const tb = new MemoryTarget('tb', { source: 'b', failVerify: true });
    const e = (await createRestorePlan({ targets: [ta, tb] })
      .run({ from: workDir })
      .catch((x: unknown) => x)) as RestorePlanError;
    expect(e.report.entries.map((x) => [x.name, x.status])).toEqual([
      ['b', 'failed'],
      ['a', 'verified'],
    ]);
    expect(ta.calls).toEqual(['verify:a']);
  });

  it('a failing restore rolls back the targets already applied', async () => {
    const ta = new MemoryTarget('ta', { source: 'a' });
    ta.live.set('old', 'state');
    const tb = new MemoryTarget('tb', { source: 'b', failRestore: true });
    const e = (await createRestorePlan({ targets: [ta, tb] })
      .run({ from: workDir })
      .catch((x: unknown) => x)) as RestorePlanError;
    expect(e.message).toContain('every applied target was rolled back');
    expect(e.report.entries.map((x) => [x.name, x.status])).toEqual([
      ['a', 'rolled-back'],
      ['b', 'failed'],
    ]);
    expect([...ta.live]).toEqual([['old', 'state']]);
    expect(ta.calls).toEqual(['verify:a', 'restore:a', 'rollback']);
  });

  it('says where the safety copy is when a rollback fails', async () => {
    const ta = new MemoryTarget('ta', { source: 'a', failRollback: true });
    const tb = new MemoryTarget('tb', { source: 'b', failRestore: true });
    const report = await createRestorePlan({ targets: [ta, tb] }).run({ from: workDir, reject: false });
    expect(report.ok).toBe(false);
    expect(report.entries.find((x) => x.name === 'a')?.status).toBe('rollback-failed');
  });

  it('dry run verifies and touches nothing; unrouted entries are skipped or required', async () => {
    const ta = new MemoryTarget('ta', { source: 'a' });
    const report = await createRestorePlan({ targets: [ta] }).run({ from: workDir, dryRun: true });
    expect(report.entries.map((x) => [x.name, x.status])).toEqual([
      ['b', 'skipped'],
      ['a', 'verified'],
    ]);
    expect(ta.live.size).toBe(0);
    const strict = await createRestorePlan({ targets: [ta], requireAllEntries: true }).run({
      from: workDir,
      reject: false,
    });
    expect(strict.ok).toBe(false);
    await expect(createRestorePlan({ targets: [ta] }).run({ from: workDir, only: ['nope'] })).rejects.toSatisfy(
      isConfigError,
    );
  });

  it('a missing manifest is a typed error', async () => {
    await expect(createRestorePlan({ targets: [] }).run({ from: dir })).rejects.toSatisfy(isManifestError);
  });

  it('routes composite parts to their own targets, or to a composed target', async () => {
    const staging = path.join(dir, 'composite');
    await createBackupPlan({
      workDir: staging,
      sources: [
        composeSources('app', [new TextSource('db', { 'd.sql': 'sql' }), new TextSource('conf', { 'c.ini': 'ini' })]),
      ],
    }).prepare();
    const db = new MemoryTarget('db-target', { source: 'db' });
    const conf = new MemoryTarget('conf-target', { source: 'conf' });
    const split = await createRestorePlan({ targets: [db, conf] }).run({ from: staging });
    expect(split.entries.map((e) => [e.name, e.target])).toEqual([
      ['app/db', 'db-target'],
      ['app/conf', 'conf-target'],
    ]);
    expect(db.live.get('app/db/d.sql')).toBe('sql');

    const db2 = new MemoryTarget('db2', { source: 'db' });
    const conf2 = new MemoryTarget('conf2', { source: 'conf', failRestore: true });
    const whole = composeTargets('app', [db2, conf2]);
    const r = await createRestorePlan({ targets: [whole] }).run({ from: staging, reject: false });
    expect(r.entries.map((e) => [e.name, e.target, e.status])).toEqual([['app', 'app', 'failed']]);
    expect(db2.calls).toEqual(['verify:app/db', 'restore:app/db', 'rollback']);
  });

  it('keeps the restore points with finalize: false and skips a repeated verify with verifyTargets: false', async () => {
    const ta = new MemoryTarget('ta', { source: 'a' });
    const report = await createRestorePlan({ targets: [ta] }).run({
      from: workDir,
      only: ['a'],
      finalize: false,
      verifyTargets: false,
    });
    expect(report.ok).toBe(true);
    expect(ta.calls).toEqual(['restore:a']);
    expect(report.entries[0]?.output?.restored).toEqual(['a/x.txt']);
    // The checksums are still checked.
    await fsp.writeFile(path.join(workDir, 'a', 'x.txt'), 'from A');
    const damaged = await createRestorePlan({ targets: [ta] }).run({
      from: workDir,
      reject: false,
      verifyTargets: false,
    });
    expect(damaged.ok).toBe(false);
    expect(ta.calls).toEqual(['restore:a']);
  });

  it("a composed target's output survives JSON, so another process can roll it back or finalize it", async () => {
    const staging = path.join(dir, 'composite-json');
    await createBackupPlan({
      workDir: staging,
      sources: [
        composeSources('app', [new TextSource('db', { 'd.sql': 'sql' }), new TextSource('conf', { 'c.ini': 'ini' })]),
      ],
    }).prepare();
    const db = new MemoryTarget('db', { source: 'db' });
    const conf = new MemoryTarget('conf', { source: 'conf' });
    const report = await createRestorePlan({ targets: [composeTargets('app', [db, conf])] }).run({
      from: staging,
      finalize: false,
    });
    const stored = JSON.parse(JSON.stringify(report.entries[0]?.output));
    // Rebuilt targets, as a later `restore-points rollback` builds them from the config.
    const db2 = new MemoryTarget('db', { source: 'db' });
    const conf2 = new MemoryTarget('conf', { source: 'conf' });
    db2.live.set('app/db/d.sql', 'sql');
    await composeTargets('app', [db2, conf2]).rollback?.(stored, {} as never);
    expect([db2.calls, conf2.calls]).toEqual([['rollback'], ['rollback']]);
    expect(db2.live.size).toBe(0);
    await composeTargets('app', [db2, conf2]).finalize?.(stored, {} as never);
    expect(db2.calls).toEqual(['rollback', 'finalize']);
    // A rebuilt composite whose parts changed refuses rather than rolling back the wrong part.
    await expect(composeTargets('app', [conf2, db2]).rollback?.(stored, {} as never)).rejects.toThrow(/no part target/);
  });
});
