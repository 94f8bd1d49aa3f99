import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isDumpError } from '../../../../src/core/errors.js';
import {
  CheckError,
  checkParts,
  ONE_PART_MAX_BYTES,
  prestartCheckWorkers,
  runIntegrityCheck,
} from '../../../../src/engines/sqlite/check.js';
import { hashFile } from '../../../../src/core/artifact-writer.js';
import { SqliteSource } from '../../../../src/engines/sqlite/source.js';
import { makeContext, tempDir } from '../../../helpers/context.js';
import { createLedgerDb, startWriter } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
let live: string;
let work: string;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('dk-sqlite-par-'));
  live = path.join(dir, 'app.db');
  work = path.join(dir, 'work');
});
afterEach(async () => cleanup());

const filesIn = (folder: string): string[] => (existsSync(folder) ? readdirSync(folder) : []);
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/**
 * A database whose index `people_age` was declared over `age` but filled from `name`: every
 * b-tree is sound (quick_check says ok), yet no row is found in the index, which only the full
 * check's per-table part sees.
 */
function indexContentMismatch(file: string): void {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec(`CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INTEGER NOT NULL);
    CREATE TABLE other (id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX other_v ON other (v);
    CREATE INDEX people_age ON people (name);`);
  const ins = db.prepare('INSERT INTO people (name, age) VALUES (?, ?)');
  const other = db.prepare('INSERT INTO other (v) VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < 500; i++) {
      ins.run(`n${i}`, i);
      other.run(`v${i}`);
    }
  })();
  db.unsafeMode(true); // lifts SQLITE_DBCONFIG_DEFENSIVE, which forbids writable_schema
  db.pragma('writable_schema = ON');
  db.prepare(
    "UPDATE sqlite_schema SET sql = 'CREATE INDEX people_age ON people (age)' WHERE name = 'people_age'",
  ).run();
  db.pragma('writable_schema = OFF');
  db.close();
}

