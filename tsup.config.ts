import { writeFile } from 'node:fs/promises';
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

type TsupPlugin = NonNullable<Options['plugins']>[number];

/**
 * The CLI bundle's last touches, for its launcher (src/cli/launch.ts), which runs it with
 * `vm.Script` and V8's code cache:
 *
 * - `import()` of a user's `.mjs` config is called through `__dkImport`, the
 *   launcher's own `import()`: a script's `import()` needs a callback that Node 20 drops when the
 *   script comes from a code cache, and its stand-in (`USE_MAIN_CONTEXT_DEFAULT_LOADER`) prints an
 *   experimental warning. Loaded by `require` instead (no launcher), the bundle uses its own.
 * - Pure ASCII, which the launcher reads as a one-byte string (~3 ms for 2 MB, where decoding utf8
 *   into a two-byte string takes ~16 ms). esbuild's `charset: 'ascii'` escapes strings, templates,
 *   regexps and names; what it leaves is comments, escaped here the same way (`\uXXXX` means the
 *   same character anywhere JavaScript would read it).
 */
const forLauncher: TsupPlugin = {
  name: 'for-launcher',
  esbuildOptions(options) {
    options.charset = 'ascii';
  },
  renderChunk(code) {
    // The CommonJS packages kept external are required: through `import()` node's ES module loader
    // would parse them again to find their exports (~20 ms for better-sqlite3 at the first use).
    if (!/\b__toESM\s*=/.test(code)) throw new Error('the CLI bundle has no __toESM helper');
    const required = code.replace(
      /(?<![\w$.])import\((["'])(better-sqlite3|axios|prom-client|tar-stream)\1\)/g,
      'Promise.resolve().then(() => __toESM(require("$2"), 1))',
    );
    const imports = required.replace(/(?<![\w$.])import\(/g, '__dkImportOf(');
    const ascii = imports.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    // After the shebang and "use strict" (a directive counts only before any statement).
    const start = /^(#!.*\n)?("use strict";\n?)?/.exec(ascii)?.[0] ?? '';
    const fallback = 'var __dkImportOf = typeof __dkImport === "function" ? __dkImport : (s) => import(s);\n';
    return { code: `${start}${fallback}${ascii.slice(start.length)}` };
  },
};

// The library: every subpath as ESM and CommonJS with types. The CLI: one CommonJS bundle and its launcher.
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
    // The CLI program, one CommonJS file: started through `vm.Script` with V8's code cache
    // (src/cli/launch.ts), which Node 20 offers for scripts, not for ES modules.
    entry: { 'cli/bundle': 'src/cli/main.ts' },
    format: ['cjs'],
    outExtension: () => ({ js: '.cjs' }),
    // Every dependency but these is bundled into the CLI: one file to read and compile (or to take
    // from the code cache) instead of ~150 modules of zod and yaml resolved one by one.
    // Kept external: native code (better-sqlite3), lazily loaded clients (axios),
    // and what needs its own package layout at run time. test/integration/package/cli-bundle.test.ts
    // checks that the CLI imports nothing else.
    noExternal: [/^(?!(better-sqlite3|axios|prom-client|tar-stream)(\/|$))/],
    esbuildPlugins: [pgForNode, zodTrimmed],
    // Whitespace and syntax only (names are kept, for stack traces and `constructor.name`): 1.5 MB
    // instead of 2.2 MB to read, turn into a string and have V8 take its code cache for, ~10 ms of
    // every start on a 2-core machine (docs/performance.md). `bundle.cjs.map` maps positions back.
    minifyWhitespace: true,
    minifySyntax: true,
    // import.meta.url (the serve worker, the SQLite check's driver, the dashboard's assets).
    shims: true,
    dts: false,
    sourcemap: true,
    clean: false,
    target: 'node20',
    splitting: false,
    plugins: [forLauncher],
  },
  {
    // The `duplicati-kit` bin: the launcher of the bundle above, with node builtins only. CommonJS,
    // still named `main.js` (systemd units and hook wrappers written by earlier builds name that
    // path): `dist/cli/package.json` says so. Node's ES module loader costs every start ~10 ms
    // that the CommonJS one does not (docs/performance.md).
    entry: { 'cli/main': 'src/cli/launch.ts' },
    format: ['cjs'],
    outExtension: () => ({ js: '.js' }),
    async onSuccess() {
      await writeFile(path.join('dist', 'cli', 'package.json'), '{ "type": "commonjs" }\n');
    },
    dts: false,
    sourcemap: false,
    clean: false,
    target: 'node20',
    splitting: false,
  },
]);
