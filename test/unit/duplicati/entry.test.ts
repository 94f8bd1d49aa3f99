import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as entry from '../../../src/duplicati/index.js';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../src');

/** Every bare package a module pulls in, following relative imports (type-only ones included). */
function packagesOf(file: string, seen = new Set<string>(), out = new Set<string>()): Set<string> {
  if (seen.has(file)) return out;
  seen.add(file);
  // Comments hold @example imports that are not part of the module graph.
  const text = readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
  for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/g)) {
    const spec = m[1] ?? m[2] ?? '';
    if (spec.startsWith('.')) packagesOf(path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts')), seen, out);
    else out.add(spec.startsWith('@') ? spec : (spec.split('/')[0] ?? spec));
  }
  return out;
}

describe('duplicati-kit/duplicati entry', () => {
  it('loads no database driver', () => {
    const pkgs = packagesOf(path.join(SRC, 'duplicati/index.ts'));
    expect([...pkgs].filter((p) => !p.startsWith('node:')).sort()).toEqual(['axios', 'p-retry', 'zod']);
  });

  it('exports the client, the error classes and their guards', () => {
    expect(typeof entry.DuplicatiClient).toBe('function');
    expect(typeof entry.DuplicatiClient.fromEnv).toBe('function');
    for (const name of [
      'DuplicatiAPIError',
      'DuplicatiAuthenticationError',
      'DuplicatiNotFoundError',
      'DuplicatiConflictError',
      'DuplicatiServerError',
      'DuplicatiConnectionError',
      'DuplicatiTimeoutError',
      'DuplicatiSchemaError',
      'DuplicatiTaskFailedError',
      'isDuplicatiAPIError',
      'isDuplicatiAuthenticationError',
      'isDuplicatiConnectionError',
      'isDuplicatiSchemaError',
    ]) {
      expect(typeof (entry as Record<string, unknown>)[name], name).toBe('function');
    }
  });
});
