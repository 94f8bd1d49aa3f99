import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isConfigError, isSourceUnavailableError } from '../../../../src/core/errors.js';
import { DirectorySource } from '../../../../src/engines/directory/source.js';
import { DirectoryTarget } from '../../../../src/engines/directory/target.js';
import { compileFilters } from '../../../../src/core/filters.js';
import { createBackupPlan } from '../../../../src/plan/backup-plan.js';
import { createRestorePlan } from '../../../../src/plan/restore-plan.js';
import { makeContext, tempDir } from '../../../helpers/context.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

async function tree(root: string) {
  await fsp.mkdir(path.join(root, '2024', 'thumbs'), { recursive: true });
  await fsp.writeFile(path.join(root, '2024', 'a.jpg'), 'aaaa');
  await fsp.writeFile(path.join(root, '2024', 'b.jpg'), 'bb');
  await fsp.writeFile(path.join(root, '2024', 'thumbs', 'a.webp'), 'ttttttttt');
  await fsp.writeFile(path.join(root, 'x.tmp'), 'tmp');
  await fsp.symlink('2024/a.jpg', path.join(root, 'latest.jpg'));
}

describe('filters', () => {
  it('match Duplicati-style globs and bracketed regular expressions', () => {
    const f = compileFilters(['*/thumbs/', '*.tmp', '[.*/cache/.*]']);
    expect(f.excludes('/srv/p/thumbs/')).toBe(true);
    expect(f.excludes('/srv/p/thumbs')).toBe(false);
    expect(f.excludes('/srv/p/x.tmp')).toBe(true);
    expect(f.excludes('/srv/cache/y')).toBe(true);
    expect(f.excludes('/srv/p/a.jpg')).toBe(false);
    expect(() => compileFilters(['[(]'])).toThrow(/regular expression/);
  });
});

describe('DirectorySource and DirectoryTarget', () => {
  it('counts what Duplicati will back up and lists it on request', async () => {
    const photos = path.join(dir, 'photos');
    await tree(photos);
    const src = new DirectorySource({
      name: 'photos',
      paths: [photos],
      exclude: ['*/thumbs/', '*.tmp'],
      listing: true,
    });
    const ctx = makeContext(path.join(dir, 'work'), 'photos');
    const out = await src.prepare(ctx);
    expect(out.includePaths).toEqual([photos]);
    expect(out.metadata).toEqual({
      paths: { [photos]: { files: 2, bytes: 6, dirs: 1, symlinks: 1 } },
      files: 2,
      bytes: 6,
    });
    const listing = (await fsp.readFile(path.join(dir, 'work', 'photos', 'listing.ndjson'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(listing.map((l: { path: string }) => l.path).sort()).toEqual([
      '2024',
      '2024/a.jpg',
      '2024/b.jpg',
      'latest.jpg',
    ]);
  });

  it('check fails clearly for a missing folder; options are validated', async () => {
    const src = new DirectorySource({ name: 'p', paths: [path.join(dir, 'gone')] });
    await expect(src.check(makeContext(dir, 'p'))).rejects.toSatisfy(isSourceUnavailableError);
    expect(() => new DirectorySource({ name: 'p', paths: ['relative'] })).toThrow(/absolute/);
    try {
      new DirectorySource({ name: 'p', paths: [dir], extra: 1 } as never);
      expect.unreachable();
    } catch (e) {
      expect(isConfigError(e)).toBe(true);
    }
  });

  it('the target proves a restored copy is complete, and catches a missing photo', async () => {
    const photos = path.join(dir, 'photos');
    await tree(photos);
    const staging = path.join(dir, 'staging');
    await createBackupPlan({
      workDir: staging,
      sources: [new DirectorySource({ name: 'photos', paths: [photos], exclude: ['*/thumbs/', '*.tmp'] })],
    }).prepare();
    const restoredRoot = path.join(dir, 'restored');
    await fsp.cp(photos, path.join(restoredRoot, photos), {
      recursive: true,
      verbatimSymlinks: true,
      filter: (s) => !s.includes('thumbs') && !s.endsWith('.tmp'),
    });
    const plan = createRestorePlan({ targets: [new DirectoryTarget({ source: 'photos', restoredRoot })] });
    expect((await plan.run({ from: staging })).ok).toBe(true);
    await fsp.rm(path.join(restoredRoot, photos, '2024', 'b.jpg'));
    const report = await plan.run({ from: staging, reject: false });
    expect(report.ok).toBe(false);
    expect(report.entries[0]?.verification?.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual([
      `${photos} files`,
      `${photos} bytes`,
    ]);
  });
});
