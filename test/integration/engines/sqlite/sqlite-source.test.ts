import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isDumpError, isSourceUnavailableError } from '../../../../src/core/errors.js';
import { SqliteSource } from '../../../../src/engines/sqlite/source.js';
import type { PreparedSource, ProgressEvent } from '../../../../src/contracts/types.js';
import { makeContext, tempDir } from '../../../helpers/context.js';
import {
  corruptIndex,
  createLedgerDb,
  filesIn,
  holdExclusive,
  ledgerState,
  startWriter,
  TOTAL,
  transferOnce,
} from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
let live: string;
let work: string;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('dk-sqlite-'));
  live = path.join(dir, 'app.db');
  work = path.join(dir, 'work');
});
afterEach(async () => cleanup());

describe('SqliteSource.prepare', () => {
  it.each(['copy', 'backup'] as const)(
    'snapshots while a child process keeps committing, at one point in time (%s)',
    async (method) => {
      createLedgerDb(live, { fillerRows: 3000 });
      const writer = await startWriter(live);
      let prepared: PreparedSource | undefined;
      const progress: ProgressEvent[] = [];
      let commits = 0;
      try {
        const source = new SqliteSource({
          name: 'app',
          path: live,
          counts: ['accounts', 'ledger'],
          method,
          pagesPerStep: 64,
        });
        prepared = await source.prepare(makeContext(work, 'app', { progress }));
      } finally {
        ({ commits } = await writer.stop());
      }
      const snap = path.join(work, 'app', 'app.db');
      const state = ledgerState(snap);
      expect(state.sum).toBe(TOTAL);
      expect(state.ledger).toBe(state.ledgerRowsMeta);
      expect(state.ledger).toBeGreaterThanOrEqual(writer.readyCommits);
      expect(state.ledger).toBeLessThanOrEqual(commits);
      const meta = prepared?.metadata as Record<string, unknown>;
      expect(meta.counts).toEqual({ accounts: 10, ledger: state.ledger });
      expect(meta.journalMode).toBe('wal');
      expect(meta.method).toBe(method);
      expect(prepared?.artifacts).toHaveLength(1);
      expect(prepared?.artifacts[0]).toMatchObject({ path: 'app/app.db', format: 'sqlite' });
      const pages = progress.filter((p) => p.unit === 'pages');
      // Progress ends at the whole file: the snapshot's pages (a file copy counts the live file's pages
      // when it started; its WAL may bring the snapshot a few more).
      const last = pages.at(-1);
      expect(last).toMatchObject({ phase: 'prepare', completed: last?.total });
      if (method === 'backup') expect(last?.total).toBe(meta.pageCount);
      else expect(last?.total).toBeLessThanOrEqual(meta.pageCount as number);
      // One self-contained file: no -wal beside the published snapshot.
      expect(filesIn(path.join(work, 'app')).sort()).toEqual(['app.db']);
      const db = new Database(snap, { readonly: true });
      expect(db.pragma('journal_mode', { simple: true })).toBe('delete');
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      db.close();
    },
  );

  it('finishes even when every step is followed by a foreign commit', async () => {
    createLedgerDb(live, { fillerRows: 2000 });
    const other = new Database(live);
    let foreignCommits = 0;
    try {
      const source = new SqliteSource({
        name: 'app',
        path: live,
        counts: ['ledger'],
        method: 'backup',
        pagesPerStep: 16,
      });
      const ctx = makeContext(work, 'app');
      const prepared = await source.prepare({
        ...ctx,
        onProgress: () => {
          transferOnce(other);
          foreignCommits += 1;
        },
      });
      const meta = prepared.metadata as { restarts: number; counts: { ledger: number } };
      // WAL: the read transaction held across steps pins one snapshot, so commits between steps
      // no longer restart the copy — and the snapshot is still one consistent state.
      expect(foreignCommits).toBeGreaterThan(10);
      expect(meta.restarts).toBe(0);
      const state = ledgerState(path.join(work, 'app', 'app.db'));
      expect(state.sum).toBe(TOTAL);
      expect(state.ledger).toBe(state.ledgerRowsMeta);
      expect(meta.counts.ledger).toBe(state.ledger);
      expect(state.ledger).toBeLessThanOrEqual(foreignCommits);
    } finally {
      other.close();
    }
  });

  it('under a rollback journal, commits between steps restart the copy, which then finishes in one step', async () => {
    createLedgerDb(live, { fillerRows: 2000 });
    const setup = new Database(live);
    setup.pragma('journal_mode = DELETE');
    setup.close();
    const other = new Database(live);
    try {
      const source = new SqliteSource({ name: 'app', path: live, counts: ['ledger'], pagesPerStep: 16 });
      const prepared = await source.prepare({
        ...makeContext(work, 'app'),
        onProgress: () => {
          transferOnce(other);
        },
      });
      const meta = prepared.metadata as { restarts: number; counts: { ledger: number } };
      expect(meta.restarts).toBeGreaterThanOrEqual(1);
      const state = ledgerState(path.join(work, 'app', 'app.db'));
      expect(state.sum).toBe(TOTAL);
      expect(state.ledger).toBe(state.ledgerRowsMeta);
      expect(meta.counts.ledger).toBe(state.ledger);
    } finally {
      other.close();
    }
  });

  it('copies a file the application shrinks between steps (VACUUM under a rollback journal), read through the memory map', async () => {
    createLedgerDb(live, { fillerRows: 4000 });
    const other = new Database(live);
    other.pragma('journal_mode = DELETE');
    other.exec('DELETE FROM filler WHERE id % 2 = 0');
    const before = (other.pragma('page_count', { simple: true }) as number) * 4096;
    let vacuumed = false;
    try {
      const source = new SqliteSource({ name: 'app', path: live, counts: ['filler'], pagesPerStep: 16 });
      const prepared = await source.prepare({
        ...makeContext(work, 'app'),
        onProgress: (e) => {
          // After the first step: the file shrinks below what the copy has mapped.
          if (!vacuumed && (e.completed ?? 0) > 0) {
            vacuumed = true;
            other.exec('VACUUM');
          }
        },
      });
      expect(vacuumed).toBe(true);
      const after = (other.pragma('page_count', { simple: true }) as number) * 4096;
      expect(after).toBeLessThan(before);
      const meta = prepared.metadata as { restarts: number; counts: { filler: number }; pageCount: number };
      expect(meta.restarts).toBeGreaterThanOrEqual(1);
      expect(meta.counts.filler).toBe(2000);
      expect(meta.pageCount * 4096).toBe(after);
      expect(ledgerState(path.join(work, 'app', 'app.db')).sum).toBe(TOTAL);
    } finally {
      other.close();
    }
  });

  it('takes the snapshot with VACUUM INTO when asked', async () => {
    createLedgerDb(live, { fillerRows: 100 });
    const source = new SqliteSource({ name: 'app', path: live, method: 'vacuum', counts: ['filler'] });
    const prepared = await source.prepare(makeContext(work, 'app'));
    expect(prepared.metadata).toMatchObject({ method: 'vacuum', counts: { filler: 100 } });
    expect(ledgerState(path.join(work, 'app', 'app.db')).sum).toBe(TOTAL);
  });

  it('refuses to publish a snapshot that fails integrity_check', async () => {
    createLedgerDb(live, { fillerRows: 50 });
    const db = new Database(live);
    const ins = db.prepare("INSERT INTO ledger (amount, note) VALUES (?, 'n')");
    db.transaction(() => {
      for (let i = 0; i < 2000; i++) ins.run(i);
    })();
    db.close();
    corruptIndex(live, 'ledger_amount');
    const source = new SqliteSource({ name: 'app', path: live, artifactName: 'snap.sqlite' });
    const err = await source.prepare(makeContext(work, 'app')).catch((e: unknown) => e);
    expect(isDumpError(err)).toBe(true);
    expect((err as Error).message).toMatch(/integrity_check/);
    expect(filesIn(path.join(work, 'app'))).toEqual([]);
  });

  it('leaves no artifact when aborted mid-backup', async () => {
    createLedgerDb(live, { fillerRows: 2000 });
    const ac = new AbortController();
    const reason = new Error('caller gave up');
    const source = new SqliteSource({ name: 'app', path: live, method: 'backup', pagesPerStep: 8 });
    const ctx = makeContext(work, 'app', { signal: ac.signal });
    let events = 0;
    const err = await source
      .prepare({
        ...ctx,
        onProgress: (e) => {
          events += 1;
          if (e.completed > 0) ac.abort(reason);
        },
      })
      .catch((e: unknown) => e);
    expect(err).toBe(reason);
    expect(events).toBeGreaterThan(0);
    expect(filesIn(path.join(work, 'app'))).toEqual([]);
  });
});

