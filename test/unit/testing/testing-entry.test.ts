import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as testing from '../../../src/testing/index.js';

const srcRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../src');

/** Every module `entry` reaches through static and dynamic imports, plus the bare packages it names. */
function importGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"]([^'"]+)['"]/g)) {
      const spec = m[1] as string;
      if (spec.startsWith('.')) visit(path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts')));
      else packages.add(spec);
    }
  };
  visit(entry);
  return { files, packages };
}

describe('duplicati-kit/testing entry', () => {
  it('exports FakeDuplicatiServer', () => {
    expect(typeof testing.FakeDuplicatiServer.start).toBe('function');
  });

  it('never reaches pg or better-sqlite3', () => {
    const { files, packages } = importGraph(path.join(srcRoot, 'testing/index.ts'));
    expect(files.size).toBeGreaterThan(5);
    expect([...packages].filter((p) => /^(pg|better-sqlite3)(\/|$)/.test(p))).toEqual([]);
  });
});