describe('SQLite snapshot: checks beside the hash', () => {
  it("records the sha256 of the file as it is left, after the header's switch to DELETE", async () => {
    createLedgerDb(live, { fillerRows: 3000 });
    const writer = await startWriter(live);
    let prepared: Awaited<ReturnType<SqliteSource['prepare']>>;
    try {
      const source = new SqliteSource({ name: 'app', path: live, counts: ['ledger'], pagesPerStep: 64 });
      prepared = await source.prepare(makeContext(work, 'app'));
    } finally {
      await writer.stop();
    }
    const ref = prepared.artifacts[0];
    const file = path.join(work, 'app', 'app.db');
    const bytes = readFileSync(file);
    expect(ref?.sha256).toBe(sha256(file));
    expect(ref?.bytes).toBe(bytes.length);
    // Bytes 18 and 19 of the header: 1 = rollback journal (the switch was written before hashing).
    expect([bytes[18], bytes[19]]).toEqual([1, 1]);
    expect(filesIn(path.join(work, 'app'))).toEqual(['app.db']);
  });

  it('hashFile reads the whole file across its double buffer', async () => {
    const file = path.join(dir, 'blob.bin');
    const data = Buffer.alloc(9 * 1024 * 1024 + 123);
    for (let i = 0; i < data.length; i += 4096) data.writeUInt32LE(i, i);
    writeFileSync(file, data);
    expect(await hashFile(file)).toEqual({ bytes: data.length, sha256: sha256(file) });
  });

  it('splits a full check into quick_check and one part per table; quick is one part', () => {
    const parts = checkParts('full', [
      { name: 'small', weight: 10 },
      { name: "it's", weight: 1000 },
    ]);
    expect(parts.map((p) => p.pragma)).toEqual([
      'quick_check(20)',
      "integrity_check('it''s')",
      "integrity_check('small')",
    ]);
    expect(checkParts('quick', [{ name: 'x', weight: 1 }]).map((p) => p.pragma)).toEqual(['quick_check(20)']);
    // A small file whose index work is nearly all in one table: one integrity_check, no split.
    const oneBig = [
      { name: 'items', weight: 25_000 },
      { name: 'events', weight: 1 },
    ];
    expect(checkParts('full', oneBig, 20, 100 << 20).map((p) => p.pragma)).toEqual(['integrity_check(20)']);
    expect(checkParts('full', [], 5, 8192).map((p) => p.pragma)).toEqual(['integrity_check(5)']);
    // …but split when the work is spread, when the file is large, or when its size is not given.
    const spread = [
      { name: 'a', weight: 600 },
      { name: 'b', weight: 400 },
    ];
    expect(checkParts('full', spread, 20, 100 << 20)).toHaveLength(3);
    expect(checkParts('full', oneBig, 20, ONE_PART_MAX_BYTES + 1)).toHaveLength(3);
    expect(checkParts('full', oneBig)).toHaveLength(3);
  });

  it('finds what only the full check finds, like PRAGMA integrity_check does', async () => {
    indexContentMismatch(live);
    const db = new Database(live, { readonly: true });
    const whole = (db.pragma('integrity_check') as Record<string, string>[]).map((r) => Object.values(r)[0]);
    const quick = (db.pragma('quick_check') as Record<string, string>[]).map((r) => Object.values(r)[0]);
    db.close();
    expect(quick).toEqual(['ok']);
    expect(whole).not.toEqual(['ok']);
    const tables = ['people', 'other'].map((name) => ({ name, weight: 1 }));
    const full = await runIntegrityCheck(live, checkParts('full', tables), { fileBytes: 0 });
    expect(full.problems.length).toBeGreaterThan(0);
    expect(full.problems.join('\n')).toMatch(/people_age/);
    expect(full.problems.every((p) => whole.includes(p))).toBe(true);
    const onlyQuick = await runIntegrityCheck(live, checkParts('quick', tables), { fileBytes: 0 });
    expect(onlyQuick.problems).toEqual([]);
  });

  it('fails prepare with a typed error when a worker finds a problem, and publishes nothing', async () => {
    indexContentMismatch(live);
    const source = new SqliteSource({ name: 'app', path: live, counts: ['people'] });
    const err = await source.prepare(makeContext(work, 'app')).catch((e: unknown) => e);
    expect(isDumpError(err)).toBe(true);
    expect((err as Error).message).toMatch(/integrity_check.*people_age/s);
    expect((err as { code?: string }).code).toBe('ERR_SQLITE_INTEGRITY');
    expect(filesIn(path.join(work, 'app'))).toEqual([]);
  });

  it('rejects with a CheckError carrying the SQLite code when a worker cannot read the file', async () => {
    const file = path.join(dir, 'not-a-db');
    writeFileSync(file, Buffer.alloc(8192, 7));
    const err = await runIntegrityCheck(file, checkParts('quick', []), { fileBytes: 8192 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckError);
    expect((err as CheckError).code).toBe('SQLITE_NOTADB');
  });

  it('checks with workers started before the file existed, and starts the others it needs', async () => {
    const workers = prestartCheckWorkers(1);
    try {
      // the file the started worker will check is written only now (as the copy writes it)
      indexContentMismatch(live);
      const tables = ['people', 'other'].map((name) => ({ name, weight: 1 }));
      const full = await runIntegrityCheck(live, checkParts('full', tables), { fileBytes: 0, workers });
      expect(full.problems.join('\n')).toMatch(/people_age/);
      expect(workers.take()).toBeUndefined();
      // a file it cannot read is reported through a started worker as through a new one
      const bad = path.join(dir, 'not-a-db');
      writeFileSync(bad, Buffer.alloc(8192, 7));
      const again = prestartCheckWorkers(1);
      const err = await runIntegrityCheck(bad, checkParts('quick', []), { fileBytes: 8192, workers: again }).catch(
        (e: unknown) => e,
      );
      again.close();
      expect((err as CheckError).code).toBe('SQLITE_NOTADB');
    } finally {
      workers.close();
    }
  });

  it('close() ends the started workers no check took', async () => {
    const ended: Promise<number>[] = [];
    const terminate = vi.spyOn(Worker.prototype, 'terminate').mockImplementation(function (this: Worker) {
      terminate.mockRestore();
      const p = Worker.prototype.terminate.call(this);
      ended.push(p);
      return p;
    });
    const workers = prestartCheckWorkers(1);
    workers.close();
    expect(workers.take()).toBeUndefined();
    expect(ended).toHaveLength(1);
    expect(typeof (await ended[0])).toBe('number');
  });

  it('rejects with the signal reason at once when aborted during the check', async () => {
    indexContentMismatch(live);
    const ac = new AbortController();
    const reason = new Error('caller gave up');
    const parts = checkParts('full', [{ name: 'people', weight: 1 }]);
    const running = runIntegrityCheck(live, parts, { fileBytes: 0, signal: ac.signal });
    ac.abort(reason);
    await expect(running).rejects.toBe(reason);
  });

  it('leaves no artifact when aborted after the copy, while it is checked and hashed', async () => {
    createLedgerDb(live, { fillerRows: 3000 });
    const ac = new AbortController();
    const reason = new Error('caller gave up');
    const source = new SqliteSource({ name: 'app', path: live });
    const ctx = makeContext(work, 'app', { signal: ac.signal });
    let aborted = false;
    const err = await source
      .prepare({
        ...ctx,
        onProgress: (e) => {
          // The last progress event: the copy is done, the checks are about to start.
          if (e.total !== undefined && e.completed === e.total && !aborted) {
            aborted = true;
            setTimeout(() => ac.abort(reason), 5);
          }
        },
      })
      .catch((e: unknown) => e);
    expect(aborted).toBe(true);
    expect(err).toBe(reason);
    expect(filesIn(path.join(work, 'app'))).toEqual([]);
  });
});
