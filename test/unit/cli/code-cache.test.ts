import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  codeCacheDir,
  codeCacheName,
  codeCacheSlot,
  ownedPrivately,
  readCodeCache,
  writeCodeCache,
} from '../../../src/cli/code-cache.js';

let dir: string;
let bundle: string;
const uid = process.getuid?.() ?? -1;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'dk-code-cache-'));
  bundle = path.join(dir, 'bundle.cjs');
  writeFileSync(bundle, 'module.exports = 1;\n');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const env = (extra: Record<string, string> = {}) => ({ XDG_CACHE_HOME: path.join(dir, 'cache'), ...extra });

describe('codeCacheDir', () => {
  it('is under XDG_CACHE_HOME, else ~/.cache, and absent when turned off or without an absolute home', () => {
    expect(codeCacheDir({ XDG_CACHE_HOME: '/c', HOME: '/h' })).toBe('/c/duplicati-kit/v8');
    expect(codeCacheDir({ HOME: '/h' })).toBe('/h/.cache/duplicati-kit/v8');
    expect(codeCacheDir({ XDG_CACHE_HOME: 'relative', HOME: '/h' })).toBe('/h/.cache/duplicati-kit/v8');
    expect(codeCacheDir({ HOME: 'relative' })).toBeUndefined();
    expect(codeCacheDir({})).toBeUndefined();
    for (const off of ['off', 'OFF', '0', 'false', 'no']) {
      expect(codeCacheDir({ HOME: '/h', DUPLICATI_KIT_CODE_CACHE: off })).toBeUndefined();
    }
    expect(codeCacheDir({ HOME: '/h', DUPLICATI_KIT_CODE_CACHE: 'debug' })).toBe('/h/.cache/duplicati-kit/v8');
  });
});

describe('ownedPrivately', () => {
  it('wants the user as owner and no group or other write bit', () => {
    expect(ownedPrivately({ uid: 7, mode: 0o100600 }, 7)).toBe(true);
    expect(ownedPrivately({ uid: 7, mode: 0o40755 }, 7)).toBe(true);
    expect(ownedPrivately({ uid: 8, mode: 0o100600 }, 7)).toBe(false);
    expect(ownedPrivately({ uid: 7, mode: 0o100620 }, 7)).toBe(false);
    expect(ownedPrivately({ uid: 7, mode: 0o40777 }, 7)).toBe(false);
  });
});

describe('codeCacheName', () => {
  it('changes with the bundle on disk and the command, and keeps the place of one path', () => {
    const a = codeCacheName(bundle, statSync(bundle), 'prepare');
    expect(a.name).toMatch(/^[0-9a-f]{16}-[0-9a-f]{16}-prepare\.bin$/);
    expect(a.name.startsWith(`${a.prefix}-`)).toBe(true);
    expect(a.prefix.startsWith(`${a.place}-`)).toBe(true);
    expect(codeCacheName(bundle, statSync(bundle), 'prepare')).toEqual(a);
    expect(codeCacheName(bundle, statSync(bundle), 'restore').prefix).toBe(a.prefix);
    // A command that is not a plain word (a path given first, a flag value) shares one name.
    expect(codeCacheName(bundle, statSync(bundle), '/etc/x.yaml').name).toBe(`${a.prefix}-_.bin`);
    expect(codeCacheName(bundle, statSync(bundle), undefined).name).toBe(`${a.prefix}-_.bin`);
    // The same length rewritten (V8 would accept the old bytecode: it checks only the length).
    writeFileSync(bundle, 'module.exports = 2;\n');
    const b = codeCacheName(bundle, statSync(bundle), 'prepare');
    expect(b.prefix).not.toBe(a.prefix);
    expect(b.place).toBe(a.place);
    const other = path.join(dir, 'other.cjs');
    writeFileSync(other, 'module.exports = 1;\n');
    expect(codeCacheName(other, statSync(other), 'prepare').place).not.toBe(a.place);
  });
});

