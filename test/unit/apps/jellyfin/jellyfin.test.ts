import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { isConfigError } from '../../../../src/core/errors.js';
import {
  compareVersions,
  EF_FINGERPRINTS,
  JellyfinClient,
  JellyfinDatabaseSource,
  JellyfinDatabaseTarget,
  JellyfinFilesSource,
  jellyfinFileSet,
  snapshotVersion,
  standardPaths,
} from '../../../../src/apps/jellyfin/index.js';
import { countLibrary, readDbVersion } from '../../../../src/apps/jellyfin/version.js';

describe('compareVersions', () => {
  it('compares numerically, not as strings', () => {
    expect(compareVersions('10.11.10', '10.11.9')).toBe(1);
    expect(compareVersions('10.9.11', '10.10.0')).toBe(-1);
    expect(compareVersions('10.11.0.0', '10.11')).toBe(0);
  });
});

describe('standardPaths', () => {
  it('knows the three install types', () => {
    expect(standardPaths('debian')).toEqual({
      dataDir: '/var/lib/jellyfin',
      configDir: '/etc/jellyfin',
      cacheDir: '/var/cache/jellyfin',
      logDir: '/var/log/jellyfin',
    });
    expect(standardPaths('docker')).toEqual({
      dataDir: '/config',
      configDir: '/config/config',
      cacheDir: '/cache',
      logDir: '/config/log',
    });
    expect(standardPaths('linuxserver', '/srv/jf')).toEqual({
      dataDir: '/srv/jf/data',
      configDir: '/srv/jf',
      cacheDir: '/srv/jf/cache',
      logDir: '/srv/jf/log',
    });
  });
});

describe('jellyfinFileSet', () => {
  const paths = {
    install: 'debian' as const,
    dataDir: '/var/lib/jellyfin',
    dbDir: '/var/lib/jellyfin/data',
    configDir: '/etc/jellyfin',
    cacheDir: '/var/cache/jellyfin',
    logDir: '/var/log/jellyfin',
    metadataDir: '/srv/metadata',
    transcodeDir: '/srv/transcodes',
  };

  it('includes config, metadata, plugins, root and data, and excludes live databases and regenerable parts', () => {
    const set = jellyfinFileSet(paths);
    expect(set.include).toEqual([
      '/etc/jellyfin',
      '/srv/metadata',
      '/var/lib/jellyfin/root',
      '/var/lib/jellyfin/data',
      '/var/lib/jellyfin/plugins',
    ]);
    expect(set.exclude).toEqual(
      expect.arrayContaining([
        '/var/lib/jellyfin/data/*.db',
        '/var/lib/jellyfin/data/*.db-wal',
        '/var/lib/jellyfin/data/*.db-shm',
        '/var/lib/jellyfin/data/library.db.old',
        '/var/lib/jellyfin/data/trickplay/',
        '/var/cache/jellyfin/',
        '/srv/transcodes/',
        '/var/log/jellyfin/',
      ]),
    );
  });

  it('honours the options', () => {
    const set = jellyfinFileSet(paths, { plugins: 'none', trickplay: true, libraryDbOld: true, subtitles: false });
    expect(set.include).not.toContain('/var/lib/jellyfin/plugins');
    expect(set.exclude).not.toContain('/var/lib/jellyfin/data/trickplay/');
    expect(set.exclude).not.toContain('/var/lib/jellyfin/data/library.db.old');
    expect(set.exclude).toContain('/var/lib/jellyfin/data/subtitles/');
  });
});

