import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isRestoreError, isVerificationError } from '../../../../src/core/errors.js';
import { SqliteSource } from '../../../../src/engines/sqlite/source.js';
import { SqliteTarget } from '../../../../src/engines/sqlite/target.js';
import type { RestoreInput } from '../../../../src/contracts/types.js';
import { makeContext, tempDir } from '../../../helpers/context.js';
import {
  commitAndDie,
  corruptIndex,
  createLedgerDb,
  holdOpen,
  ledgerState,
  restoreInputFor,
  transferOnce,
} from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
let live: string;
let work: string;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('dk-sqlite-restore-'));
  live = path.join(dir, 'app', 'app.db');
  work = path.join(dir, 'work');
});
afterEach(async () => cleanup());

/** Back up a ledger db with `transfers` commits, then commit `later` more to the live file. */
async function backupThenDiverge(transfers: number, later: number): Promise<RestoreInput> {
  mkdirSync(path.dirname(live), { recursive: true });
  createLedgerDb(live, { fillerRows: 200 });
  const db = new Database(live);
  for (let i = 0; i < transfers; i++) transferOnce(db);
  const source = new SqliteSource({ name: 'app', path: live, counts: ['accounts', 'ledger'] });
  const prepared = await source.prepare(makeContext(work, 'app'));
  db.close();
  // The application goes on and keeps uncheckpointed commits in -wal.
  if (later > 0) await commitAndDie(live, later);
  return restoreInputFor(work, source, prepared);
}

function ledgerRows(file: string): number {
  return ledgerState(file).ledger;
}

