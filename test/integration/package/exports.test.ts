import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBuiltCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/context.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..', '..', '..');
const subpaths = [
  'duplicati-kit',
  'duplicati-kit/duplicati',
  'duplicati-kit/immich',
  'duplicati-kit/jellyfin',
  'duplicati-kit/hooks',
  'duplicati-kit/ops',
  'duplicati-kit/testing',
];

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  requireBuiltCli();
  ({ dir, cleanup } = await tempDir('dk-pkg-'));
  // Install the package as a user would see it: a node_modules/duplicati-kit link to the built tree.
  await fsp.mkdir(path.join(dir, 'node_modules'), { recursive: true });
  await fsp.symlink(root, path.join(dir, 'node_modules', 'duplicati-kit'));
});
afterAll(() => cleanup());

describe('the built package', () => {
  it.each(subpaths)('%s loads with import and with require', async (spec) => {
    const esm = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const m = await import(${JSON.stringify(spec)}); console.log(JSON.stringify(Object.keys(m).sort()))`,
      ],
      { cwd: dir },
    );
    const cjs = await run(
      process.execPath,
      ['-e', `console.log(JSON.stringify(Object.keys(require(${JSON.stringify(spec)})).sort()))`],
      { cwd: dir },
    );
    expect(JSON.parse(cjs.stdout)).toEqual(JSON.parse(esm.stdout));
  });

  it('the root entry exports the core API and loads no database driver', async () => {
    const { stdout } = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { createRequire } from 'node:module';
         const m = await import('duplicati-kit');
         const loaded = Object.keys(createRequire(import.meta.url).cache ?? {});
         const names = ['createBackupPlan', 'createRestorePlan', 'extractArchive', 'DirectorySource', 'ArchiveSource', 'SqliteSource', 'isDuplicatiKitError', 'defineConfig'];
         console.log(JSON.stringify({ missing: names.filter((n) => typeof m[n] !== 'function'), drivers: loaded.filter((p) => /node_modules\\/(pg|better-sqlite3)\\//.test(p)) }));`,
      ],
      { cwd: dir },
    );
    expect(JSON.parse(stdout)).toEqual({ missing: [], drivers: [] });
  });

  it('the duplicati and hooks subpaths load neither pg nor better-sqlite3', async () => {
    for (const spec of ['duplicati-kit/duplicati', 'duplicati-kit/hooks']) {
      const { stdout } = await run(
        process.execPath,
        [
          '-e',
          `require(${JSON.stringify(spec)}); console.log(JSON.stringify(Object.keys(require.cache).filter((p) => /node_modules\\/(pg|better-sqlite3)\\//.test(p))))`,
        ],
        { cwd: dir },
      );
      expect(JSON.parse(stdout)).toEqual([]);
    }
  });
});
