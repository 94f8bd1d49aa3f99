import { createHash } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArtifactWriter, hashFile } from '../../../src/core/artifact-writer.js';
import { backgroundFlushStep } from '../../../src/core/fs.js';
import { tempDir } from '../../helpers/context.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

function chunks(n: number, size: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => Buffer.alloc(size, i % 251));
}

describe('ArtifactWriter', () => {
  it('streams, counts and hashes in one pass, then renames into place', async () => {
    const w = new ArtifactWriter(dir, 'db');
    const data = chunks(50, 64 * 1024);
    const ref = await w.write('dump.sql', Readable.from(data), { format: 'sql' });
    const whole = Buffer.concat(data);
    expect(ref).toEqual({
      path: 'db/dump.sql',
      bytes: whole.length,
      sha256: createHash('sha256').update(whole).digest('hex'),
      format: 'sql',
    });
    expect(await hashFile(path.join(dir, 'db', 'dump.sql'))).toEqual({ bytes: ref.bytes, sha256: ref.sha256 });
    expect(existsSync(path.join(dir, 'db', 'dump.sql.partial'))).toBe(false);
    expect(w.written).toEqual([ref]);
  });

  it('stays exact across the background flushes of a large artifact (140 MiB)', async () => {
    const w = new ArtifactWriter(dir, 'db');
    const data = chunks(140, 1024 * 1024); // a dozen background flushes, then the closing fsync
    const hash = createHash('sha256');
    for (const c of data) hash.update(c);
    const ref = await w.write('big.sql', Readable.from(data), { format: 'sql' });
    expect(ref.bytes).toBe(140 * 1024 * 1024);
    expect(ref.sha256).toBe(hash.digest('hex'));
    expect(await hashFile(path.join(dir, 'db', 'big.sql'))).toEqual({ bytes: ref.bytes, sha256: ref.sha256 });
  });

  it('flushes in the background every quarter of what it wrote, between 8 and 16 MiB', () => {
    const MiB = 1 << 20;
    expect(backgroundFlushStep(0)).toBe(8 * MiB);
    expect(backgroundFlushStep(20 * MiB)).toBe(8 * MiB);
    expect(backgroundFlushStep(48 * MiB)).toBe(12 * MiB);
    expect(backgroundFlushStep(100 * MiB)).toBe(16 * MiB);
    expect(backgroundFlushStep(4096 * MiB)).toBe(16 * MiB);
  });

  it('removes the partial file when the producer fails', async () => {
    const w = new ArtifactWriter(dir, 'db');
    async function* broken() {
      yield Buffer.from('half a dump');
      throw new Error('pg_dump died');
    }
    await expect(w.write('dump.sql', broken(), { format: 'sql' })).rejects.toThrow('pg_dump died');
    expect(await fsp.readdir(path.join(dir, 'db'))).toEqual([]);
    expect(w.written).toEqual([]);
  });

  it('commits under a name known only after writing began (commitAs), through open() and adopt()', async () => {
    const w = new ArtifactWriter(dir, 'db');
    let name!: (n: string) => void;
    const later = new Promise<string>((resolve) => {
      name = resolve;
    });
    const sink = w.open('dump.sql', { format: 'sql', commitAs: later });
    sink.stream.end('COPY 1\n');
    const finishing = sink.finish();
    // the bytes wait under the provisional name until the name comes
    await new Promise((r) => setTimeout(r, 20));
    expect(await fsp.readdir(path.join(dir, 'db'))).toEqual(['dump.sql.partial']);
    name('immich-db-backup-v2.5.6.sql');
    const ref = await finishing;
    expect(ref.path).toBe('db/immich-db-backup-v2.5.6.sql');
    expect(await fsp.readFile(path.join(dir, 'db', 'immich-db-backup-v2.5.6.sql'), 'utf8')).toBe('COPY 1\n');
    expect(await fsp.readdir(path.join(dir, 'db'))).toEqual(['immich-db-backup-v2.5.6.sql']);

    const adopted = await w.adopt(
      'other.sql',
      { format: 'sql', commitAs: Promise.resolve('sub/renamed.sql') },
      async (partial) => {
        await fsp.writeFile(partial, 'x');
      },
    );
    expect(adopted.path).toBe('db/sub/renamed.sql');
    expect(await fsp.readFile(path.join(dir, 'db', 'sub', 'renamed.sql'), 'utf8')).toBe('x');
    expect(w.written.map((r) => r.path)).toEqual(['db/immich-db-backup-v2.5.6.sql', 'db/sub/renamed.sql']);
  });

  it('fails and leaves nothing when the later name fails or is not a valid name', async () => {
    const w = new ArtifactWriter(dir, 'db');
    const failed = Promise.reject(new Error('no version'));
    const sink = w.open('dump.sql', { format: 'sql', commitAs: failed });
    sink.stream.end('half');
    await expect(sink.finish()).rejects.toThrow('no version');
    await expect(
      w.adopt('dump.sql', { format: 'sql', commitAs: Promise.resolve('../escape.sql') }, async (partial) => {
        await fsp.writeFile(partial, 'x');
      }),
    ).rejects.toMatchObject({ code: 'ERR_ARTIFACT_NAME' });
    expect(await fsp.readdir(path.join(dir, 'db'))).toEqual([]);
    expect(existsSync(path.join(dir, 'escape.sql'))).toBe(false);
    expect(w.written).toEqual([]);
  });

  it('stops and cleans up on abort, rethrowing the reason', async () => {
    const w = new ArtifactWriter(dir, 'db');
    const ctl = new AbortController();
    const reason = new Error('user cancelled');
    async function* slow() {
      yield Buffer.alloc(1024);
      ctl.abort(reason);
      yield Buffer.alloc(1024);
    }
    await expect(w.write('big.bin', slow(), { format: 'bin', signal: ctl.signal })).rejects.toBe(reason);
    expect(await fsp.readdir(path.join(dir, 'db'))).toEqual([]);
  });

  it('open() accepts pushed bytes; adopt() takes files written by other tools', async () => {
    const w = new ArtifactWriter(dir, 'app');
    const sink = w.open('a.txt', { format: 'txt' });
    sink.stream.write('hello ');
    sink.stream.write('world');
    const a = await sink.finish();
    expect(a.bytes).toBe(11);
    const b = await w.adopt('nested/b.bin', { format: 'bin' }, async (partial) => {
      expect(partial.endsWith('.partial')).toBe(true);
      await fsp.writeFile(partial, 'xyz');
    });
    expect(b).toMatchObject({ path: 'app/nested/b.bin', bytes: 3 });
    await expect(
      w.adopt('c.bin', { format: 'bin' }, async (partial) => {
        await fsp.writeFile(partial, 'x');
        throw new Error('tool failed');
      }),
    ).rejects.toThrow('tool failed');
    expect(existsSync(path.join(dir, 'app', 'c.bin.partial'))).toBe(false);
    expect(w.written.map((r) => r.path)).toEqual(['app/a.txt', 'app/nested/b.bin']);
  });

  it('rejects names that escape the source folder', () => {
    const w = new ArtifactWriter(dir, 'db');
    for (const bad of ['../x', '/etc/passwd', 'a/../../b', '', 'x.partial']) {
      expect(() => w.open(bad, { format: 'x' })).toThrow(/invalid artifact name/);
    }
  });

  it('a scoped writer shares the list of written artifacts', async () => {
    const w = new ArtifactWriter(dir, 'immich');
    const part = w.scoped('database');
    const ref = await part.write('dump.sql', ['select 1;'], { format: 'sql' });
    expect(ref.path).toBe('immich/database/dump.sql');
    expect(w.written).toEqual([ref]);
  });
});