describe('readDbVersion', () => {
  function db(rows: [string, string][]): Database.Database {
    const d = new Database(':memory:');
    d.exec('CREATE TABLE __EFMigrationsHistory (MigrationId TEXT PRIMARY KEY, ProductVersion TEXT)');
    const ins = d.prepare('INSERT INTO __EFMigrationsHistory VALUES (?, ?)');
    for (const r of rows) ins.run(...r);
    return d;
  }

  it('fingerprints 10.11.10+ by its newest EF migration', () => {
    const last = EF_FINGERPRINTS.at(-1);
    const d = db([
      ['20250925203415_ExtendPeopleMapKey', '9.0.9'],
      [last?.migration as string, '9.0.9'],
    ]);
    expect(readDbVersion(d)).toEqual({
      newestMigration: last?.migration,
      line: '10.11',
      productVersion: null,
      minVersion: '10.11.10',
    });
  });

  it('takes the highest four-part product version of a code migration as a lower bound', () => {
    const d = db([
      ['20250925203415_ExtendPeopleMapKey', '9.0.9'],
      ['20250420200000_MigrateLibraryDb', '10.11.0.0'],
      ['20250601000000_SomethingLater', '10.11.6.0'],
    ]);
    expect(readDbVersion(d)).toMatchObject({ productVersion: '10.11.6.0', minVersion: '10.11.6', line: '10.11' });
  });

  it('knows nothing about a database without migration history', () => {
    expect(readDbVersion(new Database(':memory:'))).toEqual({
      newestMigration: null,
      line: null,
      productVersion: null,
      minVersion: null,
    });
  });

  it('leaves the placeholder item out of the item count', () => {
    const d = new Database(':memory:');
    d.exec(`CREATE TABLE BaseItems (Id TEXT PRIMARY KEY);
      INSERT INTO BaseItems VALUES ('00000000-0000-0000-0000-000000000001'), ('a'), ('b');`);
    expect(countLibrary(d)).toEqual({ items: 2, playedItems: 0, resumePositions: 0 });
  });
});

describe('snapshotVersion', () => {
  it('prefers the server version the API gave at backup time', () => {
    expect(snapshotVersion({ version: { serverVersion: '10.11.11', minVersion: '10.11.10' } })).toBe('10.11.11');
    expect(snapshotVersion({ version: { serverVersion: null, minVersion: '10.10.0' } })).toBe('10.10.0');
    expect(snapshotVersion({})).toBeUndefined();
  });
});

describe('options', () => {
  it('validates every class in its constructor', () => {
    const bad: [string, () => unknown][] = [
      ['JellyfinDatabaseSource', () => new JellyfinDatabaseSource({ install: 'snap' } as never)],
      ['JellyfinFilesSource', () => new JellyfinFilesSource({ dataDir: 'relative' })],
      ['JellyfinDatabaseTarget', () => new JellyfinDatabaseTarget({ installedVersion: 'latest' })],
      ['JellyfinClient', () => new JellyfinClient({ baseUrl: 'not a url' })],
    ];
    for (const [name, make] of bad) {
      let err: unknown;
      try {
        make();
      } catch (e) {
        err = e;
      }
      expect(isConfigError(err), name).toBe(true);
    }
  });

  it('routes manifest entries by kind and part name', () => {
    const t = new JellyfinDatabaseTarget({ source: 'database' });
    const entry = { name: 'jellyfin/database', kind: 'jellyfin.database' } as Parameters<typeof t.accepts>[0];
    expect(t.accepts(entry)).toBe(true);
    expect(t.accepts({ ...entry, kind: 'sqlite' })).toBe(false);
    expect(t.accepts({ ...entry, name: 'jellyfin/files' })).toBe(false);
  });
});

describe('JellyfinLayoutError', () => {
  it('is a DuplicatiKitError with its own code, name and guard', async () => {
    const { isDuplicatiKitError } = await import('../../../../src/core/errors.js');
    const { isJellyfinLayoutError, resolveJellyfinPaths } = await import('../../../../src/apps/jellyfin/index.js');
    const e = await resolveJellyfinPaths({ install: 'custom' }).catch((x: unknown) => x);
    expect(isJellyfinLayoutError(e)).toBe(true);
    expect(isDuplicatiKitError(e)).toBe(true);
    expect(e).toMatchObject({ name: 'JellyfinLayoutError', code: 'ERR_JELLYFIN_LAYOUT' });
    expect((e as Error).message).toBe('install "custom" needs dataDir');
  });
});
