import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../../../..');

/** Import `entry` in a fresh node process and report how many files of the pg package it loaded. */
async function pgFilesLoadedBy(entry: string, thenLoadPg = false): Promise<number> {
  const script = `
    import { createRequire } from 'node:module';
    await import(${JSON.stringify(path.join(root, entry))});
    ${thenLoadPg ? "await import('pg');" : ''}
    const cache = createRequire(import.meta.url).cache;
    console.log(Object.keys(cache).filter((k) => k.includes('/node_modules/pg/')).length);
  `;
  const r = await execa(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root });
  return Number(r.stdout.trim().split('\n').pop());
}

describe('pg is loaded lazily', () => {
  it('importing the root entry, the PostgreSQL and the Immich modules loads no pg code until a database is used', async () => {
    expect(await pgFilesLoadedBy('src/index.ts')).toBe(0);
    expect(await pgFilesLoadedBy('src/engines/postgres/source.ts')).toBe(0);
    expect(await pgFilesLoadedBy('src/engines/postgres/target.ts')).toBe(0);
    expect(await pgFilesLoadedBy('src/apps/immich/index.ts')).toBe(0);
    // The probe does see pg once it is imported.
    expect(await pgFilesLoadedBy('src/engines/postgres/source.ts', true)).toBeGreaterThan(0);
  });
});
