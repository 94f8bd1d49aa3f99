import path from 'node:path';
import { defineConfig, type Options } from 'tsup';

type Plugin = NonNullable<Options['esbuildPlugins']>[number];

/**
 * In the CLI bundle, zod keeps only its English messages (the ~50 other locales are a third of its
 * code, compiled at every start) and no `fromJSONSchema`; neither is used.
 */
const zodTrimmed: Plugin = {
  name: 'zod-trimmed',
  setup(build) {
    const inZod = `${path.sep}node_modules${path.sep}zod${path.sep}`;
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$|^\.\/from-json-schema\.js$/ }, (args) =>
      args.importer.includes(inZod)
        ? { path: path.resolve(path.dirname(args.importer), args.path), namespace: 'zod-trimmed' }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'zod-trimmed' }, (args) => ({
      contents: args.path.endsWith('index.js')
        ? "export { default as en } from './en.js';"
        : "export function fromJSONSchema() { throw new Error('fromJSONSchema is not in the duplicati-kit CLI bundle'); }",
      resolveDir: path.dirname(args.path),
      loader: 'js',
    }));
  },
};

/**
 * In the CLI bundle, pg's `lib/stream.js` is replaced by a Node-only one (its Cloudflare probe loads
 * undici at every start on Node 20) and `pg-native`, which pg requires only from a getter the CLI
 * never reads, by a module that is "not found".
 */
const pgForNode: Plugin = {
  name: 'pg-for-node',
  setup(build) {
    const inPgLib = `${path.sep}node_modules${path.sep}pg${path.sep}lib${path.sep}`;
    build.onResolve({ filter: /^\.\/stream(\.js)?$/ }, (args) =>
      args.importer.includes(inPgLib) ? { path: path.resolve('build/pg-stream-node.cjs') } : undefined,
    );
    build.onResolve({ filter: /^pg-native$/ }, () => ({ path: path.resolve('build/pg-native-absent.cjs') }));
  },
};

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
    // zod and yaml are ~150 files, loaded by almost every command (~0.1 s of each start).
    // Kept external: native code (better-sqlite3), lazily loaded clients (axios),
    // and what needs its own package layout at run time. test/integration/package/cli-bundle.test.ts
    // checks that the CLI imports nothing else.
    noExternal: [/^(?!(better-sqlite3|axios|prom-client|tar-stream)(\/|$))/],
    esbuildPlugins: [pgForNode, zodTrimmed],
    // Bundled CommonJS (yaml, pg…) calls require() for node builtins.
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
