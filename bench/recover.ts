/**
 * Benchmark: recovery of a seed-shaped server on a new host, `recoverServer()` (direct restore
 * through a fresh real Duplicati 2.0.7.3 server, checksums, preflight, PostgreSQL + SQLite
 * restores through the targets, folders, jobs re-created) against the manual procedure in shell
 * in the same run: `mono Duplicati.CommandLine.exe restore` of the whole version + `psql -f` of
 * the dump + `sqlite3 .restore`. Prints both times and the ratio (goal ≤ 1.2×).
 *
 *   npx tsx bench/recover.ts [pgRows=200000] [photos=500] [photoKB=20]
 *
 * Needs the Mono build at $HOME/.cache/duplicati-kit/duplicati-2.0.7.3/dist and PostgreSQL at
 * 127.0.0.1:5432. Not part of `npm test`.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { DuplicatiClient } from '../src/duplicati/index.js';
import { DirectorySource } from '../src/engines/directory/source.js';
import { PostgresSource } from '../src/engines/postgres/source.js';
import { PostgresTarget } from '../src/engines/postgres/target.js';
import { SqliteSource } from '../src/engines/sqlite/source.js';
import { SqliteTarget } from '../src/engines/sqlite/target.js';
import { readRecoveryJobs, writeRecoveryKit } from '../src/ops/recovery/kit.js';
import { duplicatiDirectReader } from '../src/ops/recovery/reader.js';
import { recoverServer } from '../src/ops/recovery/recover.js';
import { createBackupPlan } from '../src/plan/backup-plan.js';
import { createRestorePlan } from '../src/plan/restore-plan.js';
import { realDuplicatiDist, startRealDuplicati } from '../test/helpers/real-duplicati.js';

const pgRows = Number(process.argv[2] ?? 200_000);
const photos = Number(process.argv[3] ?? 500);
const photoKb = Number(process.argv[4] ?? 20);
const dist = realDuplicatiDist();
if (!dist) throw new Error('real Duplicati 2.0.7.3 not installed');
const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' };
const psql = (db: string, sql: string) =>
  execFileSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', db, '-qAt', '-c', sql]).toString().trim();
const dir = mkdtempSync(path.join(tmpdir(), 'dk-bench-recover-'));
const tag = `${process.pid}`;
const db = `bench_rec_${tag}`;
const PP = 'bench passphrase';
const a = await startRealDuplicati(dist, 18364, path.join(dir, 'a'), 'pw');
const b = await startRealDuplicati(dist, 18365, path.join(dir, 'b'), 'pw');
try {
  const old = path.join(dir, 'old');
  psql('postgres', `CREATE DATABASE ${db}`);
  psql(
    db,
    `CREATE TABLE assets (id serial PRIMARY KEY, path text, meta text); INSERT INTO assets (path, meta) SELECT '/srv/photos/' || g || '.jpg', md5(g::text) || repeat('x', 80) FROM generate_series(1, ${pgRows}) g;`,
  );
  mkdirSync(path.join(old, 'app'), { recursive: true });
  const s = new Database(path.join(old, 'app', 'app.db'));
  s.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, data BLOB)');
  const ins = s.prepare('INSERT INTO items (data) VALUES (randomblob(2000))');
  s.transaction(() => {
    for (let i = 0; i < 2500; i++) ins.run();
  })();
  s.close();
  for (let i = 0; i < photos; i++) {
    const d = path.join(old, 'photos', `album${i % 20}`);
    mkdirSync(d, { recursive: true });
    writeFileSync(path.join(d, `p${i}.jpg`), randomBytes(photoKb * 1024));
  }
  const workDir = path.join(old, 'staging');
  const target = `file://${path.join(dir, 'offsite')}`;
  mkdirSync(path.join(dir, 'offsite'));
  const dupA = new DuplicatiClient({ baseUrl: a.url, auth: { type: 'password', password: 'pw' }, timeout: 300_000 });
  const dupB = new DuplicatiClient({ baseUrl: b.url, auth: { type: 'password', password: 'pw' }, timeout: 300_000 });
  const job = await dupA.jobs.apply({
    name: 'Home server',
    sources: [`${workDir}/`, `${path.join(old, 'photos')}/`],
    target,
    passphrase: PP,
  });
  const plan = createBackupPlan({
    workDir,
    sources: [
      new PostgresSource({ name: 'app-db', connection: { ...PG, database: db } }),
      new SqliteSource({ name: 'app', path: path.join(old, 'app', 'app.db') }),
      new DirectorySource({ name: 'photos', paths: [path.join(old, 'photos')] }),
    ],
  });
  if (!(await plan.prepare()).ok) throw new Error('prepare failed');
  await writeRecoveryKit({ workDir, config: {}, jobs: (await readRecoveryJobs(dupA)).jobs });
  const run = await dupA.backups.runAndWait(job.id as string, { totalTimeout: 3_600_000 });
  if (run.result !== 'Success') throw new Error(`backup ${run.result}`);
  await plan.cleanup();

  // Manual procedure: CLI restore of the version (no local database), psql the dump, sqlite3 .restore.
  const manualRoot = path.join(dir, 'manual');
  const manualDb = `bench_man_${tag}`;
  let t0 = performance.now();
  execFileSync(
    'mono',
    [
      path.join(dist, 'Duplicati.CommandLine.exe'),
      'restore',
      target,
      '*',
      `--restore-path=${manualRoot}`,
      `--passphrase=${PP}`,
      '--no-local-db=true',
    ],
    { stdio: 'ignore' },
  );
  const staged = path.join(manualRoot, 'staging');
  psql('postgres', `CREATE DATABASE ${manualDb}`);
  const dump = readdirSync(path.join(staged, 'app-db'))[0] as string;
  execFileSync(
    'psql',
    [
      '-h',
      '127.0.0.1',
      '-U',
      'postgres',
      '-d',
      manualDb,
      '-q',
      '-v',
      'ON_ERROR_STOP=1',
      '-f',
      path.join(staged, 'app-db', dump),
    ],
    { stdio: 'ignore' },
  );
  const snap = readdirSync(path.join(staged, 'app'))[0] as string;
  mkdirSync(path.join(dir, 'manual-app'));
  execFileSync('sqlite3', [path.join(dir, 'manual-app', 'app.db'), `.restore ${path.join(staged, 'app', snap)}`]);
  const manualMs = performance.now() - t0;

  // duplicati-kit: the whole recovery on the fresh server B.
  const newRoot = path.join(dir, 'new');
  const newDb = `bench_new_${tag}`;
  t0 = performance.now();
  const r = await recoverServer({
    reader: duplicatiDirectReader({ client: dupB, targetUrl: target, passphrase: PP }),
    workDir: path.join(dir, 'work'),
    pathMap: [{ from: old, to: newRoot }],
    restorePlan: createRestorePlan({
      targets: [
        new PostgresTarget({ name: 'app-db', source: 'app-db', connection: { ...PG, database: newDb } }),
        new SqliteTarget({ name: 'app', source: 'app', path: path.join(newRoot, 'app', 'app.db') }),
      ],
    }),
    client: dupB,
    passphrase: PP,
    targetUrl: target,
  });
  const kitMs = performance.now() - t0;
  if (!r.ok) throw new Error(r.error);
  const rows = psql(newDb, 'SELECT count(*) FROM assets');
  console.log(
    JSON.stringify({
      pgRows,
      photos,
      photoKb,
      restoredRows: Number(rows),
      manualMs: Math.round(manualMs),
      kitMs: Math.round(kitMs),
      ratio: +(kitMs / manualMs).toFixed(2),
      steps: r.steps.map((x) => [x.step, x.durationMs]),
    }),
  );
  for (const d of [db, manualDb, newDb]) psql('postgres', `DROP DATABASE IF EXISTS ${d} WITH (FORCE)`);
} finally {
  await b.stop();
  await a.stop();
  rmSync(dir, { recursive: true, force: true });
}
