import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArchiveSource } from '../../../../src/engines/archive/source.js';
import { extractArchive } from '../../../../src/engines/_shared/extract-archive.js';
import { makeContext, tempDir } from '../../../helpers/context.js';
import { buildTree, listTree, type TreeNode } from '../../../unit/engines/archive/tree.js';

const TAR = '/usr/bin/tar';
const haveTar = existsSync(TAR);
if (!haveTar && process.env.CI) throw new Error(`GNU tar is required at ${TAR} in CI`);
if (!haveTar) console.warn(`skipping GNU tar interoperability tests: ${TAR} is missing`);

const NODES: TreeNode[] = [
  { kind: 'dir', path: 'photos', mode: 0o750, mtime: 1_600_000_000 },
  { kind: 'dir', path: 'photos/2024 été', mode: 0o755, mtime: 1_650_000_000 },
  { kind: 'file', path: 'photos/2024 été/IMG_0001.jpg', size: 200_000, seed: 7, mode: 0o644, mtime: 1_640_000_000 },
  { kind: 'file', path: 'photos/empty', size: 0, seed: 1, mode: 0o600, mtime: 1_500_000_000 },
  { kind: 'file', path: `${'long-name-'.repeat(12)}.txt`, size: 1000, seed: 3, mode: 0o640, mtime: 1_400_000_000 },
  { kind: 'file', path: 'bin/run.sh', size: 50, seed: 9, mode: 0o755, mtime: 1_300_000_000 },
  { kind: 'dir', path: 'bin', mode: 0o755, mtime: 1_300_000_001 },
  { kind: 'symlink', path: 'bin/latest', target: '../photos/2024 été/IMG_0001.jpg', mtime: 1_200_000_000 },
  { kind: 'symlink', path: 'dangling', target: 'gone', mtime: 1_200_000_000 },
  { kind: 'hardlink', path: 'bin/run-again.sh', target: 'bin/run.sh' },
];

let dir: string;
let cleanup: () => Promise<void>;
let src: string;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('dk-gnutar-'));
  src = path.join(dir, 'src');
  await fsp.mkdir(src);
  await buildTree(src, NODES, { mode: 0o755, mtime: 1_700_000_000 });
});
afterEach(() => cleanup());

describe.skipIf(!haveTar)('GNU tar interoperability', () => {
  for (const gzip of [false, true]) {
    it(`GNU tar lists and extracts what ArchiveSource writes (${gzip ? 'tar.gz' : 'tar'})`, async () => {
      const work = path.join(dir, 'work');
      const prepared = await new ArchiveSource({ name: 'tree', root: src, gzip }).prepare(makeContext(work, 'tree'));
      const file = path.join(work, prepared.artifacts[0]?.path ?? '');

      const listed = await execa(TAR, ['-tvf', file]);
      const names = listed.stdout.split('\n');
      expect(names.some((l) => l.includes(`${'long-name-'.repeat(12)}.txt`))).toBe(true);
      expect(names.some((l) => l.includes('bin/latest -> ../photos/2024 été/IMG_0001.jpg'))).toBe(true);
      expect(names.some((l) => l.includes('link to bin/run.sh') || l.includes('link to bin/run-again.sh'))).toBe(true);

      const out = path.join(dir, 'gnu-out');
      await fsp.mkdir(out);
      await execa(TAR, ['-xpf', file, '-C', out]);
      expect(await listTree(out)).toEqual(await listTree(src));
    });
  }

  it('a tar.gz of several gzip members (1 MiB each) reads whole with GNU tar and extractArchive', async () => {
    const big = path.join(dir, 'big');
    await buildTree(
      big,
      [
        { kind: 'dir', path: 'media', mode: 0o755, mtime: 1_600_000_000 },
        ...[1, 2, 3, 4].map((i) => ({
          kind: 'file' as const,
          path: `media/part-${i}.bin`,
          size: 900_000 + i * 10_000,
          seed: i,
          mode: 0o644,
          mtime: 1_600_000_000 + i,
        })),
      ],
      { mode: 0o755, mtime: 1_700_000_000 },
    );
    const work = path.join(dir, 'work-big');
    const prepared = await new ArchiveSource({ name: 'big', root: big, gzip: true }).prepare(makeContext(work, 'big'));
    const file = path.join(work, prepared.artifacts[0]?.path ?? '');
    await execa('gzip', ['-t', file]);
    const gnu = path.join(dir, 'gnu-big');
    await fsp.mkdir(gnu);
    await execa(TAR, ['-xpzf', file, '-C', gnu]);
    expect(await listTree(gnu)).toEqual(await listTree(big));
    const ours = path.join(dir, 'ours-big');
    await extractArchive(file, ours, { signal: new AbortController().signal });
    expect(await listTree(ours)).toEqual(await listTree(big));
  });

  it('extractArchive extracts what `tar czf` writes', async () => {
    const file = path.join(dir, 'gnu.tar.gz');
    await execa(TAR, ['-czf', file, '-C', src, '.']);
    const out = path.join(dir, 'ours');
    const result = await extractArchive(file, out);
    expect(result.format).toBe('tar.gz');
    expect(result.files).toBe(4);
    expect(result.hardlinks).toBe(1);
    expect(result.symlinks).toBe(2);
    expect(await listTree(out)).toEqual(await listTree(src));
  });

  it('extractArchive extracts a POSIX (pax) `tar cf` archive', async () => {
    const file = path.join(dir, 'posix.tar');
    await execa(TAR, ['--format=posix', '-cf', file, '-C', src, '.']);
    const out = path.join(dir, 'ours');
    await extractArchive(file, out);
    expect(await listTree(out)).toEqual(await listTree(src));
  });
});