describe('readCodeCache / writeCodeCache', () => {
  it('round-trips a private file in a private folder', () => {
    const slot = codeCacheSlot(bundle, 'prepare', env());
    if (!slot) throw new Error('no slot');
    expect(readCodeCache(slot)).toBeUndefined();
    expect(writeCodeCache(slot, Buffer.from('bytecode'))).toBe(true);
    expect(statSync(slot.dir).mode & 0o777).toBe(0o700);
    expect(statSync(slot.file).mode & 0o777).toBe(0o600);
    expect(readCodeCache(slot)?.toString()).toBe('bytecode');
    expect(readdirSync(slot.dir)).toEqual([path.basename(slot.file)]);
  });

  it('is off without a cache folder', () => {
    expect(codeCacheSlot(bundle, 'prepare', { DUPLICATI_KIT_CODE_CACHE: 'off', HOME: dir })).toBeUndefined();
    expect(codeCacheSlot(path.join(dir, 'missing.cjs'), 'prepare', env())).toBeUndefined();
  });

  it('ignores a folder or a file others may write, and a symlink', () => {
    const slot = codeCacheSlot(bundle, 'prepare', env());
    if (!slot) throw new Error('no slot');
    writeCodeCache(slot, Buffer.from('bytecode'));
    chmodSync(slot.file, 0o660);
    expect(readCodeCache(slot)).toBeUndefined();
    chmodSync(slot.file, 0o600);
    chmodSync(slot.dir, 0o777);
    expect(readCodeCache(slot)).toBeUndefined();
    // …and does not write into it either.
    expect(writeCodeCache(slot, Buffer.from('new'))).toBe(false);
    chmodSync(slot.dir, 0o700);
    expect(readCodeCache(slot)?.toString()).toBe('bytecode');
    const planted = path.join(dir, 'planted.bin');
    writeFileSync(planted, 'evil', { mode: 0o600 });
    rmSync(slot.file);
    symlinkSync(planted, slot.file);
    expect(readCodeCache(slot)).toBeUndefined();
  });

  it.runIf(uid === 0)('ignores a folder that belongs to another user (sudo keeping HOME)', () => {
    const slot = codeCacheSlot(bundle, 'prepare', env());
    if (!slot) throw new Error('no slot');
    writeCodeCache(slot, Buffer.from('bytecode'));
    chownSync(slot.dir, 65534, 65534);
    expect(readCodeCache(slot)).toBeUndefined();
    expect(writeCodeCache(slot, Buffer.from('new'))).toBe(false);
    chownSync(slot.dir, 0, 0);
    chownSync(slot.file, 65534, 65534);
    expect(readCodeCache(slot)).toBeUndefined();
  });

  it('removes earlier builds of the same path, not other installs', () => {
    const slot = codeCacheSlot(bundle, 'prepare', env());
    if (!slot) throw new Error('no slot');
    mkdirSync(slot.dir, { recursive: true, mode: 0o700 });
    const stale = path.join(slot.dir, `${slot.place}-0000000000000000-prepare.bin`);
    const elsewhere = path.join(slot.dir, '1111111111111111-0000000000000000-prepare.bin');
    writeFileSync(stale, 'old', { mode: 0o600 });
    writeFileSync(elsewhere, 'other', { mode: 0o600 });
    expect(writeCodeCache(slot, Buffer.from('bytecode'))).toBe(true);
    expect(readdirSync(slot.dir).sort()).toEqual([path.basename(elsewhere), path.basename(slot.file)].sort());
  });

  it("removes another install's caches and crashed writes once they are 30 days old", () => {
    const slot = codeCacheSlot(bundle, 'prepare', env());
    if (!slot) throw new Error('no slot');
    mkdirSync(slot.dir, { recursive: true, mode: 0o700 });
    const old = path.join(slot.dir, '2222222222222222-0000000000000000-prepare.bin');
    const crashed = path.join(slot.dir, '2222222222222222-0000000000000000-drill.bin.123.tmp');
    const recent = path.join(slot.dir, '3333333333333333-0000000000000000-prepare.bin');
    const foreign = path.join(slot.dir, 'notes.txt');
    for (const f of [old, crashed, recent, foreign]) writeFileSync(f, 'x', { mode: 0o600 });
    const longAgo = (Date.now() - 31 * 24 * 3600 * 1000) / 1000;
    for (const f of [old, crashed, foreign]) utimesSync(f, longAgo, longAgo);
    expect(writeCodeCache(slot, Buffer.from('bytecode'))).toBe(true);
    expect(readdirSync(slot.dir).sort()).toEqual(
      [path.basename(recent), path.basename(foreign), path.basename(slot.file)].sort(),
    );
  });
});
