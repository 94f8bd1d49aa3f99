/**
 * Benchmark: PostgresSource against the shell pipelines it replaces, on the same generated
 * database, in the same run, alternating:
 *
 *   - `sql.gz` (parallel gzip, sha256, fsync, row counts) vs `pg_dump | gzip -6 > file`
 *   - `sql` (sha256, fsync, counts) vs `pg_dump -f file`
 *   - restore (PostgresTarget scratch: new database, psql --single-transaction, counts, drop) vs
 *     `createdb && psql --single-transaction -f file && dropdb`
 *
 * Ours runs in a child process so its peak RSS is its own.
 *
 *   npx tsx bench/postgres.ts [mb=1024] [reps=3]    (or BENCH_MB, BENCH_REPS)
 *   quick: npx tsx bench/postgres.ts mb=100 reps=1
 *
 * Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and pg_dump/psql on PATH. The
 * database is created as `dk_bench_<random>` and dropped at the end. Not part of `npm test`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArtifactWriter } from '../src/core/artifact-writer.js';
import { silentLogger } from '../src/core/logger.js';
import { PostgresSource } from '../src/engines/postgres/source.js';
import { PostgresTarget } from '../src/engines/postgres/target.js';
import type { SourceContext } from '../src/contracts/types.js';
import { arg, fmtBytes, load, MiB } from './lib/common.js';
import { dropDatabases, PG, emptyTimings, printDumpSummary, psql, run, shellRestore, timed } from './lib/pg.js';

const self = fileURLToPath(import.meta.url);

function ctx(workDir: string, name: string): SourceContext {
  return {
    signal: new AbortController().signal,
    logger: silentLogger,
    workDir,
    sourceDir: path.join(workDir, name),
    dryRun: false,
    artifacts: new ArtifactWriter(workDir, name),
    onProgress: () => {},
  };
}

/** Child mode: one library operation, reporting its own time and peak RSS as JSON on stdout. */
async function child(mode: string, db: string, workDir: string): Promise<void> {
  const baseRssKb = process.resourceUsage().maxRSS;
  const t0 = performance.now();
  const connection = { ...PG, database: db };
  let bytes = 0;
  if (mode === 'sql' || mode === 'sql.gz') {
    const source = new PostgresSource({ name: 'db', connection, format: mode });
    const out = await source.prepare(ctx(workDir, 'db'));
    bytes = out.artifacts[0]?.bytes ?? 0;
    console.log(
      JSON.stringify({
        ms: performance.now() - t0,
        maxRssKb: process.resourceUsage().maxRSS,
        baseRssKb,
        bytes,
        metadata: out.metadata,
      }),
    );
    return;
  }
  // restore: the input is the plain dump the parent wrote with the library earlier.
  const [file, countsJson] = [process.argv[6] as string, process.argv[7] as string];
  const target = new PostgresTarget({ connection, scratch: true });
  const now = new Date().toISOString();
  const ref = { path: 'db/dump.sql', bytes: statSync(file).size, sha256: '0'.repeat(64), format: 'sql' };
  const entry = {
    name: 'db',
    kind: 'postgres',
    artifacts: [ref],
    includePaths: [],
    excludePatterns: [],
    metadata: { counts: JSON.parse(countsJson) },
    startedAt: now,
    finishedAt: now,
    durationMs: 0,
  };
  await target.restore(
    {
      entry,
      artifacts: [{ ...ref, file }],
      from: workDir,
      manifest: {
        manifestVersion: 1,
        tool: { name: 'bench', version: '0' },
        host: 'bench',
        startedAt: now,
        finishedAt: now,
        sources: [entry],
        includePaths: [],
        excludePatterns: [],
      },
    },
    ctx(workDir, 'restore'),
  );
  console.log(
    JSON.stringify({ ms: performance.now() - t0, maxRssKb: process.resourceUsage().maxRSS, baseRssKb, bytes }),
  );
}

interface Report {
  ms: number;
  maxRssKb: number;
  baseRssKb: number;
  bytes: number;
  metadata?: { counts?: Record<string, number> };
}

async function ours(mode: string, db: string, workDir: string, extra: string[] = []): Promise<Report> {
  const out = await run(process.execPath, ['--import', 'tsx', self, '--child', mode, db, workDir, ...extra]);
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as Report;
}

