import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fileToolVersionCache, toolVersionCacheFile } from '../../../src/core/tool-versions.js';

const root = mkdtempSync(path.join(tmpdir(), 'dk-tool-versions-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
/** A fresh folder with a cache file path and an executable `tool` in a `bin` folder. */
function setup(): { cache: string; bin: string; tool: string } {
  const dir = path.join(root, `case-${n++}`);
  const bin = path.join(dir, 'bin');
  mkdirSync(bin, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const tool = path.join(bin, 'pg_dump');
  writeFileSync(tool, "#!/bin/sh\necho 'pg_dump (PostgreSQL) 15.20'\n", { mode: 0o755 });
  return { cache: path.join(dir, 'cache', 'tool-versions.json'), bin, tool };
}

describe('the tool version cache', () => {
  it('answers for an unchanged executable, from a new cache object (the next run)', () => {
    const { cache, tool } = setup();
    expect(fileToolVersionCache(cache).lookup(tool)).toBeUndefined();
    fileToolVersionCache(cache).remember(tool, 'pg_dump (PostgreSQL) 15.20');
    expect(fileToolVersionCache(cache).lookup(tool)).toBe('pg_dump (PostgreSQL) 15.20');
    // The file and its folder are the user's only.
    expect(statSync(cache).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(cache)).mode & 0o777).toBe(0o700);
    expect(JSON.parse(readFileSync(cache, 'utf8')).version).toBe(1);
  });

  it('forgets an executable that was rewritten, replaced or touched', () => {
    const { cache, tool } = setup();
    const c = fileToolVersionCache(cache);
    c.remember(tool, 'pg_dump (PostgreSQL) 15.20');
    // Same size, same contents, same mtime put back: the change time still moves.
    const before = statSync(tool);
    writeFileSync(tool, readFileSync(tool));
    utimesSync(tool, before.atime, before.mtime);
    expect(fileToolVersionCache(cache).lookup(tool)).toBeUndefined();
    c.remember(tool, 'pg_dump (PostgreSQL) 15.20');
    expect(fileToolVersionCache(cache).lookup(tool)).toBe('pg_dump (PostgreSQL) 15.20');
    // Replaced by a new file (what a package upgrade does): a new inode.
    const next = `${tool}.new`;
    writeFileSync(next, "#!/bin/sh\necho 'pg_dump (PostgreSQL) 16.1'\n", { mode: 0o755 });
    renameSync(next, tool);
    expect(fileToolVersionCache(cache).lookup(tool)).toBeUndefined();
  });

  it('looks a bare name up in PATH as the shell does, and a symlink by what it points at', () => {
    const { cache, bin, tool } = setup();
    const empty = path.join(path.dirname(bin), 'empty');
    mkdirSync(empty);
    const pathEnv = ['relative/bin', empty, bin].join(path.delimiter);
    fileToolVersionCache(cache, pathEnv).remember('pg_dump', 'pg_dump (PostgreSQL) 15.20');
    expect(fileToolVersionCache(cache, pathEnv).lookup('pg_dump')).toBe('pg_dump (PostgreSQL) 15.20');
    // The same executable by its path.
    expect(fileToolVersionCache(cache, '').lookup(tool)).toBe('pg_dump (PostgreSQL) 15.20');
    // Not in PATH: no answer. Not executable: not a candidate.
    expect(fileToolVersionCache(cache, empty).lookup('pg_dump')).toBeUndefined();
    chmodSync(tool, 0o644);
    expect(fileToolVersionCache(cache, pathEnv).lookup('pg_dump')).toBeUndefined();
    chmodSync(tool, 0o755);
    const link = path.join(empty, 'pg_dump');
    symlinkSync(tool, link);
    fileToolVersionCache(cache).remember(link, 'pg_dump (PostgreSQL) 15.20');
    expect(fileToolVersionCache(cache).lookup(link)).toBe('pg_dump (PostgreSQL) 15.20');
    // Repointed at another executable: asked again.
    const other = path.join(bin, 'other');
    writeFileSync(other, '#!/bin/sh\n', { mode: 0o755 });
    rmSync(link);
    symlinkSync(other, link);
    expect(fileToolVersionCache(cache).lookup(link)).toBeUndefined();
  });

  it('ignores a file that is not private, not JSON, not of its shape, or a symlink', () => {
    const { cache, tool } = setup();
    fileToolVersionCache(cache).remember(tool, 'pg_dump (PostgreSQL) 15.20');
    const good = readFileSync(cache, 'utf8');
    chmodSync(cache, 0o666);
    expect(fileToolVersionCache(cache).lookup(tool)).toBeUndefined();
    chmodSync(cache, 0o600);
    chmodSync(path.dirname(cache), 0o777);
    expect(fileToolVersionCache(cache).lookup(tool)).toBeUndefined();
    chmodSync(path.dirname(cache), 0o700);
    for (const bad of ['{', 'null', '[]', '{"tools":[]}', `{"tools":{"${tool}":{"id":1,"out":"x"}}}`]) {
      writeFileSync(cache, bad, { mode: 0o600 });
      expect(fileToolVersionCache(cache).lookup(tool)).toBeUndefined();
    }
    const elsewhere = path.join(path.dirname(cache), 'elsewhere.json');
    writeFileSync(elsewhere, good, { mode: 0o600 });
    rmSync(cache);
    symlinkSync(elsewhere, cache);
    expect(fileToolVersionCache(cache).lookup(tool)).toBeUndefined();
    // A cache that cannot be written fails nothing.
    const blocked = path.join(tool, 'not-a-folder', 'tool-versions.json');
    expect(() => fileToolVersionCache(blocked).remember(tool, 'pg_dump (PostgreSQL) 15.20')).not.toThrow();
    expect(fileToolVersionCache(blocked).lookup(tool)).toBeUndefined();
  });

  it('keeps at most 64 executables, dropping the least recently stored', () => {
    const { cache, bin } = setup();
    const c = fileToolVersionCache(cache);
    const tools: string[] = [];
    for (let i = 0; i < 70; i++) {
      const t = path.join(bin, `tool-${i}`);
      writeFileSync(t, '#!/bin/sh\n', { mode: 0o755 });
      tools.push(t);
      c.remember(t, `tool (PostgreSQL) ${i}.0`);
    }
    const again = fileToolVersionCache(cache);
    expect(tools.slice(0, 6).map((t) => again.lookup(t))).toEqual(Array(6).fill(undefined));
    expect(again.lookup(tools[6] as string)).toBe('tool (PostgreSQL) 6.0');
    expect(again.lookup(tools[69] as string)).toBe('tool (PostgreSQL) 69.0');
    expect(Object.keys(JSON.parse(readFileSync(cache, 'utf8')).tools)).toHaveLength(64);
  });

  it('lives in the user cache folder unless turned off', () => {
    expect(toolVersionCacheFile({ HOME: '/home/u' })).toBe('/home/u/.cache/duplicati-kit/tool-versions.json');
    expect(toolVersionCacheFile({ HOME: '/home/u', XDG_CACHE_HOME: '/var/c' })).toBe(
      '/var/c/duplicati-kit/tool-versions.json',
    );
    expect(toolVersionCacheFile({ HOME: '/home/u', XDG_CACHE_HOME: 'relative' })).toBe(
      '/home/u/.cache/duplicati-kit/tool-versions.json',
    );
    expect(toolVersionCacheFile({})).toBeUndefined();
    for (const off of ['off', 'OFF', '0', 'false', 'no'])
      expect(toolVersionCacheFile({ HOME: '/home/u', DUPLICATI_KIT_TOOL_CACHE: off })).toBeUndefined();
  });
});
