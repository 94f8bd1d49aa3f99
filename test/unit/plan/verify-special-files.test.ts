/**
 * A restore folder whose manifest names a FIFO hung `verify` forever (issue 17, item 10): only
 * regular files of the declared size are read now, and anything else is a verification problem.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashFile } from '../../../src/core/artifact-writer.js';
import { isNotRegularFileError } from '../../../src/core/errors.js';
import { ArchiveSource } from '../../../src/engines/archive/index.js';
import { createBackupPlan } from '../../../src/plan/backup-plan.js';
import { verifyArtifacts } from '../../../src/plan/restore/verify.js';
import { tempDir } from '../../helpers/context.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  tmp = await tempDir('dk-verify-fifo-');
});
afterEach(async () => {
  await tmp.cleanup();
});

describe('verify reads only regular files of the declared size', () => {
  it('a FIFO or an oversized file in place of an artifact is a problem, not a hang', { timeout: 20_000 }, async () => {
    const root = path.join(tmp.dir, 'data');
    await fsp.mkdir(root);
    await fsp.writeFile(path.join(root, 'a.txt'), 'hello\n');
    const workDir = path.join(tmp.dir, 'work');
    const plan = createBackupPlan({
      workDir,
      sources: [new ArchiveSource({ name: 'one', root }), new ArchiveSource({ name: 'two', root })],
    });
    const { manifest } = await plan.prepare();
    if (!manifest) throw new Error('no manifest');
    const [first, second] = manifest.sources.flatMap((s) => s.artifacts);
    if (!first || !second) throw new Error('two artifacts expected');
    const fifo = path.join(workDir, ...first.path.split('/'));
    await fsp.rm(fifo);
    await execa('mkfifo', [fifo]);
    await fsp.appendFile(path.join(workDir, ...second.path.split('/')), Buffer.alloc(1 << 20));

    const { problems } = await verifyArtifacts(workDir, manifest, { signal: AbortSignal.timeout(15_000) });
    expect(problems.map((p) => `${p.check}: ${p.message}`)).toEqual([
      `artifact ${first.path}: is a FIFO, not a regular file`,
      `artifact ${second.path}: size differs: ${second.bytes + (1 << 20)} bytes, manifest says ${second.bytes}`,
    ]);

    const err = await hashFile(fifo).catch((e: unknown) => e);
    expect(isNotRegularFileError(err), String(err)).toBe(true);
  });
});
