/**
 * A small SQL session used for metadata, counts, snapshots and administration. Two
 * implementations: the `pg` driver (loaded lazily, local executor) and a long-lived `psql` fed
 * through stdin (docker executor: the database port is often not published to the host).
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { PgExecutor } from './executor.js';
import { spawnTool } from '../_shared/spawn.js';
import { connectionArgs, type ResolvedPgConnection, toolEnv } from './connection.js';

/** One SQL session. Rows come back as plain objects; bigint columns may be strings or numbers. */
export interface SqlSession {
  /** Run a query returning rows. */
  query<T extends Record<string, unknown> = Record<string, unknown>>(sql: string): Promise<T[]>;
  /** Run a statement whose result is not needed (BEGIN, CREATE DATABASE, …). */
  exec(sql: string): Promise<void>;
  /**
   * Stream a query's rows in batches of at most `batchSize` through a server-side cursor, inside
   * a read-only transaction of its own: memory stays bounded however many rows there are.
   * Breaking out of the loop closes the cursor. Do not run other statements while iterating.
   */
  cursor<T extends Record<string, unknown> = Record<string, unknown>>(
    sql: string,
    batchSize?: number,
  ): AsyncIterable<T[]>;
  /**
   * Close the session (idempotent). `force` abandons a statement still running (used when the
   * dump it accompanies failed); otherwise the running statement finishes first.
   */
  close(force?: boolean): Promise<void>;
  /**
   * Whether the idle session keeps the process alive (`true`, as opened) or not (`false`: a
   * session kept open for later use must not hold a finished process). False when the session
   * cannot be let go this way.
   */
  hold?(on: boolean): boolean;
}

/** A failed statement: the server's SQLSTATE and message (no connection secrets). */
export class SqlSessionError extends Error {
  readonly sqlstate: string | undefined;
  constructor(message: string, sqlstate: string | undefined, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SqlSessionError';
    this.sqlstate = sqlstate;
  }
}

/** Default rows per FETCH of {@link SqlSession.cursor}. */
export const CURSOR_BATCH = 2000;

/**
 * The cursor protocol shared by both sessions: BEGIN READ ONLY, DECLARE, FETCH until a short
 * batch, then CLOSE and COMMIT — or ROLLBACK when the consumer stops early or a FETCH fails.
 */
async function* cursorRows<T>(
  exec: (sql: string) => Promise<void>,
  fetch: (sql: string) => Promise<T[]>,
  sql: string,
  batchSize: number,
  declareAs: (sql: string) => string = (q) => q,
): AsyncGenerator<T[]> {
  const n = Math.max(1, Math.floor(batchSize));
  const name = `dk_cursor_${randomBytes(4).toString('hex')}`;
  await exec('BEGIN READ ONLY');
  let done = false;
  try {
    await exec(`DECLARE ${name} NO SCROLL CURSOR FOR ${declareAs(sql)}`);
    for (;;) {
      const rows = await fetch(`FETCH FORWARD ${n} FROM ${name}`);
      if (rows.length > 0) yield rows;
      if (rows.length < n) break;
    }
    await exec(`CLOSE ${name}`);
    await exec('COMMIT');
    done = true;
  } finally {
    if (!done) await exec('ROLLBACK').catch(() => {});
  }
}

function sslOption(mode: string | undefined): boolean | { rejectUnauthorized: boolean } {
  if (mode === undefined || mode === 'disable' || mode === 'allow') return false;
  if (mode === 'verify-ca' || mode === 'verify-full') return { rejectUnauthorized: true };
  return { rejectUnauthorized: false };
}

/** Open a session through the `pg` driver, imported on first use. */
export async function openDriverSession(
  conn: ResolvedPgConnection,
  database: string,
  signal?: AbortSignal,
): Promise<SqlSession> {
  const pg = (await import('pg')).default;
  const client = new pg.Client({
    ...(conn.host !== undefined ? { host: conn.host } : {}),
    ...(conn.port !== undefined ? { port: conn.port } : {}),
    ...(conn.user !== undefined ? { user: conn.user } : {}),
    ...(conn.password !== undefined ? { password: conn.password } : {}),
    database,
    ssl: sslOption(conn.sslmode),
    application_name: 'duplicati-kit',
    connectionTimeoutMillis: 15_000,
  });
  // A server-side termination emits 'error' on an idle client; the next query reports it.
  client.on('error', () => {});
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    signal?.removeEventListener('abort', onAbort);
    await client.end().catch(() => {});
  };
  const onAbort = (): void => {
    void close();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await client.connect();
  } catch (e) {
    await close();
    throw e;
  }
  const wrap = (e: unknown): never => {
    const err = e as { message?: string; code?: string };
    throw new SqlSessionError(err.message ?? String(e), err.code, { cause: e });
  };
  return {
    query: async <T extends Record<string, unknown>>(sql: string) => {
      try {
        return (await client.query(sql)).rows as T[];
      } catch (e) {
        return wrap(e);
      }
    },
    exec: async (sql: string) => {
      try {
        await client.query(sql);
      } catch (e) {
        wrap(e);
      }
    },
    cursor: <T extends Record<string, unknown>>(sql: string, batchSize = CURSOR_BATCH) =>
      cursorRows<T>(
        async (q) => {
          try {
            await client.query(q);
          } catch (e) {
            wrap(e);
          }
        },
        async (q) => {
          try {
            return (await client.query(q)).rows as T[];
          } catch (e) {
            return wrap(e);
          }
        },
        sql,
        batchSize,
      ),
    close,
    hold: (on: boolean) => {
      // pg keeps its socket as `connection.stream` (a net.Socket for TCP and Unix sockets alike).
      const stream = (client as unknown as { connection?: { stream?: { ref?: () => void; unref?: () => void } } })
        .connection?.stream;
      if (closed || typeof stream?.ref !== 'function' || typeof stream.unref !== 'function') return false;
      if (on) stream.ref();
      else stream.unref();
      return true;
    },
  };
}

