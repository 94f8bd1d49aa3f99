import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isConfigError, isSourceUnavailableError } from '../../../../src/core/errors.js';
import { MongoSource } from '../../../../src/engines/mongo/source.js';
import { makeContext, tempDir } from '../../../helpers/context.js';

describe('MongoSource', () => {
  it('validates its options', () => {
    let err: unknown;
    try {
      new MongoSource({ uri: 'http://x', database: 'a/b' });
    } catch (e) {
      err = e;
    }
    expect(isConfigError(err)).toBe(true);
    expect((err as { issues: { path: string }[] }).issues.map((i) => i.path)).toEqual(
      expect.arrayContaining(['uri', 'database']),
    );
  });

  it('fails check and prepare with a SourceUnavailableError naming the missing tool, writing nothing', async () => {
    const { dir, cleanup } = await tempDir('dk-mongo-');
    try {
      const source = new MongoSource({
        uri: 'mongodb://u:s3cret@127.0.0.1/app',
        mongodumpBinary: `${dir}/no-such-mongodump`,
      });
      const ctx = makeContext(dir, 'mongodb');
      const err = await source.check(ctx).catch((e: unknown) => e);
      expect(isSourceUnavailableError(err)).toBe(true);
      expect((err as Error).message).toContain('no-such-mongodump');
      expect((err as Error).message).toMatch(/MongoDB Database Tools/);
      const err2 = await source.prepare(ctx).catch((e: unknown) => e);
      expect(isSourceUnavailableError(err2)).toBe(true);
      expect((err2 as Error).message).not.toContain('s3cret');
      expect(ctx.artifacts.written).toEqual([]);
    } finally {
      await cleanup();
    }
  });

  it('streams the archive, hands the URI over in a 0600 config file only, and redacts it from a failure', async () => {
    const { dir, cleanup } = await tempDir('dk-mongo-');
    try {
      const fake = path.join(dir, 'mongodump');
      await fsp.writeFile(
        fake,
        `#!/bin/sh
if [ "$1" = "--version" ]; then echo "mongodump version: 100.9.4"; exit 0; fi
echo "$@" > "${dir}/argv"
cfg="\${1#--config=}"
stat -c %a "$cfg" > "${dir}/mode"
if grep -q fail "$cfg"; then echo "error connecting to $(cat "$cfg")" >&2; exit 1; fi
printf 'ARCHIVE-BYTES'
`,
        { mode: 0o755 },
      );
      const uri = 'mongodb://u:s3cret@127.0.0.1/app';
      const ok = new MongoSource({ uri, gzip: true, mongodumpBinary: fake });
      const ctx = makeContext(dir, 'mongodb');
      const prepared = await ok.prepare(ctx);
      expect(prepared.artifacts.map((a) => [a.path, a.format, a.bytes])).toEqual([
        ['mongodb/mongodb.archive.gz', 'mongodump-archive.gz', 13],
      ]);
      expect(prepared.metadata?.mongodumpVersion).toBe('100.9.4');
      expect(await fsp.readFile(path.join(dir, 'mode'), 'utf8')).toBe('600\n');
      const argv = await fsp.readFile(path.join(dir, 'argv'), 'utf8');
      expect(argv).toMatch(/--archive --gzip/);
      expect(argv).not.toContain('s3cret');

      const failing = new MongoSource({ uri: 'mongodb://u:fail-pw@127.0.0.1/app', mongodumpBinary: fake });
      const err = await failing.prepare(makeContext(dir, 'm2')).catch((e: unknown) => e);
      expect((err as Error).name).toBe('DumpError');
      expect((err as Error).message).toMatch(/mongodump failed \(exit 1\)/);
      expect((err as Error).message).not.toContain('fail-pw');
      expect(await fsp.readdir(path.join(dir, 'm2')).catch(() => [])).toEqual([]);
    } finally {
      await cleanup();
    }
  });
});
