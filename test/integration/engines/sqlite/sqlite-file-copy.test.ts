/**
 * The `copy` snapshot of a WAL database: the file and its `-wal` copied by a real `cp` while a read
 * transaction holds them, then the WAL folded in. What would break a torn copy is checked against
 * a real writer in another process, including one that checkpoints after every commit (the
 * checkpoint writes into the database file while it is copied).
 */
import { mkdirSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SnapshotFailure, copyWithCp, takeSnapshot } from '../../../../src/engines/sqlite/snapshot.js';
import { tempDir } from '../../../helpers/context.js';
import { TOTAL, commitAndDie, createLedgerDb, filesIn, ledgerState, startWriter } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
let live: string;
let dest: string;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('dk-sqlite-copy-'));
  live = path.join(dir, 'app.db');
  mkdirSync(path.join(dir, 'work'));
  dest = path.join(dir, 'work', 'app.db.partial');
});
afterEach(async () => cleanup());

/** Run `f` with a PATH that has no `cp` on it (a folder that does not exist). */
async function withoutCp<T>(f: () => Promise<T>): Promise<T> {
  const saved = process.env.PATH;
  process.env.PATH = path.join(dir, 'empty-bin');
  try {
    return await f();
  } finally {
    process.env.PATH = saved;
  }
}

