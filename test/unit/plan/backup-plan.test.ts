import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  isConfigError,
  isLockedError,
  isPlanError,
  isSourceUnavailableError,
  type PlanError,
  SourceUnavailableError,
} from '../../../src/core/errors.js';
import { acquireLock } from '../../../src/core/lock.js';
import { readManifest } from '../../../src/core/manifest.js';
import { composeSources } from '../../../src/plan/compose.js';
import { createBackupPlan } from '../../../src/plan/backup-plan.js';
import { SET_ASIDE_PREFIX, setAsideWorkDir, WORKDIR_MARKER } from '../../../src/plan/workdir.js';
import type { PreparedSource, SourceContext } from '../../../src/contracts/types.js';
import { tempDir } from '../../helpers/context.js';
import { TextSource } from '../../helpers/fake-sources.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

describe('createBackupPlan', () => {
  it('prepares every source and writes the manifest last', async () => {
    const workDir = path.join(dir, 'staging');
    const plan = createBackupPlan({
      workDir,
      sources: [new TextSource('a', { 'x.txt': 'xx' }), new TextSource('b', { 'y.txt': 'yyy', 'z.txt': '' })],
      concurrency: 2,
    });
    const out = await plan.prepare();
    expect(out.ok).toBe(true);
    expect(out.backupPaths).toEqual([workDir, '/live/a', '/live/b']);
    const m = await readManifest(workDir);
    expect(m).toEqual(out.manifest);
    expect(m.sources.map((s) => [s.name, s.artifacts.map((a) => [a.path, a.bytes])])).toEqual([
      ['a', [['a/x.txt', 2]]],
      [
        'b',
        [
          ['b/y.txt', 3],
          ['b/z.txt', 0],
        ],
      ],
    ]);
    expect((await fsp.readdir(workDir)).sort()).toEqual([WORKDIR_MARKER, 'a', 'b', 'manifest.json'].sort());
  });

  it('a failing source fails the plan with every result and writes no manifest', async () => {
    const workDir = path.join(dir, 'staging');
    const good = new TextSource('good', { 'x.txt': 'x' });
    const bad = new TextSource('bad', {}, { phase: 'prepare', error: new Error('pg_dump exited with 1') });
    const plan = createBackupPlan({ workDir, sources: [good, bad] });
    const e = await plan.prepare().catch((x: unknown) => x);
    expect(isPlanError(e)).toBe(true);
    const results = (e as PlanError).results;
    expect(results.map((r) => [r.name, r.ok])).toEqual([
      ['good', true],
      ['bad', false],
    ]);
    expect((e as Error).message).toContain('pg_dump exited with 1');
    expect(existsSync(path.join(workDir, 'manifest.json'))).toBe(false);

    const soft = await plan.prepare({ reject: false });
    expect(soft.ok).toBe(false);
    expect(soft.manifest).toBeUndefined();
  });

  it('a failed check stops every prepare', async () => {
    const workDir = path.join(dir, 'staging');
    const good = new TextSource('good', { 'x.txt': 'x' });
    const down = new TextSource(
      'down',
      {},
      {
        phase: 'check',
        error: new SourceUnavailableError('connection refused', { source: 'down', kind: 'text', phase: 'check' }),
      },
    );
    const out = await createBackupPlan({ workDir, sources: [good, down] }).prepare({ reject: false });
    expect(out.ok).toBe(false);
    expect(out.results.find((r) => r.name === 'down')?.error).toSatisfy(isSourceUnavailableError);
    expect(existsSync(path.join(workDir, 'good'))).toBe(false);
  });

  it('cleans leftovers first and cleanup works from a new plan object', async () => {
    const workDir = path.join(dir, 'staging');
    const src = new TextSource('a', { 'x.txt': 'x' });
    await createBackupPlan({ workDir, sources: [src] }).prepare();
    await fsp.writeFile(path.join(workDir, 'a', 'stale.partial'), 'junk');
    await createBackupPlan({ workDir, sources: [src] }).prepare();
    expect(existsSync(path.join(workDir, 'a', 'stale.partial'))).toBe(false);
    const other = new TextSource('a', {});
    await createBackupPlan({ workDir, sources: [other] }).cleanup();
    expect(await fsp.readdir(workDir)).toEqual([WORKDIR_MARKER]);
    expect(other.cleanups).toBe(1);
  });

  it('checks while the earlier run is set aside, and frees it before the manifest', async () => {
    const workDir = path.join(dir, 'staging');
    await createBackupPlan({ workDir, sources: [new TextSource('a', { 'old.txt': 'old' })] }).prepare();
    await fsp.mkdir(path.join(workDir, 'a', 'deep', 'er'), { recursive: true });
    await fsp.writeFile(path.join(workDir, 'a', 'deep', 'er', 'big.bin'), Buffer.alloc(1 << 20));
    // a folder a run killed mid-removal left behind
    await fsp.mkdir(path.join(workDir, `${SET_ASIDE_PREFIX}dead`));
    await fsp.writeFile(path.join(workDir, `${SET_ASIDE_PREFIX}dead`, 'junk'), 'x');
    const seen: string[][] = [];
    class Probe extends TextSource {
      override async prepare(ctx: SourceContext): Promise<PreparedSource> {
        seen.push(await fsp.readdir(ctx.sourceDir).catch(() => []));
        return super.prepare(ctx);
      }
    }
    const out = await createBackupPlan({ workDir, sources: [new Probe('a', { 'new.txt': 'new' })] }).prepare();
    expect(out.ok).toBe(true);
    expect(seen).toEqual([[]]);
    expect((await fsp.readdir(workDir)).sort()).toEqual([WORKDIR_MARKER, 'a', 'manifest.json'].sort());
    expect(await fsp.readdir(path.join(workDir, 'a'))).toEqual(['new.txt']);
    expect((await readManifest(workDir)).sources[0]?.artifacts.map((a) => a.path)).toEqual(['a/new.txt']);
  });

  it('checks while the folder is claimed and locked; a locked folder is reported once its checks ended', async () => {
    const workDir = path.join(dir, 'staging');
    await createBackupPlan({ workDir, sources: [new TextSource('a', { 'old.txt': 'old' })] }).prepare();
    const events: string[] = [];
    class SlowDown extends TextSource {
      override async check(): Promise<void> {
        events.push('check started');
        // The lock attempt runs meanwhile (it finds the folder taken and gives up at once).
        await new Promise((r) => setTimeout(r, 50));
        events.push('check failed');
        throw new SourceUnavailableError('refused', { source: 'a', kind: 'text', phase: 'check' });
      }
      override async prepare(ctx: SourceContext): Promise<PreparedSource> {
        events.push('prepared');
        return super.prepare(ctx);
      }
    }
    const held = await acquireLock(workDir, { purpose: 'another run' });
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const e = await createBackupPlan({ workDir, sources: [new SlowDown('a', {})] })
        .prepare()
        .catch((x: unknown) => x);
      events.push('returned');
      expect(isLockedError(e)).toBe(true);
      expect(events).toEqual(['check started', 'check failed', 'returned']);
      await new Promise((r) => setTimeout(r, 10));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await held.release();
    }
    // Nothing of the earlier run was touched by the run that could not lock the folder.
    expect((await readManifest(workDir)).sources[0]?.artifacts.map((a) => a.path)).toEqual(['a/old.txt']);
  });

  it('a failed check still leaves the folder emptied, with nothing set aside', async () => {
    const workDir = path.join(dir, 'staging');
    await createBackupPlan({ workDir, sources: [new TextSource('a', { 'old.txt': 'old' })] }).prepare();
    const down = new TextSource(
      'a',
      {},
      { phase: 'check', error: new SourceUnavailableError('refused', { source: 'a', kind: 'text', phase: 'check' }) },
    );
    const out = await createBackupPlan({ workDir, sources: [down] }).prepare({ reject: false });
    expect(out.ok).toBe(false);
    expect(await fsp.readdir(workDir)).toEqual([WORKDIR_MARKER]);
  });

  it('setAsideWorkDir moves everything but the marker and the lock, then removes it', async () => {
    const workDir = path.join(dir, 'staging');
    await createBackupPlan({ workDir, sources: [new TextSource('a', { 'x.txt': 'x' })] }).prepare();
    await fsp.writeFile(path.join(workDir, '.duplicati-kit.lock'), '{}');
    const aside = await setAsideWorkDir(workDir);
    expect(aside.removed.sort()).toEqual(['a']);
    expect(existsSync(path.join(workDir, 'manifest.json'))).toBe(false);
    expect(await aside.done).toBeUndefined();
    expect((await fsp.readdir(workDir)).sort()).toEqual(['.duplicati-kit.lock', WORKDIR_MARKER].sort());
    // a folder without the marker is not ours: nothing is touched
    await fsp.writeFile(path.join(dir, 'precious.jpg'), 'photo');
    const none = await setAsideWorkDir(dir);
    expect(none.removed).toEqual([]);
    expect(existsSync(path.join(dir, 'precious.jpg'))).toBe(true);
  });

  it('refuses a non-empty folder it does not own, and deletes nothing there', async () => {
    await fsp.writeFile(path.join(dir, 'precious.jpg'), 'photo');
    const plan = createBackupPlan({ workDir: dir, sources: [new TextSource('a', { 'x.txt': 'x' })] });
    await expect(plan.prepare()).rejects.toSatisfy(isConfigError);
    await plan.cleanup();
    expect(await fsp.readdir(dir)).toEqual(['precious.jpg']);
  });

  it('validates options and reports every bad field', () => {
    const e = (() => {
      try {
        createBackupPlan({
          workDir: 'relative',
          sources: [new TextSource('../x', {}), new TextSource('ok', {}), new TextSource('ok', {})],
        });
      } catch (x) {
        return x;
      }
    })();
    expect(isConfigError(e)).toBe(true);
    expect((e as { issues: { path: string }[] }).issues.map((i) => i.path)).toEqual([
      'workDir',
      'sources.0.name',
      'sources.2.name',
    ]);
    expect(() => createBackupPlan({ workDir: dir, sources: [] })).toThrow(/at least one source/);
  });

  it('composite sources write parts under their own folders', async () => {
    const workDir = path.join(dir, 'staging');
    const app = composeSources('app', [
      new TextSource('db', { 'd.sql': 'sql' }),
      new TextSource('files', { 'f.txt': 'f' }),
    ]);
    const out = await createBackupPlan({ workDir, sources: [app] }).prepare();
    const entry = out.manifest?.sources[0];
    expect(entry?.kind).toBe('composite');
    expect(entry?.artifacts.map((a) => a.path)).toEqual(['app/db/d.sql', 'app/files/f.txt']);
    expect(out.includePaths).toEqual(['/live/db', '/live/files']);
  });

  it('dry run checks and writes nothing', async () => {
    const workDir = path.join(dir, 'staging');
    const out = await createBackupPlan({ workDir, sources: [new TextSource('a', { 'x.txt': 'x' })] }).prepare({
      dryRun: true,
    });
    expect(out.ok).toBe(true);
    expect(existsSync(workDir)).toBe(false);
  });

  it('a caller abort is rethrown as-is and leaves no manifest', async () => {
    const workDir = path.join(dir, 'staging');
    const ctl = new AbortController();
    const reason = new Error('stop');
    const src = new TextSource('a', { 'x.txt': 'x' });
    src.prepare = async () => {
      ctl.abort(reason);
      throw new Error('interrupted');
    };
    await expect(createBackupPlan({ workDir, sources: [src] }).prepare({ signal: ctl.signal })).rejects.toBe(reason);
    expect(existsSync(path.join(workDir, 'manifest.json'))).toBe(false);
    expect(existsSync(path.join(workDir, '.duplicati-kit.lock'))).toBe(false);
  });
});
