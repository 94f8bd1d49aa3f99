import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../../src/core/logger.js';
import { isScratchNameOf, scratchName } from '../../../../src/engines/postgres/admin.js';
import { createBackupPlan } from '../../../../src/plan/backup-plan.js';
import { PostgresSource } from '../../../../src/engines/postgres/source.js';
import { PostgresTarget } from '../../../../src/engines/postgres/target.js';
import { createRestorePlan } from '../../../../src/plan/restore-plan.js';
import type { ManifestEntry, RestoreTarget, VerificationReport } from '../../../../src/contracts/types.js';
import { tempDir } from '../../../helpers/context.js';
import { databasesLike, dropDatabases, PG, pgAvailable, sql, uniqueDb } from './pg-helpers.js';

const available = await pgAvailable();

/**
 * A `psql` in a folder searched before PATH (the target's `binDirs`): it appends one line per
 * load (any call but `--version`) to a log, then runs the real psql.
 */
async function countingPsql(dir: string): Promise<{ binDir: string; loads: () => Promise<number> }> {
  const real = (await execa('sh', ['-c', 'command -v psql'])).stdout.trim();
  const binDir = path.join(dir, 'bin');
  const log = path.join(dir, 'psql.log');
  await fsp.mkdir(binDir, { recursive: true });
  await fsp.writeFile(
    path.join(binDir, 'psql'),
    `#!/bin/sh\n[ "$1" = "--version" ] || echo load >> "${log}"\nexec "${real}" "$@"\n`,
    { mode: 0o755 },
  );
  return {
    binDir,
    loads: async () => (await fsp.readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean).length,
  };
}

/** A target for one source whose verify always fails. */
function failingTarget(source: string): RestoreTarget {
  return {
    name: 'fails-verify',
    kind: 'test',
    accepts: (e: ManifestEntry) => e.name === source,
    verify: async (): Promise<VerificationReport> => ({ ok: false, checks: [{ name: 'always', ok: false }] }),
    restore: async () => ({ restored: [] }),
  };
}

describe.skipIf(!available)('restore plan: verify hands its loaded database to restore', () => {
  const db = uniqueDb('staged');
  let work: { dir: string; cleanup: () => Promise<void> };
  let workDir: string;

  beforeAll(async () => {
    work = await tempDir('dk-staged-');
    workDir = path.join(work.dir, 'work');
    await sql('postgres', `CREATE DATABASE ${db}`);
    await sql(
      db,
      `CREATE TABLE items (id int PRIMARY KEY, v text);
       INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 500) g;
       CREATE TABLE notes (id int);
       INSERT INTO notes SELECT generate_series(1, 7);`,
    );
    const sources = [
      new PostgresSource({ name: 'main', connection: { ...PG, database: db } }),
      new PostgresSource({ name: 'second', connection: { ...PG, database: db } }),
    ];
    const prepared = await createBackupPlan({ sources, workDir }).prepare();
    expect(prepared.ok).toBe(true);
  });

  afterAll(async () => {
    await dropDatabases(await databasesLike(db));
    await work.cleanup();
  });

  it('loads the dump once: the database verify checked is the one swapped in', async () => {
    const counter = await countingPsql(path.join(work.dir, 'once'));
    const target = new PostgresTarget({
      name: 'main',
      connection: { ...PG, database: db },
      source: 'main',
      binDirs: [counter.binDir],
    });
    await sql(db, 'INSERT INTO notes VALUES (8)'); // live changes after the backup
    const report = await createRestorePlan({ targets: [target], logger: silentLogger }).run({
      from: workDir,
      only: ['main'],
    });
    expect(report.ok).toBe(true);
    expect(await counter.loads()).toBe(1);
    const entry = report.entries.find((e) => e.name === 'main');
    const staged = entry?.verification?.staged?.database;
    expect(typeof staged).toBe('string');
    expect(isScratchNameOf(staged as string, db)).toBe(true);
    expect(await databasesLike(`${db}_restore_`)).toEqual([]); // renamed to live, not left behind
    expect((await sql<{ n: number }>(db, 'SELECT count(*)::int AS n FROM notes'))[0]?.n).toBe(7);
    expect(entry?.verification?.checks.find((c) => c.name === 'counts')?.ok).toBe(true);
  });

  it('drops the staged database when another entry fails verification, touching nothing live', async () => {
    const target = new PostgresTarget({ name: 'main', connection: { ...PG, database: db }, source: 'main' });
    await sql(db, 'INSERT INTO notes VALUES (9)');
    const report = await createRestorePlan({ targets: [target, failingTarget('second')], logger: silentLogger }).run({
      from: workDir,
      reject: false,
    });
    expect(report.ok).toBe(false);
    expect(report.entries.find((e) => e.name === 'main')?.status).toBe('verified');
    expect(await databasesLike(`${db}_restore_`)).toEqual([]);
    expect((await sql<{ n: number }>(db, 'SELECT count(*)::int AS n FROM notes'))[0]?.n).toBe(8);
  });

  it('drops staged databases of entries a failed restore never reached', async () => {
    const first = new PostgresTarget({
      name: 'first',
      connection: { ...PG, database: `${db}_nope` },
      source: 'main',
    });
    const second = new PostgresTarget({ name: 'second', connection: { ...PG, database: db }, source: 'second' });
    // Make the first restore fail after verify: its staged database vanishes in between.
    const plan = createRestorePlan({
      targets: [
        {
          name: first.name,
          kind: first.kind,
          accepts: (e: ManifestEntry) => first.accepts(e),
          verify: (i, c) => first.verify(i, c),
          restore: async () => {
            throw new Error('injected failure before the swap');
          },
          discard: (r, c) => first.discard(r, c),
        },
        second,
      ],
      logger: silentLogger,
    });
    const report = await plan.run({ from: workDir, reject: false });
    expect(report.ok).toBe(false);
    expect(report.entries.find((e) => e.name === 'second')?.status).toBe('not-run');
    expect(await databasesLike(`${db}_nope_restore_`)).toEqual([]);
    expect(await databasesLike(`${db}_restore_`)).toEqual([]);
    expect(await databasesLike(`${db}_nope`)).toEqual([]);
  });

  it('discard ignores a report naming a database that is not its own scratch database', async () => {
    const target = new PostgresTarget({ name: 'main', connection: { ...PG, database: db } });
    const ctx = {
      signal: new AbortController().signal,
      logger: silentLogger,
      workDir: work.dir,
      sourceDir: work.dir,
      dryRun: false,
      onProgress: () => {},
    } as never;
    await target.discard({ ok: true, checks: [], staged: { database: db } }, ctx);
    await target.discard({ ok: true, checks: [], staged: { database: 'postgres' } }, ctx);
    expect((await sql<{ n: number }>(db, 'SELECT count(*)::int AS n FROM items'))[0]?.n).toBe(500);
  });
});

describe('isScratchNameOf', () => {
  it('accepts only names scratchName gives for that database', () => {
    expect(isScratchNameOf(scratchName('immich'), 'immich')).toBe(true);
    expect(isScratchNameOf(scratchName('a'.repeat(63)), 'a'.repeat(63))).toBe(true);
    expect(isScratchNameOf('immich', 'immich')).toBe(false);
    expect(isScratchNameOf('other_restore_0123abcd', 'immich')).toBe(false);
    expect(isScratchNameOf('immich_restore_XYZ', 'immich')).toBe(false);
    expect(isScratchNameOf('immich_before_restore_20260101T000000', 'immich')).toBe(false);
  });
});
