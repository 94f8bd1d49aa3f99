import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ArtifactRef } from '../../../../src/core/artifact-writer.js';
import { isConfigError, isDumpError, isSourceUnavailableError } from '../../../../src/core/errors.js';
import type { Logger } from '../../../../src/core/logger.js';
import { ArchiveSource } from '../../../../src/engines/archive/source.js';
import { ArchiveTarget } from '../../../../src/engines/archive/target.js';
import { compileExcludes } from '../../../../src/engines/_shared/tar-pack.js';
import type { SourceContext } from '../../../../src/contracts/types.js';
import { makeContext, tempDir } from '../../../helpers/context.js';
import { restoreInputFor } from '../../../integration/engines/postgres/restore-input.js';
import { buildTar } from './tar-builder.js';
import { listTree } from './tree.js';

let dir: string;
let cleanup: () => Promise<void>;
let src: string;
let work: string;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('dk-archive-'));
  src = path.join(dir, 'src');
  work = path.join(dir, 'work');
  await fsp.mkdir(path.join(src, 'conf/cache'), { recursive: true });
  await fsp.writeFile(path.join(src, 'conf/app.yml'), 'port: 80\n');
  await fsp.writeFile(path.join(src, 'conf/cache/blob.tmp'), 'junk');
  await fsp.writeFile(path.join(src, 'notes.txt'), 'hello');
  await fsp.symlink('conf/app.yml', path.join(src, 'current.yml'));
});
afterEach(() => cleanup());

function recordingLogger(lines: string[]): Logger {
  const push = (m: string) => lines.push(m);
  return { debug: push, info: push, warn: push, error: push };
}

async function prepared(options: Partial<ConstructorParameters<typeof ArchiveSource>[0]> = {}) {
  const source = new ArchiveSource({ name: 'cfg', root: src, ...options });
  const ctx = makeContext(work, 'cfg');
  const result = await source.prepare(ctx);
  return { source, ctx, result, ref: result.artifacts[0] as ArtifactRef };
}

