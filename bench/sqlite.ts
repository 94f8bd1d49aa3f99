/**
 * Benchmark: backing up one SQLite database as the user runs it — the whole process
 * `node dist/cli/main.js prepare --config <yaml>` with a `sqlite` (or `jellyfin`) source: node
 * start, snapshot, integrity_check, counts, sha256, fsync, manifest — against the shell doing the
 * same work in the same run:
 *
 *   sh -c 'sqlite3 db ".backup snap" && sqlite3 snap "pragma integrity_check" && sha256sum snap'
 *
 * interleaved, median of `reps`, CPU use (user+sys per wall second) and peak RSS beside each figure.
 * With `writer`, a separate process commits 100 times a second (one fsync'd transaction every
 * 10 ms): ours idle and ours under the writer alternate, and the writer reports its longest commit.
 *
 *   npm run build
 *   npx tsx bench/lib/sqlite-data.ts jellyfin 1000 /tmp/sqlite-bench/jellyfin-1000/data/data/library.db
 *   npx tsx bench/sqlite.ts shape=jellyfin size=1000 [reps=3] [writer=1] [app=jellyfin] [dir=/tmp/sqlite-bench]
 *
 * `shape` is `jellyfin` (many short-text rows, several indexes) or `blob` (3–12 KiB rows); `size`
 * in MiB. The database is built when missing (do that beforehand under a heavy-job lock, it is not
 * part of the measurement). `app=jellyfin` runs the `jellyfin` source over a Jellyfin 10.10 data
 * folder instead of the `sqlite` source. Goals: ours ≤ 0.7× the anchor; under the writer ≤ 3× idle,
 * and no commit of the writer ≥ 200 ms. Not part of `npm test`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { arg, median } from './lib/common.js';
import { compare, describe, loadNow, type Measured, measure } from './lib/proc.js';
import { buildDatabase, jellyfinLayout, type Shape } from './lib/sqlite-data.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const CLI = path.join(ROOT, 'dist/cli/main.js');
const textArg = (name: string, fallback: string): string => {
  const a = process.argv.find((x) => x.startsWith(`${name}=`));
  return a ? a.slice(name.length + 1) : (process.env[`BENCH_${name.toUpperCase()}`] ?? fallback);
};
const shape = textArg('shape', 'jellyfin') as Shape;
const sizeMb = arg('size', 100);
const reps = arg('reps', 3);
const withWriter = arg('writer', 0) === 1;
const app = textArg('app', 'sqlite');
const base = textArg('dir', '/tmp/sqlite-bench');
if (shape !== 'jellyfin' && shape !== 'blob') throw new Error('shape must be jellyfin or blob');
if (app !== 'sqlite' && app !== 'jellyfin') throw new Error('app must be sqlite or jellyfin');
if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);

const dir = path.join(base, `${shape}-${sizeMb}`);
const root = path.join(dir, 'app');
const live = path.join(root, 'data', 'data', 'library.db');
const work = path.join(dir, 'work');
const snap = path.join(dir, 'anchor-snap.db');
const config = path.join(dir, `${app}.yaml`);

if (!existsSync(live)) {
  console.log(`building ~${sizeMb} MiB ${shape} database at ${live} …`);
  buildDatabase(live, shape, sizeMb);
}
const jf = jellyfinLayout(root, live);
writeFileSync(
  config,
  app === 'sqlite'
    ? `workDir: ${work}\nsources:\n  - { type: sqlite, name: app, path: ${live} }\n`
    : `workDir: ${work}\nsources:\n  - { type: jellyfin, dataDir: ${jf.dataDir}, configDir: ${jf.configDir} }\n`,
);

/** Flush the previous run's dirty pages and drop its output, so neither slows the next run. */
function reset(): void {
  rmSync(work, { recursive: true, force: true });
  rmSync(snap, { force: true });
  execFileSync('sync');
}

/** Check ours wrote a manifest naming the snapshot with the sha256 of the file it left. */
function checkOurs(): void {
  const manifest = JSON.parse(readFileSync(path.join(work, 'manifest.json'), 'utf8')) as {
    sources?: { artifacts?: { path: string; sha256: string; bytes: number }[] }[];
  };
  const artifacts = (manifest.sources ?? []).flatMap((e) => e.artifacts ?? []);
  const mine = artifacts.find((a) => a.path.endsWith('library.db'));
  if (!mine) throw new Error(`no library.db artifact in ${work}/manifest.json`);
  const sum = execFileSync('sha256sum', [path.join(work, mine.path)], { encoding: 'utf8' }).split(' ')[0];
  if (sum !== mine.sha256) throw new Error(`manifest sha256 ${mine.sha256} != file ${sum}`);
}

function checkAnchor(m: Measured): void {
  if (!/^ok$/m.test(m.stdout)) throw new Error(`anchor integrity_check did not say ok: ${m.stdout.slice(0, 200)}`);
}

