import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSourceUnavailableError } from '../../../../src/core/errors.js';
import {
  JellyfinDatabaseSource,
  JellyfinFilesSource,
  jellyfinSource,
  resolveJellyfinPaths,
} from '../../../../src/apps/jellyfin/index.js';
import { makeContext, tempDir } from '../../../helpers/context.js';
import { build1010Dbs, build1011Db, buildTree, FIGURES } from './fixtures.js';

let dir: string;
let cleanup: () => Promise<void>;
let work: string;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('dk-jellyfin-'));
  work = path.join(dir, 'work');
});
afterEach(async () => cleanup());

describe('resolveJellyfinPaths', () => {
  it('finds the folders of a Debian install under a root prefix', async () => {
    buildTree({
      dataDir: path.join(dir, 'var/lib/jellyfin'),
      configDir: path.join(dir, 'etc/jellyfin'),
      cacheDir: path.join(dir, 'var/cache/jellyfin'),
      logDir: path.join(dir, 'var/log/jellyfin'),
    });
    const p = await resolveJellyfinPaths({ root: dir });
    expect(p).toMatchObject({
      install: 'debian',
      dataDir: path.join(dir, 'var/lib/jellyfin'),
      dbDir: path.join(dir, 'var/lib/jellyfin/data'),
      configDir: path.join(dir, 'etc/jellyfin'),
      metadataDir: path.join(dir, 'var/lib/jellyfin/metadata'),
      transcodeDir: path.join(dir, 'var/cache/jellyfin/transcodes'),
    });
  });

  it('tells the official image from linuxserver by their folders, and maps a custom MetadataPath', async () => {
    const official = path.join(dir, 'official');
    buildTree({
      dataDir: official,
      configDir: path.join(official, 'config'),
      logDir: path.join(official, 'log'),
      metadataPath: '/config/meta-custom',
    });
    expect(await resolveJellyfinPaths({ root: official, cacheRoot: path.join(dir, 'cache') })).toMatchObject({
      install: 'docker',
      dataDir: official,
      configDir: path.join(official, 'config'),
      cacheDir: path.join(dir, 'cache'),
      metadataDir: path.join(official, 'meta-custom'),
    });
    const lsio = path.join(dir, 'lsio');
    buildTree({ dataDir: path.join(lsio, 'data'), configDir: lsio, logDir: path.join(lsio, 'log') });
    expect(await resolveJellyfinPaths({ root: lsio })).toMatchObject({
      install: 'linuxserver',
      dataDir: path.join(lsio, 'data'),
      dbDir: path.join(lsio, 'data', 'data'),
      configDir: lsio,
      cacheDir: path.join(lsio, 'cache'),
    });
  });
});

