import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isDumpError,
  isRestoreError,
  isSourceUnavailableError,
  isVerificationError,
} from '../../../../src/core/errors.js';
import { readManifest } from '../../../../src/core/manifest.js';
import { createBackupPlan } from '../../../../src/plan/backup-plan.js';
import { PostgresSource } from '../../../../src/engines/postgres/source.js';
import { PostgresTarget } from '../../../../src/engines/postgres/target.js';
import { PgExecutor } from '../../../../src/engines/postgres/executor.js';
import { createRestorePlan } from '../../../../src/plan/restore-plan.js';
import type { RestoreTarget } from '../../../../src/contracts/types.js';
import { requireBuiltCli, runCli } from '../../../helpers/cli.js';
import { makeContext, tempDir } from '../../../helpers/context.js';
import { writeFakeDocker } from '../../apps/immich/fixture.js';
import { databasesLike, dropDatabases, PG, pgAvailable, sql, uniqueDb } from './pg-helpers.js';
import { restoreInputFor } from './restore-input.js';

const available = await pgAvailable();

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

describe.skipIf(!available)('PostgresSource / PostgresTarget with every database and the globals', () => {
  const prefix = uniqueDb('all');
  // Three databases, one with a name that is no file name (space, capitals).
  const dbA = `${prefix}_a`;
  const dbB = `${prefix}_b`;
  const dbC = `${prefix}_C x`;
  const databases = [dbA, dbB, dbC];
  const owner = `${prefix}_owner`;
  const reader = `${prefix}_reader`;
  const ownerPassword = 'Owner-pw-9f3c';
  const connection = { ...PG, database: 'postgres' };
  let work: { dir: string; cleanup: () => Promise<void> };

  const count = async (db: string, table: string): Promise<number | undefined> =>
    (await sql<{ n: number }>(db, `SELECT count(*)::int AS n FROM ${table}`))[0]?.n;
  const roleExists = async (name: string): Promise<boolean> =>
    (await sql('postgres', `SELECT 1 FROM pg_roles WHERE rolname = '${name.replace(/'/g, "''")}'`)).length === 1;
  /** Databases of this test other than the three live ones (scratch, safety, failed copies). */
  const leftovers = async () => (await databasesLike(prefix)).filter((d) => !databases.includes(d));

  beforeAll(async () => {
    work = await tempDir();
    await sql('postgres', `CREATE ROLE ${owner} LOGIN PASSWORD '${ownerPassword}'`);
    await sql('postgres', `CREATE ROLE ${reader} NOLOGIN CONNECTION LIMIT 3`);
    await sql('postgres', `GRANT ${reader} TO ${owner}`);
    for (const db of databases) await sql('postgres', `CREATE DATABASE ${q(db)}`);
    await sql(
      dbA,
      `CREATE SCHEMA app AUTHORIZATION ${owner};
       CREATE TABLE app.users (id serial PRIMARY KEY, name text NOT NULL);
       ALTER TABLE app.users OWNER TO ${owner};
       GRANT SELECT ON app.users TO ${reader};
       INSERT INTO app.users (name) SELECT 'user ' || g FROM generate_series(1, 41) g;`,
    );
    await sql(
      dbB,
      `CREATE TABLE public.items (id int PRIMARY KEY, payload text);
       INSERT INTO public.items SELECT g, md5(g::text) FROM generate_series(1, 1500) g;
       CREATE TABLE public.empty_one (id int);`,
    );
    await sql(
      dbC,
      `CREATE TABLE public.notes (id int, body text);
       INSERT INTO public.notes SELECT g, repeat('n', g) FROM generate_series(1, 17) g;`,
    );
  });

  afterAll(async () => {
    await dropDatabases(await databasesLike(prefix));
    for (const r of [owner, reader, `${prefix}_ghost`]) await sql('postgres', `DROP ROLE IF EXISTS ${r}`);
    await work.cleanup();
  });

  const source = (name: string, extra: Record<string, unknown> = {}) =>
    new PostgresSource({ name, connection, databases, ...extra });

  it('dumps the globals and each database with its own counts; the manifest names roles, never hashes', async () => {
    const src = source('all-sql');
    const ctx = makeContext(work.dir, src.name);
    await src.check(ctx);
    const prepared = await src.prepare(ctx);
    expect(prepared.artifacts.map((a) => a.path)).toEqual([
      'all-sql/globals.sql',
      `all-sql/databases/${dbA}.sql`,
      `all-sql/databases/${dbB}.sql`,
      expect.stringMatching(new RegExp(`^all-sql/databases/${prefix}_C_x-[0-9a-f]{8}\\.sql$`)),
    ]);
    for (const a of prepared.artifacts) {
      const bytes = await fsp.readFile(path.join(work.dir, a.path));
      expect(bytes.length).toBe(a.bytes);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(a.sha256);
    }
    expect(prepared.artifacts[0]?.format).toBe('pg_dumpall-globals');
    const globals = await fsp.readFile(path.join(work.dir, 'all-sql/globals.sql'), 'utf8');
    expect(globals).toContain(`CREATE ROLE ${owner};`);
    expect(globals).toMatch(/PASSWORD 'SCRAM-SHA-256\$/);

    const meta = prepared.metadata as Record<string, unknown>;
    expect(meta).toMatchObject({ cluster: true, selection: 'list', serverMajor: 15, format: 'sql' });
    expect(meta.roles).toEqual(expect.arrayContaining([owner, reader, 'postgres']));
    const text = JSON.stringify(meta);
    expect(text).not.toContain('SCRAM-SHA-256');
    expect(text).not.toContain(ownerPassword);
    const dbs = meta.databases as { name: string; counts: Record<string, number>; owner: string }[];
    expect(dbs.map((d) => d.name)).toEqual(databases);
    expect(dbs[0]?.counts).toEqual({ 'app.users': 41 });
    expect(dbs[1]?.counts).toEqual({ 'public.items': 1500, 'public.empty_one': 0 });
    expect(dbs[2]?.counts).toEqual({ 'public.notes': 17 });
    expect(dbs[0]?.owner).toBe('postgres');
  });

  it("'all' picks every database that takes connections, never templates, and postgres only with user tables", async () => {
    const src = new PostgresSource({
      name: 'all-dry',
      connection,
      databases: 'all',
      excludeDatabases: [`${prefix}_b*`],
    });
    await src.check(makeContext(work.dir, src.name));
    const prepared = await src.prepare(makeContext(work.dir, src.name, { dryRun: true }));
    expect(prepared.artifacts).toEqual([]);
    const meta = prepared.metadata as { databases: string[]; skipped: Record<string, string> };
    expect(meta.databases).toEqual(expect.arrayContaining([dbA, dbC]));
    expect(meta.databases).not.toContain(dbB);
    expect(meta.skipped[dbB]).toBe('excluded');
    expect(meta.databases).not.toContain('template0');
    expect(meta.databases).not.toContain('template1');
    const postgresHasTables =
      (
        await sql<{ n: number }>(
          'postgres',
          `SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r','p','v','m','S','f') AND n.nspname NOT IN ('pg_catalog','information_schema')
              AND n.nspname NOT LIKE 'pg\\_toast%'`,
        )
      )[0]?.n ?? 0;
    expect(meta.databases.includes('postgres')).toBe(postgresHasTables > 0);
    if (postgresHasTables === 0) expect(meta.skipped.postgres).toBe('holds no user tables');
  });

  it('a database that does not exist is refused before anything is written', async () => {
    const src = source('missing', { databases: [dbA, `${prefix}_nope`] });
    const err = await src.check(makeContext(work.dir, src.name)).catch((e: unknown) => e);
    expect(isSourceUnavailableError(err)).toBe(true);
    expect((err as Error).message).toContain(`no database named "${prefix}_nope"`);
    const err2 = await src.prepare(makeContext(work.dir, src.name)).catch((e: unknown) => e);
    expect(isSourceUnavailableError(err2)).toBe(true);
    expect(await fsp.readdir(path.join(work.dir, 'missing')).catch(() => [])).toEqual([]);
  });

  it('scratch restore (custom format, pg_restore --jobs) creates missing roles for the check and drops everything', async () => {
    const src = source('all-custom', { format: 'custom', concurrency: 2 });
    const prepared = await src.prepare(makeContext(work.dir, src.name));
    expect(prepared.artifacts.slice(1).every((a) => a.format === 'pg_dump-custom')).toBe(true);
    const input = restoreInputFor(src, prepared, work.dir);
    // The owner role goes missing (renamed): the check must create it from the globals, then drop it.
    const renamed = `${prefix}_renamed`;
    await sql('postgres', `ALTER ROLE ${owner} RENAME TO ${renamed}`);
    try {
      const target = new PostgresTarget({ connection, scratch: true, jobs: 2 });
      const ctx = makeContext(work.dir, target.name);
      const report = await target.verify(input, ctx);
      expect(report.checks.filter((c) => !c.ok)).toEqual([]);
      expect(report.checks.map((c) => c.name)).toEqual(
        expect.arrayContaining(['globals-load', `counts:${dbA}`, `counts:${dbB}`, `counts:${dbC}`, `load:${dbC}`]),
      );
      expect(await roleExists(owner)).toBe(false);

      const out = await target.restore(input, ctx);
      expect(out.restored).toEqual([]);
      expect(out.metadata?.scratch).toBe(true);
      expect(out.metadata?.globals).toMatchObject({ createdRoles: [owner] });
      expect(await roleExists(owner)).toBe(false);
      expect(await leftovers()).toEqual([]);
      expect(await count(dbA, 'app.users')).toBe(41);
    } finally {
      await sql('postgres', `ALTER ROLE ${renamed} RENAME TO ${owner}`);
    }
  });

  it('swaps every database in, rolls the whole set back, and finalizes', async () => {
    const ghost = `${prefix}_ghost`;
    await sql('postgres', `CREATE ROLE ${ghost} NOLOGIN`);
    const src = source('all-swap', { format: 'sql.gz' });
    const prepared = await src.prepare(makeContext(work.dir, src.name));
    const input = restoreInputFor(src, prepared, work.dir);
    // After the backup: data changes, a role goes away, an existing role changes.
    await sql(dbA, "INSERT INTO app.users (name) VALUES ('late')");
    await sql(dbB, 'DELETE FROM public.items WHERE id > 1000');
    await sql('postgres', `DROP ROLE ${ghost}`);
    await sql('postgres', `ALTER ROLE ${reader} CONNECTION LIMIT 7`);

    const target = new PostgresTarget({ connection });
    const ctx = makeContext(work.dir, target.name);
    const out = await target.restore(input, ctx);
    expect(out.restored).toEqual(databases.map((d) => `postgresql database ${d}`));
    expect(await count(dbA, 'app.users')).toBe(41);
    expect(await count(dbB, 'public.items')).toBe(1500);
    expect(await count(dbC, 'public.notes')).toBe(17);
    expect(await roleExists(ghost)).toBe(true);
    // Existing roles are left exactly as they are.
    const limit = await sql<{ n: number }>(
      'postgres',
      `SELECT rolconnlimit AS n FROM pg_roles WHERE rolname = '${reader}'`,
    );
    expect(limit[0]?.n).toBe(7);
    // Ownership came back with the dump.
    const tableOwner = await sql<{ o: string }>(dbA, "SELECT tableowner AS o FROM pg_tables WHERE tablename = 'users'");
    expect(tableOwner[0]?.o).toBe(owner);
    expect((await leftovers()).filter((d) => d.includes('_before_restore_'))).toHaveLength(3);

    await target.rollback(out, ctx);
    expect(await count(dbA, 'app.users')).toBe(42);
    expect(await count(dbB, 'public.items')).toBe(1000);
    expect(await roleExists(ghost)).toBe(false);
    expect(await leftovers()).toEqual([]);

    const again = await target.restore(input, ctx);
    await target.finalize(again, ctx);
    expect(await count(dbA, 'app.users')).toBe(41);
    expect(await count(dbB, 'public.items')).toBe(1500);
    expect(await roleExists(ghost)).toBe(true);
    expect(await leftovers()).toEqual([]);
    await sql('postgres', `ALTER ROLE ${reader} CONNECTION LIMIT 3`);
  });

  it('a dump corrupted halfway fails the whole restore: no live database changes, nothing is left behind', async () => {
    const ghost = `${prefix}_ghost`;
    const src = source('all-corrupt');
    const prepared = await src.prepare(makeContext(work.dir, src.name));
    const input = restoreInputFor(src, prepared, work.dir);
    await sql('postgres', `DROP ROLE IF EXISTS ${ghost}`);
    // The third database's dump is cut in the middle and ends in garbage.
    const file = input.artifacts[3]?.file as string;
    const text = await fsp.readFile(file, 'utf8');
    const cut = text.indexOf('\n', text.indexOf('COPY public.notes') + 200);
    await fsp.writeFile(file, `${text.slice(0, cut)}\nthis is not sql;\n`);
    await sql(dbA, "INSERT INTO app.users (name) VALUES ('after corrupt backup')");
    const before = { a: await count(dbA, 'app.users'), b: await count(dbB, 'public.items') };

    const target = new PostgresTarget({ connection });
    const ctx = makeContext(work.dir, target.name);
    const report = await target.verify(input, ctx);
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.name === `load:${dbC}`)?.ok).toBe(false);
    expect(report.checks.find((c) => c.name === `load:${dbA}`)?.ok).toBe(true);

    const err = await target.restore(input, ctx).catch((e: unknown) => e);
    expect(isRestoreError(err)).toBe(true);
    expect((err as Error).message).toMatch(/psql failed/);
    expect(await count(dbA, 'app.users')).toBe(before.a);
    expect(await count(dbB, 'public.items')).toBe(before.b);
    expect(await leftovers()).toEqual([]);
    // The role the failed restore had created is gone again.
    expect(await roleExists(ghost)).toBe(false);
    await sql(dbA, "DELETE FROM app.users WHERE name = 'after corrupt backup'");
  });

  it('a restore plan rolls every database back when a later target fails', async () => {
    const workDir = path.join(work.dir, 'plan');
    const plan = createBackupPlan({
      workDir,
      sources: [new PostgresSource({ name: 'cluster', connection, databases: [dbA, dbB], globals: false })],
    });
    await plan.prepare();
    const manifest = await readManifest(workDir);
    expect(manifest.sources[0]?.metadata.globals).toBeNull();
    await sql(dbA, "INSERT INTO app.users (name) VALUES ('plan')");
    const failing: RestoreTarget = {
      name: 'failing',
      kind: 'failing',
      accepts: (e) => e.name === 'extra',
      verify: async () => ({ ok: true, checks: [] }),
      restore: async () => {
        throw new Error('the next target broke');
      },
    };
    // A second manifest entry routed to a target that fails after the databases were swapped in.
    const file = path.join(workDir, 'manifest.json');
    const raw = JSON.parse(await fsp.readFile(file, 'utf8'));
    raw.sources.push({ ...raw.sources[0], name: 'extra', kind: 'failing', artifacts: [], metadata: {} });
    await fsp.writeFile(file, JSON.stringify(raw));
    const restore = createRestorePlan({ targets: [new PostgresTarget({ connection }), failing] });
    const report = await restore.run({ from: workDir, reject: false });
    expect(report.ok).toBe(false);
    expect(report.entries.map((e) => [e.name, e.status])).toEqual([
      ['cluster', 'rolled-back'],
      ['extra', 'failed'],
    ]);
    expect(await count(dbA, 'app.users')).toBe(42);
    expect(await leftovers()).toEqual([]);
  });

  it('only restores the databases named, and refuses a name the backup does not hold', async () => {
    const src = source('all-only');
    const prepared = await src.prepare(makeContext(work.dir, src.name));
    const input = restoreInputFor(src, prepared, work.dir);
    const target = new PostgresTarget({ connection, only: [dbB], scratch: true, globals: false });
    const out = await target.restore(input, makeContext(work.dir, target.name));
    const checks = out.metadata?.checks as { name: string }[];
    expect(checks.map((c) => c.name)).toEqual([`counts:${dbB}`, `load:${dbB}`]);
    const bad = new PostgresTarget({ connection, only: ['nope'] });
    const err = await bad.restore(input, makeContext(work.dir, bad.name)).catch((e: unknown) => e);
    expect(isVerificationError(err)).toBe(true);
    expect((err as Error & { problems: { check: string }[] }).problems.map((p) => p.check)).toContain('only');
    expect(await leftovers()).toEqual([]);
  });

  it('runs pg_dumpall and pg_dump through docker exec with the password named, never on argv', async () => {
    const dir = path.join(work.dir, 'docker');
    await fsp.mkdir(dir);
    const docker = await writeFakeDocker(dir, { container: 'pg_cluster' });
    const password = 'Docker-Pw-7c1e';
    const src = new PostgresSource({
      name: 'all-docker',
      connection: { ...connection, password },
      databases: [dbA],
      executor: { docker: { container: 'pg_cluster', command: docker.command, host: PG.host, port: PG.port } },
    });
    const prepared = await src.prepare(makeContext(work.dir, src.name));
    expect(prepared.artifacts).toHaveLength(2);
    expect((prepared.metadata as { executor: string }).executor).toBe('docker');
    const log = await fsp.readFile(docker.log, 'utf8');
    expect(log).toMatch(
      /exec -i -e PGPASSWORD pg_cluster pg_dumpall --globals-only --no-password .*--database postgres/,
    );
    expect(log).toMatch(/pg_dump --clean/);
    expect(log).not.toContain(password);
    expect(log).toContain('PGPASSWORD=set');
  });

  it('runs the local pg_dumpall with the password in its environment, never on argv', async () => {
    const bin = path.join(work.dir, 'bin');
    await fsp.mkdir(bin);
    const log = path.join(bin, 'argv.log');
    const real = (await new PgExecutor('local').findTools('pg_dumpall')).find((t) => t.major >= 15);
    expect(real, 'a pg_dumpall 15+ is installed').toBeDefined();
    // A wrapper found first (binDirs): logs the argv the kernel sees, then runs the real tool.
    await fsp.writeFile(
      path.join(bin, 'pg_dumpall'),
      `#!/bin/sh\n{ tr '\\0' ' ' < /proc/$$/cmdline; echo " PGPASSWORD=\${PGPASSWORD:+set}"; } >> '${log}'\nexec '${real?.path}' "$@"\n`,
      { mode: 0o755 },
    );
    const password = 'Local-Pw-31d0';
    const src = new PostgresSource({
      name: 'all-local',
      connection: { ...connection, password },
      databases: [dbC],
      binDirs: [bin],
    });
    const prepared = await src.prepare(makeContext(work.dir, src.name));
    expect(prepared.artifacts.map((a) => a.format)).toEqual(['pg_dumpall-globals', 'sql']);
    const lines = (await fsp.readFile(log, 'utf8')).trim().split('\n');
    expect(lines.some((l) => /pg_dumpall --globals-only --no-password .* PGPASSWORD=set$/.test(l))).toBe(true);
    expect(lines.join('\n')).not.toContain(password);
  });

  it('refuses a pg_dumpall older than the server, listing what it found, before writing anything', async () => {
    const dir = path.join(work.dir, 'old-docker');
    await fsp.mkdir(dir);
    const old = await writeFakeDocker(dir, { container: 'pg_old', toolVersions: { pg_dumpall: '14.11' } });
    const src = new PostgresSource({
      name: 'all-old',
      connection,
      databases: [dbA],
      executor: { docker: { container: 'pg_old', command: old.command, host: PG.host, port: PG.port } },
    });
    const err = await src.prepare(makeContext(work.dir, src.name)).catch((e: unknown) => e);
    expect(isSourceUnavailableError(err)).toBe(true);
    expect((err as { code: string }).code).toBe('ERR_PG_TOOL_VERSION');
    expect((err as Error).message).toMatch(/no pg_dumpall of major version 15 or newer.*found: 14\.11 \(pg_dumpall\)/);
    const log = await fsp.readFile(old.log, 'utf8');
    expect(log).not.toContain('--globals-only');
    expect(await fsp.readdir(path.join(work.dir, 'all-old')).catch(() => [])).toEqual([]);
    // Without globals, pg_dumpall is not needed at all.
    const noGlobals = new PostgresSource({
      name: 'all-old-ok',
      connection,
      databases: [dbA],
      globals: false,
      executor: { docker: { container: 'pg_old', command: old.command, host: PG.host, port: PG.port } },
    });
    await noGlobals.check(makeContext(work.dir, noGlobals.name));
  });

  it('the built CLI runs it from a YAML config: prepare, then a scratch restore of the set', async () => {
    requireBuiltCli();
    const dir = path.join(work.dir, 'cli');
    await fsp.mkdir(dir);
    const config = path.join(dir, 'duplicati-kit.yaml');
    const conn = `{ host: ${PG.host}, port: ${PG.port}, user: ${PG.user}, database: postgres }`;
    await fsp.writeFile(
      config,
      [
        `workDir: ${path.join(dir, 'staging')}`,
        'sources:',
        `  - { type: postgres, name: server, connection: ${conn}, databases: ['${dbA}', '${dbB}'], format: sql.gz }`,
        'restore:',
        `  targets: [{ type: postgres, connection: ${conn}, scratch: true, only: ['${dbB}'] }]`,
        '',
      ].join('\n'),
    );
    const prepared = await runCli(['prepare', '--json', '--config', config]);
    expect(prepared.code).toBe(0);
    const out = JSON.parse(prepared.stdout) as {
      manifest: { sources: { metadata: { databases: { name: string }[] } }[] };
    };
    expect(out.manifest.sources[0]?.metadata.databases.map((d) => d.name)).toEqual([dbA, dbB]);
    const restored = await runCli(['restore', '--json', '--from', path.join(dir, 'staging'), '--config', config]);
    expect(restored.code).toBe(0);
    // `restore` prints the checklist report; gate 6's restore plan report is its `restore`.
    const report = JSON.parse(restored.stdout) as { ok: boolean; restore: { entries: { status: string }[] } };
    expect(report.ok).toBe(true);
    expect(report.restore.entries.map((e) => e.status)).toEqual(['restored']);
    expect(await leftovers()).toEqual([]);
  });

  it('one database failing fails the source, names that database, and removes what was written', async () => {
    // --table matches in the first database only: pg_dump of the second one fails.
    const src = source('all-fail', { databases: [dbA, dbB], pgDumpArgs: ['--table=app.users'], counts: 'none' });
    const ctx = makeContext(work.dir, src.name);
    const dumped: unknown[] = [];
    const err = await src
      .prepare({
        ...ctx,
        logger: { ...ctx.logger, info: (_m: string, f?: Record<string, unknown>) => dumped.push(f?.database) },
      })
      .catch((e: unknown) => e);
    expect(dumped).toContain(dbA);
    expect(isDumpError(err)).toBe(true);
    expect((err as { code: string }).code).toBe('ERR_PG_DUMP');
    expect((err as Error).message).toContain(`dumping database "${dbB}" failed: pg_dump failed`);
    expect((err as Error).message).toContain('no matching tables were found');
    const left = await fsp.readdir(path.join(work.dir, 'all-fail'), { recursive: true }).catch(() => []);
    expect(left.filter((f) => String(f).includes('.'))).toEqual([]);
  });

  it('aborting mid-way kills the dumps and removes every artifact already written', async () => {
    const src = source('all-abort', { counts: 'none' });
    const ctl = new AbortController();
    const reason = new Error('stop now');
    const ctx = makeContext(work.dir, src.name, { signal: ctl.signal });
    // Abort once the globals and the first database are written.
    const err = await src
      .prepare({
        ...ctx,
        logger: {
          ...ctx.logger,
          info: (msg: string, fields?: Record<string, unknown>) => {
            if (msg === 'dumped PostgreSQL database' && fields?.database === dbA) ctl.abort(reason);
          },
        },
      })
      .catch((e: unknown) => e);
    expect(err).toBe(reason);
    const left = await fsp.readdir(path.join(work.dir, 'all-abort'), { recursive: true }).catch(() => []);
    expect(left.filter((f) => String(f).includes('.'))).toEqual([]);
  });

  it('databases: all leaves out a database dropped during the backup and names it; a named one fails', async () => {
    const first = `${prefix}_y1`;
    const gone = `${prefix}_z9`;
    for (const db of [first, gone]) {
      await sql('postgres', `CREATE DATABASE ${q(db)}`);
      await sql(db, 'CREATE TABLE t AS SELECT 1 AS i');
    }
    try {
      // Only these two: every other database on the server is excluded by name.
      const others = (await sql<{ n: string }>('postgres', 'SELECT datname AS n FROM pg_database'))
        .map((r) => r.n)
        .filter((n) => n !== first && n !== gone);
      const src = new PostgresSource({
        name: 'all-dropped',
        connection,
        databases: 'all',
        excludeDatabases: others,
        globals: false,
        concurrency: 1,
      });
      let dropped = false;
      const warned: unknown[] = [];
      const base = makeContext(work.dir, src.name);
      const logger = {
        ...base.logger,
        // Once the first database is dumped, the second is dropped before anything else runs.
        info: (_message: string, fields?: Record<string, unknown>) => {
          if (dropped || fields?.database !== first) return;
          dropped = true;
          execFileSync('psql', [
            '-h',
            PG.host,
            '-p',
            String(PG.port),
            '-U',
            PG.user,
            '-d',
            'postgres',
            '-c',
            `DROP DATABASE ${q(gone)}`,
          ]);
        },
        warn: (_message: string, fields?: Record<string, unknown>) => warned.push(fields?.database),
      };
      const prepared = await src.prepare({ ...base, logger });
      expect(dropped).toBe(true);
      expect(warned).toEqual([gone]);
      const meta = prepared.metadata as { databases: { name: string }[]; skipped: Record<string, string> };
      expect(meta.databases.map((d) => d.name)).toEqual([first]);
      expect(meta.skipped[gone]).toBe('dropped during the backup');
      expect(prepared.artifacts.map((a) => a.path)).toEqual([`all-dropped/databases/${first}.sql`]);
      const files = await fsp.readdir(path.join(work.dir, 'all-dropped', 'databases'));
      expect(files).toEqual([`${first}.sql`]);

      const named = new PostgresSource({ name: 'named-gone', connection, databases: [first, gone], globals: false });
      const err = await named.prepare(makeContext(work.dir, named.name)).catch((e: unknown) => e);
      expect(isDumpError(err) || isSourceUnavailableError(err)).toBe(true);
      expect((err as Error).message).toContain(gone);
    } finally {
      await dropDatabases([first, gone]);
    }
  });
});
