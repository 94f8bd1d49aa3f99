/**
 * Benchmark: online snapshot of a ~500 MB SQLite database, ours (SqliteSource's snapshot) against
 * the shell anchor `sqlite3 live.db ".backup snap.db"`, idle and under a writer committing ~100
 * times a second, in the same run. Prints times, ratios, restarts and the writer's longest commit.
 *
 *   npx tsx bench/sqlite.ts [sizeMB=500]
 *
 * Not part of `npm test`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import { takeSnapshot } from '../src/engines/sqlite/snapshot.js';

const SQLITE3 = '/usr/bin/sqlite3';
const sizeMb = Number(process.argv[2] ?? 500);
const dir = mkdtempSync(path.join(tmpdir(), 'dk-bench-sqlite-'));
const live = path.join(dir, 'live.db');

function build(): void {
  const db = new Database(live);
  db.pragma('journal_mode = WAL');
  db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, data BLOB);
           CREATE INDEX items_name ON items (name);
           CREATE TABLE events (id INTEGER PRIMARY KEY, at INTEGER, note TEXT);`);
  const ins = db.prepare('INSERT INTO items (name, data) VALUES (?, randomblob(3000))');
  const rows = Math.ceil((sizeMb * 1024 * 1024) / 4150);
  const batch = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) ins.run(`item-${(i * 7919) % rows}`);
  });
  for (let i = 0; i < rows; i += 20_000) batch(i, Math.min(rows, i + 20_000));
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

/** A child committing every 10 ms; it reports its commits and longest commit since the last reset. */
function startWriter() {
  const code = `
    const Database = require('better-sqlite3');
    const db = new Database(process.argv[1], { timeout: 30000 });
    const ins = db.prepare('INSERT INTO events (at, note) VALUES (?, ?)');
    const upd = db.prepare('UPDATE items SET name = ? WHERE id = ?');
    const tx = db.transaction((n) => { ins.run(Date.now(), 'x'.repeat(500)); upd.run('w' + n, 1 + (n % 1000)); });
    let n = 0, longest = 0, commits = 0, stop = false;
    require('readline').createInterface({ input: process.stdin }).on('line', (l) => {
      if (l === 'reset') { longest = 0; commits = 0; process.stdout.write('ok\\n'); }
      if (l === 'report') process.stdout.write(commits + ' ' + longest.toFixed(1) + '\\n');
      if (l === 'stop') { stop = true; db.close(); process.exit(0); }
    });
    (function tick() {
      if (stop) return;
      const t = process.hrtime.bigint();
      tx(n++);
      const ms = Number(process.hrtime.bigint() - t) / 1e6;
      if (ms > longest) longest = ms;
      commits++;
      setTimeout(tick, 10);
    })();
  `;
  const child = spawn(process.execPath, ['-e', code, live], {
    stdio: ['pipe', 'pipe', 'inherit'],
    cwd: path.resolve(import.meta.dirname, '..'),
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const ask = async (cmd: string): Promise<string> => {
    child.stdin.write(`${cmd}\n`);
    return String((await lines.next()).value);
  };
  return {
    reset: () => ask('reset'),
    report: async () => {
      const [commits, longest] = (await ask('report')).split(' ').map(Number);
      return { commits: commits ?? 0, longestMs: longest ?? 0 };
    },
    stop: () => child.stdin.write('stop\n'),
  };
}

/** Flush dirty pages of the previous run first, so its write-back does not slow the next one. */
function settle(): void {
  execFileSync('sync');
}

async function anchor(limitMs: number): Promise<number | undefined> {
  const out = path.join(dir, 'anchor.db');
  rmSync(out, { force: true });
  settle();
  const t = performance.now();
  const child = spawn(SQLITE3, [live, `.backup '${out}'`], { stdio: 'ignore' });
  const done = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve(false);
    }, limitMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code === 0);
    });
  });
  return done ? performance.now() - t : undefined;
}

async function ours(): Promise<{ copyMs: number; totalMs: number; restarts: number; steps: number }> {
  const out = path.join(dir, 'ours.db');
  settle();
  const t = performance.now();
  let copyMs = 0;
  const r = await takeSnapshot({
    live,
    dest: out,
    onPages: (done, total) => {
      if (done === total) copyMs = performance.now() - t;
    },
  });
  const totalMs = performance.now() - t;
  rmSync(out, { force: true });
  return { copyMs, totalMs, restarts: r.restarts, steps: r.steps };
}

const fmt = (ms: number | undefined) => (ms === undefined ? 'did not finish' : `${(ms / 1000).toFixed(2)} s`);

console.log(`building ~${sizeMb} MB database in ${dir} …`);
build();
console.log(`live.db: ${(statSync(live).size / 1048576).toFixed(0)} MB`);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
// Warm the page cache so both sides read from memory, then alternate three runs of each.
await anchor(600_000);
const anchorRuns: number[] = [];
const oursRuns: Awaited<ReturnType<typeof ours>>[] = [];
for (let i = 0; i < 3; i++) {
  anchorRuns.push((await anchor(600_000)) ?? Number.NaN);
  oursRuns.push(await ours());
}
const idleAnchor = median(anchorRuns);
const idleCopy = median(oursRuns.map((r) => r.copyMs));
const idleOurs = { copyMs: idleCopy, totalMs: median(oursRuns.map((r) => r.totalMs)) };
console.log('\nidle (median of 3)');
console.log(`  sqlite3 .backup        ${fmt(idleAnchor)}`);
console.log(`  ours (copy)            ${fmt(idleOurs.copyMs)}  ratio ${(idleOurs.copyMs / idleAnchor).toFixed(2)}×`);
console.log(`  ours (+integrity_check) ${fmt(idleOurs.totalMs)}`);

const writer = startWriter();
await writer.reset();
const busyOurs = await ours();
const stall = await writer.report();
await writer.reset();
const busyAnchor = await anchor(Math.max(60_000, idleAnchor * 10));
const anchorStall = await writer.report();
writer.stop();
console.log('\nwriter committing every 10 ms');
console.log(
  `  ours (copy)            ${fmt(busyOurs.copyMs)}  ${(busyOurs.copyMs / idleOurs.copyMs).toFixed(2)}× idle, restarts ${busyOurs.restarts}, steps ${busyOurs.steps}`,
);
console.log(`  ours (+integrity_check) ${fmt(busyOurs.totalMs)}`);
console.log(`  writer: ${stall.commits} commits during ours, longest commit ${stall.longestMs} ms`);
console.log(
  `  sqlite3 .backup        ${fmt(busyAnchor)}${busyAnchor ? `  ratio ours/anchor ${(busyOurs.copyMs / busyAnchor).toFixed(2)}×` : ''}`,
);
console.log(`  writer: ${anchorStall.commits} commits during sqlite3, longest commit ${anchorStall.longestMs} ms`);

rmSync(dir, { recursive: true, force: true });