describe('ArchiveSource', () => {
  it('rejects bad options with the path of every bad field', () => {
    const err = (() => {
      try {
        new ArchiveSource({
          name: 'bad/name',
          root: '',
          include: ['../up'],
          gzip: { level: 12 },
          extra: 1,
        } as unknown as ConstructorParameters<typeof ArchiveSource>[0]);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(isConfigError(err)).toBe(true);
    const paths = (err as { issues: { path: string }[] }).issues.map((i) => i.path).sort();
    expect(paths).toEqual(['', 'gzip.level', 'include.0', 'name', 'root']);
  });

  it('check fails with SourceUnavailableError for a missing root or include path', async () => {
    const ctx = makeContext(work, 'cfg');
    await expect(new ArchiveSource({ name: 'cfg', root: path.join(dir, 'nope') }).check(ctx)).rejects.toSatisfy(
      isSourceUnavailableError,
    );
    await expect(new ArchiveSource({ name: 'cfg', root: src, include: ['missing'] }).check(ctx)).rejects.toSatisfy(
      isSourceUnavailableError,
    );
    await expect(new ArchiveSource({ name: 'cfg', root: src }).check(ctx)).resolves.toBeUndefined();
  });

  it('writes <name>.tar.gz with sha256, size and metadata; exclude and include apply', async () => {
    const { result, ref } = await prepared({ gzip: true, exclude: ['*.tmp'] });
    expect(ref.path).toBe('cfg/cfg.tar.gz');
    expect(ref.format).toBe('tar.gz');
    expect((await fsp.stat(path.join(work, ref.path))).size).toBe(ref.bytes);
    expect(result.metadata).toMatchObject({
      root: src,
      format: 'tar.gz',
      files: 2,
      symlinks: 1,
      directories: 2,
      bytes: 'port: 80\n'.length + 'hello'.length,
      gzipLevel: 6,
    });

    const only = await new ArchiveSource({
      name: 'inc',
      root: src,
      include: ['conf/cache'],
      artifactName: 'x',
    }).prepare(makeContext(work, 'inc'));
    expect(only.artifacts[0]?.path).toBe('inc/x.tar');
    expect(only.metadata).toMatchObject({ files: 1, directories: 2, symlinks: 0 });
  });

  it('skips FIFOs with a warning', async () => {
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [path.join(src, 'pipe')]);
    const lines: string[] = [];
    const ctx: SourceContext = { ...makeContext(work, 'cfg'), logger: recordingLogger(lines) };
    const result = await new ArchiveSource({ name: 'cfg', root: src }).prepare(ctx);
    expect(result.metadata?.skipped).toBe(1);
    expect(lines.some((l) => l.includes('FIFO') && l.includes('pipe'))).toBe(true);
  });

  it('fails with DumpError when a folder cannot be read, and leaves no partial artifact', async () => {
    if (process.getuid?.() === 0) {
      // root reads everything, so the failure comes from a root that is not a folder instead.
      const source = new ArchiveSource({ name: 'cfg', root: path.join(src, 'notes.txt') });
      await expect(source.prepare(makeContext(work, 'cfg'))).rejects.toSatisfy(isDumpError);
    } else {
      await fsp.chmod(path.join(src, 'conf'), 0o000);
      const source = new ArchiveSource({ name: 'cfg', root: src });
      await expect(source.prepare(makeContext(work, 'cfg'))).rejects.toSatisfy(isDumpError);
      await fsp.chmod(path.join(src, 'conf'), 0o755);
    }
    expect(await fsp.readdir(path.join(work, 'cfg')).catch(() => [])).toEqual([]);
  });

  it('rethrows the abort reason as is', async () => {
    const ctl = new AbortController();
    const reason = new Error('cancelled');
    ctl.abort(reason);
    const source = new ArchiveSource({ name: 'cfg', root: src, gzip: true });
    await expect(source.prepare(makeContext(work, 'cfg', { signal: ctl.signal }))).rejects.toBe(reason);
  });
});

describe('compileExcludes', () => {
  it('matches names anywhere, or whole paths when the pattern has a slash', () => {
    const ex = compileExcludes(['*.tmp', 'cache', 'logs/202?-*', 'deep/**/x']);
    expect(ex('a/b/c.tmp')).toBe(true);
    expect(ex('a/cache')).toBe(true);
    expect(ex('a/cached')).toBe(false);
    expect(ex('logs/2024-01')).toBe(true);
    expect(ex('other/logs/2024-01')).toBe(false);
    expect(ex('deep/1/2/x')).toBe(true);
    expect(ex('c.tmp.keep')).toBe(false);
  });
});

describe('ArchiveTarget', () => {
  it('rejects bad options', () => {
    expect(() => new ArchiveTarget({ dest: '', bogus: true } as unknown as { dest: string })).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG' }),
    );
  });

  it('accepts archive entries, of the configured source when one is set', async () => {
    const { source, result } = await prepared();
    const { entry } = restoreInputFor(source, result, work);
    expect(new ArchiveTarget({ dest: path.join(dir, 'out') }).accepts(entry)).toBe(true);
    expect(new ArchiveTarget({ dest: path.join(dir, 'out'), source: 'cfg' }).accepts(entry)).toBe(true);
    expect(new ArchiveTarget({ dest: path.join(dir, 'out'), source: 'other' }).accepts(entry)).toBe(false);
    expect(new ArchiveTarget({ dest: path.join(dir, 'out') }).accepts({ ...entry, kind: 'sqlite' })).toBe(false);
  });

  it('verify scans without writing and compares counts with the manifest', async () => {
    const { source, result } = await prepared({ gzip: true });
    const dest = path.join(dir, 'out');
    const target = new ArchiveTarget({ dest });
    const ctx = makeContext(path.join(dir, 'rwork'), 'cfg');
    const good = await target.verify(restoreInputFor(source, result, work), ctx);
    expect(good.ok).toBe(true);
    expect(good.checks.map((c) => c.name)).toEqual([
      'archive_safe',
      'files',
      'directories',
      'symlinks',
      'hardlinks',
      'bytes',
      'dest',
    ]);
    expect(await fsp.readdir(dir)).not.toContain('out');

    const lying = await target.verify(
      restoreInputFor(source, { ...result, metadata: { ...result.metadata, files: 99 } }, work),
      ctx,
    );
    expect(lying.ok).toBe(false);
    expect(lying.checks.find((c) => c.name === 'files')).toMatchObject({ ok: false });

    await fsp.mkdir(dest);
    const exists = await target.verify(restoreInputFor(source, result, work), ctx);
    expect(exists.checks.find((c) => c.name === 'dest')).toMatchObject({ ok: false });
  });

  it('verify reports an unsafe archive with the entry name', async () => {
    const from = path.join(dir, 'from');
    await fsp.mkdir(path.join(from, 'cfg'), { recursive: true });
    await fsp.writeFile(path.join(from, 'cfg/cfg.tar'), buildTar([{ name: '../evil', data: 'x' }]));
    const ref: ArtifactRef = { path: 'cfg/cfg.tar', bytes: 0, sha256: '0'.repeat(64), format: 'tar' };
    const report = await new ArchiveTarget({ dest: path.join(dir, 'out') }).verify(
      restoreInputFor(new ArchiveSource({ name: 'cfg', root: src }), { artifacts: [ref] }, from),
      makeContext(path.join(dir, 'rwork'), 'cfg'),
    );
    expect(report.ok).toBe(false);
    expect(report.checks[0]).toMatchObject({ name: 'archive_safe', ok: false });
    expect(report.checks[0]?.detail).toContain('"../evil"');
  });

  it('restore swaps in the archive with a safety copy; rollback puts it back; finalize drops it', async () => {
    const { source, result } = await prepared({ gzip: true });
    const input = restoreInputFor(source, result, work);
    const dest = path.join(dir, 'live');
    await fsp.mkdir(dest);
    await fsp.writeFile(path.join(dest, 'old.txt'), 'previous');
    const ctx = makeContext(path.join(dir, 'rwork'), 'cfg');
    const target = new ArchiveTarget({ dest, overwrite: true });

    const out = await target.restore(input, ctx);
    expect(out.restored).toEqual([dest]);
    expect(await listTree(dest)).toEqual(await listTree(src));
    expect(await fsp.readFile(path.join(out.safetyCopy ?? '', 'old.txt'), 'utf8')).toBe('previous');

    await target.rollback(out, ctx);
    expect(await fsp.readdir(dest)).toEqual(['old.txt']);
    expect((await fsp.readdir(dir)).sort()).toEqual(['live', 'src', 'work']);

    const again = await target.restore(input, ctx);
    await target.finalize(again, ctx);
    expect(await listTree(dest)).toEqual(await listTree(src));
    expect((await fsp.readdir(dir)).sort()).toEqual(['live', 'src', 'work']);
  });

  it('restore into a new folder; rollback removes it; an existing dest without overwrite is refused', async () => {
    const { source, result } = await prepared();
    const input = restoreInputFor(source, result, work);
    const dest = path.join(dir, 'fresh');
    const ctx = makeContext(path.join(dir, 'rwork'), 'cfg');
    const target = new ArchiveTarget({ dest });
    const out = await target.restore(input, ctx);
    expect(out.safetyCopy).toBeUndefined();
    await expect(target.restore(input, ctx)).rejects.toMatchObject({ code: 'ERR_RESTORE' });
    await target.rollback(out, ctx);
    expect(await fsp.readdir(dir)).not.toContain('fresh');
  });
});