async function generate(db: string, mb: number): Promise<void> {
  await psql('postgres', `CREATE DATABASE ${db}`);
  // Rows of about 260 bytes: ids, timestamps, hex text (compresses ~2x like real text columns)
  // and a json column, in two tables.
  const rows = Math.round((mb * MiB) / 300);
  await psql(
    db,
    `CREATE TABLE asset (id bigint PRIMARY KEY, owner int, path text, checksum text, taken timestamptz, meta jsonb);
     CREATE TABLE exif (asset bigint, make text, model text, lat float8, lon float8, descr text);`,
  );
  const batch = 500_000;
  for (let i = 0; i < rows; i += batch) {
    const hi = Math.min(rows, i + batch);
    await psql(
      db,
      `INSERT INTO asset SELECT g, g % 97, '/data/upload/' || (g % 97) || '/' || md5(g::text) || '.jpg', md5((g * 7)::text) || md5((g * 13)::text),
              now() - (g || ' minutes')::interval, jsonb_build_object('w', 4032, 'h', 3024, 'iso', g % 3200, 'tag', md5((g * 3)::text))
         FROM generate_series(${i + 1}, ${hi}) g;
       INSERT INTO exif SELECT g, 'Make' || (g % 13), 'Model ' || (g % 101), 40 + (g % 1000) / 1000.0, 2 + (g % 777) / 1000.0,
              repeat(md5((g * 11)::text), 1 + g % 2)
         FROM generate_series(${i + 1}, ${hi}, 2) g;`,
    );
  }
  await psql(db, 'VACUUM ANALYZE');
}

async function main(): Promise<void> {
  const mb = arg('mb', 1024);
  const reps = arg('reps', 3);
  const db = `dk_bench_${randomBytes(4).toString('hex')}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'dk-bench-pg-'));
  const conn = ['-h', PG.host, '-U', PG.user];
  const r = emptyTimings();
  try {
    const t0 = performance.now();
    console.error(`load before: ${load()}; generating ~${mb} MiB in ${db}…`);
    await generate(db, mb);
    const size = Number(await psql(db, 'SELECT pg_database_size(current_database())'));
    console.error(`generated ${fmtBytes(size)} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    const shellGz = path.join(dir, 'shell.sql.gz');
    const shellSql = path.join(dir, 'shell.sql');
    // Warm the caches alike for everyone.
    await timed('pg_dump', [...conn, '-f', '/dev/null', db]);
    let counts = '{}';
    for (let i = 0; i < reps; i++) {
      const gz = await timed('sh', [
        '-c',
        `pg_dump --clean --if-exists -h ${PG.host} -U ${PG.user} ${db} | gzip -6 > ${shellGz}`,
      ]);
      r.gzShell.push(gz);
      r.gzShellBytes = statSync(shellGz).size;
      rmSync(shellGz);
      const w1 = path.join(dir, `w-gz-${i}`);
      const o1 = await ours('sql.gz', db, w1);
      r.gzOurs.push(o1.ms);
      r.gzOurBytes = o1.bytes;
      r.rss.push(o1.maxRssKb);
      r.base.push(o1.baseRssKb);
      rmSync(w1, { recursive: true, force: true });

      const plain = await timed('pg_dump', ['--clean', '--if-exists', ...conn, '-f', shellSql, db]);
      r.sqlShell.push(plain);
      const w2 = path.join(dir, `w-sql-${i}`);
      const o2 = await ours('sql', db, w2);
      r.sqlOurs.push(o2.ms);
      r.rss.push(o2.maxRssKb);
      counts = JSON.stringify(o2.metadata?.counts ?? {});

      r.restoreShell.push(await shellRestore(shellSql, `${db}_shell_restore`));
      const o3 = await ours('restore', db, w2, [path.join(w2, 'db', `${db}.sql`), counts]);
      r.restoreOurs.push(o3.ms);
      r.rss.push(o3.maxRssKb);
      rmSync(w2, { recursive: true, force: true });
      rmSync(shellSql, { force: true });
      console.error(
        `rep ${i + 1}: sql.gz ${(o1.ms / gz).toFixed(2)}x, sql ${(o2.ms / plain).toFixed(2)}x, restore ${(o3.ms / (r.restoreShell[i] as number)).toFixed(2)}x (load ${load()})`,
      );
    }
  } finally {
    await dropDatabases(db, `${db}_shell_restore`);
    rmSync(dir, { recursive: true, force: true });
  }
  printDumpSummary(
    `PostgresSource / PostgresTarget vs shell, ${mb} MiB generated, median of ${reps}, load ${load()}`,
    r,
  );
  console.log('ours includes sha256 and fsync of the file and exact row counts of every table (from the dump data).');
}

if (process.argv[2] === '--child') {
  await child(process.argv[3] as string, process.argv[4] as string, process.argv[5] as string);
} else {
  await main();
}
