import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isManifestError } from '../../../src/core/errors.js';
import { type Manifest, readManifest, writeManifest } from '../../../src/core/manifest.js';
import { VERSION } from '../../../src/core/version.js';
import { tempDir } from '../../helpers/context.js';
import pkg from '../../../package.json' with { type: 'json' };

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

const good: Manifest = {
  manifestVersion: 1,
  tool: { name: 'duplicati-kit', version: VERSION },
  host: 'h',
  startedAt: '2026-01-01T00:00:00.000Z',
  finishedAt: '2026-01-01T00:00:01.000Z',
  includePaths: ['/srv/photos'],
  excludePatterns: [],
  sources: [
    {
      name: 'db',
      kind: 'sqlite',
      artifacts: [{ path: 'db/app.sqlite', bytes: 4096, sha256: 'a'.repeat(64), format: 'sqlite' }],
      includePaths: [],
      excludePatterns: [],
      metadata: { counts: { users: 3 }, version: '3.45' },
      startedAt: '2026-01-01T00:00:00.000Z',
      finishedAt: '2026-01-01T00:00:01.000Z',
      durationMs: 1000,
    },
  ],
};

async function expectCode(code: string) {
  const e = await readManifest(dir).catch((x: unknown) => x);
  expect(isManifestError(e)).toBe(true);
  expect((e as { code: string }).code).toBe(code);
  return e as Error;
}

describe('manifest', () => {
  it('keeps the package version in step with package.json', () => {
    expect(VERSION).toBe(pkg.version);
  });

  it('round-trips and leaves no temp file', async () => {
    await writeManifest(dir, good);
    expect(await readManifest(dir)).toEqual(good);
    expect(await fsp.readdir(dir)).toEqual(['manifest.json']);
  });

  it('gives typed errors for missing, corrupt, foreign and future manifests', async () => {
    await expectCode('ERR_MANIFEST_MISSING');
    await fsp.writeFile(path.join(dir, 'manifest.json'), '{"manifestVersion": 1, "sour');
    await expectCode('ERR_MANIFEST_CORRUPT');
    await fsp.writeFile(path.join(dir, 'manifest.json'), '{"hello": "world"}');
    await expectCode('ERR_MANIFEST_CORRUPT');
    await fsp.writeFile(path.join(dir, 'manifest.json'), JSON.stringify({ ...good, manifestVersion: 7 }));
    expect((await expectCode('ERR_MANIFEST_VERSION')).message).toContain('upgrade duplicati-kit');
  });

  it('names the bad field and refuses paths outside the work directory', async () => {
    const bad = structuredClone(good) as unknown as { sources: { artifacts: { path: string; sha256: string }[] }[] };
    bad.sources[0]!.artifacts[0]!.path = '../../etc/shadow';
    bad.sources[0]!.artifacts[0]!.sha256 = 'xyz';
    await fsp.writeFile(path.join(dir, 'manifest.json'), JSON.stringify(bad));
    const e = await expectCode('ERR_MANIFEST_CORRUPT');
    expect(e.message).toContain('sources.0.artifacts.0.path');
    expect(e.message).toContain('sources.0.artifacts.0.sha256');
  });
});
