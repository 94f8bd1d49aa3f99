import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isConfigError } from '../../../../src/core/errors.js';
import {
  compareImmichVersions,
  defaultImmichPathMap,
  dumpKind,
  fromImmichEnv,
  hostPathOf,
  ImmichDatabaseSource,
  ImmichDatabaseTarget,
  ImmichLibraryCheck,
  ImmichLibrarySource,
  ImmichLibraryTarget,
  immichDumpName,
  mapImmichPath,
  parseDotenv,
} from '../../../../src/apps/immich/index.js';
import { makeContext, tempDir } from '../../../helpers/context.js';

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups) await c();
  cleanups = [];
});

describe('Immich .env', () => {
  it('parses compose-style dotenv', () => {
    expect(
      parseDotenv(
        [
          '# comment',
          'UPLOAD_LOCATION=./library # where photos go',
          "DB_PASSWORD='p#ss w'",
          'export DB_USERNAME="im\\"mich"',
          'EMPTY=',
          'not a line',
        ].join('\n'),
      ),
    ).toEqual({ UPLOAD_LOCATION: './library', DB_PASSWORD: 'p#ss w', DB_USERNAME: 'im"mich', EMPTY: '' });
  });

  it('reads connection, _FILE secrets and relative locations', async () => {
    const t = await tempDir();
    cleanups.push(t.cleanup);
    await writeFile(path.join(t.dir, 'pw'), 'from-secret\n');
    await writeFile(path.join(t.dir, 'user'), 'immich_user\n');
    await writeFile(
      path.join(t.dir, '.env'),
      'UPLOAD_LOCATION=./library\nDB_DATA_LOCATION=/srv/pg\nDB_PASSWORD_FILE=./pw\nDB_USERNAME_FILE=user\nDB_DATABASE_NAME=photos\nIMMICH_VERSION=v2.5.6\n',
    );
    const env = await fromImmichEnv(path.join(t.dir, '.env'));
    expect(env).toEqual({
      connection: {
        host: 'database',
        port: 5432,
        user: 'immich_user',
        database: 'photos',
        passwordFile: path.join(t.dir, 'pw'),
      },
      uploadLocation: path.join(t.dir, 'library'),
      dbDataLocation: '/srv/pg',
      immichVersion: 'v2.5.6',
    });
  });

  it('prefers DB_URL and falls back to documented defaults', async () => {
    const t = await tempDir();
    cleanups.push(t.cleanup);
    await writeFile(path.join(t.dir, 'a.env'), 'DB_URL=postgres://u:p@db:5433/x\n');
    expect((await fromImmichEnv(path.join(t.dir, 'a.env'))).connection).toEqual({ url: 'postgres://u:p@db:5433/x' });
    await writeFile(path.join(t.dir, 'b.env'), 'UPLOAD_LOCATION=/srv/library\n');
    expect((await fromImmichEnv(path.join(t.dir, 'b.env'))).connection).toEqual({
      host: 'database',
      port: 5432,
      user: 'postgres',
      database: 'immich',
      password: 'postgres',
    });
    const err = await fromImmichEnv(path.join(t.dir, 'missing.env')).catch((e: unknown) => e);
    expect(isConfigError(err)).toBe(true);
  });
});

