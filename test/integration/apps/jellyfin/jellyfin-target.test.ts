import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isRestoreError, isVerificationError } from '../../../../src/core/errors.js';
import { expandEntry } from '../../../../src/plan/compose.js';
import {
  JellyfinDatabaseSource,
  JellyfinDatabaseTarget,
  JellyfinFilesTarget,
  jellyfinSource,
  jellyfinTarget,
} from '../../../../src/apps/jellyfin/index.js';
import type { RestoreInput } from '../../../../src/contracts/types.js';
import { makeContext, tempDir } from '../../../helpers/context.js';
import { restoreInputFor } from '../../engines/sqlite/helpers.js';
import { startFakeJellyfin } from './fake-server.js';
import { build1010Dbs, build1011Db, buildTree, FIGURES } from './fixtures.js';

let dir: string;
let cleanup: () => Promise<void>;
let work: string;
let dataDir: string;
let dbDir: string;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('dk-jellyfin-restore-'));
  work = path.join(dir, 'work');
  dataDir = path.join(dir, 'data');
  dbDir = path.join(dataDir, 'data');
});
afterEach(async () => cleanup());

function users(file: string): number {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM Users').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

function addUser(file: string): void {
  const db = new Database(file);
  db.prepare("INSERT INTO Users (Id, Username, InternalId) VALUES (lower(hex(randomblob(16))), 'late', 99)").run();
  db.close();
}

async function backup1011(): Promise<RestoreInput> {
  build1011Db(dbDir);
  const source = new JellyfinDatabaseSource({ dataDir });
  const prepared = await source.prepare(makeContext(work, source.name));
  return restoreInputFor(work, source, prepared);
}

describe('JellyfinDatabaseTarget', () => {
  it('verifies counts and the version gate', async () => {
    const input = await backup1011();
    const ok = await new JellyfinDatabaseTarget({ dataDir, installedVersion: '10.11.11' }).verify(
      input,
      makeContext(work, 'jellyfin-db'),
    );
    expect(ok.ok).toBe(true);
    expect(ok.checks.map((c) => c.name)).toEqual(
      expect.arrayContaining(['jellyfin.db: integrity_check', 'count:users', 'count:items', 'version']),
    );
    const older = new JellyfinDatabaseTarget({ dataDir, installedVersion: '10.11.9' });
    const refused = await older.verify(input, makeContext(work, 'jellyfin-db'));
    expect(refused.ok).toBe(false);
    expect(refused.checks.find((c) => c.name === 'version')?.detail).toMatch(/newer than the installed 10\.11\.9/);
    const err = await older.restore(input, makeContext(work, 'jellyfin-db')).catch((e: unknown) => e);
    expect(isVerificationError(err)).toBe(true);
    expect(users(path.join(dbDir, 'jellyfin.db'))).toBe(FIGURES.users);
  });

  it('reads the installed version from the live database when not told', async () => {
    const input = await backup1011();
    // The live server is an older 10.11 one: its database was last written by 10.11.2.
    rmSync(dbDir, { recursive: true });
    build1011Db(dbDir, FIGURES, { codeVersion: '10.11.2' });
    const report = await new JellyfinDatabaseTarget({ dataDir }).verify(input, makeContext(work, 'jellyfin-db'));
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.name === 'version')?.detail).toMatch(/10\.11\.2 \(live database\)/);
  });

  it('rejects a snapshot whose counts do not match the manifest', async () => {
    const input = await backup1011();
    addUser(input.artifacts[0]?.file as string);
    const report = await new JellyfinDatabaseTarget({ dataDir }).verify(input, makeContext(work, 'jellyfin-db'));
    expect(report.ok).toBe(false);
    expect(report.checks.filter((c) => !c.ok).map((c) => c.name)).toContain('jellyfin.db: count:Users');
  });

  it('restores with a safety copy, keeps the mode, rolls back, and finalizes', async () => {
    const input = await backup1011();
    const live = path.join(dbDir, 'jellyfin.db');
    addUser(live);
    chmodSync(live, 0o600);
    const target = new JellyfinDatabaseTarget({ dataDir, installedVersion: '10.11.11' });
    const ctx = makeContext(work, 'jellyfin-db');
    const out = await target.restore(input, ctx);
    expect(out.restored).toEqual([live]);
    // No -wal/-shm left behind by the checks (they would belong to the restoring user).
    expect(readdirSync(dbDir).filter((f) => f.startsWith('jellyfin.db-'))).toEqual([]);
    expect(users(live)).toBe(FIGURES.users);
    expect(statSync(live).mode & 0o777).toBe(0o600);
    const db = new Database(live, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    await target.rollback(out, ctx);
    expect(users(live)).toBe(FIGURES.users + 1);
    const again = await target.restore(input, ctx);
    await target.finalize(again, ctx);
    expect(users(live)).toBe(FIGURES.users);
    expect(readdirSync(dbDir).filter((f) => f.includes('dk-'))).toEqual([]);
  });

  it.skipIf(process.getuid?.() !== 0)('keeps the owner and group of the file it replaces (needs root)', async () => {
    const input = await backup1011();
    const live = path.join(dbDir, 'jellyfin.db');
    chownSync(live, 1234, 2345);
    const target = new JellyfinDatabaseTarget({ dataDir, installedVersion: '10.11.11' });
    await target.restore(input, makeContext(work, 'jellyfin-db'));
    expect(statSync(live)).toMatchObject({ uid: 1234, gid: 2345 });
  });

  it('restores both databases of the 10.10 layout', async () => {
    build1010Dbs(dbDir);
    const source = new JellyfinDatabaseSource({ dataDir });
    const input = restoreInputFor(work, source, await source.prepare(makeContext(work, source.name)));
    const lib = path.join(dbDir, 'library.db');
    const extra = new Database(lib);
    extra.prepare('DELETE FROM UserDatas WHERE played = 1').run();
    extra.close();
    const target = new JellyfinDatabaseTarget({ dataDir, installedVersion: '10.10.7' });
    expect((await target.verify(input, makeContext(work, 'jellyfin-db'))).ok).toBe(true);
    const out = await target.restore(input, makeContext(work, 'jellyfin-db'));
    expect([...out.restored].sort()).toEqual([path.join(dbDir, 'jellyfin.db'), lib].sort());
    const db = new Database(lib, { readonly: true });
    expect((db.prepare('SELECT count(*) AS n FROM UserDatas WHERE played = 1').get() as { n: number }).n).toBe(
      FIGURES.played,
    );
    db.close();
  });

  it('puts jellyfin.db back when library.db fails during the restore', async () => {
    build1010Dbs(dbDir);
    const source = new JellyfinDatabaseSource({ dataDir });
    const input = restoreInputFor(work, source, await source.prepare(makeContext(work, source.name)));
    const live = path.join(dbDir, 'jellyfin.db');
    addUser(live);
    const broken = input.artifacts.find((a) => a.path.endsWith('library.db'))?.file as string;
    writeFileSync(broken, 'not a database any more');
    const target = new JellyfinDatabaseTarget({ dataDir, installedVersion: '10.10.7' });
    const err = await target.restore(input, makeContext(work, 'jellyfin-db')).catch((e: unknown) => e);
    expect(isVerificationError(err)).toBe(true);
    expect(users(live)).toBe(FIGURES.users + 1);
    expect(readdirSync(dbDir).filter((f) => f.includes('dk-'))).toEqual([]);
  });

  it('moves a 10.10 library.db aside when restoring a 10.11 snapshot, and back on rollback', async () => {
    const input = await backup1011();
    writeFileSync(path.join(dbDir, 'library.db'), 'stale 10.10 library');
    const target = new JellyfinDatabaseTarget({ dataDir, installedVersion: '10.11.11' });
    const report = await target.verify(input, makeContext(work, 'jellyfin-db'));
    expect(report.checks.find((c) => c.name === 'layout')?.detail).toMatch(/^warning: restoring a 10\.11 layout/);
    const out = await target.restore(input, makeContext(work, 'jellyfin-db'));
    expect(existsSync(path.join(dbDir, 'library.db'))).toBe(false);
    await target.rollback(out, makeContext(work, 'jellyfin-db'));
    expect(existsSync(path.join(dbDir, 'library.db'))).toBe(true);
  });

  it('refuses while Jellyfin answers its API', async () => {
    const input = await backup1011();
    const server = await startFakeJellyfin();
    try {
      const target = new JellyfinDatabaseTarget({ dataDir, api: { baseUrl: server.url } });
      const err = await target.restore(input, makeContext(work, 'jellyfin-db')).catch((e: unknown) => e);
      expect(isRestoreError(err)).toBe(true);
      expect((err as { code: string }).code).toBe('ERR_JELLYFIN_RUNNING');
    } finally {
      await server.close();
    }
  });

  it('precheck finds a running Jellyfin before anything is touched, naming the service (#12, defect 10)', async () => {
    const input = await backup1011();
    const server = await startFakeJellyfin();
    try {
      const target = new JellyfinDatabaseTarget({ dataDir, api: { baseUrl: server.url } });
      const report = await target.precheck(input, makeContext(work, 'jellyfin-db'));
      expect(report.ok).toBe(false);
      expect(report.checks.find((c) => c.name === 'jellyfin-stopped')).toMatchObject({
        ok: false,
        service: 'jellyfin',
      });
      // A scratch target touches nothing live: nothing to check.
      const scratch = new JellyfinDatabaseTarget({ dataDir, api: { baseUrl: server.url }, scratch: true });
      expect((await scratch.precheck(input, makeContext(work, 'jellyfin-db'))).ok).toBe(true);
    } finally {
      await server.close();
    }
    // Stopped, and the database held by nobody: the precheck passes.
    const stopped = new JellyfinDatabaseTarget({ dataDir, installedVersion: '10.11.11' });
    const ok = await stopped.precheck(input, makeContext(work, 'jellyfin-db'));
    expect(ok.checks.find((c) => c.name === 'in-use:jellyfin.db')).toMatchObject({ ok: true });
    expect(ok.ok).toBe(true);
  });

  it('scratch-restores into a temporary folder and touches nothing live', async () => {
    const input = await backup1011();
    const before = readdirSync(dbDir).sort();
    const scratchDir = path.join(dir, 'scratch');
    mkdirSync(scratchDir);
    const target = new JellyfinDatabaseTarget({ dataDir, scratch: true, scratchDir });
    const out = await target.restore(input, makeContext(work, 'jellyfin-db'));
    expect(out.metadata).toMatchObject({ scratch: true, verified: true });
    expect(readdirSync(scratchDir)).toEqual([]);
    expect(readdirSync(dbDir).sort()).toEqual(before);
  });
});