const ours = {
  argv: [process.execPath, CLI, 'prepare', '--config', config],
  before: reset,
  after: checkOurs,
  cwd: dir,
};
const anchor = {
  argv: [
    'sh',
    '-c',
    `sqlite3 '${live}' ".backup '${snap}'" && sqlite3 '${snap}' "pragma integrity_check" && sha256sum '${snap}'`,
  ],
  before: reset,
  after: checkAnchor,
  cwd: dir,
};

/** A child committing every 10 ms (synchronous=FULL: each commit fsyncs); reports its longest commit. */
function startWriter() {
  const code = `
    const Database = require('better-sqlite3');
    const db = new Database(process.argv[1], { timeout: 30000 });
    db.pragma('synchronous = FULL');
    const ins = db.prepare('INSERT INTO events (at, note) VALUES (?, ?)');
    const tx = db.transaction(() => { ins.run(Date.now(), 'x'.repeat(500)); });
    let longest = 0, commits = 0, stop = false;
    require('readline').createInterface({ input: process.stdin }).on('line', (l) => {
      if (l === 'reset') { longest = 0; commits = 0; process.stdout.write('ok\\n'); }
      if (l === 'report') process.stdout.write(commits + ' ' + longest.toFixed(1) + '\\n');
      if (l === 'stop') { stop = true; db.close(); process.exit(0); }
    });
    (function tick() {
      if (stop) return;
      const t = process.hrtime.bigint();
      tx();
      const ms = Number(process.hrtime.bigint() - t) / 1e6;
      if (ms > longest) longest = ms;
      commits++;
      setTimeout(tick, 10);
    })();
  `;
  const child = spawn(process.execPath, ['-e', code, live], { stdio: ['pipe', 'pipe', 'inherit'], cwd: ROOT });
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
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.stdin.write('stop\n');
      }),
  };
}

const size = statSync(live).size;
console.log(
  `${app} source, ${shape} shape, live ${(size / 1048576).toFixed(0)} MiB, ${reps} reps; load ${loadNow()}; ${new Date().toISOString()}`,
);
// Warm the page cache once for both sides (not measured).
execFileSync('sh', ['-c', `cat '${live}' > /dev/null`]);

if (!withWriter) {
  const c = await compare(`${app}/${shape}/${sizeMb}MiB prepare vs sqlite3+sha256sum`, ours, anchor, reps);
  console.log(describe(c, 0.7));
} else {
  // Ours idle and ours under a fresh writer alternate; the writer runs only during the busy runs.
  const stalls: { commits: number; longestMs: number }[] = [];
  const idleRuns: Measured[] = [];
  const busyRuns: Measured[] = [];
  for (let i = 0; i < reps; i++) {
    for (const which of i % 2 === 0 ? ['idle', 'busy'] : ['busy', 'idle']) {
      reset();
      const writer = which === 'busy' ? startWriter() : undefined;
      if (writer) {
        await writer.reset();
        await new Promise((r) => setTimeout(r, 500));
        await writer.reset();
      }
      const m = await measure(ours.argv, { cwd: dir });
      if (writer) {
        stalls.push(await writer.report());
        await writer.stop();
        busyRuns.push(m);
      } else idleRuns.push(m);
      checkOurs();
    }
  }
  const idleMs = median(idleRuns.map((m) => m.wallMs));
  const busyMs = median(busyRuns.map((m) => m.wallMs));
  const cores = (ms: Measured[]) => median(ms.map((m) => m.cores)).toFixed(2);
  const rss = (ms: Measured[]) => `${Math.round(Math.max(...ms.map((m) => m.maxRssKb)) / 1024)} MiB`;
  const longest = Math.max(...stalls.map((s) => s.longestMs));
  console.log(
    `${app}/${shape}/${sizeMb}MiB under a writer (100 commits/s, synchronous=FULL): ours ${(busyMs / 1000).toFixed(2)} s (${cores(busyRuns)} cores, peak ${rss(busyRuns)})` +
      ` vs idle ${(idleMs / 1000).toFixed(2)} s (${cores(idleRuns)} cores, peak ${rss(idleRuns)}) = ${(busyMs / idleMs).toFixed(2)}× idle` +
      ` (per rep ${busyRuns.map((m, i) => (m.wallMs / (idleRuns[i]?.wallMs ?? Number.NaN)).toFixed(2)).join(' ')}) goal ≤ 3.00×: ${busyMs / idleMs <= 3 ? 'met' : 'MISSED'}`,
  );
  console.log(
    `  writer: commits per run ${stalls.map((s) => s.commits).join(' ')}, longest commit per run ${stalls.map((s) => s.longestMs).join(' ')} ms; goal < 200 ms: ${longest < 200 ? 'met' : 'MISSED'}; load ${loadNow()}`,
  );
}
reset();
