#!/usr/bin/env node
/**
 * The `duplicati-kit` command as installed: runs the CLI bundle (`bundle.cjs` beside this file,
 * built from `main.ts`) through `vm.Script` with V8's code cache (`code-cache.ts`), so a start
 * reads the bytecode its command compiled last time instead of compiling the bundle again. When
 * there is no cache to use, V8 compiles as `require` would. The first start of each command after
 * a build or an install stores its bytecode when the process exits.
 *
 * A hook run for one of Duplicati's listings is answered here, without the bundle (`fast-path.ts`).
 *
 * `DUPLICATI_KIT_CODE_CACHE=off` turns the cache off; `DUPLICATI_KIT_CODE_CACHE=debug` says on
 * stderr what happened to it.
 *
 * @module
 */
import { isAscii } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Script } from 'node:vm';
import { type CodeCacheSlot, codeCacheSlot, readCodeCache, writeCodeCache } from './code-cache.js';
import { answersListingHook } from './fast-path.js';

const args = process.argv.slice(2);
// Exit code 0 is "continue" to Duplicati: the answer `hook` gives a listing before reading anything.
if (answersListingHook(args, process.env)) process.exitCode = 0;
else runBundle();

function runBundle(): void {
  // Built as CommonJS (tsup.config.ts): node's ES module loader would cost every start ~10 ms.
  const bundle = path.join(__dirname, 'bundle.cjs');
  const debug = process.env.DUPLICATI_KIT_CODE_CACHE?.trim().toLowerCase() === 'debug';
  const command = args.find((a) => !a.startsWith('-'));
  const slot: CodeCacheSlot | undefined = codeCacheSlot(bundle, command, process.env);
  const cached = slot && readCodeCache(slot);
  // The bundle is built ASCII-only (tsup.config.ts): read as latin1 it becomes a one-byte string, 5x
  // faster to make than utf8 decoding, and V8 scans it faster. utf8 stays the fallback.
  const bytes = readFileSync(bundle);
  // The same wrapper as node's CommonJS loader; a `#!` line is only valid at a file's very start.
  const source = bytes.toString(isAscii(bytes) ? 'latin1' : 'utf8').replace(/^#!.*/, '');
  // `__dkImport`: the bundle's `import()` calls, made from here (tsup.config.ts says why).
  const script = new Script(`(function (exports, require, module, __filename, __dirname, __dkImport) {${source}\n})`, {
    filename: bundle,
    ...(cached ? { cachedData: cached } : {}),
  });
  const state = !slot ? 'off' : !cached ? 'absent' : script.cachedDataRejected ? 'rejected' : 'accepted';
  if (slot && state !== 'accepted') {
    process.once('exit', () => {
      const wrote = writeCodeCache(slot, script.createCachedData());
      if (debug)
        process.stderr.write(`duplicati-kit: code cache ${state}; ${wrote ? 'stored' : 'not stored'} ${slot.file}\n`);
    });
  } else if (debug) {
    process.stderr.write(`duplicati-kit: code cache ${state}${slot ? ` ${slot.file}` : ''}\n`);
  }
  // 'beforeExit' comes when the event loop has nothing left: no write, timer or child is pending. The
  // process then leaves at once with the exit code the command set, instead of tearing the heap down
  // first, which takes ~20 ms after a dump. 'exit' handlers (the cache above) still run.
  process.once('beforeExit', () => process.exit());
  const module = { exports: {}, filename: bundle, id: bundle, loaded: false };
  (script.runInThisContext() as (...a: unknown[]) => void).call(
    module.exports,
    module.exports,
    createRequire(bundle),
    module,
    bundle,
    path.dirname(bundle),
    (specifier: string) => import(specifier),
  );
}