describe('jellyfinTarget and JellyfinFilesTarget', () => {
  it('verifies a composed backup and drops marker files when the layout changes', async () => {
    const root = path.join(dir, 'official');
    buildTree({ dataDir: root, configDir: path.join(root, 'config'), logDir: path.join(root, 'log') });
    build1011Db(path.join(root, 'data'));
    const source = jellyfinSource({ install: 'docker', root });
    const input = restoreInputFor(work, source, await source.prepare(makeContext(work, source.name)));
    const target = jellyfinTarget({ install: 'docker', root, database: { installedVersion: '10.11.11' } });
    expect(target.accepts(input.entry)).toBe(true);
    const report = await target.verify(input, makeContext(work, 'jellyfin'));
    expect(report.ok).toBe(true);

    const filesEntry = expandEntry(input.entry).find((e) => e.kind === 'jellyfin.files');
    if (!filesEntry) throw new Error('no files part');
    const filesTarget = new JellyfinFilesTarget({ source: 'files', install: 'debian' });
    expect(filesTarget.accepts(filesEntry)).toBe(true);
    const out = await filesTarget.restore({ ...input, entry: filesEntry, artifacts: [] }, makeContext(work, 'files'));
    expect(out.metadata).toEqual({ markersRemoved: 2 });
    expect(existsSync(path.join(root, 'config', '.jellyfin-config'))).toBe(false);
    expect(existsSync(path.join(root, 'data', '.jellyfin-data'))).toBe(false);
  });
});