describe('SqliteTarget', () => {
  it('accepts sqlite entries, of one source when named', () => {
    const any = new SqliteTarget({ path: live });
    const one = new SqliteTarget({ source: 'app', path: live });
    const entry = { name: 'app', kind: 'sqlite' } as RestoreInput['entry'];
    expect(any.accepts(entry)).toBe(true);
    expect(one.accepts(entry)).toBe(true);
    expect(one.accepts({ ...entry, name: 'other' })).toBe(false);
    expect(any.accepts({ ...entry, kind: 'directory' })).toBe(false);
    expect(one.name).toBe('app');
  });

  it('verifies integrity and counts, and reports a count that differs from the manifest', async () => {
    const input = await backupThenDiverge(5, 0);
    const target = new SqliteTarget({ source: 'app', path: live });
    const ok = await target.verify(input, makeContext(work, 'app'));
    expect(ok.ok).toBe(true);
    expect(ok.checks.map((c) => c.name)).toEqual(['integrity_check', 'count:accounts', 'count:ledger']);
    const tampered = {
      ...input,
      entry: { ...input.entry, metadata: { ...input.entry.metadata, counts: { accounts: 10, ledger: 999 } } },
    };
    const bad = await target.verify(tampered, makeContext(work, 'app'));
    expect(bad.ok).toBe(false);
    expect(bad.checks.find((c) => !c.ok)).toMatchObject({ name: 'count:ledger', detail: '5 rows, manifest says 999' });
  });

  it('rejects a corrupt snapshot in verify and in restore, leaving the live file alone', async () => {
    const input = await backupThenDiverge(3, 4);
    const artifact = input.artifacts[0]?.file as string;
    const db = new Database(artifact);
    const ins = db.prepare("INSERT INTO ledger (amount, note) VALUES (?, 'n')");
    db.transaction(() => {
      for (let i = 0; i < 2000; i++) ins.run(i);
    })();
    db.close();
    corruptIndex(artifact, 'ledger_amount');
    const target = new SqliteTarget({ source: 'app', path: live });
    const report = await target.verify(input, makeContext(work, 'app'));
    expect(report.ok).toBe(false);
    expect(report.checks[0]?.name).toBe('integrity_check');
    const err = await target.restore(input, makeContext(work, 'app')).catch((e: unknown) => e);
    expect(isVerificationError(err)).toBe(true);
    expect(ledgerRows(live)).toBe(7);
    expect(readdirSync(path.dirname(live)).filter((f) => f.includes('dk-'))).toEqual([]);
  });

  it('refuses a snapshot the version gate rejects', async () => {
    const input = await backupThenDiverge(1, 0);
    const target = new SqliteTarget({
      source: 'app',
      path: live,
      versionGate: ({ metadata }) => (metadata.userVersion === 0 ? 'schema 0 is too old for this app' : undefined),
    });
    const report = await target.verify(input, makeContext(work, 'app'));
    expect(report.ok).toBe(false);
    expect(report.checks.at(-1)).toEqual({ name: 'version', ok: false, detail: 'schema 0 is too old for this app' });
  });

  it('restores with a safety copy, rolls back to the exact previous state, and restores again', async () => {
    const input = await backupThenDiverge(5, 7);
    chmodSync(live, 0o640);
    expect(existsSync(`${live}-wal`)).toBe(true);
    const target = new SqliteTarget({ source: 'app', path: live });
    const ctx = makeContext(work, 'app');
    const out = await target.restore(input, ctx);
    expect(out.restored).toEqual([live]);
    expect(out.safetyCopy).toBeDefined();
    // The stale -wal went aside with the old file; the restored file is the snapshot.
    expect(existsSync(`${live}-wal`)).toBe(false);
    expect(ledgerRows(live)).toBe(5);
    expect(statSync(live).mode & 0o777).toBe(0o640);
    const restoredDb = new Database(live, { readonly: true });
    expect(restoredDb.pragma('journal_mode', { simple: true })).toBe('wal');
    restoredDb.close();

    await target.rollback(out, ctx);
    expect(ledgerRows(live)).toBe(12);
    expect(readdirSync(path.dirname(live)).filter((f) => f.includes('dk-safety'))).toEqual([]);
    await target.rollback(out, ctx);
    expect(ledgerRows(live)).toBe(12);

    const again = await target.restore(input, ctx);
    await target.finalize(again, ctx);
    expect(ledgerRows(live)).toBe(5);
    expect(readdirSync(path.dirname(live)).filter((f) => f.includes('dk-'))).toEqual([]);
  });

  it('restores where no database exists yet, and rolls back by removing it', async () => {
    const input = await backupThenDiverge(2, 3);
    const fresh = path.join(dir, 'fresh', 'app.db');
    const target = new SqliteTarget({ source: 'app', path: fresh });
    const ctx = makeContext(work, 'app');
    // A stale -wal of some earlier database must not be replayed into the restored one.
    mkdirSync(path.dirname(fresh), { recursive: true });
    copyFileSync(`${live}-wal`, `${fresh}-wal`);
    const out = await target.restore(input, ctx);
    expect(out.safetyCopy).toBeUndefined();
    expect(ledgerRows(fresh)).toBe(2);
    await target.rollback(out, ctx);
    expect(existsSync(fresh)).toBe(false);
  });

  it('scratch restores into a temporary copy and touches nothing live', async () => {
    const input = await backupThenDiverge(4, 3);
    const before = readdirSync(path.dirname(live)).sort();
    const scratchDir = path.join(dir, 'scratch');
    mkdirSync(scratchDir);
    const target = new SqliteTarget({ source: 'app', path: live, scratch: true, scratchDir });
    const out = await target.restore(input, makeContext(work, 'app'));
    expect(out.restored).toEqual([]);
    expect(out.metadata).toMatchObject({ scratch: true, verified: true });
    expect(readdirSync(scratchDir)).toEqual([]);
    expect(readdirSync(path.dirname(live)).sort()).toEqual(before);
    expect(ledgerRows(live)).toBe(7);
  });

  it('refuses while another process has the database open, unless forced', async () => {
    const input = await backupThenDiverge(2, 1);
    const holder = await holdOpen(live);
    try {
      const target = new SqliteTarget({ source: 'app', path: live });
      const err = await target.restore(input, makeContext(work, 'app')).catch((e: unknown) => e);
      expect(isRestoreError(err)).toBe(true);
      expect((err as { code: string }).code).toBe('ERR_SQLITE_IN_USE');
      expect((err as Error).message).toMatch(/stop the application/);
      expect(ledgerRows(live)).toBe(3);

      const forced = new SqliteTarget({ source: 'app', path: live, force: true });
      const out = await forced.restore(input, makeContext(work, 'app'));
      expect(ledgerRows(live)).toBe(2);
      expect(ledgerRows(out.safetyCopy as string)).toBe(3);
    } finally {
      await holder.stop();
    }
  });

  it('does nothing in a dry run', async () => {
    const input = await backupThenDiverge(2, 2);
    const target = new SqliteTarget({ source: 'app', path: live });
    const out = await target.restore(input, makeContext(work, 'app', { dryRun: true }));
    expect(out.restored).toEqual([]);
    expect(ledgerRows(live)).toBe(4);
  });
});
