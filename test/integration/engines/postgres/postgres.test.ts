import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRestoreError, isSourceUnavailableError } from '../../../../src/core/errors.js';
import { PgExecutor } from '../../../../src/engines/postgres/executor.js';
import { PostgresSource } from '../../../../src/engines/postgres/source.js';
import { PostgresTarget } from '../../../../src/engines/postgres/target.js';
import { makeContext, tempDir } from '../../../helpers/context.js';
import { databasesLike, dropDatabases, PG, pgAvailable, sql, uniqueDb } from './pg-helpers.js';
import { restoreInputFor } from './restore-input.js';

const available = await pgAvailable();

describe.skipIf(!available)('PostgresSource / PostgresTarget against a real server', () => {
  const db = uniqueDb('pg');
  let work: { dir: string; cleanup: () => Promise<void> };

  beforeAll(async () => {
    work = await tempDir();
    await sql('postgres', `CREATE DATABASE ${db}`);
    await sql(
      db,
      `CREATE SCHEMA app;
       CREATE TABLE app.users (id serial PRIMARY KEY, name text NOT NULL);
       CREATE TABLE public.items (id int PRIMARY KEY, owner int, payload text);
       CREATE TABLE public.empty_one (id int);
       INSERT INTO app.users (name) SELECT 'user ' || g FROM generate_series(1, 37) g;
       INSERT INTO public.items SELECT g, g % 37 + 1, md5(g::text) FROM generate_series(1, 1234) g;`,
    );
  });

  afterAll(async () => {
    await dropDatabases(await databasesLike(db));
    await work.cleanup();
  });

  const connection = { ...PG, database: db };

  for (const format of ['sql', 'sql.gz', 'custom'] as const) {
    it(`dumps (${format}) with manifest counts and verifies the dump in a scratch database`, async () => {
      const source = new PostgresSource({ name: `pg-${format.replace('.', '-')}`, connection, format });
      const ctx = makeContext(work.dir, source.name);
      await source.check(ctx);
      const prepared = await source.prepare(ctx);
      expect(prepared.artifacts).toHaveLength(1);
      const meta = prepared.metadata as Record<string, unknown>;
      expect(meta.counts).toEqual({ 'app.users': 37, 'public.items': 1234, 'public.empty_one': 0 });
      expect(meta.serverMajor).toBe(15);
      expect(meta.extensions).toHaveProperty('plpgsql');
      const file = path.join(work.dir, prepared.artifacts[0]?.path ?? '');
      expect((await fsp.stat(file)).size).toBe(prepared.artifacts[0]?.bytes);
      // The recorded sha256 is the file's as it lies on disk (pg_dump rewrites a custom archive's
      // table of contents at the end when it can seek in its output).
      const onDisk = createHash('sha256')
        .update(await fsp.readFile(file))
        .digest('hex');
      expect(prepared.artifacts[0]?.sha256).toBe(onDisk);

      const target = new PostgresTarget({ connection, scratch: true });
      const input = restoreInputFor(source, prepared, work.dir);
      expect(target.accepts(input.entry)).toBe(true);
      const report = await target.verify(input, makeContext(work.dir, target.name));
      expect(report.checks.filter((c) => !c.ok)).toEqual([]);
      expect(report.ok).toBe(true);
      expect(await databasesLike(`${db}_restore_`)).toEqual([]);
    });
  }

  it("prepare dumps through the check's connection, which never holds the process; a lost one is replaced", async () => {
    const kept = async (): Promise<number[]> =>
      (
        await sql<{ pid: number }>(
          db,
          `SELECT pid FROM pg_stat_activity WHERE datname = '${db}' AND application_name = 'duplicati-kit'`,
        )
      ).map((r) => r.pid);
    const tcp = (): number => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    // the backend the dump's snapshot is exported from, as the dump's metadata
    const source = new PostgresSource(
      { name: 'pg-kept', connection, format: 'sql' },
      {
        before: async (s) => ({
          pid: Number((await s.query<{ pid: number }>('SELECT pg_backend_pid() AS pid'))[0]?.pid),
        }),
      },
    );
    const dumpedBy = async (ctx: ReturnType<typeof makeContext>): Promise<number> =>
      (await source.prepare(ctx)).metadata?.pid as number;

    const ctx = makeContext(work.dir, source.name);
    const handles = tcp();
    await source.check(ctx);
    const [pid] = await kept();
    expect(pid).toBeGreaterThan(0);
    expect(tcp()).toBe(handles);
    expect(await dumpedBy(ctx)).toBe(pid);
    expect(await kept()).toEqual([]);

    // killed between check and prepare: a new connection
    await source.check(ctx);
    const [lost] = await kept();
    await sql('postgres', `SELECT pg_terminate_backend(${lost})`);
    const again = await dumpedBy(ctx);
    expect(again).not.toBe(lost);
    expect(await kept()).toEqual([]);

    // another run (another signal) does not take it, and it is closed
    await source.check(ctx);
    const [other] = await kept();
    expect(await dumpedBy(makeContext(work.dir, source.name))).not.toBe(other);
    expect(await kept()).toEqual([]);

    // a dry run keeps nothing
    await source.check(makeContext(work.dir, source.name, { dryRun: true }));
    expect(await kept()).toEqual([]);
  });

  it('writes a gzip file the system gunzip reads', async () => {
    const source = new PostgresSource({
      name: 'gz-check',
      connection,
      format: 'sql.gz',
      gzip: { blockSize: 64 * 1024 },
    });
    const prepared = await source.prepare(makeContext(work.dir, source.name));
    const file = path.join(work.dir, prepared.artifacts[0]?.path ?? '');
    const r = await execa('gunzip', ['--test', file], { reject: false });
    expect(r.exitCode).toBe(0);
    const text = (await execa('gunzip', ['--stdout', file])).stdout;
    expect(text).toContain('CREATE TABLE app.users');
    expect(text).toContain('DROP TABLE IF EXISTS');
  });

  it('restores with a swap, rolls back, and finalizes', async () => {
    const source = new PostgresSource({ name: 'swap', connection });
    const prepared = await source.prepare(makeContext(work.dir, source.name));
    const input = restoreInputFor(source, prepared, work.dir);
    // Change the live database after the backup: the restore must bring the old state back.
    await sql(db, "INSERT INTO app.users (name) VALUES ('late')");

    const target = new PostgresTarget({ connection });
    const ctx = makeContext(work.dir, target.name);
    const out = await target.restore(input, ctx);
    expect(out.safetyCopy).toMatch(new RegExp(`^${db}_before_restore_\\d{8}T\\d{6}$`));
    expect((await sql(db, 'SELECT count(*)::int AS n FROM app.users'))[0]?.n).toBe(37);
    expect((await sql(out.safetyCopy as string, 'SELECT count(*)::int AS n FROM app.users'))[0]?.n).toBe(38);

    await target.rollback(out, ctx);
    expect((await sql(db, 'SELECT count(*)::int AS n FROM app.users'))[0]?.n).toBe(38);
    expect(await databasesLike(`${db}_`)).toEqual([]);

    const again = await target.restore(input, ctx);
    await target.finalize(again, ctx);
    expect((await sql(db, 'SELECT count(*)::int AS n FROM app.users'))[0]?.n).toBe(37);
    expect(await databasesLike(`${db}_`)).toEqual([]);
    await sql(db, "INSERT INTO app.users (name) VALUES ('late')");
  });

  it('refuses a corrupt dump with a typed error and leaves the live database untouched', async () => {
    const source = new PostgresSource({ name: 'corrupt', connection });
    const prepared = await source.prepare(makeContext(work.dir, source.name));
    const input = restoreInputFor(source, prepared, work.dir);
    const file = input.artifacts[0]?.file as string;
    const text = await fsp.readFile(file, 'utf8');
    // Cut the dump in the middle of the COPY data of a table: a truncated, broken file.
    const cut = text.indexOf('\n', text.indexOf('COPY public.items') + 2000);
    await fsp.writeFile(file, `${text.slice(0, cut)}\nthis is not sql;\n`);
    const before = (await sql(db, 'SELECT count(*)::int AS n FROM public.items'))[0]?.n;

    const target = new PostgresTarget({ connection });
    const ctx = makeContext(work.dir, target.name);
    const report = await target.verify(input, ctx);
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.name === 'load')?.ok).toBe(false);

    const err = await target.restore(input, ctx).catch((e: unknown) => e);
    expect(isRestoreError(err)).toBe(true);
    expect((err as Error).message).toMatch(/psql failed/);
    expect((await sql(db, 'SELECT count(*)::int AS n FROM public.items'))[0]?.n).toBe(before);
    expect(await databasesLike(`${db}_`)).toEqual([]);
  });

  it('aborting mid-dump kills pg_dump and leaves no artifact', async () => {
    const big = uniqueDb('abort');
    await sql('postgres', `CREATE DATABASE ${big}`);
    try {
      await sql(big, "CREATE TABLE t AS SELECT g AS id, repeat('x', 300) AS pad FROM generate_series(1, 200000) g");
      const source = new PostgresSource({ name: 'abort', connection: { ...PG, database: big }, counts: 'none' });
      const ctl = new AbortController();
      const ctx = makeContext(work.dir, source.name, { signal: ctl.signal });
      const reason = new Error('stop now');
      const onProgress = ctx.onProgress;
      const err = await source
        .prepare({
          ...ctx,
          onProgress: (e) => {
            onProgress(e);
            ctl.abort(reason);
          },
        })
        .catch((e: unknown) => e);
      expect(err).toBe(reason);
      const left = await fsp.readdir(path.join(work.dir, source.name)).catch(() => []);
      expect(left).toEqual([]);
      // The killed pg_dump's server session goes away (wait for the server to notice).
      for (let i = 0; i < 200; i++) {
        const n = (
          await sql(big, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'pg_dump'")
        )[0]?.n;
        if (n === 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(
        (await sql(big, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'pg_dump'"))[0]?.n,
      ).toBe(0);
    } finally {
      await dropDatabases([big]);
    }
  });

  it('aborting mid-restore drops the new database and leaves the live one untouched', async () => {
    const source = new PostgresSource({ name: 'abort-restore', connection });
    const prepared = await source.prepare(makeContext(work.dir, source.name));
    const input = restoreInputFor(source, prepared, work.dir);
    const before = (await sql(db, 'SELECT count(*)::int AS n FROM app.users'))[0]?.n;
    const ctl = new AbortController();
    const reason = new Error('operator pressed ctrl-c');
    const ctx = makeContext(work.dir, 'postgres', { signal: ctl.signal });
    const target = new PostgresTarget({ connection });
    const err = await target
      .restore(input, {
        ...ctx,
        onProgress: (e) => {
          if (e.description?.startsWith('loading')) ctl.abort(reason);
        },
      })
      .catch((e: unknown) => e);
    expect(err).toBe(reason);
    expect(await databasesLike(`${db}_`)).toEqual([]);
    expect((await sql(db, 'SELECT count(*)::int AS n FROM app.users'))[0]?.n).toBe(before);
  });

  it('an unreachable port is a SourceUnavailableError without the password', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise<void>((r) => server.close(() => r()));
    const password = 'S3cret-unreachable';
    const source = new PostgresSource({ connection: { ...PG, port, database: db, password } });
    const err = await source.check(makeContext(work.dir, source.name)).catch((e: unknown) => e);
    expect(isSourceUnavailableError(err)).toBe(true);
    expect(String((err as Error).message)).not.toContain(password);
    expect(JSON.stringify(err)).not.toContain(password);
  });

  it('a wrong password is a SourceUnavailableError without the password', async () => {
    // The test server trusts every local login, so a minimal server speaking the PostgreSQL
    // protocol asks for a password and rejects it the way a real one does (SQLSTATE 28P01).
    let received = '';
    const server = net.createServer((sock) => {
      let stage = 0;
      sock.on('data', (buf) => {
        if (stage === 0) {
          stage = 1;
          sock.write(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3])); // AuthenticationCleartextPassword
          return;
        }
        received += buf.toString('latin1');
        if (stage === 2) return;
        stage = 2;
        const fields = Buffer.from(
          'SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed for user "postgres"\0\0',
          'latin1',
        );
        const len = Buffer.alloc(4);
        len.writeUInt32BE(fields.length + 4);
        sock.end(Buffer.concat([Buffer.from('E'), len, fields]));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const password = 'Wr0ng-password-xyz';
      const source = new PostgresSource({
        connection: { url: `postgres://postgres:${password}@127.0.0.1:${port}/${db}` },
      });
      const err = await source.check(makeContext(work.dir, source.name)).catch((e: unknown) => e);
      expect(received).toContain(password);
      expect(isSourceUnavailableError(err)).toBe(true);
      expect((err as Error).message).toMatch(/password authentication failed/);
      expect((err as Error).message).not.toContain(password);
      expect(String((err as Error).stack)).not.toContain(password);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
  it.each(['sql', 'sql.gz'] as const)(
    'dumps %s without stdbuf where stdbuf cannot run pg_dump, and says nothing of it',
    async (format) => {
      // A stdbuf that fails as coreutils' does without its library: exit 125, nothing written.
      const bin = path.join(work.dir, 'broken-stdbuf');
      await fsp.mkdir(bin, { recursive: true });
      await fsp.writeFile(
        path.join(bin, 'stdbuf'),
        '#!/bin/sh\necho "stdbuf: failed to find PKGLIBEXECDIR/libstdbuf.so" >&2\nexit 125\n',
        { mode: 0o755 },
      );
      const before = process.env.PATH;
      process.env.PATH = `${bin}${path.delimiter}${before ?? ''}`;
      try {
        const source = new PostgresSource({ name: `no-stdbuf-${format.replace('.', '-')}`, connection, format });
        const prepared = await source.prepare(makeContext(work.dir, source.name));
        const users = (await sql<{ n: number }>(db, 'SELECT count(*)::int AS n FROM app.users'))[0]?.n;
        expect((prepared.metadata as Record<string, unknown>).counts).toEqual({
          'app.users': users,
          'public.items': 1234,
          'public.empty_one': 0,
        });
        const file = path.join(work.dir, prepared.artifacts[0]?.path ?? '');
        const bytes = await fsp.readFile(file);
        const text = (format === 'sql.gz' ? gunzipSync(bytes) : bytes).toString('utf8');
        expect(text).toContain('PostgreSQL database dump complete');
        expect(prepared.artifacts[0]?.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
      } finally {
        process.env.PATH = before;
      }
    },
  );
});

describe("a dump larger than the tool's output buffer", () => {
  const db = uniqueDb('big');
  let work: { dir: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    work = await tempDir('dk-pg-big-');
    await sql('postgres', `CREATE DATABASE ${db}`);
    // ~24 MB of rows (~3 MB as a compressed custom archive): more than pg_dump's 1 MiB output buffer,
    // written for a while, so the artifact is read (and hashed) while it grows.
    await sql(db, `CREATE TABLE t AS SELECT i, repeat(md5(i::text), 6) AS v FROM generate_series(1, 120000) i`);
  }, 120_000);
  afterAll(async () => {
    await dropDatabases([db]);
    await work.cleanup();
  });

  for (const format of ['sql', 'custom'] as const) {
    it(`records the sha256 of the ${format} file as it lies on disk`, async () => {
      const source = new PostgresSource({ name: `big-${format}`, connection: { ...PG, database: db }, format });
      const prepared = await source.prepare(makeContext(work.dir, source.name));
      const ref = prepared.artifacts[0];
      const file = path.join(work.dir, ref?.path ?? '');
      const bytes = await fsp.readFile(file);
      expect(bytes.length).toBeGreaterThan(2 << 20);
      expect(ref?.bytes).toBe(bytes.length);
      // A custom archive's table of contents is written again at the end when pg_dump can seek in
      // its output: a file hashed while it grew would not match.
      expect(ref?.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    }, 120_000);
  }
});

describe('the streaming command of a dump', () => {
  it('runs a local tool through stdbuf with the tool alone as its fallback, a container tool as it is', () => {
    const env = { PGX: '1' };
    const local = new PgExecutor('local');
    expect(local.bufferedCommand('/usr/bin/pg_dump', ['-V'], env)).toEqual({
      cmd: { file: 'stdbuf', args: ['-o', '1M', '/usr/bin/pg_dump', '-V'], env },
      fallback: { file: '/usr/bin/pg_dump', args: ['-V'], env },
    });
    local.stdbufFailed();
    expect(local.bufferedCommand('/usr/bin/pg_dump', ['-V'], env)).toEqual({
      cmd: { file: '/usr/bin/pg_dump', args: ['-V'], env },
    });
    const docker = new PgExecutor({ docker: { container: 'db' } }).bufferedCommand('pg_dump', ['-V'], {});
    expect(docker.cmd.file).toBe('docker');
    expect(docker.cmd.args).not.toContain('stdbuf');
    expect(docker.fallback).toBeUndefined();
  });

  it('writes the same bytes through stdbuf as pg_dump -f does', async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'dk-stdbuf-'));
    try {
      const args = ['--no-password', '-h', PG.host, '-p', String(PG.port), '-U', PG.user, 'postgres'];
      await execa('pg_dump', [...args, '-f', path.join(dir, 'direct.sql')]);
      const { cmd } = new PgExecutor('local').bufferedCommand('pg_dump', args, {});
      await execa(cmd.file, cmd.args, { stdout: { file: path.join(dir, 'stdbuf.sql') } });
      const strip = (s: string) => s.replace(/^\\(un)?restrict .*$/gm, '');
      expect(strip(await fsp.readFile(path.join(dir, 'stdbuf.sql'), 'utf8'))).toBe(
        strip(await fsp.readFile(path.join(dir, 'direct.sql'), 'utf8')),
      );
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
});