describe('Immich naming and versions', () => {
  const at = new Date(2026, 0, 15, 2, 3, 4);
  it('names dumps like Immich, without a version Immich would misread as a cluster dump', () => {
    expect(immichDumpName('v2.5.6', '14.17 (Debian 14.17-1.pgdg120+1)', 'sql.gz', at)).toBe(
      'immich-db-backup-20260115T020304-v2.5.6-pg14.17.sql.gz',
    );
    expect(immichDumpName('v2.4.1', '14.17', 'sql.gz', at)).toBe('immich-db-backup-20260115T020304-pg14.17.sql.gz');
    expect(immichDumpName(undefined, '16.2', 'sql', at)).toBe('immich-db-backup-20260115T020304-pg16.2.sql');
  });

  it('compares versions with or without the v prefix', () => {
    expect(compareImmichVersions('v1.136.0', '1.135.9')).toBeGreaterThan(0);
    expect(compareImmichVersions('v2.5.6', 'v2.5.6')).toBe(0);
    expect(compareImmichVersions('v2.10.0', 'v2.9.9')).toBeGreaterThan(0);
  });

  it('tells pg_dump from pg_dumpall dumps', () => {
    expect(dumpKind('--\n-- PostgreSQL database dump\n--\n')).toBe('pg_dump');
    expect(dumpKind('--\n-- PostgreSQL database cluster dump\n--\n\\connect template1\n')).toBe('pg_dumpall');
    expect(dumpKind('garbage')).toBe('unknown');
  });

  it('maps container paths to the host', () => {
    expect(hostPathOf('/data/upload/u1/a.jpg', '/srv/lib')).toBe('/srv/lib/upload/u1/a.jpg');
    expect(hostPathOf('/usr/src/app/upload/library/u1/a.jpg', '/srv/lib')).toBe('/srv/lib/library/u1/a.jpg');
    expect(hostPathOf('/elsewhere/a.jpg', '/srv/lib')).toBeUndefined();
  });

  it('maps asset paths to what Duplicati lists, first matching prefix wins', () => {
    const map = defaultImmichPathMap('/srv/lib');
    expect(map).toEqual([
      { from: '/data/', to: '/srv/lib/' },
      { from: '/usr/src/app/upload/', to: '/srv/lib/' },
    ]);
    expect(mapImmichPath('/usr/src/app/upload/upload/u1/a.jpg', map)).toBe('/srv/lib/upload/u1/a.jpg');
    // Prefixes match whole folders: /database/ is not under /data/.
    expect(mapImmichPath('/database/x.jpg', map)).toBeUndefined();
    const custom = [
      { from: '/data', to: '/source/srv/lib' },
      { from: '/mnt/photos/', to: '/mnt/photos/' },
    ];
    expect(mapImmichPath('/data/upload/a.jpg', custom)).toBe('/source/srv/lib/upload/a.jpg');
    expect(mapImmichPath('/mnt/photos/2024/b.jpg', custom)).toBe('/mnt/photos/2024/b.jpg');
  });

  it('validates the drill check options with paths, in the check and in the target', () => {
    const target = new ImmichDatabaseTarget({
      connection: { host: '127.0.0.1', user: 'postgres', database: 'immich' },
      scratch: true,
    });
    expect(target.drillChecks().map((c) => c.name)).toEqual(['immich-library-consistency']);
    const bad = (f: () => unknown) => {
      try {
        f();
        return [];
      } catch (e) {
        expect(isConfigError(e)).toBe(true);
        return (e as { issues: { path: string }[] }).issues.map((i) => i.path).sort();
      }
    };
    expect(
      bad(() => new ImmichLibraryCheck({ target, pathMap: [{ from: 'data/', to: '/x/' }], maxMissing: -1 })),
    ).toEqual(['maxMissing', 'pathMap.0.from']);
    expect(bad(() => new ImmichLibraryCheck({ target: {} as ImmichDatabaseTarget }))).toEqual(['target']);
    expect(
      bad(
        () =>
          new ImmichDatabaseTarget({
            connection: { host: '127.0.0.1', user: 'postgres', database: 'immich' },
            drillCheck: { liveLibrary: 'relative' },
          }),
      ),
    ).toEqual(['drillCheck.liveLibrary']);
  });
});

describe('options validation', () => {
  it('names every bad field', () => {
    const err = (() => {
      try {
        new ImmichDatabaseSource({ connection: { host: '', user: 'x', database: 'y' }, format: 'zip' } as never);
      } catch (e) {
        return e;
      }
    })();
    expect(isConfigError(err)).toBe(true);
    const paths = (err as { issues: { path: string }[] }).issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['format']));
    expect(() => new ImmichLibrarySource({ uploadLocation: 'relative/path' })).toThrow(/absolute/);
  });
});

