import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isConfigError } from '../../../../src/core/errors.js';
import { resolveConfig } from '../../../../src/app/config.js';
import { databaseFileName, pgDumpallArgs } from '../../../../src/engines/postgres/cluster-source.js';
import { toolEnv } from '../../../../src/engines/postgres/connection.js';
import { PgExecutor } from '../../../../src/engines/postgres/executor.js';
import {
  classifyGlobalsStatement,
  createGlobalsFilter,
  createGlobalsObserver,
  redactPasswordHashes,
  SqlStatementSplitter,
  statementHead,
} from '../../../../src/engines/postgres/globals.js';
import { PostgresSource } from '../../../../src/engines/postgres/source.js';
import { PostgresTarget } from '../../../../src/engines/postgres/target.js';
import { cutInto } from './chunks.js';

const HASH =
  'SCRAM-SHA-256$4096:ZHp6GyfMwBCO68gLMdMdPQ==$EGWD9zQgI7v8EihZ:GcUdeGJ4TTN40feXwh6MUYCgKngxTQfH7c76zZlHJts=';

/** What pg_dumpall 15 writes with --globals-only (shape taken from a real run), plus odd names. */
const GLOBALS = `--
-- PostgreSQL database cluster dump
--

\\restrict kGp4thTTPKP5I57oNfP3SjmnuU4Jza9syfMoH5CttQwNSzObJEw512qfxjJncNz

SET default_transaction_read_only = off;

SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;

--
-- Roles
--

CREATE ROLE app;
ALTER ROLE app WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS PASSWORD '${HASH}';
COMMENT ON ROLE app IS 'multi
line; comment with ''quotes'' -- and no end';
CREATE ROLE "Odd ""Role""";
ALTER ROLE "Odd ""Role""" WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS;
CREATE ROLE postgres;
ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS PASSWORD 'md50123456789abcdef0123456789abcdef';

--
-- User Configurations
--

ALTER ROLE app SET search_path TO 'app', 'public';
/* a block comment; with /* nesting */ and a semicolon; */
ALTER ROLE postgres SET statement_timeout TO '0';

--
-- Role memberships
--

GRANT "Odd ""Role""" TO app GRANTED BY postgres;

--
-- Tablespaces
--

CREATE TABLESPACE fast OWNER app LOCATION '/srv/fast';
GRANT ALL ON TABLESPACE fast TO "Odd ""Role""";
COMMENT ON TABLESPACE fast IS $c$fast; disks$c$;

\\unrestrict kGp4thTTPKP5I57oNfP3SjmnuU4Jza9syfMoH5CttQwNSzObJEw512qfxjJncNz

--
-- PostgreSQL database cluster dump complete
--

`;

async function through(t: Transform, chunks: Buffer[]): Promise<string> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), t, async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) out.push(Buffer.from(c));
  });
  return Buffer.concat(out).toString('utf8');
}

describe('SQL statement splitter', () => {
  it('splits into statements that concatenate back to the input, whatever the chunk borders', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 8 }), (cuts) => {
        const s = new SqlStatementSplitter();
        const stmts: string[] = [];
        for (const c of cutInto(Buffer.from(GLOBALS), cuts)) stmts.push(...s.push(c.toString('latin1')));
        stmts.push(...s.end());
        expect(stmts.join('')).toBe(GLOBALS);
        const heads = stmts.map(statementHead);
        expect(heads.filter((x) => x.startsWith('\\'))).toEqual([
          expect.stringMatching(/^\\restrict \S+\n$/),
          expect.stringMatching(/^\\unrestrict \S+\n$/),
        ]);
        expect(heads.filter((x) => x.startsWith('CREATE ROLE'))).toHaveLength(3);
        expect(stmts.filter((x) => x.includes("COMMENT ON ROLE app IS 'multi\nline; comment"))).toHaveLength(1);
        expect(stmts.filter((x) => x.includes('$c$fast; disks$c$;'))).toHaveLength(1);
        expect(stmts.filter((x) => x.includes('nesting */ and a semicolon; */\nALTER ROLE postgres'))).toHaveLength(1);
      }),
      { numRuns: 200 },
    );
  });

  it('keeps E-strings with backslash escapes and dollar quotes whole', () => {
    const s = new SqlStatementSplitter();
    const sql = "SELECT E'a\\';b'; SELECT $$x;y$$; SELECT $tag$ $$; $tag$; SELECT a$b;";
    expect([...s.push(sql), ...s.end()].map((x) => x.trim())).toEqual([
      "SELECT E'a\\';b';",
      'SELECT $$x;y$$;',
      'SELECT $tag$ $$; $tag$;',
      'SELECT a$b;',
    ]);
  });
});