describe('takeSnapshot, method copy', () => {
  it('is one point in time while a writer checkpoints after every commit', async () => {
    // ~16 MiB: the copy of the file takes a while, and the checkpoints write into it meanwhile.
    createLedgerDb(live, { fillerRows: 16_000 });
    const writer = await startWriter(live, 50, 1);
    const results = [];
    let commits = 0;
    try {
      for (let round = 0; round < 6; round++) {
        const r = await takeSnapshot({ live, dest, counts: ['ledger'] });
        const state = ledgerState(dest);
        results.push({ method: r.method, counts: r.counts, state });
        expect(state.sum).toBe(TOTAL);
        expect(state.ledger).toBe(state.ledgerRowsMeta);
        expect(r.counts.ledger).toBe(state.ledger);
        expect(filesIn(path.join(dir, 'work'))).toEqual(['app.db.partial']);
      }
    } finally {
      ({ commits } = await writer.stop());
    }
    expect(results.every((r) => r.method === 'copy')).toBe(true);
    // Later rounds hold later states, each within what the writer committed.
    const ledgers = results.map((r) => r.state.ledger);
    expect(ledgers[0]).toBeGreaterThanOrEqual(writer.readyCommits);
    expect(ledgers.at(-1)).toBeLessThanOrEqual(commits);
    expect([...ledgers].sort((a, b) => a - b)).toEqual(ledgers);
    expect(ledgers.at(-1)).toBeGreaterThan(ledgers[0] ?? 0);
    const db = new Database(dest, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('delete');
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
  });

  it('folds in commits that are only in the WAL', async () => {
    createLedgerDb(live, { fillerRows: 200 });
    // 300 commits that no checkpoint moved into the database file (the writer died holding them).
    await commitAndDie(live, 300);
    expect(statSync(`${live}-wal`).size).toBeGreaterThan(300 * 4096);
    const r = await takeSnapshot({ live, dest, counts: ['ledger'] });
    expect(r.method).toBe('copy');
    expect(r.counts.ledger).toBe(300);
    expect(ledgerState(dest)).toEqual({ sum: TOTAL, ledger: 300, ledgerRowsMeta: 300 });
    // One self-contained file, and the live WAL untouched.
    expect(filesIn(path.join(dir, 'work'))).toEqual(['app.db.partial']);
    expect(statSync(`${live}-wal`).size).toBeGreaterThan(300 * 4096);
  });

  it('copies through a symlink, with the WAL beside the file it names', async () => {
    const real = path.join(dir, 'data', 'real.db');
    mkdirSync(path.dirname(real));
    createLedgerDb(real, { fillerRows: 50 });
    await commitAndDie(real, 40);
    symlinkSync(real, live);
    const r = await takeSnapshot({ live, dest, counts: ['ledger'] });
    expect(r.method).toBe('copy');
    expect(r.counts.ledger).toBe(40);
  });

  it('takes the online backup when the path names another file after the copy', async () => {
    createLedgerDb(live, { fillerRows: 500 });
    await commitAndDie(live, 7);
    // Another database, swapped in under the same name while the snapshot runs.
    const other = path.join(dir, 'other.db');
    createLedgerDb(other, { fillerRows: 10 });
    let swapped = false;
    const r = await takeSnapshot({
      live,
      dest,
      counts: ['ledger'],
      onPages: () => {
        if (swapped) return;
        swapped = true;
        renameSync(other, live);
      },
    });
    expect(swapped).toBe(true);
    // What SQLite opened: the 7 commits of the first file, not the empty ledger swapped in.
    expect(r.method).toBe('backup');
    expect(r.counts.ledger).toBe(7);
    expect(filesIn(path.join(dir, 'work'))).toEqual(['app.db.partial']);
  });

  it('takes the online backup, not a copy without its commits, when the -wal is not beside the file', async () => {
    createLedgerDb(live, { fillerRows: 100 });
    await commitAndDie(live, 9);
    let moved = false;
    const r = await takeSnapshot({
      live,
      dest,
      counts: ['ledger'],
      onPages: () => {
        if (moved) return;
        moved = true;
        // SQLite keeps the file it opened; only the name is gone when the copy looks for it.
        renameSync(`${live}-wal`, `${live}-wal.elsewhere`);
      },
    });
    renameSync(`${live}-wal.elsewhere`, `${live}-wal`);
    expect(r.method).toBe('backup');
    expect(r.counts.ledger).toBe(9);
    expect(ledgerState(dest)).toEqual({ sum: TOTAL, ledger: 9, ledgerRowsMeta: 9 });
  });

  it('takes the online backup where there is no cp', async () => {
    createLedgerDb(live, { fillerRows: 100 });
    await commitAndDie(live, 5);
    const r = await withoutCp(() => takeSnapshot({ live, dest, counts: ['ledger'] }));
    expect(r.method).toBe('backup');
    expect(r.counts.ledger).toBe(5);
  });

  it('copies a rollback-journal database with the online backup', async () => {
    createLedgerDb(live, { fillerRows: 100 });
    const db = new Database(live);
    db.pragma('journal_mode = DELETE');
    db.close();
    const r = await takeSnapshot({ live, dest });
    expect(r.method).toBe('backup');
    expect(r.live.journalMode).toBe('delete');
  });

  it('leaves nothing behind when aborted before the copy', async () => {
    createLedgerDb(live, { fillerRows: 100 });
    const ac = new AbortController();
    const reason = new Error('caller gave up');
    const err = await takeSnapshot({ live, dest, signal: ac.signal, onPages: () => ac.abort(reason) }).catch(
      (e: unknown) => e,
    );
    expect(err).toBe(reason);
    expect(filesIn(path.join(dir, 'work'))).toEqual([]);
  });
});

describe('copyWithCp', () => {
  it('stops cp when aborted and waits for it to exit', async () => {
    // /dev/zero never ends: only the abort stops this copy.
    const out = path.join(dir, 'work', 'zeros');
    const ac = new AbortController();
    const reason = new Error('stop');
    let ticks = 0;
    const started = Date.now();
    const err = await copyWithCp('/dev/zero', out, ac.signal, () => {
      ticks += 1;
      ac.abort(reason);
    }).catch((e: unknown) => e);
    expect(err).toBe(reason);
    expect(ticks).toBeGreaterThan(0);
    // The child was gone when it returned: the file no longer grows.
    const size = statSync(out).size;
    await new Promise((r) => setTimeout(r, 50));
    expect(statSync(out).size).toBe(size);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('reports what cp said when the copy fails (a full disk: /dev/full)', async () => {
    const from = path.join(dir, 'some.bin');
    writeFileSync(from, Buffer.alloc(64 * 1024, 1));
    const err = await copyWithCp(from, '/dev/full', undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SnapshotFailure);
    expect((err as SnapshotFailure).reason).toBe('copy');
    expect((err as Error).message).toMatch(/No space left on device/);
  });

  it('stops cp and throws when the progress callback throws', async () => {
    const out = path.join(dir, 'work', 'zeros');
    const boom = new Error('progress display gone');
    const err = await copyWithCp('/dev/zero', out, undefined, () => {
      throw boom;
    }).catch((e: unknown) => e);
    expect(err).toBe(boom);
    const size = statSync(out).size;
    await new Promise((r) => setTimeout(r, 50));
    expect(statSync(out).size).toBe(size);
  });

  it('says false when there is no cp to start', async () => {
    expect(await withoutCp(() => copyWithCp(live, dest, undefined))).toBe(false);
  });
});
