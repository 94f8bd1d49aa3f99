import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArchiveError, isArchiveError } from '../../../../src/core/errors.js';
import { extractArchive } from '../../../../src/engines/_shared/extract-archive.js';
import { tempDir } from '../../../helpers/context.js';
import { buildTar, buildTarGz, header, type RawEntry } from './tar-builder.js';

let root: string;
let cleanup: () => Promise<void>;
let archives: string;
let sentinel: string;
let dest: string;

beforeEach(async () => {
  ({ dir: root, cleanup } = await tempDir('dk-hostile-'));
  archives = path.join(root, 'archives');
  sentinel = path.join(root, 'sentinel');
  dest = path.join(sentinel, 'dest');
  await fsp.mkdir(archives);
  await fsp.mkdir(sentinel);
});
afterEach(() => cleanup());

async function write(name: string, bytes: Buffer): Promise<string> {
  const file = path.join(archives, name);
  await fsp.writeFile(file, bytes);
  return file;
}

/** Extract, expect an ArchiveError, and check nothing was written anywhere. */
async function expectRejected(bytes: Buffer, entry: string | undefined, message: RegExp, code = 'ERR_ARCHIVE') {
  const file = await write('hostile.tar', bytes);
  const err = await extractArchive(file, dest).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isArchiveError(err)).toBe(true);
  const ae = err as ArchiveError;
  expect(ae.message).toMatch(message);
  expect(ae.code).toBe(code);
  if (entry !== undefined) expect(ae.entry).toBe(entry);
  expect(await fsp.readdir(sentinel)).toEqual([]);
  expect((await fsp.readdir(root)).sort()).toEqual(['archives', 'sentinel']);
  expect(await fsp.readdir(archives)).toEqual(['hostile.tar']);
}

const file = (name: string, data = 'x', extra: Partial<RawEntry> = {}): RawEntry => ({ name, data, ...extra });

