import { restoreInputFor as sharedRestoreInputFor } from '../../../helpers/restore-input.js';
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import type { PreparedSource, RestoreInput } from '../../../../src/contracts/types.js';

/** The names in `folder`, sorted (none when it does not exist). */
export function filesIn(folder: string): string[] {
  return existsSync(folder) ? readdirSync(folder).sort() : [];
}

/** Sum of the balances of the accounts table; every transfer keeps it. */
export const TOTAL = 10_000;

/**
 * A WAL database with invariants a torn snapshot would break: the balances of `accounts` always
 * sum to TOTAL and `meta.ledger_rows` always equals the row count of `ledger`. `fillerRows` rows
 * of 1 KiB make the file big enough to take many backup steps.
 */
export function createLedgerDb(file: string, options: { fillerRows?: number; accounts?: number } = {}): void {
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.exec(`
      CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);
      CREATE TABLE ledger (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL, note TEXT);
      CREATE INDEX ledger_amount ON ledger (amount);
      CREATE TABLE meta (ledger_rows INTEGER NOT NULL);
      CREATE TABLE filler (id INTEGER PRIMARY KEY, data BLOB);
      INSERT INTO meta VALUES (0);
    `);
    const n = options.accounts ?? 10;
    const insert = db.prepare('INSERT INTO accounts (id, balance) VALUES (?, ?)');
    const fill = db.prepare('INSERT INTO filler (data) VALUES (randomblob(1024))');
    db.transaction(() => {
      for (let i = 1; i <= n; i++) insert.run(i, TOTAL / n);
      for (let i = 0; i < (options.fillerRows ?? 0); i++) fill.run();
    })();
  } finally {
    db.close();
  }
}

/** The invariants of a ledger database, read from `file`. */
export function ledgerState(file: string): { sum: number; ledger: number; ledgerRowsMeta: number } {
  const db = new Database(file, { readonly: true });
  try {
    const sum = (db.prepare('SELECT sum(balance) AS s FROM accounts').get() as { s: number }).s;
    const ledger = (db.prepare('SELECT count(*) AS n FROM ledger').get() as { n: number }).n;
    const meta = (db.prepare('SELECT ledger_rows AS n FROM meta').get() as { n: number }).n;
    return { sum, ledger, ledgerRowsMeta: meta };
  } finally {
    db.close();
  }
}

/** Commit one transfer through a connection of this process (a write the backup did not make). */
export function transferOnce(db: Database.Database, amount = 1): void {
  db.transaction(() => {
    db.prepare('UPDATE accounts SET balance = balance - ? WHERE id = 1').run(amount);
    db.prepare('UPDATE accounts SET balance = balance + ? WHERE id = 2').run(amount);
    db.prepare("INSERT INTO ledger (amount, note) VALUES (?, 'inline')").run(amount);
    db.prepare('UPDATE meta SET ledger_rows = ledger_rows + 1').run();
  })();
}

/**
 * A writer child process committing continuously; resolves once it has committed `readyAfter`
 * times. `autocheckpoint`: its `wal_autocheckpoint` (1: a checkpoint after every commit).
 */