describe('ImmichLibrarySource', () => {
  it('includes the critical folders, only the markers of regenerable ones, and counts files', async () => {
    const t = await tempDir();
    cleanups.push(t.cleanup);
    const root = t.dir;
    const files: Record<string, string[]> = {
      upload: ['u1/a.jpg', 'u1/b.mp4'],
      library: [],
      profile: ['u1/p.png'],
      thumbs: ['u1/t.webp'],
      'encoded-video': ['u1/v.mp4'],
      backups: ['immich-db-backup-1.sql.gz'],
    };
    for (const [folder, list] of Object.entries(files)) {
      await mkdir(path.join(root, folder), { recursive: true });
      if (folder !== 'library') await writeFile(path.join(root, folder, '.immich'), '');
      for (const f of list) {
        await mkdir(path.dirname(path.join(root, folder, f)), { recursive: true });
        await writeFile(path.join(root, folder, f), 'x'.repeat(f.length));
      }
    }
    const source = new ImmichLibrarySource({ uploadLocation: root });
    const out = await source.prepare(makeContext(root, source.name));
    expect(out.artifacts).toEqual([]);
    expect(out.includePaths).toEqual([
      `${path.join(root, 'library')}/`,
      `${path.join(root, 'upload')}/`,
      `${path.join(root, 'profile')}/`,
      path.join(root, 'thumbs', '.immich'),
      path.join(root, 'encoded-video', '.immich'),
      `${path.join(root, 'backups')}/`,
    ]);
    const folders = (out.metadata as { folders: Record<string, Record<string, unknown>> }).folders;
    expect(folders.upload).toEqual({ included: true, exists: true, marker: true, files: 3, bytes: 16 });
    expect(folders.library).toEqual({ included: true, exists: true, marker: false, files: 0, bytes: 0 });
    expect(folders.thumbs).toEqual({ included: false, exists: true, marker: true });
  });
});

describe('ImmichLibraryTarget', () => {
  it('checks restored file counts and recreates missing markers, and rollback removes them', async () => {
    const t = await tempDir();
    cleanups.push(t.cleanup);
    const root = t.dir;
    await mkdir(path.join(root, 'upload', 'u1'), { recursive: true });
    await writeFile(path.join(root, 'upload', '.immich'), '');
    await writeFile(path.join(root, 'upload', 'u1', 'a.jpg'), 'x');
    const entry = {
      name: 'immich-library',
      kind: 'immich.library',
      artifacts: [],
      includePaths: [],
      excludePatterns: [],
      metadata: { folders: { upload: { included: true, files: 2 }, profile: { included: true, files: 0 } } },
      startedAt: '',
      finishedAt: '',
      durationMs: 0,
    };
    const input = { entry, artifacts: [], from: root, manifest: {} as never };
    const target = new ImmichLibraryTarget({ uploadLocation: root });
    expect(target.accepts(entry)).toBe(true);
    const ctx = makeContext(root, target.name);
    const report = await target.verify(input, ctx);
    expect(report.ok).toBe(true);
    expect(report.checks.find((c) => c.name === 'files:upload')?.detail).toBe('2 files restored, 2 in the backup');
    expect(report.checks.find((c) => c.name === 'markers')?.detail).toContain('thumbs');

    const out = await target.restore(input, ctx);
    expect(out.restored).toHaveLength(5);
    for (const f of ['library', 'profile', 'thumbs', 'encoded-video', 'backups']) {
      expect((await stat(path.join(root, f, '.immich'))).isFile()).toBe(true);
    }
    await target.rollback(out);
    await expect(stat(path.join(root, 'thumbs', '.immich'))).rejects.toThrow();
    expect((await stat(path.join(root, 'upload', '.immich'))).isFile()).toBe(true);

    await rm(path.join(root, 'upload', 'u1', 'a.jpg'));
    const short = await target.verify(input, ctx);
    expect(short.ok).toBe(false);
  });
});
