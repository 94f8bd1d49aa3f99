/**
 * An ArchiveSource whose root holds the backup's work folder must not archive its own `.partial`,
 * the lock or earlier artifacts; a root that is the work folder is refused (issue 17, item 12).
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isConfigError } from '../../../../src/core/errors.js';
import { ArchiveSource } from '../../../../src/engines/archive/index.js';
import { createBackupPlan } from '../../../../src/plan/backup-plan.js';
import { makeContext, tempDir } from '../../../helpers/context.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  tmp = await tempDir('dk-arch-work-');
});
afterEach(async () => {
  await tmp.cleanup();
});

describe('ArchiveSource and the work folder', () => {
  it('leaves out a work folder inside its root (no .partial, no lock, no earlier artifact)', async () => {
    const root = path.join(tmp.dir, 'app');
    await fsp.mkdir(path.join(root, 'conf'), { recursive: true });
    await fsp.writeFile(path.join(root, 'conf', 'a.conf'), 'x=1\n');
    const workDir = path.join(root, 'backup', 'staging');
    const plan = createBackupPlan({ workDir, sources: [new ArchiveSource({ name: 'app', root })] });
    await plan.prepare();
    // A second run: the first run's archive sits in the work folder now.
    await plan.prepare();
    const list = (await execa('tar', ['-tf', path.join(workDir, 'app', 'app.tar')])).stdout.split('\n');
    expect(list).toContain('conf/a.conf');
    expect(list).toContain('backup/');
    expect(list.filter((n) => n.startsWith('backup/staging'))).toEqual([]);
    await plan.cleanup();
  });

  it('refuses a root that is the work folder or inside it', async () => {
    const workDir = path.join(tmp.dir, 'work');
    await fsp.mkdir(path.join(workDir, 'inner'), { recursive: true });
    for (const root of [workDir, path.join(workDir, 'inner')]) {
      const source = new ArchiveSource({ name: 'self', root });
      const err = await source.prepare(makeContext(workDir, 'self')).catch((e: unknown) => e);
      expect(isConfigError(err), String(err)).toBe(true);
      expect((err as Error).message).toMatch(/is the backup's work folder or inside it/);
    }
    expect(await fsp.readdir(path.join(workDir, 'inner'))).toEqual([]);
  });
});