describe('globals statements', () => {
  it('names the role or tablespace each statement defines', () => {
    expect(classifyGlobalsStatement('\n--\n-- Roles\n--\n\nCREATE ROLE app;')).toEqual({
      role: 'app',
      createsRole: true,
    });
    expect(classifyGlobalsStatement('ALTER ROLE "Odd ""Role""" WITH LOGIN;')).toEqual({
      role: 'Odd "Role"',
      createsRole: false,
    });
    expect(classifyGlobalsStatement("COMMENT ON ROLE App IS 'x';").role).toBe('app');
    expect(classifyGlobalsStatement('GRANT a TO b GRANTED BY postgres;')).toEqual({});
    expect(classifyGlobalsStatement('GRANT ALL ON TABLESPACE fast TO app;')).toEqual({
      tablespace: 'fast',
      createsTablespace: false,
    });
    expect(classifyGlobalsStatement("CREATE TABLESPACE fast OWNER app LOCATION '/x';")).toEqual({
      tablespace: 'fast',
      createsTablespace: true,
    });
  });

  it('the filter drops every statement about an existing role or tablespace and keeps the rest', async () => {
    for (const cuts of [[GLOBALS.length], [7], [1, 13, 64]]) {
      const f = createGlobalsFilter({ roles: new Set(['postgres', 'app']), tablespaces: new Set(['fast']) });
      const out = await through(f.stream, cutInto(Buffer.from(GLOBALS), cuts));
      expect(f.result).toEqual({
        createdRoles: ['Odd "Role"'],
        keptRoles: ['app', 'postgres'],
        createdTablespaces: [],
        keptTablespaces: ['fast'],
      });
      expect(out).not.toMatch(/CREATE ROLE (app|postgres)/);
      expect(out).not.toMatch(/ALTER ROLE (app|postgres)/);
      expect(out).not.toContain(HASH);
      expect(out).not.toContain('COMMENT ON ROLE app');
      expect(out).not.toContain('TABLESPACE fast');
      expect(out).toContain('CREATE ROLE "Odd ""Role""";');
      expect(out).toContain('ALTER ROLE "Odd ""Role""" WITH NOSUPERUSER');
      expect(out).toContain('GRANT "Odd ""Role""" TO app GRANTED BY postgres;');
      expect(out).toMatch(/^\\restrict \S+$/m);
      expect(out).toMatch(/^\\unrestrict \S+$/m);
    }
  });

  it('the filter passes everything when nothing exists yet, and the observer sees names only', async () => {
    const f = createGlobalsFilter({ roles: new Set(), tablespaces: new Set() });
    expect(await through(f.stream, [Buffer.from(GLOBALS)])).toBe(GLOBALS);
    expect(f.result.createdRoles).toEqual(['app', 'Odd "Role"', 'postgres']);
    expect(f.result.createdTablespaces).toEqual(['fast']);
    const o = createGlobalsObserver();
    expect(await through(o.stream, cutInto(Buffer.from(GLOBALS), [5, 11]))).toBe(GLOBALS);
    expect(o.roles).toEqual(['app', 'Odd "Role"', 'postgres']);
    expect(o.tablespaces).toEqual(['fast']);
  });

  it('password hashes are redacted from text meant for errors', () => {
    const text = `ERROR: x at ALTER ROLE app PASSWORD '${HASH}' and 'md50123456789abcdef0123456789abcdef'`;
    const out = redactPasswordHashes(text);
    expect(out).not.toContain(HASH.slice(14));
    expect(out).not.toContain('0123456789abcdef0123456789abcdef');
    expect(out).toContain('SCRAM-SHA-256$***');
  });
});

