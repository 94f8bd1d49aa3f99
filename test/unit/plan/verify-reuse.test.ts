/**
 * A plan run twice on one folder (the checklist's dry run at gate 2, then its restore at gate 6)
 * hashes an artifact again only when the file changed in between.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArchiveSource } from '../../../src/engines/archive/index.js';
import { createBackupPlan } from '../../../src/plan/backup-plan.js';
import type { VerifiedFiles } from '../../../src/plan/restore/context.js';
import { verifyArtifacts } from '../../../src/plan/restore/verify.js';
import { tempDir } from '../../helpers/context.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  tmp = await tempDir('dk-verify-reuse-');
});
afterEach(async () => {
  await tmp.cleanup();
});

async function prepared() {
  const root = path.join(tmp.dir, 'data');
  await fsp.mkdir(root);
  await fsp.writeFile(path.join(root, 'a.txt'), 'hello world\n'.repeat(1000));
  const workDir = path.join(tmp.dir, 'work');
  const { manifest } = await createBackupPlan({
    workDir,
    sources: [new ArchiveSource({ name: 'one', root })],
  }).prepare();
  if (!manifest) throw new Error('no manifest');
  const artifact = manifest.sources[0]?.artifacts[0];
  if (!artifact) throw new Error('one artifact expected');
  return { workDir, manifest, file: path.join(workDir, ...artifact.path.split('/')) };
}

describe('verifyArtifacts with the files a plan already verified', () => {
  it('trusts an earlier hash only while the file keeps its identity', async () => {
    const { workDir, manifest, file } = await prepared();
    const verified: VerifiedFiles = new Map();
    expect((await verifyArtifacts(workDir, manifest, { verified })).problems).toEqual([]);
    const real = await fsp.realpath(file);
    expect(verified.get(real)?.sha256).toBe(manifest.sources[0]?.artifacts[0]?.sha256);

    // Same identity: the earlier hash stands (shown by an entry whose identity is made to match a
    // file with other bytes: only a trusted cache could call that file good).
    const good = verified.get(real);
    if (!good) throw new Error('remembered');
    const original = await fsp.readFile(file);
    const other = Buffer.from(original);
    other[other.length - 1] = (other.at(-1) ?? 0) ^ 0xff;
    await fsp.writeFile(file, other);
    const st = await fsp.lstat(real, { bigint: true });
    verified.set(real, { id: `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`, sha256: good.sha256 });
    expect((await verifyArtifacts(workDir, manifest, { verified })).problems).toEqual([]);
  });

  it('hashes again after a same-size rewrite with the old mtime put back, and finds the damage', async () => {
    const { workDir, manifest, file } = await prepared();
    const verified: VerifiedFiles = new Map();
    expect((await verifyArtifacts(workDir, manifest, { verified })).problems).toEqual([]);
    const before = await fsp.stat(file);
    const bytes = await fsp.readFile(file);
    bytes[bytes.length - 1] = (bytes.at(-1) ?? 0) ^ 0xff;
    await fsp.writeFile(file, bytes);
    await fsp.utimes(file, before.atime, before.mtime);
    const { problems } = await verifyArtifacts(workDir, manifest, { verified });
    expect(problems.map((p) => p.message)).toEqual(['sha256 differs']);
  });

  it('hashes again when another file is renamed into its place', async () => {
    const { workDir, manifest, file } = await prepared();
    const verified: VerifiedFiles = new Map();
    await verifyArtifacts(workDir, manifest, { verified });
    const bytes = await fsp.readFile(file);
    bytes[0] = (bytes[0] ?? 0) ^ 0xff;
    await fsp.writeFile(`${file}.new`, bytes);
    await fsp.rename(`${file}.new`, file);
    const { problems } = await verifyArtifacts(workDir, manifest, { verified });
    expect(problems.map((p) => p.message)).toEqual(['sha256 differs']);
  });
});
