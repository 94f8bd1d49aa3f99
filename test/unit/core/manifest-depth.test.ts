/** A hostile 50 000-level manifest is a ManifestError, not a stack overflow (issue 17, item 12). */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isManifestError } from '../../../src/core/errors.js';
import { nestedDeeperThan } from '../../../src/core/json.js';
import { MANIFEST_FILE, readManifest } from '../../../src/core/manifest.js';
import { tempDir } from '../../helpers/context.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  tmp = await tempDir('dk-deep-');
});
afterEach(async () => {
  await tmp.cleanup();
});

function manifestWith(metadataJson: string): string {
  const now = new Date().toISOString();
  const base = {
    manifestVersion: 1,
    tool: { name: 'duplicati-kit', version: '0.1.0' },
    host: 'h',
    startedAt: now,
    finishedAt: now,
    workDir: '/w',
    sources: [
      {
        name: 's',
        kind: 'archive',
        artifacts: [],
        includePaths: [],
        excludePatterns: [],
        metadata: { deep: 'DEEP' },
        startedAt: now,
        finishedAt: now,
        durationMs: 1,
      },
    ],
  };
  return JSON.stringify(base).replace('"DEEP"', metadataJson);
}

describe('manifest nesting depth', () => {
  it('a 50 000-deep metadata value is a clear ManifestError', async () => {
    const d = 50_000;
    await fsp.writeFile(path.join(tmp.dir, MANIFEST_FILE), manifestWith(`${'['.repeat(d)}${']'.repeat(d)}`));
    const err = await readManifest(tmp.dir).catch((e: unknown) => e);
    expect(isManifestError(err), String(err)).toBe(true);
    expect((err as Error).message).toMatch(/nested deeper than 64 levels/);
  });

  it('nestedDeeperThan counts levels of arrays and objects only', () => {
    expect(nestedDeeperThan({ a: [{ b: 1 }] }, 3)).toBe(false);
    expect(nestedDeeperThan({ a: [{ b: [] }] }, 3)).toBe(true);
    expect(nestedDeeperThan('x', 0)).toBe(false);
  });
});
