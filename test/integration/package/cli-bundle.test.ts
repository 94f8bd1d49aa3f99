import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, requireBuiltCli } from '../../helpers/cli.js';

// The CLI bundles its dependencies but a few (tsup.config.ts). What it still imports by name must be
// a declared dependency, so it resolves from any install layout (a package nested under another's
// node_modules would not be found from dist/). The bin is a launcher (src/cli/launch.ts) that runs
// `bundle.cjs` beside it.

const root = path.resolve(import.meta.dirname, '..', '..', '..');
const EXTERNAL = ['axios', 'better-sqlite3', 'prom-client', 'tar-stream'];
const BUNDLE = path.join(path.dirname(CLI), 'bundle.cjs');

/** Bare specifiers imported (statically or dynamically) by `entry` and the files it reaches. */
function bareImports(entry: string): { files: number; bare: Set<string>; text: string } {
  const seen = new Set<string>();
  let all = '';
  const bare = new Set<string>();
  const todo = [entry, BUNDLE];
  // esbuild's output: `from "x"`, `import "x"` at a line's start, `import("x")`, `require("x")`.
  const spec = /(?:\bfrom\s*|^import\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)["']([\w@./:-]+)["']/gm;
  while (todo.length > 0) {
    const file = todo.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    all += text;
    for (const m of text.matchAll(spec)) {
      const s = m[1] as string;
      if (s.startsWith('.')) todo.push(path.resolve(path.dirname(file), s));
      else bare.add(s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : (s.split('/')[0] as string));
    }
  }
  return { files: seen.size, bare, text: all };
}

describe('the built CLI', () => {
  it('imports by name only node builtins and the dependencies it keeps external', () => {
    requireBuiltCli();
    const { files, bare } = bareImports(CLI);
    expect(files).toBe(2);
    const builtins = new Set(builtinModules.flatMap((b) => [b, `node:${b}`]));
    const named = [...bare].filter((b) => !builtins.has(b) && !b.startsWith('node:')).sort();
    const deps = Object.keys(JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).dependencies);
    expect(named.filter((n) => !EXTERNAL.includes(n))).toEqual([]);
    for (const n of named) expect(deps).toContain(n);
  });

  it('is a launcher with node builtins only, and one ASCII bundle', () => {
    requireBuiltCli();
    const launcher = readFileSync(CLI, 'utf8');
    expect(launcher.startsWith('#!/usr/bin/env node')).toBe(true);
    // CommonJS under its old name (units written by earlier builds run dist/cli/main.js): the
    // package.json beside it says so, and it has no ES module syntax node would refuse.
    expect(JSON.parse(readFileSync(path.join(path.dirname(CLI), 'package.json'), 'utf8'))).toEqual({
      type: 'commonjs',
    });
    expect(launcher).not.toMatch(/^(import|export)\b|import\.meta/m);
    expect(launcher).toMatch(/\.join\(__dirname, "bundle\.cjs"\)/);
    const required = [...launcher.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1] as string);
    expect(required.length).toBeGreaterThan(0);
    for (const r of required) expect(builtinModules).toContain(r.replace(/^node:/, ''));
    // Read as latin1 by the launcher: a byte above 0x7f would turn into the wrong character.
    const bundle = readFileSync(BUNDLE);
    expect(bundle.every((b) => b < 0x80)).toBe(true);
    // Its import() calls go through the launcher's (a script from a code cache has none of its own),
    // falling back to its own only when loaded by require.
    const imports = bundle.toString('latin1').match(/(?<![\w$.])import\(.*/g);
    expect(imports).toEqual(['import(s);']);
    expect(bundle.toString('latin1')).toMatch(/^#!.*\n"use strict";\n?var __dkImportOf = /);
    // Minified (whitespace and syntax), with the names kept.
    expect(bundle.length).toBeLessThan(1_800_000);
    expect(bundle.toString('latin1')).toMatch(/\bPostgresSource=class\b|\bclass PostgresSource\b/);
  });

  it('bundles pg without its Cloudflare probe, and zod without its other locales', () => {
    requireBuiltCli();
    const { text } = bareImports(CLI);
    // What the bundle is made of, by its source map (the minified bundle keeps no path comments).
    const sources = (JSON.parse(readFileSync(`${BUNDLE}.map`, 'utf8')) as { sources: string[] }).sources;
    const has = (end: string): boolean => sources.some((s) => s.endsWith(end));
    // pg is in the bundle (its client code), with the Node-only stream module of build/.
    expect(has('node_modules/pg/lib/client.js')).toBe(true);
    expect(has('build/pg-stream-node.cjs')).toBe(true);
    expect(has('node_modules/pg/lib/stream.js')).toBe(false);
    // pg's own lib/stream.js builds a `Response` to detect Cloudflare, which loads undici on Node 20.
    expect(text).not.toMatch(/new Response\(null,\s*\{\s*cf:/);
    expect(has('node_modules/zod/v4/locales/en.js')).toBe(true);
    expect(has('node_modules/zod/v4/locales/de.js')).toBe(false);
  });
});