describe('JellyfinDatabaseSource', () => {
  it('snapshots a 10.11 jellyfin.db and records version, layout and counts', async () => {
    const dataDir = path.join(dir, 'data');
    build1011Db(path.join(dataDir, 'data'));
    writeFileSync(path.join(dataDir, 'data', 'library.db.old'), 'left over from the migration');
    const source = new JellyfinDatabaseSource({ dataDir, configDir: path.join(dir, 'config') });
    await source.check(makeContext(work, source.name));
    const prepared = await source.prepare(makeContext(work, source.name));
    expect(prepared.artifacts.map((a) => a.path)).toEqual(['jellyfin-db/jellyfin.db']);
    expect(prepared.metadata).toMatchObject({
      install: 'custom',
      layout: '10.11',
      counts: {
        users: FIGURES.users,
        apiKeys: FIGURES.apiKeys,
        items: FIGURES.items,
        playedItems: FIGURES.played + 1,
        resumePositions: FIGURES.resume,
      },
      version: {
        line: '10.11',
        newestMigration: '20250925203415_ExtendPeopleMapKey',
        productVersion: '10.11.11.0',
        minVersion: '10.11.11',
        serverVersion: null,
        migrationsXml: null,
      },
    });
  });

  it('snapshots both databases of the 10.10 layout', async () => {
    const dataDir = path.join(dir, 'data');
    const configDir = path.join(dir, 'config');
    build1010Dbs(path.join(dataDir, 'data'));
    mkdirSync(configDir, { recursive: true });
    writeFileSync(
      path.join(configDir, 'migrations.xml'),
      `<?xml version="1.0" encoding="utf-8"?>
<MigrationOptions>
  <Applied>
    <ValueTupleOfGuidString><Item1>9b354818-94d5-4b68-ac49-e35cb85f9d84</Item1><Item2>CreateNetworkConfiguration</Item2></ValueTupleOfGuidString>
    <ValueTupleOfGuidString><Item1>a6dcacf4-c057-4ef9-80d3-61cef9ddb4f0</Item1><Item2>MigrateMusicBrainzTimeout</Item2></ValueTupleOfGuidString>
  </Applied>
</MigrationOptions>
`,
    );
    const source = new JellyfinDatabaseSource({ dataDir, configDir });
    const prepared = await source.prepare(makeContext(work, source.name));
    expect(prepared.artifacts.map((a) => a.path).sort()).toEqual(['jellyfin-db/jellyfin.db', 'jellyfin-db/library.db']);
    expect(prepared.metadata).toMatchObject({
      layout: '10.10',
      counts: {
        users: 3,
        apiKeys: 2,
        items: FIGURES.items,
        playedItems: FIGURES.played,
        resumePositions: FIGURES.resume,
      },
      version: {
        line: '10.10',
        minVersion: '10.10.0',
        productVersion: null,
        migrationsXml: { count: 2, last: 'MigrateMusicBrainzTimeout' },
      },
      databases: {
        'library.db': { counts: { TypedBaseItems: FIGURES.items, UserDatas: FIGURES.played + FIGURES.resume } },
      },
    });
  });

  it('takes a consistent snapshot while Jellyfin-like writes continue in another process', async () => {
    const dataDir = path.join(dir, 'data');
    const file = build1011Db(path.join(dataDir, 'data'), { ...FIGURES, items: 3000 });
    const writer = spawn(
      process.execPath,
      [
        '-e',
        `
        const Database = require('better-sqlite3');
        const db = new Database(process.argv[1], { timeout: 10000 });
        const item = db.prepare("INSERT INTO BaseItems (Id, Type, Name, Path) VALUES (?, 'Episode', ?, ?)");
        const ud = db.prepare("INSERT INTO UserData (ItemId, UserId, CustomDataKey, Played) VALUES (?, 'U', 'k', 1)");
        const tx = db.transaction((n) => { const id = 'W-' + n; item.run(id, 'Ep ' + n, '/m/' + 'x'.repeat(300) + n); ud.run(id); });
        let n = 0, stop = false;
        process.stdin.on('data', () => {}); process.stdin.on('end', () => { stop = true; });
        (function tick() { if (stop) { db.close(); process.stdout.write('done ' + n + '\\n'); return; }
          tx(n++); if (n === 25) process.stdout.write('ready\\n'); setImmediate(tick); })();
        `,
        file,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'], cwd: fileURLToPath(new URL('../../../..', import.meta.url)) },
    );
    const lines = createInterface({ input: writer.stdout })[Symbol.asyncIterator]();
    expect((await lines.next()).value).toBe('ready');
    let prepared: Awaited<ReturnType<JellyfinDatabaseSource['prepare']>>;
    try {
      const source = new JellyfinDatabaseSource({ dataDir, pagesPerStep: 32 });
      prepared = await source.prepare(makeContext(work, source.name));
    } finally {
      writer.stdin.end();
    }
    const total = Number(/^done (\d+)$/.exec(String((await lines.next()).value))?.[1]);
    const snap = new Database(path.join(work, 'jellyfin-db', 'jellyfin.db'), { readonly: true });
    const written = (snap.prepare("SELECT count(*) AS n FROM BaseItems WHERE Id LIKE 'W-%'").get() as { n: number }).n;
    const marked = (snap.prepare("SELECT count(*) AS n FROM UserData WHERE UserId = 'U'").get() as { n: number }).n;
    snap.close();
    // Every writer transaction adds one item and its user data: a torn copy would differ.
    expect(marked).toBe(written);
    expect(written).toBeGreaterThanOrEqual(25);
    expect(written).toBeLessThanOrEqual(total);
    expect((prepared.metadata as { counts: { items: number } }).counts.items).toBe(3000 + written);
  });

  it('reports a missing installation as unavailable, naming what to pass', async () => {
    const source = new JellyfinDatabaseSource({ root: path.join(dir, 'nothing') });
    const err = await source.check(makeContext(work, source.name)).catch((e: unknown) => e);
    expect(isSourceUnavailableError(err)).toBe(true);
    expect((err as Error).message).toMatch(/install/);
  });
});

describe('JellyfinFilesSource', () => {
  it('covers a linuxserver /config once, without cache, logs, backups and live databases', async () => {
    const root = path.join(dir, 'lsio');
    const dataDir = path.join(root, 'data');
    buildTree({ dataDir, configDir: root, logDir: path.join(root, 'log'), cacheDir: path.join(root, 'cache') });
    build1011Db(path.join(dataDir, 'data'));
    const source = new JellyfinFilesSource({ install: 'linuxserver', root });
    await source.check(makeContext(work, source.name));
    const prepared = await source.prepare(makeContext(work, source.name));
    expect(prepared.includePaths).toEqual([root]);
    expect(prepared.excludePatterns).toEqual(
      expect.arrayContaining([
        path.join(dataDir, 'data', '*.db'),
        path.join(dataDir, 'data', '*.db-wal'),
        `${path.join(root, 'cache')}/`,
        `${path.join(root, 'log')}/`,
        `${path.join(dataDir, 'data', 'backups')}/`,
        `${path.join(dataDir, 'data', 'trickplay')}/`,
      ]),
    );
    // config: system.xml, network.xml, .jellyfin-config; data: poster, plugin dll + config,
    // options.xml, collection.xml, playlist.xml, device.txt, .jellyfin-data.
    expect(prepared.metadata).toMatchObject({ files: 11, install: 'linuxserver' });
  });

  it('lists the separate folders of a Debian install', async () => {
    buildTree({
      dataDir: path.join(dir, 'var/lib/jellyfin'),
      configDir: path.join(dir, 'etc/jellyfin'),
      cacheDir: path.join(dir, 'var/cache/jellyfin'),
      logDir: path.join(dir, 'var/log/jellyfin'),
    });
    const source = new JellyfinFilesSource({ install: 'debian', root: dir, plugins: 'configurations' });
    const prepared = await source.prepare(makeContext(work, source.name));
    const lib = path.join(dir, 'var/lib/jellyfin');
    expect([...(prepared.includePaths ?? [])].sort()).toEqual(
      [
        path.join(dir, 'etc/jellyfin'),
        `${lib}/data`,
        `${lib}/metadata`,
        `${lib}/plugins/configurations`,
        `${lib}/root`,
      ].sort(),
    );
    expect(prepared.metadata).toMatchObject({ files: 10 });
  });
});

describe('jellyfinSource', () => {
  it('composes the database and the files into one source', async () => {
    const root = path.join(dir, 'official');
    buildTree({ dataDir: root, configDir: path.join(root, 'config'), logDir: path.join(root, 'log') });
    build1011Db(path.join(root, 'data'));
    const source = jellyfinSource({ install: 'docker', root });
    await source.check?.(makeContext(work, source.name));
    const prepared = await source.prepare(makeContext(work, source.name));
    expect(prepared.artifacts.map((a) => a.path)).toEqual(['jellyfin/database/jellyfin.db']);
    const parts = (prepared.metadata as { parts: { name: string; kind: string }[] }).parts;
    expect(parts.map((p) => [p.name, p.kind])).toEqual([
      ['database', 'jellyfin.database'],
      ['files', 'jellyfin.files'],
    ]);
  });
});
