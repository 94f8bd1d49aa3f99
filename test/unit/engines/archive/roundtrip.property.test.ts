import { promises as fsp } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ArchiveSource } from '../../../../src/engines/archive/source.js';
import { extractArchive } from '../../../../src/engines/_shared/extract-archive.js';
import { makeContext, tempDir } from '../../../helpers/context.js';
import { buildTree, listTree, type TreeNode } from './tree.js';

const CHARS = ['a', 'b', 'z', 'Q', '0', '9', '_', '-', '.', ' ', 'é', 'ß', 'Ж', '日', '本', '🙂', '#', '+', '='];
const segment = fc
  .array(fc.constantFrom(...CHARS), { minLength: 1, maxLength: 24 })
  .map((cs) => cs.join(''))
  .filter((s) => s !== '.' && s !== '..');

const fileSpec = fc.record({
  segments: fc.array(segment, { minLength: 1, maxLength: 4 }),
  size: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 600 }), fc.integer({ min: 0, max: 64 * 1024 })),
  seed: fc.integer({ min: 1, max: 0x7fffffff }),
  // The owner can always read: the packer runs as whoever runs the tests.
  mode: fc.integer({ min: 0, max: 0o777 }).map((m) => m | 0o400),
  mtime: fc.integer({ min: 0, max: 2_000_000_000 }),
});
const dirSpec = fc.record({
  segments: fc.array(segment, { minLength: 1, maxLength: 3 }),
  mode: fc.constantFrom(0o755, 0o700, 0o750, 0o775, 0o711, 0o1777),
  mtime: fc.integer({ min: 0, max: 2_000_000_000 }),
});
const linkSpec = fc.record({
  at: fc.array(segment, { minLength: 1, maxLength: 3 }),
  pick: fc.nat(),
  dangling: fc.boolean(),
  hard: fc.boolean(),
  mtime: fc.integer({ min: 0, max: 2_000_000_000 }),
});

type Of<A> = A extends fc.Arbitrary<infer T> ? T : never;

/** Turn random specs into a consistent tree: no path is both a file and a folder. */
function toTree(files: Of<typeof fileSpec>[], dirs: Of<typeof dirSpec>[], links: Of<typeof linkSpec>[]): TreeNode[] {
  const kinds = new Map<string, 'dir' | 'leaf'>();
  const claim = (segs: string[], leaf: boolean): string | undefined => {
    for (let i = 1; i < segs.length; i++) if (kinds.get(segs.slice(0, i).join('/')) === 'leaf') return undefined;
    const p = segs.join('/');
    if (kinds.has(p)) return undefined;
    for (let i = 1; i < segs.length; i++) kinds.set(segs.slice(0, i).join('/'), 'dir');
    kinds.set(p, leaf ? 'leaf' : 'dir');
    return p;
  };
  const nodes: TreeNode[] = [];
  const fileNodes: TreeNode[] = [];
  for (const d of dirs) {
    const p = claim(d.segments, false);
    if (p) nodes.push({ kind: 'dir', path: p, mode: d.mode, mtime: d.mtime });
  }
  for (const f of files) {
    const p = claim(f.segments, true);
    if (!p) continue;
    const node: TreeNode = { kind: 'file', path: p, size: f.size, seed: f.seed, mode: f.mode, mtime: f.mtime };
    nodes.push(node);
    fileNodes.push(node);
  }
  const targets = ['', ...kinds.keys()];
  for (const l of links) {
    if (l.hard && fileNodes.length === 0) continue;
    const p = claim(l.at, true);
    if (!p) continue;
    if (l.hard) {
      const t = fileNodes[l.pick % fileNodes.length] as TreeNode;
      nodes.push({ kind: 'hardlink', path: p, target: t.path });
      continue;
    }
    const from = path.posix.dirname(p);
    const target = l.dangling
      ? 'not-there'
      : path.posix.relative(from === '.' ? '' : from, targets[l.pick % targets.length] as string) || '.';
    nodes.push({ kind: 'symlink', path: p, target, mtime: l.mtime });
  }
  // Implicit parent folders get explicit attributes so the comparison does not depend on umask.
  for (const [p, k] of kinds) {
    if (k === 'dir' && !nodes.some((n) => n.kind === 'dir' && n.path === p)) {
      nodes.push({ kind: 'dir', path: p, mode: 0o755, mtime: 1_000_000_000 });
    }
  }
  return nodes;
}

describe('archive round trip', () => {
  it('any tree archives and extracts back identically (content, mode, mtime, links)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fileSpec, { maxLength: 14 }),
        fc.array(dirSpec, { maxLength: 4 }),
        fc.array(linkSpec, { maxLength: 4 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 2_000_000_000 }),
        async (files, dirs, links, gzip, rootMtime) => {
          const { dir, cleanup } = await tempDir('dk-roundtrip-');
          try {
            const src = path.join(dir, 'src');
            await fsp.mkdir(src);
            await buildTree(src, toTree(files, dirs, links), { mode: 0o750, mtime: rootMtime });
            const before = await listTree(src);

            const source = new ArchiveSource({ name: 'tree', root: src, gzip });
            const work = path.join(dir, 'work');
            const prepared = await source.prepare(makeContext(work, 'tree'));
            const ref = prepared.artifacts[0];
            expect(ref?.format).toBe(gzip ? 'tar.gz' : 'tar');

            const out = path.join(dir, 'out');
            const result = await extractArchive(path.join(work, ref?.path ?? ''), out, { fsync: false });
            expect(await listTree(out)).toEqual(before);
            expect(result.files).toBe(prepared.metadata?.files);
            expect(result.bytes).toBe(prepared.metadata?.bytes);
            expect(result.symlinks).toBe(prepared.metadata?.symlinks);
            expect(result.hardlinks).toBe(prepared.metadata?.hardlinks);
            expect(result.directories).toBe(prepared.metadata?.directories);
          } finally {
            await cleanup();
          }
        },
      ),
      { numRuns: 30 },
    );
  });
});
