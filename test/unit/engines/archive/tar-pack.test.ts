import { createWriteStream, promises as fsp, truncateSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { extractArchive, scanArchive } from '../../../../src/engines/_shared/extract-archive.js';
import { FileChangedError, packTree } from '../../../../src/engines/_shared/tar-pack.js';
import { tempDir } from '../../../helpers/context.js';
import { contentOf } from './tree.js';

let dir: string;
let cleanup: () => Promise<void>;
let src: string;
const SIZE = 8 * 1024 * 1024;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('dk-pack-'));
  src = path.join(dir, 'src');
  await fsp.mkdir(src);
  await fsp.writeFile(path.join(src, 'growing.log'), contentOf(SIZE, 5));
});
afterEach(() => cleanup());

/**
 * Consume the archive, truncating the big file once the first MiB of it went by. The packer
 * reads 1 MiB at a time and only as the consumer drains, so most of the file is read after.
 */
function truncatingSink(out: string): Writable {
  const file = createWriteStream(out);
  let seen = 0;
  let done = false;
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (!done && seen > 1024 * 1024) {
        truncateSync(path.join(src, 'growing.log'), 100);
        done = true;
      }
      file.write(chunk, cb);
    },
    final(cb) {
      file.end(cb);
    },
  });
}

describe('packTree with a file that shrinks while it is read', () => {
  it('warn (default): pads to the declared size, keeps the archive valid, counts the file as changed', async () => {
    const out = path.join(dir, 'a.tar');
    const warnings: string[] = [];
    const { stream, done } = packTree(src, {
      logger: { debug() {}, info() {}, error() {}, warn: (m) => warnings.push(m) },
    });
    await pipeline(stream, truncatingSink(out));
    const stats = await done;
    expect(stats).toMatchObject({ files: 1, bytes: SIZE, changed: 1, changedPaths: ['growing.log'] });
    expect(warnings.some((w) => w.includes('growing.log changed'))).toBe(true);

    expect(await scanArchive(out)).toMatchObject({ files: 1, bytes: SIZE });
    const x = path.join(dir, 'x');
    await extractArchive(out, x);
    const restored = await fsp.readFile(path.join(x, 'growing.log'));
    expect(restored.length).toBe(SIZE);
    expect(restored.subarray(0, 1024 * 1024).equals(contentOf(SIZE, 5).subarray(0, 1024 * 1024))).toBe(true);
    expect(restored.subarray(SIZE - 4096).every((b) => b === 0)).toBe(true);
  });

  it('fail: the archive fails with FileChangedError', async () => {
    const { stream, done } = packTree(src, { onChangedFile: 'fail' });
    await expect(pipeline(stream, truncatingSink(path.join(dir, 'b.tar')))).rejects.toBeInstanceOf(Error);
    await expect(done).rejects.toBeInstanceOf(FileChangedError);
  });
});

describe('packTree stopped while small files wait for the reader', () => {
  /** 400 small files: far more than tar-stream buffers before it waits for a reader. */
  async function smallTree(): Promise<string> {
    const root = path.join(dir, 'small');
    await fsp.mkdir(root);
    for (let i = 0; i < 400; i++) await fsp.writeFile(path.join(root, `f${i}.txt`), contentOf(3000, i));
    return root;
  }

  it('an abort rejects `done` with its reason as is', async () => {
    const root = await smallTree();
    const ctl = new AbortController();
    const { stream, done } = packTree(root, { signal: ctl.signal });
    const errors: unknown[] = [];
    stream.on('error', (e: unknown) => errors.push(e));
    const closed = new Promise<void>((r) => stream.once('close', () => r()));
    // Nothing reads: the walk waits inside an entry once tar-stream's buffer is full.
    await new Promise((r) => setTimeout(r, 50));
    const reason = new Error('stop now');
    ctl.abort(reason);
    await expect(done).rejects.toBe(reason);
    // The archive stream is destroyed with the same reason.
    await closed;
    expect(errors).toEqual([reason]);
  });

  it('a reader that goes away rejects `done` with PackStreamClosedError', async () => {
    const root = await smallTree();
    const { stream, done } = packTree(root);
    let got = 0;
    await new Promise<void>((resolve) => {
      stream.on('data', (c: unknown) => {
        got += (c as Buffer).length;
        if (got > 64 * 1024) {
          stream.destroy();
          resolve();
        }
      });
    });
    await expect(done).rejects.toThrow('the archive stream was closed before the walk finished');
  });
});
