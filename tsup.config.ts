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
    // Every dependency but these is bundled into the CLI: Node's ESM loader costs ~0.3 ms a file, and
    // zod, yaml and execa are ~300 files, loaded by almost every command (~0.1 s of each start).
    // Kept external: native code (better-sqlite3), lazily loaded drivers and clients (pg, axios),
    // and what needs its own package layout at run time. test/integration/package/cli-bundle.test.ts
    // checks that the CLI imports nothing else.
    noExternal: [/^(?!(better-sqlite3|pg|axios|prom-client|tar-stream)(\/|$))/],
    // Bundled CommonJS (yaml, cross-spawn…) calls require() for node builtins.
    banner: {
      js: "import { createRequire as __dkCreateRequire } from 'node:module'; const require = __dkCreateRequire(import.meta.url);",
    },
    dts: false,
    sourcemap: true,
    clean: false,
    target: 'node20',
    splitting: true,
  },
]);