describe('extractArchive rejects hostile archives', () => {
  it('absolute paths', async () => {
    const target = `/tmp/dk-evil-${process.pid}-${Date.now()}`;
    await expectRejected(buildTar([file('ok.txt'), file(target)]), target, /absolute path/);
    await expect(fsp.lstat(target)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('".." segments, at the start and in the middle', async () => {
    await expectRejected(buildTar([file('../evil.txt')]), '../evil.txt', /"\.\." segment/);
    await expectRejected(buildTar([file('a/../../../evil.txt')]), 'a/../../../evil.txt', /"\.\." segment/);
  });

  it('".." hidden in a pax path record', async () => {
    await expectRejected(
      buildTar([file('innocent.txt', 'x', { pax: { path: '../../pax-evil.txt' } })]),
      '../../pax-evil.txt',
      /"\.\." segment/,
    );
  });

  it('names with a NUL byte or a backslash', async () => {
    await expectRejected(
      buildTar([file('a', 'x', { pax: { path: 'safe\0/../../evil' } })]),
      'safe\0/../../evil',
      /NUL/,
    );
    await expectRejected(buildTar([file('..\\..\\evil.txt')]), '..\\..\\evil.txt', /backslash/);
  });

  it('symlinks whose target escapes the destination', async () => {
    await expectRejected(buildTar([{ name: 'up', type: '2', linkname: '..' }]), 'up', /escapes/);
    await expectRejected(buildTar([{ name: 'abs', type: '2', linkname: '/etc' }]), 'abs', /absolute path/);
    await expectRejected(
      buildTar([
        { name: 'a/', type: '5' },
        { name: 'a/deep', type: '2', linkname: '../../x' },
      ]),
      'a/deep',
      /escapes/,
    );
    await expectRejected(buildTar([{ name: 'sneaky', type: '2', linkname: 'a/../..' }]), 'sneaky', /after a name/);
  });

  it('a file written through a symlinked folder (tar-slip)', async () => {
    await expectRejected(
      buildTar([{ name: 'real/', type: '5' }, { name: 'link', type: '2', linkname: 'real' }, file('link/payload')]),
      'link/payload',
      /through the symlink "link"/,
    );
  });

  it('a symlink replacing the root, or a folder entry over a symlink', async () => {
    await expectRejected(buildTar([{ name: './', type: '2', linkname: '/' }]), './', /must be the root folder/);
    await expectRejected(
      buildTar([
        { name: 'link', type: '2', linkname: 'real' },
        { name: 'link/', type: '5' },
      ]),
      'link/',
      /replace a file or link/,
    );
  });

  it('a file written under a file', async () => {
    await expectRejected(buildTar([file('f'), file('f/child')]), 'f/child', /under the file "f"/);
  });

  it('hardlinks escaping, absolute, or to entries not extracted', async () => {
    await expectRejected(buildTar([{ name: 'h', type: '1', linkname: '../outside' }]), 'h', /"\.\." segment/);
    await expectRejected(buildTar([{ name: 'h', type: '1', linkname: '/etc/passwd' }]), 'h', /absolute path/);
    await expectRejected(buildTar([{ name: 'h', type: '1', linkname: 'missing' }]), 'h', /not a file extracted/);
    await expectRejected(
      buildTar([
        { name: 'd/', type: '5' },
        { name: 'h', type: '1', linkname: 'd' },
      ]),
      'h',
      /not a file extracted/,
    );
    await expectRejected(
      buildTar([
        { name: 's', type: '2', linkname: 'x' },
        { name: 'h', type: '1', linkname: 's' },
      ]),
      'h',
      /not a file extracted/,
    );
  });

  it('device files and FIFOs', async () => {
    await expectRejected(buildTar([{ name: 'null', type: '3' }]), 'null', /device/);
    await expectRejected(buildTar([{ name: 'sda', type: '4' }]), 'sda', /device/);
    await expectRejected(buildTar([{ name: 'pipe', type: '6' }]), 'pipe', /FIFO/);
  });

  it('unsupported entry types (GNU sparse)', async () => {
    await expectRejected(buildTar([{ name: 'sparse', type: 'S' }]), 'sparse', /unsupported entry type/);
  });

  it('an entry whose data is longer than its header declares', async () => {
    const bytes = Buffer.concat([
      header({ name: 'short.txt', size: 10 }),
      Buffer.alloc(1536, 0x41),
      Buffer.alloc(1024),
    ]);
    await expectRejected(bytes, 'short.txt', /corrupt or truncated tar/, 'ERR_ARCHIVE_CORRUPT');
  });

  it('a folder entry that carries data', async () => {
    await expectRejected(buildTar([{ name: 'd/', type: '5', data: Buffer.alloc(512, 1) }]), 'd/', /carries 512 bytes/);
  });

  it('a truncated archive: cut inside data', async () => {
    const full = buildTar([file('big.bin', Buffer.alloc(5000, 7).toString())]);
    await expectRejected(full.subarray(0, 2048), 'big.bin', /corrupt or truncated tar/, 'ERR_ARCHIVE_CORRUPT');
  });

  it('a truncated archive: cut at an entry boundary, without the end marker', async () => {
    await expectRejected(
      buildTar([file('a.txt'), file('b.txt')], { end: false }),
      'b.txt',
      /truncated/,
      'ERR_ARCHIVE_CORRUPT',
    );
  });

  it('an empty file', async () => {
    await expectRejected(Buffer.alloc(0), undefined, /empty/, 'ERR_ARCHIVE_CORRUPT');
  });

  it('corrupt gzip data', async () => {
    const gz = buildTarGz([file('a.txt', 'hello '.repeat(1000))]);
    const bad = Buffer.from(gz);
    for (let i = 20; i < bad.length - 10; i += 7) bad[i] = (bad[i] ?? 0) ^ 0xff;
    await expectRejected(bad, undefined, /corrupt or truncated (gzip|tar)/, 'ERR_ARCHIVE_CORRUPT');
  });

  it('truncated gzip data', async () => {
    const gz = buildTarGz([file('a.txt', 'hello '.repeat(1000))]);
    await expectRejected(gz.subarray(0, gz.length - 12), undefined, /corrupt or truncated gzip/, 'ERR_ARCHIVE_CORRUPT');
  });

  it('a file entry replacing a folder, and a folder replacing a file', async () => {
    await expectRejected(buildTar([{ name: 'd/', type: '5' }, file('d/x'), file('d')]), 'd', /overwrite a folder/);
    await expectRejected(buildTar([file('f'), { name: 'f/', type: '5' }]), 'f/', /replace a file/);
  });

  it('entries over the size limits', async () => {
    const file1 = await write('big.tar', buildTar([file('a', 'x'.repeat(100))]));
    await expect(extractArchive(file1, dest, { maxEntrySize: 99 })).rejects.toMatchObject({
      code: 'ERR_ARCHIVE_LIMIT',
      entry: 'a',
    });
    const file2 = await write('many.tar', buildTar([file('a', 'x'.repeat(60)), file('b', 'y'.repeat(60))]));
    await expect(extractArchive(file2, dest, { maxTotalSize: 100 })).rejects.toMatchObject({
      code: 'ERR_ARCHIVE_LIMIT',
      entry: 'b',
    });
    await expect(extractArchive(file2, dest, { maxEntries: 1 })).rejects.toMatchObject({ code: 'ERR_ARCHIVE_LIMIT' });
    expect(await fsp.readdir(sentinel)).toEqual([]);
  });
});

describe('extractArchive on acceptable input', () => {
  it('refuses an existing destination unless overwrite, and then replaces it', async () => {
    const f = await write('ok.tar', buildTar([file('new.txt', 'new')]));
    await fsp.mkdir(dest);
    await fsp.writeFile(path.join(dest, 'old.txt'), 'old');
    await expect(extractArchive(f, dest)).rejects.toMatchObject({ code: 'ERR_ARCHIVE_DEST_EXISTS' });
    expect(await fsp.readdir(dest)).toEqual(['old.txt']);
    const result = await extractArchive(f, dest, { overwrite: true });
    expect(result.files).toBe(1);
    expect(await fsp.readdir(dest)).toEqual(['new.txt']);
    expect(await fsp.readdir(sentinel)).toEqual(['dest']);
  });

  it('keeps the old destination when an overwrite fails', async () => {
    const f = await write('bad.tar', buildTar([file('ok.txt'), file('../evil')]));
    await fsp.mkdir(dest);
    await fsp.writeFile(path.join(dest, 'old.txt'), 'old');
    await expect(extractArchive(f, dest, { overwrite: true })).rejects.toBeInstanceOf(ArchiveError);
    expect(await fsp.readdir(sentinel)).toEqual(['dest']);
    expect(await fsp.readFile(path.join(dest, 'old.txt'), 'utf8')).toBe('old');
  });

  it('strips setuid/setgid unless asked, restores modes and mtimes, sets folder mtimes after contents', async () => {
    const f = await write(
      'modes.tar',
      buildTar([
        { name: 'd/', type: '5', mode: 0o750, mtime: 1_600_000_000 },
        file('d/suid', 'x', { mode: 0o4755, mtime: 1_500_000_000 }),
        file('d/sticky-dir-file', 'y', { mode: 0o1644 }),
        { name: 'd/link', type: '2', linkname: 'suid', mtime: 1_400_000_000 },
      ]),
    );
    await extractArchive(f, dest);
    const suid = await fsp.stat(path.join(dest, 'd/suid'));
    expect(suid.mode & 0o7777).toBe(0o755);
    expect(Math.floor(suid.mtimeMs / 1000)).toBe(1_500_000_000);
    expect((await fsp.stat(path.join(dest, 'd/sticky-dir-file'))).mode & 0o7777).toBe(0o1644);
    const d = await fsp.stat(path.join(dest, 'd'));
    expect(d.mode & 0o7777).toBe(0o750);
    expect(Math.floor(d.mtimeMs / 1000)).toBe(1_600_000_000);
    expect(await fsp.readlink(path.join(dest, 'd/link'))).toBe('suid');
    expect(Math.floor((await fsp.lstat(path.join(dest, 'd/link'))).mtimeMs / 1000)).toBe(1_400_000_000);

    const dest2 = path.join(sentinel, 'special');
    await extractArchive(f, dest2, { preserveSpecialBits: true });
    expect((await fsp.stat(path.join(dest2, 'd/suid'))).mode & 0o7777).toBe(0o4755);
  });

  it('allows symlinks that stay inside, including "../" to a sibling folder, and later duplicates of files', async () => {
    const f = await write(
      'ok.tar',
      buildTar([
        { name: './', type: '5', mode: 0o700 },
        file('lib/real.so', 'lib'),
        { name: 'bin/tool', type: '2', linkname: '../lib/real.so' },
        file('dup.txt', 'first'),
        file('dup.txt', 'second'),
        { name: 'hard', type: '1', linkname: './lib/real.so' },
      ]),
    );
    const result = await extractArchive(f, dest);
    expect(result).toMatchObject({ files: 3, symlinks: 1, hardlinks: 1, format: 'tar' });
    expect(await fsp.readFile(path.join(dest, 'bin/tool'), 'utf8')).toBe('lib');
    expect(await fsp.readFile(path.join(dest, 'dup.txt'), 'utf8')).toBe('second');
    expect((await fsp.stat(path.join(dest, 'hard'))).ino).toBe((await fsp.stat(path.join(dest, 'lib/real.so'))).ino);
    expect((await fsp.stat(dest)).mode & 0o777).toBe(0o700);
  });

  it('rethrows the caller abort as is and leaves nothing behind', async () => {
    const f = await write('ok.tar', buildTar([file('a.txt')]));
    const ctl = new AbortController();
    const reason = new Error('stop');
    ctl.abort(reason);
    await expect(extractArchive(f, dest, { signal: ctl.signal })).rejects.toBe(reason);
    const ctl2 = new AbortController();
    const reason2 = new Error('stop later');
    const big = await write(
      'big.tar',
      buildTar(Array.from({ length: 50 }, (_, i) => file(`f${i}`, 'z'.repeat(10_000)))),
    );
    await expect(
      extractArchive(big, dest, {
        signal: ctl2.signal,
        onProgress: (p) => {
          if (p.entries === 10) ctl2.abort(reason2);
        },
      }),
    ).rejects.toBe(reason2);
    expect(await fsp.readdir(sentinel)).toEqual([]);
  });
});
