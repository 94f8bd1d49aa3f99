import { describe, expect, it } from 'vitest';
import { isConfigError, isDumpError, isSourceUnavailableError } from '../../../../src/core/errors.js';
import { quoteIdent } from '../../../../src/engines/sqlite/driver.js';
import { FLUSH_EVERY_BYTES, flushInterval, SnapshotFailure } from '../../../../src/engines/sqlite/snapshot.js';
import { SqliteSource, snapshotError, snapshotMetadata } from '../../../../src/engines/sqlite/source.js';
import { installState, manifestCounts, SqliteTarget } from '../../../../src/engines/sqlite/target.js';

function configIssues(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (isConfigError(e)) return e.issues.map((i) => i.path);
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('SqliteSource options', () => {
  it('names every bad field', () => {
    const paths = configIssues(
      () =>
        new SqliteSource({
          name: '../x',
          path: '',
          method: 'rsync' as 'backup',
          pagesPerStep: 0,
          extra: 1,
        } as never),
    );
    expect(paths).toEqual(expect.arrayContaining(['name', 'path', 'method', 'pagesPerStep', '']));
  });

  it('rejects an artifact name that leaves the source folder', () => {
    expect(configIssues(() => new SqliteSource({ name: 'a', path: '/x.db', artifactName: '../x.db' }))).toEqual([
      'artifactName',
    ]);
  });

  it('has kind sqlite and keeps its name', () => {
    const s = new SqliteSource({ name: 'vault', path: '/srv/v/db.sqlite3' });
    expect(s.kind).toBe('sqlite');
    expect(s.name).toBe('vault');
    expect(s.path).toBe('/srv/v/db.sqlite3');
  });
});

describe('SqliteTarget options', () => {
  it('requires a path and a function as version gate', () => {
    expect(configIssues(() => new SqliteTarget({ versionGate: 'x' } as never))).toEqual(['path', 'versionGate']);
  });

  it('routes by kind, and by source name when given', () => {
    const t = new SqliteTarget({ source: 'a', path: '/x.db' });
    const entry = { name: 'a', kind: 'sqlite' } as Parameters<SqliteTarget['accepts']>[0];
    expect(t.accepts(entry)).toBe(true);
    expect(t.accepts({ ...entry, name: 'b' })).toBe(false);
    expect(new SqliteTarget({ path: '/x.db' }).name).toBe('sqlite');
  });
});

describe('helpers', () => {
  it('reads numeric counts from manifest metadata and ignores the rest', () => {
    expect(manifestCounts({ counts: { a: 1, b: 'x', c: 3 } })).toEqual({ a: 1, c: 3 });
    expect(manifestCounts({ counts: [1, 2] })).toEqual({});
    expect(manifestCounts({})).toEqual({});
  });

  it('maps snapshot failures to unavailable (before copying) or dump errors (after)', () => {
    const where = { source: 's', kind: 'sqlite', phase: 'prepare' as const };
    const locked = snapshotError(new SnapshotFailure('held', 'locked'), where);
    expect(isSourceUnavailableError(locked)).toBe(true);
    expect((locked as { code: string }).code).toBe('ERR_SQLITE_LOCKED');
    const bad = snapshotError(new SnapshotFailure('bad', 'integrity', ['row 3 missing from index i']), where);
    expect(isDumpError(bad)).toBe(true);
    expect((bad as Error).message).toBe('bad: row 3 missing from index i');
    const other = new Error('x');
    expect(snapshotError(other, where)).toBe(other);
  });

  it('records the manifest metadata of a snapshot', () => {
    const meta = snapshotMetadata('/srv/a.db', {
      method: 'backup',
      restarts: 1,
      steps: 4,
      live: { journalMode: 'wal', pageSize: 4096, pageCount: 10 },
      snapshot: { sqliteVersion: '3.50.0', pageSize: 4096, pageCount: 10, userVersion: 7 },
      counts: { users: 2 },
      extra: {},
      file: { bytes: 40960, sha256: 'a'.repeat(64) },
    });
    expect(meta).toEqual({
      file: '/srv/a.db',
      method: 'backup',
      restarts: 1,
      sqliteVersion: '3.50.0',
      pageSize: 4096,
      pageCount: 10,
      journalMode: 'wal',
      userVersion: 7,
      counts: { users: 2 },
    });
  });

  it('reads the install state back from a restore output', () => {
    expect(installState({ restored: [] })).toBeUndefined();
    expect(installState({ restored: [], state: { live: '/a.db', safety: null, sidecars: ['-wal'] } })).toEqual({
      live: '/a.db',
      safety: null,
      sidecars: ['-wal'],
    });
  });

  it('quotes identifiers', () => {
    expect(quoteIdent('a"b')).toBe('"a""b"');
  });
});

describe('flushInterval', () => {
  it('flushes a quarter of a small copy at a time, never less than 16 MiB nor more than 256 MiB', () => {
    const MiB = 1024 * 1024;
    expect(flushInterval(100 * MiB)).toBe(25 * MiB);
    expect(flushInterval(10 * MiB)).toBe(16 * MiB);
    expect(flushInterval(4096 * MiB)).toBe(FLUSH_EVERY_BYTES);
    expect(FLUSH_EVERY_BYTES).toBe(256 * MiB);
  });
});
