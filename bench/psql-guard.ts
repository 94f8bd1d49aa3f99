/**
 * Benchmark: loading a plain-SQL dump through the psql guard (loadDump: read → guard → psql
 * --single-transaction, with `\restrict` when psql has it) against the shell anchor
 * `psql -X -1 -v ON_ERROR_STOP=1 -f dump.sql`, on the same dump, alternating, in the same run;
 * plus the guard alone (file → guard → nothing), to show its own throughput.
 *
 *   npx tsx bench/psql-guard.ts [mb=200] [reps=3] [impl=path/to/load.ts]
 *
 * `impl` loads another checkout's loadDump (e.g. the one before the guard) for a before/after
 * comparison in one run. Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and
 * pg_dump/psql on PATH. Databases are `dk_bguard_<random>*`, dropped at the end. Not part of `npm test`.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import { createPsqlGuard } from '../src/engines/postgres/psql-guard.js';
import { PgExecutor } from '../src/engines/postgres/executor.js';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.split('=') as [string, string]));
const MB = Number(args.mb ?? 200);
const REPS = Number(args.reps ?? 3);
const PG = ['-h', '127.0.0.1', '-U', 'postgres', '-X', '-q', '-v', 'ON_ERROR_STOP=1'];
const base = `dk_bguard_${randomBytes(3).toString('hex')}`;
const dir = mkdtempSync(path.join(tmpdir(), 'dk-bguard-'));
const file = path.join(dir, 'dump.sql');
const psql = (db: string, ...a: string[]) => execa('psql', [...PG, '-d', db, ...a]);

const ms = async (fn: () => Promise<unknown>): Promise<number> => {
  const t = performance.now();
  await fn();
  return performance.now() - t;
};

async function main(): Promise<void> {
  const impl = (await import(
    args.impl ? path.resolve(args.impl) : '../src/engines/postgres/load.js'
  )) as typeof import('../src/engines/postgres/load.js');
  await psql('postgres', '-c', `CREATE DATABASE ${base}`);
  const rows = Math.round((MB * 1024 * 1024) / 230);
  await psql(
    base,
    '-c',
    `CREATE TABLE t (id int PRIMARY KEY, a text, b text, j jsonb);
     INSERT INTO t SELECT g, md5(g::text) || E'\\\\tx\\n''q', repeat('y', 100), jsonb_build_object('k', g, 's', 'a"b\\\\c')
       FROM generate_series(1, ${rows}) g;
     CREATE FUNCTION f(x text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN RETURN x || E'\\\\'; END $$;
     COMMENT ON TABLE t IS 'C:\\';`,
  );
  await execa('pg_dump', ['-h', '127.0.0.1', '-U', 'postgres', '-f', file, base]);
  const size = statSync(file).size;
  const [tool] = await new PgExecutor().findTools('psql');
  if (!tool) throw new Error('no psql');
  const times: Record<string, number[]> = { anchor: [], loadDump: [], guardOnly: [] };
  for (let r = 0; r < REPS; r++) {
    const a = `${base}_a${r}`;
    await psql('postgres', '-c', `CREATE DATABASE ${a}`);
    times.anchor?.push(await ms(() => psql(a, '-1', '-f', file)));
    const b = `${base}_b${r}`;
    await psql('postgres', '-c', `CREATE DATABASE ${b}`);
    times.loadDump?.push(
      await ms(() =>
        impl.loadDump({
          executor: new PgExecutor(),
          tool,
          conn: { host: '127.0.0.1', port: 5432, user: 'postgres' } as never,
          database: b,
          file,
          format: 'sql',
          signal: new AbortController().signal,
          where: { source: 'bench', kind: 'postgres', phase: 'restore' },
          secrets: [],
        }),
      ),
    );
    times.guardOnly?.push(
      await ms(() =>
        pipeline(
          createReadStream(file, { highWaterMark: 1 << 20 }),
          createPsqlGuard(),
          new Writable({ write: (_c, _e, done) => done() }),
        ),
      ),
    );
    await psql('postgres', '-c', `DROP DATABASE ${a}`, '-c', `DROP DATABASE ${b}`);
  }
  const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number;
  const mbs = (t: number) => (size / 1024 / 1024 / (t / 1000)).toFixed(0);
  console.log(
    `dump ${(size / 1024 / 1024).toFixed(0)} MiB, ${REPS} reps alternating, medians (impl ${args.impl ?? 'this checkout'}):`,
  );
  for (const [k, v] of Object.entries(times)) {
    console.log(
      `  ${k.padEnd(10)} ${(med(v) / 1000).toFixed(2)} s  (${mbs(med(v))} MiB/s)  runs: ${v.map((x) => (x / 1000).toFixed(2)).join(', ')}`,
    );
  }
  console.log(`  loadDump / anchor = ${(med(times.loadDump ?? []) / med(times.anchor ?? [])).toFixed(3)}`);
}

try {
  await main();
} finally {
  await psql('postgres', '-c', `DROP DATABASE IF EXISTS ${base}`).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}
