import { describe, expect, it } from 'vitest';
import { parsePgUrl, resolveConnection, toolEnv } from '../../../../src/engines/postgres/connection.js';
import { pgDumpArgs } from '../../../../src/engines/postgres/dump.js';
import {
  type FoundPgTool,
  PgExecutor,
  parsePgToolVersion,
  pgToolVersionMessage,
  pickPgTool,
  serverMajorFromNum,
} from '../../../../src/engines/postgres/executor.js';
import { loadArgs } from '../../../../src/engines/postgres/load.js';

const tool = (major: number, minor = 3): FoundPgTool => ({
  path: `/usr/lib/postgresql/${major}/bin/pg_dump`,
  version: `${major}.${minor}`,
  major,
});

describe('pg_dump version gate', () => {
  it('parses tool and server versions', () => {
    expect(parsePgToolVersion('pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)\n')).toEqual({
      version: '15.20',
      major: 15,
    });
    expect(parsePgToolVersion('psql (PostgreSQL) 9.6.24')).toEqual({ version: '9.6.24', major: 9 });
    expect(parsePgToolVersion('pg_dump (PostgreSQL) 18beta1')).toEqual({ version: '18', major: 18 });
    expect(parsePgToolVersion('bash: pg_dump: command not found')).toBeUndefined();
    expect(serverMajorFromNum(150020)).toBe(15);
    expect(serverMajorFromNum(170006)).toBe(17);
    expect(serverMajorFromNum(90624)).toBe(9);
  });

  it('prefers the same major, then the oldest newer one', () => {
    expect(pickPgTool([tool(14), tool(15), tool(17)], 15)?.major).toBe(15);
    expect(pickPgTool([tool(17), tool(16), tool(14)], 15)?.major).toBe(16);
    expect(pickPgTool([tool(18)], 14)?.major).toBe(18);
  });

  it('finds nothing when every tool is older than the server, and says what it found', () => {
    const found = [tool(13, 9), tool(14, 11)];
    expect(pickPgTool(found, 16)).toBeUndefined();
    expect(pickPgTool([], 16)).toBeUndefined();
    const msg = pgToolVersionMessage('pg_dump', found, 16);
    expect(msg).toContain('13.9 (/usr/lib/postgresql/13/bin/pg_dump)');
    expect(msg).toContain('14.11');
    expect(msg).toContain('major version 16 or newer');
    expect(pgToolVersionMessage('pg_dump', [], 16)).toContain('found: none');
  });
});

describe('command lines', () => {
  const conn = {
    host: 'db.local',
    port: 5433,
    user: 'app',
    password: 'pa$$word-x',
    database: 'app',
    sslmode: undefined,
  };

  it('docker exec uses -i, never -t, and names env variables without their values', () => {
    const ex = new PgExecutor({ docker: { container: 'immich_postgres' } });
    const cmd = ex.command('pg_dump', ['--dbname', 'immich'], toolEnv(conn));
    expect(cmd.file).toBe('docker');
    expect(cmd.args).toEqual(['exec', '-i', '-e', 'PGPASSWORD', 'immich_postgres', 'pg_dump', '--dbname', 'immich']);
    expect(cmd.args).not.toContain('-t');
    expect(cmd.args.join(' ')).not.toContain(conn.password);
    expect(cmd.env).toEqual({ PGPASSWORD: conn.password });
  });

  it('docker command and in-container endpoint are configurable', () => {
    const ex = new PgExecutor({ docker: { container: 'pg', command: '/opt/podman', host: '127.0.0.1', port: 5433 } });
    const args = pgDumpArgs({ executor: ex, conn, database: 'app', format: 'sql', snapshot: '00000003-1' });
    expect(ex.command('pg_dump', args, {}).file).toBe('/opt/podman');
    expect(args).toEqual([
      '--clean',
      '--if-exists',
      '--no-password',
      '--format=plain',
      '--snapshot=00000003-1',
      '--host',
      '127.0.0.1',
      '--port',
      '5433',
      '--username',
      'app',
      '--dbname',
      'app',
    ]);
  });

  it('local pg_dump and loaders never get the password on argv', () => {
    const ex = new PgExecutor('local');
    const dump = pgDumpArgs({ executor: ex, conn, database: 'app', format: 'custom' });
    expect(dump).toContain('--format=custom');
    expect(dump.join(' ')).not.toContain(conn.password);
    const plain = loadArgs({ executor: ex, conn, database: 'x', format: 'sql.gz', file: '/f' });
    expect(plain.stdinFile).toBe(true);
    expect(plain.args).toEqual(expect.arrayContaining(['ON_ERROR_STOP=1', '--single-transaction']));
    const custom = loadArgs({ executor: ex, conn, database: 'x', format: 'custom', file: '/f.dump', jobs: 4 });
    expect(custom).toEqual({ args: expect.arrayContaining(['--jobs', '4', '/f.dump']), stdinFile: false });
    const dockerCustom = loadArgs({
      executor: new PgExecutor({ docker: { container: 'c' } }),
      conn,
      database: 'x',
      format: 'custom',
      file: '/f.dump',
      jobs: 4,
    });
    expect(dockerCustom.stdinFile).toBe(true);
    expect(dockerCustom.args).not.toContain('--jobs');
    for (const a of [plain.args, custom.args]) expect(a.join(' ')).not.toContain(conn.password);
  });
});

describe('connections', () => {
  it('parses URLs with encoded credentials and sslmode', () => {
    expect(parsePgUrl('postgresql://im%40ich:p%2Fw@db:5433/immich?sslmode=require')).toEqual({
      host: 'db',
      port: 5433,
      user: 'im@ich',
      password: 'p/w',
      database: 'immich',
      sslmode: 'require',
    });
    expect(() => parsePgUrl('postgres://db:5432/')).toThrow(/names no database/);
  });

  it('puts the password and sslmode in the environment only', async () => {
    const c = await resolveConnection({ url: 'postgres://u:secret@h/db?sslmode=verify-full' });
    expect(toolEnv(c)).toEqual({ PGPASSWORD: 'secret', PGSSLMODE: 'verify-full' });
  });
});