export async function startWriter(
  file: string,
  readyAfter = 20,
  autocheckpoint?: number,
): Promise<{ stop: () => Promise<{ commits: number; longestMs: number }>; readyCommits: number }> {
  const script = fileURLToPath(new URL('./fixtures/writer.cjs', import.meta.url));
  const child: ChildProcessByStdio<Writable, Readable, null> = spawn(
    process.execPath,
    [script, file, String(readyAfter), ...(autocheckpoint === undefined ? [] : [String(autocheckpoint)])],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const first = await lines.next();
  const ready = /^ready (\d+)$/.exec(String(first.value ?? ''));
  if (!ready) {
    child.kill();
    throw new Error(`writer did not start: ${String(first.value)}`);
  }
  return {
    readyCommits: Number(ready[1]),
    stop: async () => {
      child.stdin.end();
      const last = await lines.next();
      const done = /^done (\d+) ([\d.]+)$/.exec(String(last.value ?? ''));
      if (!done) throw new Error(`writer ended unexpectedly: ${String(last.value)}`);
      return { commits: Number(done[1]), longestMs: Number(done[2]) };
    },
  };
}

/** A child process holding `file` with PRAGMA locking_mode=EXCLUSIVE after a write, until stopped. */
export async function holdExclusive(file: string): Promise<{ stop: () => Promise<void> }> {
  const code = `
    const Database = require('better-sqlite3');
    const db = new Database(process.argv[1]);
    db.pragma('locking_mode = EXCLUSIVE');
    db.prepare('UPDATE meta SET ledger_rows = ledger_rows').run();
    process.stdout.write('held\\n');
    process.stdin.on('data', () => {});
    process.stdin.on('end', () => { db.close(); process.exit(0); });
  `;
  return holdWith(code, file);
}

/** A child process keeping `file` open (an idle WAL connection), until stopped. */
export async function holdOpen(file: string): Promise<{ stop: () => Promise<void> }> {
  const code = `
    const Database = require('better-sqlite3');
    const db = new Database(process.argv[1]);
    db.prepare('SELECT count(*) FROM sqlite_schema').get();
    process.stdout.write('held\\n');
    process.stdin.on('data', () => {});
    process.stdin.on('end', () => { db.close(); process.exit(0); });
  `;
  return holdWith(code, file);
}

async function holdWith(code: string, file: string): Promise<{ stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['-e', code, file], {
    stdio: ['pipe', 'pipe', 'inherit'],
    cwd: fileURLToPath(new URL('../../../..', import.meta.url)),
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.value !== 'held') {
    child.kill();
    throw new Error(`holder did not start: ${String(first.value)}`);
  }
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.stdin.end();
      }),
  };
}

/** Overwrite the middle of the root page of `index` with garbage; the table stays readable. */
export function corruptIndex(file: string, index: string): void {
  const db = new Database(file);
  let root: number;
  let pageSize: number;
  try {
    db.pragma('journal_mode = DELETE');
    root = (db.prepare('SELECT rootpage FROM sqlite_schema WHERE name = ?').get(index) as { rootpage: number })
      .rootpage;
    pageSize = Number(db.pragma('page_size', { simple: true }));
  } finally {
    db.close();
  }
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, Buffer.alloc(64, 0xa5), 0, 64, (root - 1) * pageSize + 8);
  } finally {
    closeSync(fd);
  }
}

/** The RestoreInput a restore plan would hand a target for one prepared source. */
export function restoreInputFor(
  workDir: string,
  source: { name: string; kind: string },
  prepared: PreparedSource,
): RestoreInput {
  return sharedRestoreInputFor(source, prepared, workDir);
}

/**
 * Commit `n` transfers in a child process that then dies without closing: its commits stay in
 * `-wal`, as after a crash or while an application runs.
 */
export async function commitAndDie(file: string, n: number): Promise<void> {
  const code = `
    const Database = require('better-sqlite3');
    const db = new Database(process.argv[1]);
    db.pragma('wal_autocheckpoint = 0');
    const t = db.transaction(() => {
      db.prepare('UPDATE accounts SET balance = balance - 1 WHERE id = 1').run();
      db.prepare('UPDATE accounts SET balance = balance + 1 WHERE id = 2').run();
      db.prepare("INSERT INTO ledger (amount, note) VALUES (1, 'child')").run();
      db.prepare('UPDATE meta SET ledger_rows = ledger_rows + 1').run();
    });
    for (let i = 0; i < Number(process.argv[2]); i++) t();
    process.exit(0);
  `;
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', code, file, String(n)], {
      stdio: ['ignore', 'ignore', 'inherit'],
      cwd: fileURLToPath(new URL('../../../..', import.meta.url)),
    });
    child.once('error', reject);
    child.once('exit', (status) => (status === 0 ? resolve() : reject(new Error(`child exited with ${status}`))));
  });
}