describe('all-databases options', () => {
  const connection = { host: '127.0.0.1', user: 'postgres', password: 'Pw-never-in-argv', database: 'postgres' };

  it('pg_dumpall gets --database (not a connection string) and never the password', async () => {
    const conn = { ...connection, port: 5432, sslmode: undefined };
    const local = pgDumpallArgs({ executor: new PgExecutor('local'), conn, database: 'postgres' }, true);
    expect(local).toEqual([
      '--globals-only',
      '--no-password',
      '--host',
      '127.0.0.1',
      '--port',
      '5432',
      '--username',
      'postgres',
      '--database',
      'postgres',
    ]);
    const docker = new PgExecutor({ docker: { container: 'pg' } });
    const args = pgDumpallArgs({ executor: docker, conn, database: 'postgres' }, false);
    expect(args).toContain('--no-role-passwords');
    const cmd = docker.command('pg_dumpall', args, toolEnv(conn));
    expect(cmd.args.slice(0, 5)).toEqual(['exec', '-i', '-e', 'PGPASSWORD', 'pg']);
    expect(cmd.args.join(' ')).not.toContain(connection.password);
    expect(cmd.env).toEqual({ PGPASSWORD: connection.password });
  });

  it('file names are safe, distinct up to case, and stable', () => {
    const taken = new Set<string>();
    const a = databaseFileName('app', taken);
    const b = databaseFileName('App', taken);
    const c = databaseFileName('my db/../x', taken);
    const d = databaseFileName('ünïcode', taken);
    expect(a).toBe('app');
    expect(b).toMatch(/^App-[0-9a-f]{8}$/);
    expect(c).toMatch(/^my_db_.._x-[0-9a-f]{8}$/);
    expect(d).toMatch(/^n_code-[0-9a-f]{8}$/);
    for (const n of [a, b, c, d]) expect(n).toMatch(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/);
    expect(databaseFileName('my db/../x', new Set())).toBe(c);
  });

  it('bad combinations are ConfigErrors naming the field', () => {
    const bad = (o: Record<string, unknown>, field: string) => {
      let err: unknown;
      try {
        new PostgresSource({ connection, ...o } as never);
      } catch (e) {
        err = e;
      }
      expect(isConfigError(err)).toBe(true);
      expect((err as { issues: { path: string }[] }).issues.map((i) => i.path)).toContain(field);
    };
    bad({ databases: 'all', fileName: 'x' }, 'fileName');
    bad({ databases: 'all', counts: ['t'] }, 'counts');
    bad({ databases: ['a', 'a'] }, 'databases');
    bad({ databases: ['template1'] }, 'databases.0');
    bad({ databases: ['a'], excludeDatabases: ['b'] }, 'excludeDatabases');
    bad({ globals: false }, 'globals');
    bad({ databases: 'some' }, 'databases');
    expect(() => new PostgresSource({ connection, databases: 'all', excludeDatabases: ['tmp_*'] })).not.toThrow();
    expect(() => new PostgresTarget({ connection, only: [] })).toThrow(/only/);
    expect(() => new PostgresTarget({ connection, only: ['a'], globals: false })).not.toThrow();
  });

  it('a target with only takes whole-server entries, never a one-database dump', () => {
    const entry = (metadata: Record<string, unknown>) =>
      ({ name: 'pg', kind: 'postgres', metadata }) as unknown as Parameters<PostgresTarget['accepts']>[0];
    const server = entry({ cluster: true, databases: [{ name: 'app' }] });
    const single = entry({ database: 'app', counts: {} });
    const picking = new PostgresTarget({ connection, only: ['app'] });
    expect(picking.accepts(server)).toBe(true);
    expect(picking.accepts(single)).toBe(false);
    const plain = new PostgresTarget({ connection });
    expect(plain.accepts(server)).toBe(true);
    expect(plain.accepts(single)).toBe(true);
  });

  it('the options are reachable from a config file, and bad ones are reported with their path', async () => {
    const cfg = await resolveConfig({
      workDir: '/srv/backup/staging',
      sources: [
        { type: 'postgres', name: 'pg', connection, databases: 'all', excludeDatabases: ['tmp_*'], concurrency: 2 },
      ],
      restore: { targets: [{ type: 'postgres', connection, only: ['app'], globals: false, jobs: 3 }] },
    });
    expect(cfg.sources[0]).toBeInstanceOf(PostgresSource);
    expect(cfg.targets[0]).toBeInstanceOf(PostgresTarget);
    const err = await resolveConfig({
      workDir: '/srv/backup/staging',
      sources: [{ type: 'postgres', connection, databases: 'all', fileName: 'x', rolePasswords: 'no' }],
    }).catch((e: unknown) => e);
    expect(isConfigError(err)).toBe(true);
    const paths = (err as { issues: { path: string }[] }).issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['sources.0.rolePasswords']));
  });
});
