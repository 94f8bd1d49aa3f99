/**
 * PostgreSQL connection options shared by every PostgreSQL source and target: validation, the
 * password kept out of argv, and the lazily loaded `pg` driver.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import { z } from 'zod';
import { throwIfAborted } from '../../core/abort.js';
import { ConfigError } from '../../core/errors.js';

/** Connection given as separate fields. */
export interface PgConnectionFields {
  readonly host: string;
  /** @default 5432 */
  readonly port?: number;
  readonly user: string;
  /** The password. Prefer `passwordFile` so it is not kept in your script. */
  readonly password?: string;
  /** A file whose content (trimmed) is the password, like Docker secrets. */
  readonly passwordFile?: string;
  readonly database: string;
}

/** Connection given as a `postgres://user:password@host:port/database` URL. */
export interface PgConnectionUrl {
  readonly url: string;
}

/**
 * How to reach a PostgreSQL server. The password only ever reaches child processes through their
 * environment (`PGPASSWORD`), never their command line.
 *
 * @example
 * ```ts
 * const a: PgConnectionOptions = { host: '127.0.0.1', port: 5432, user: 'postgres', passwordFile: '/run/secrets/db', database: 'app' };
 * const b: PgConnectionOptions = { url: 'postgres://postgres:secret@127.0.0.1:5432/app' };
 * ```
 */
export type PgConnectionOptions = PgConnectionFields | PgConnectionUrl;

/** A name usable as a source name and a file name: letters, digits, `_ . -`. */
export const safeNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'letters, digits, _ . - only');

/** zod schema of {@link PgConnectionOptions}. */
export const pgConnectionSchema = z.union([
  z
    .object({
      host: z.string().min(1),
      port: z.number().int().min(1).max(65535).optional(),
      user: z.string().min(1),
      password: z.string().optional(),
      passwordFile: z.string().min(1).optional(),
      database: z.string().min(1),
    })
    .strict()
    .refine((c) => c.password === undefined || c.passwordFile === undefined, {
      message: 'give password or passwordFile, not both',
    }),
  z
    .object({
      url: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL'),
    })
    .strict(),
]);

/** A connection with the password loaded, ready to hand to a driver or a tool. */
export interface ResolvedPgConnection {
  readonly host: string | undefined;
  readonly port: number | undefined;
  readonly user: string | undefined;
  readonly database: string;
  readonly password: string | undefined;
  /** `sslmode` from a URL, handed to tools as `PGSSLMODE`. */
  readonly sslmode: string | undefined;
}

/** Parse a postgres URL without keeping it around as a string that carries the password. */
export function parsePgUrl(url: string): Omit<ResolvedPgConnection, 'password'> & { password: string | undefined } {
  let u: URL;
  try {
    u = new URL(url);
  } catch (e) {
    throw new ConfigError('invalid PostgreSQL connection URL', [{ path: 'connection.url', message: 'not a URL' }], {
      cause: e,
    });
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!database) {
    throw new ConfigError('invalid PostgreSQL connection URL', [
      { path: 'connection.url', message: 'names no database (postgres://user@host:port/<database>)' },
    ]);
  }
  const host = decodeURIComponent(u.hostname.replace(/^\[|\]$/g, ''));
  return {
    host: host || undefined,
    port: u.port ? Number(u.port) : undefined,
    user: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    database,
    sslmode: u.searchParams.get('sslmode') ?? undefined,
  };
}

/** The secret values a connection holds, for redaction. Does not read `passwordFile`. */
export function connectionSecrets(c: PgConnectionOptions, resolved?: ResolvedPgConnection): string[] {
  const out: string[] = [];
  if ('url' in c) {
    const p = safeUrlPassword(c.url);
    if (p) out.push(p);
  } else if (c.password) out.push(c.password);
  if (resolved?.password) out.push(resolved.password);
  return out;
}

function safeUrlPassword(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.password ? decodeURIComponent(u.password) : undefined;
  } catch {
    return undefined;
  }
}

/** The database a connection names. */
export function connectionDatabase(c: PgConnectionOptions): string {
  return 'url' in c ? parsePgUrl(c.url).database : c.database;
}

/** Load the password (from `passwordFile` if given) and normalise a connection. */
export async function resolveConnection(c: PgConnectionOptions, signal?: AbortSignal): Promise<ResolvedPgConnection> {
  throwIfAborted(signal);
  if ('url' in c) return parsePgUrl(c.url);
  let password = c.password;
  if (c.passwordFile !== undefined) {
    try {
      password = (await fsp.readFile(c.passwordFile, { encoding: 'utf8', ...(signal ? { signal } : {}) })).replace(
        /\r?\n$/,
        '',
      );
    } catch (e) {
      throwIfAborted(signal);
      throw new ConfigError(`cannot read the PostgreSQL password file ${c.passwordFile}`, [
        { path: 'connection.passwordFile', message: (e as NodeJS.ErrnoException).code ?? 'unreadable' },
      ]);
    }
  }
  return {
    host: c.host,
    port: c.port ?? 5432,
    user: c.user,
    password,
    database: c.database,
    sslmode: undefined,
  };
}

/**
 * Command-line connection flags for pg_dump, pg_dumpall, psql, pg_restore (no password: see
 * {@link toolEnv}). pg_dumpall reads `--dbname` as a connection string, so it gets `--database`.
 */
export function connectionArgs(
  c: Pick<ResolvedPgConnection, 'host' | 'port' | 'user'>,
  database: string,
  databaseFlag: '--dbname' | '--database' = '--dbname',
): string[] {
  const args: string[] = [];
  if (c.host !== undefined) args.push('--host', c.host);
  if (c.port !== undefined) args.push('--port', String(c.port));
  if (c.user !== undefined) args.push('--username', c.user);
  args.push(databaseFlag, database);
  return args;
}

/** Environment for a PostgreSQL client tool: the password and TLS mode, never on its argv. */
export function toolEnv(c: ResolvedPgConnection): Record<string, string> {
  const env: Record<string, string> = {};
  if (c.password !== undefined) env.PGPASSWORD = c.password;
  if (c.sslmode !== undefined) env.PGSSLMODE = c.sslmode;
  return env;
}

/** Double-quote an SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Single-quote an SQL string literal (standard_conforming_strings on, as on every server since 9.1). */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new TypeError('NUL in SQL literal');
  return `'${value.replace(/'/g, "''")}'`;
}