describe('SqliteSource.check', () => {
  it('passes for a readable database with the tables to count', async () => {
    createLedgerDb(live);
    const source = new SqliteSource({ name: 'app', path: live, counts: ['accounts'] });
    await expect(source.check(makeContext(work, 'app'))).resolves.toBeUndefined();
  });

  it('names a missing file', async () => {
    const source = new SqliteSource({ name: 'app', path: live });
    const err = await source.check(makeContext(work, 'app')).catch((e: unknown) => e);
    expect(isSourceUnavailableError(err)).toBe(true);
    expect((err as Error).message).toContain(live);
  });

  it('names a missing table to count', async () => {
    createLedgerDb(live);
    const source = new SqliteSource({ name: 'app', path: live, counts: ['accounts', 'nope'] });
    const err = await source.check(makeContext(work, 'app')).catch((e: unknown) => e);
    expect(isSourceUnavailableError(err)).toBe(true);
    expect((err as Error).message).toMatch(/nope/);
  });

  it('says what to do when the application holds an EXCLUSIVE lock', async () => {
    createLedgerDb(live);
    const holder = await holdExclusive(live);
    try {
      const source = new SqliteSource({ name: 'app', path: live, busyTimeoutMs: 50 });
      const err = await source.check(makeContext(work, 'app')).catch((e: unknown) => e);
      expect(isSourceUnavailableError(err)).toBe(true);
      expect((err as Error).message).toMatch(/locking_mode=EXCLUSIVE/);
      expect((err as { code: string }).code).toBe('ERR_SQLITE_LOCKED');
      const prepErr = await source.prepare(makeContext(work, 'app')).catch((e: unknown) => e);
      expect(isSourceUnavailableError(prepErr)).toBe(true);
      expect(filesIn(path.join(work, 'app'))).toEqual([]);
    } finally {
      await holder.stop();
    }
  });
});