/**
 * Open a session through `psql` reading statements from stdin (works inside a container). Each
 * statement is followed by an `\echo` of a random marker with psql's `ERROR`/`SQLSTATE`
 * variables, so results and failures are read back in order without a second connection.
 */
export async function openPsqlSession(
  executor: PgExecutor,
  psqlPath: string,
  conn: ResolvedPgConnection,
  database: string,
  signal?: AbortSignal,
): Promise<SqlSession> {
  const endpoint = executor.containerEndpoint;
  const target = endpoint ? { host: endpoint.host, port: endpoint.port, user: conn.user } : conn;
  const cmd = executor.command(
    psqlPath,
    ['-X', '-q', '--no-align', '--tuples-only', '-v', 'ON_ERROR_STOP=0', ...connectionArgs(target, database)],
    toolEnv(conn),
  );
  const { child, stderrTail } = spawnTool(cmd, { stdin: 'pipe', stdout: 'pipe' }, signal);
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream, crlfDelay: Number.POSITIVE_INFINITY })[
    Symbol.asyncIterator
  ]();
  const tag = `__dk_${randomBytes(6).toString('hex')}`;
  let n = 0;
  let closed = false;
  let chain: Promise<unknown> = Promise.resolve();

  const run = (sql: string): Promise<string[]> => {
    const next = chain.then(async () => {
      if (closed) throw new SqlSessionError('psql session is closed', undefined);
      const marker = `${tag}_${++n}`;
      child.stdin?.write(`${sql.trim().replace(/;?$/, ';')}\n\\echo ${marker} :ERROR :SQLSTATE :LAST_ERROR_MESSAGE\n`);
      const out: string[] = [];
      for (;;) {
        const r = await lines.next();
        if (r.done) {
          const tail = stderrTail().trim().split('\n').slice(-3).join(' ');
          throw new SqlSessionError(`psql ended unexpectedly${tail ? `: ${tail}` : ''}`, undefined);
        }
        if (r.value.startsWith(`${marker} `)) {
          const [, error, sqlstate, ...msg] = r.value.split(' ');
          if (error === 'true') throw new SqlSessionError(msg.join(' ') || 'statement failed', sqlstate);
          return out;
        }
        out.push(r.value);
      }
    });
    chain = next.catch(() => {});
    return next;
  };

  const session: SqlSession = {
    query: async <T extends Record<string, unknown>>(sql: string) => {
      const out = await run(`SELECT coalesce(json_agg(q), '[]'::json) FROM (${sql}) q`);
      return JSON.parse(out.join('\n') || '[]') as T[];
    },
    exec: async (sql: string) => {
      await run(sql);
    },
    // FETCH cannot be wrapped in json_agg: the cursor yields one row_to_json text per line instead
    // (JSON text never holds a raw newline, so a line is a row).
    cursor: <T extends Record<string, unknown>>(sql: string, batchSize = CURSOR_BATCH) =>
      cursorRows<T>(
        async (q) => {
          await run(q);
        },
        async (q) => (await run(q)).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as T),
        sql,
        batchSize,
        (q) => `SELECT row_to_json(q)::text FROM (${q}) q`,
      ),
    close: async (force?: boolean) => {
      if (closed) return;
      if (force) {
        closed = true;
        child.kill();
        await child;
        return;
      }
      await chain;
      closed = true;
      child.stdin?.end('\\q\n');
      await child;
    },
  };
  // Fail early (bad password, unknown database) instead of on the first real query.
  try {
    await session.query('SELECT 1 AS ok');
  } catch (e) {
    closed = true;
    child.kill();
    await child;
    throw e;
  }
  return session;
}
