import { defineConfig } from 'tsup';

// The library: every subpath as ESM and CommonJS with types. The CLI: ESM only, no types.
export default defineConfig([
  {
    entry: {
      index: 'src/index.ts',
      'duplicati/index': 'src/duplicati/index.ts',
      'immich/index': 'src/apps/immich/index.ts',
      'jellyfin/index': 'src/apps/jellyfin/index.ts',
      'hooks/index': 'src/hooks/index.ts',
      'ops/index': 'src/ops/index.ts',
      'config/index': 'src/app/index.ts',
      'testing/index': 'src/testing/index.ts',
    },
    format: ['esm', 'cjs'],
    // import.meta.url (the SQLite check resolves better-sqlite3 for its workers) needs a shim in CommonJS.
    shims: true,
    dts: true,
    sourcemap: true,
    clean: false,
    target: 'node20',
    splitting: true,
  },
  {
    entry: { 'cli/main': 'src/cli/main.ts' },
    format: ['esm'],
    dts: false,
    sourcemap: true,
    clean: false,
    target: 'node20',
    splitting: true,
  },
]);
