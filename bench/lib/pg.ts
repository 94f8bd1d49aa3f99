/** PostgreSQL helpers shared by the database benchmarks (local server, user postgres, trust auth). */
import { execFile } from 'node:child_process';
import { fmtBytes, MiB, median, table } from './common.js';

export const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' } as const;
/** `-h … -U …` for the shell tools. */
export const PG_CONN = ['-h', PG.host, '-U', PG.user] as const;

/** Run a command to completion; resolve with its stdout. */
export function run(file: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { maxBuffer: 64 * MiB }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

/** Run a command; resolve with its wall time in ms. */
export async function timed(file: string, args: readonly string[]): Promise<number> {
  const t0 = performance.now();
  await run(file, args);
  return performance.now() - t0;
}

/** One psql statement batch, unaligned output. */
export const psql = (db: string, sql: string): Promise<string> =>
  run('psql', ['-X', '-q', ...PG_CONN, '-d', db, '-v', 'ON_ERROR_STOP=1', '-Atc', sql]);

/** Drop the benchmark databases even when a run failed halfway. */
export async function dropDatabases(...names: string[]): Promise<void> {
  for (const n of names) await psql('postgres', `DROP DATABASE IF EXISTS ${n} WITH (FORCE)`).catch(() => {});
}

/** `createdb && psql --single-transaction -f file && dropdb`: the shell restore anchor. */
export async function shellRestore(file: string, scratch: string): Promise<number> {
  const t0 = performance.now();
  await run('createdb', [...PG_CONN, '-T', 'template0', scratch]);
  await run('psql', [
    '-X',
    '-q',
    ...PG_CONN,
    '-v',
    'ON_ERROR_STOP=1',
    '--single-transaction',
    '-f',
    file,
    '-d',
    scratch,
  ]);
  await run('dropdb', [...PG_CONN, scratch]);
  return performance.now() - t0;
}

/** Timings of the dump/restore benchmarks, in ms per repetition. */
export interface DumpTimings {
  readonly gzShell: number[];
  readonly gzOurs: number[];
  gzShellBytes: number;
  gzOurBytes: number;
  readonly sqlShell: number[];
  readonly sqlOurs: number[];
  readonly restoreShell: number[];
  readonly restoreOurs: number[];
  /** Peak RSS of our child processes, KiB. */
  readonly rss: number[];
  /** RSS of our child processes before any work, KiB. */
  readonly base: number[];
}

export function emptyTimings(): DumpTimings {
  return {
    gzShell: [],
    gzOurs: [],
    gzShellBytes: 0,
    gzOurBytes: 0,
    sqlShell: [],
    sqlOurs: [],
    restoreShell: [],
    restoreOurs: [],
    rss: [],
    base: [],
  };
}

/** The figures table the database benchmarks print, with the targets. */
export function printDumpSummary(title: string, r: DumpTimings): void {
  const s = (xs: number[]) => (median(xs) / 1000).toFixed(2);
  const ratio = (a: number[], b: number[]) => (median(a) / median(b)).toFixed(2);
  console.log(`\n${title}\n`);
  table([
    ['operation', 'shell s', 'ours s', 'ratio', 'target'],
    ['dump sql.gz (vs pg_dump | gzip -6)', s(r.gzShell), s(r.gzOurs), ratio(r.gzOurs, r.gzShell), '≤ 0.60'],
    ['dump sql (vs pg_dump -f)', s(r.sqlShell), s(r.sqlOurs), ratio(r.sqlOurs, r.sqlShell), '≤ 1.10'],
    [
      'restore (vs createdb + psql -1 -f + dropdb)',
      s(r.restoreShell),
      s(r.restoreOurs),
      ratio(r.restoreOurs, r.restoreShell),
      '≤ 1.15',
    ],
  ]);
  console.log(
    `\nsql.gz size ours / gzip -6: ${fmtBytes(r.gzOurBytes)} / ${fmtBytes(r.gzShellBytes)} = ${(r.gzOurBytes / r.gzShellBytes).toFixed(3)} (target ≤ 1.10)`,
  );
  console.log(
    `peak RSS of our process: ${(Math.max(...r.rss) / 1024).toFixed(0)} MB (before any work: ${(median(r.base) / 1024).toFixed(0)} MB; target ≤ 150 MB)`,
  );
}
