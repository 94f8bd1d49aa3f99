/**
 * MySQL/MariaDB plumbing shared by `MysqlSource` and `MysqlTarget`: connection options, the
 * client tools (`mariadb-dump`/`mysqldump`, `mariadb`/`mysql`), an option file carrying the
 * password (never argv), and SQL run through the command-line client in batch mode.
 *
 * On Linux the option file has no name: it is created in a private folder, unlinked, and only then
 * written; the tools read it through `/proc/<pid>/fd/<n>` of this process. No path ever holds the
 * password, and the kernel frees it when the process ends — a SIGKILL included. Elsewhere it is a
 * 0600 file in a 0700 temporary folder, removed by `close()`.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { runChild, startChild } from '../../core/child.js';
import { z } from 'zod';
import { throwIfAborted } from '../../core/abort.js';
import { type Phase, SourceUnavailableError } from '../../core/errors.js';
import { redactText } from '../../core/redact.js';

/**
 * Where the server is and who connects. The password comes from `password` or `passwordFile`
 * (first line, trailing newline removed); it reaches the client tools through an option file that
 * has no name on Linux (see the module notes), never through argv.
 *
 * @example
 * ```ts
 * const conn: MysqlConnectionOptions = { host: '127.0.0.1', port: 3306, user: 'backup', passwordFile: '/run/secrets/db', database: 'nextcloud' };
 * ```
 */
export interface MysqlConnectionOptions {
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** @default 3306 */
  readonly port?: number;
  /**
   * Connect through this Unix socket instead of TCP (e.g. `/run/mysqld/mysqld.sock`, needed for
   * Debian's root account, which authenticates by the system user rather than a password).
   */
  readonly socket?: string;
  readonly user: string;
  readonly password?: string;
  readonly passwordFile?: string;
  /** One database. */
  readonly database?: string;
  /** Several databases, or `'all'` (every database except the system ones). */
  readonly databases?: readonly string[] | 'all';
}

/** A MySQL identifier the library accepts (and quotes with backticks everywhere). */
export const mysqlIdentSchema = z
  .string()
  .regex(/^[A-Za-z0-9_$][A-Za-z0-9_$-]{0,63}$/, 'must be 1-64 letters, digits, "_", "$" or "-"');

/** zod schema of {@link MysqlConnectionOptions}. */
export const mysqlConnectionSchema = z
  .object({
    host: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    socket: z.string().min(1).optional(),
    user: z.string().min(1),
    password: z.string().optional(),
    passwordFile: z.string().min(1).optional(),
    database: mysqlIdentSchema.optional(),
    databases: z.union([z.literal('all'), z.array(mysqlIdentSchema).min(1)]).optional(),
  })
  .strict()
  .refine((c) => !(c.password !== undefined && c.passwordFile !== undefined), {
    message: 'give password or passwordFile, not both',
    path: ['passwordFile'],
  });

/** Databases never dumped by `databases: 'all'`. */
export const MYSQL_SYSTEM_DATABASES: readonly string[] = ['information_schema', 'performance_schema', 'mysql', 'sys'];

/** Quote an identifier with backticks. */
export function quoteMysqlIdent(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/** Quote a string literal. */
export function quoteMysqlLiteral(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** The text of an option file giving `password` to the client tools (exported for tests). */
export function optionFileText(password: string): string {
  const escaped = password.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  return `[client]\npassword="${escaped}"\n`;
}

/** True when another process can open `fh` through `/proc/<pid>/fd/<n>` (Linux). */
async function procFdWorks(fh: fsp.FileHandle): Promise<boolean> {
  if (process.platform !== 'linux') return false;
  try {
    const st = await fsp.stat(`/proc/${process.pid}/fd/${fh.fd}`);
    return st.isFile();
  } catch {
    return false;
  }
}

/** The client tools the library runs. */
export type MysqlToolName = 'dump' | 'client';

const CANDIDATES: Readonly<Record<MysqlToolName, readonly string[]>> = {
  dump: ['mariadb-dump', 'mysqldump'],
  client: ['mariadb', 'mysql'],
};

/** One row of a batch-mode result: tab-separated columns, `\t`/`\n`/`\\`/`\0` unescaped. */
export function parseBatchLine(line: string): string[] {
  return line
    .split('\t')
    .map((c) => c.replace(/\\(.)/g, (_, ch: string) => ({ n: '\n', t: '\t', '0': '\0', '\\': '\\' })[ch] ?? ch));
}

/**
 * A resolved connection: the password loaded, the tools found and an option file ready. Call
 * {@link MysqlEndpoint.close} in `finally` to remove the option file.
 */
export class MysqlEndpoint {
  readonly #conn: MysqlConnectionOptions;
  readonly #where: { readonly source: string; readonly kind: string };
  #password: string | undefined;
  #dir: string | undefined;
  /** The option file, held open (on Linux already unlinked). */
  #file: fsp.FileHandle | undefined;
  readonly #tools = new Map<MysqlToolName, string>();
  #sandbox = false;

  constructor(conn: MysqlConnectionOptions, where: { readonly source: string; readonly kind: string }) {
    this.#conn = conn;
    this.#where = where;
  }

  /** Host and port for messages (no credentials). */
  get address(): string {
    return this.#conn.socket ?? `${this.#conn.host ?? '127.0.0.1'}:${this.#conn.port ?? 3306}`;
  }

  /** Secrets to redact from any text. */
  get secrets(): string[] {
    return [this.#conn.password, this.#password].filter((s): s is string => typeof s === 'string' && s.length > 0);
  }

  /** Load the password, write the option file, find the tools. */
  async open(phase: Phase, signal: AbortSignal): Promise<this> {
    throwIfAborted(signal);
    if (this.#conn.passwordFile !== undefined) {
      try {
        this.#password = (await fsp.readFile(this.#conn.passwordFile, 'utf8')).split(/\r?\n/)[0] ?? '';
      } catch (e) {
        throw new SourceUnavailableError(
          `cannot read passwordFile ${this.#conn.passwordFile}: ${(e as Error).message}`,
          { ...this.#where, phase },
          { cause: e },
        );
      }
    } else {
      this.#password = this.#conn.password;
    }
    try {
      await this.#writeOptionFile();
      for (const tool of ['dump', 'client'] as const) this.#tools.set(tool, await this.#find(tool, phase, signal));
      this.#sandbox = await this.#hasSandbox(signal);
    } catch (e) {
      await this.close();
      throw e;
    }
    return this;
  }

  /**
   * Create the option file. On Linux it is unlinked before the password is written, so a crash at
   * any instant leaves at most an empty folder; the tools open it through /proc.
   */
  async #writeOptionFile(): Promise<void> {
    const dir = await fsp.mkdtemp(path.join(tmpdir(), 'dk-mysql-'));
    this.#dir = dir;
    await fsp.chmod(dir, 0o700);
    const file = path.join(dir, 'client.cnf');
    this.#file = await fsp.open(file, 'wx+', 0o600);
    if (await procFdWorks(this.#file)) {
      await fsp.rm(dir, { recursive: true, force: true });
      this.#dir = undefined;
    }
    await this.#file.writeFile(optionFileText(this.#password ?? ''));
    await this.#file.sync();
  }

  /** Close and remove the option file. Idempotent. */
  async close(): Promise<void> {
    const dir = this.#dir;
    const file = this.#file;
    this.#dir = undefined;
    this.#file = undefined;
    await file?.close().catch(() => {});
    if (dir) await fsp.rm(dir, { recursive: true, force: true });
  }

  #optionFile(): string {
    if (!this.#file) throw new Error('MysqlEndpoint used before open()');
    return this.#dir ? path.join(this.#dir, 'client.cnf') : `/proc/${process.pid}/fd/${this.#file.fd}`;
  }

  async #find(tool: MysqlToolName, phase: Phase, signal: AbortSignal): Promise<string> {
    for (const name of CANDIDATES[tool]) {
      const r = await runChild(name, ['--version'], { timeoutMs: 30_000, signal });
      throwIfAborted(signal);
      if (r.exitCode === 0) return name;
    }
    throw new SourceUnavailableError(
      `none of ${CANDIDATES[tool].join(', ')} was found on PATH; install the MariaDB or MySQL client tools (e.g. mariadb-client)`,
      { ...this.#where, phase },
      { code: 'ERR_MYSQL_TOOL' },
    );
  }

  /** True when the client knows `--sandbox` (MariaDB 10.5.25, 10.6.18, 10.11.8, 11.0.6 and later). */
  async #hasSandbox(signal: AbortSignal): Promise<boolean> {
    const r = await runChild(this.tool('client'), ['--sandbox', '--version'], { timeoutMs: 30_000, signal });
    throwIfAborted(signal);
    return r.exitCode === 0;
  }

  /**
   * Argv prefix of the command-line client: {@link baseArgs}, then `--binary-mode`, which turns
   * off every client command but `\C` and `DELIMITER` in non-interactive input (no `\!`,
   * `system`, `source`, `tee`, `pager`, …), and `--sandbox` where the client has it. SQL read from
   * a dump or from a restored database's definitions can then only ever be SQL.
   */
  clientArgs(): string[] {
    return [...this.baseArgs(), '--binary-mode', ...(this.#sandbox ? ['--sandbox'] : [])];
  }

  /** The path of a found tool. */
  tool(tool: MysqlToolName): string {
    const t = this.#tools.get(tool);
    if (!t) throw new Error('MysqlEndpoint used before open()');
    return t;
  }

  /** Argv prefix every tool takes: the option file first (the tools require that), then where and who. */
  baseArgs(): string[] {
    const where = this.#conn.socket
      ? [`--socket=${this.#conn.socket}`, '--protocol=SOCKET']
      : [`--host=${this.#conn.host ?? '127.0.0.1'}`, `--port=${this.#conn.port ?? 3306}`, '--protocol=TCP'];
    return [`--defaults-extra-file=${this.#optionFile()}`, ...where, `--user=${this.#conn.user}`];
  }

  /** Redact secrets from tool output. */
  redact(text: string): string {
    return redactText(text, this.secrets);
  }

  /**
   * Run SQL through the client in batch mode and return the rows. A failure throws an Error
   * whose message is the redacted stderr (the caller wraps it in its typed error).
   */
  async query(sql: string, signal: AbortSignal, database?: string): Promise<string[][]> {
    const r = await runChild(
      this.tool('client'),
      [...this.clientArgs(), '--batch', '--skip-column-names', ...(database ? [`--database=${database}`] : [])],
      { input: sql, signal, maxBuffer: 64 << 20 },
    );
    if (signal.aborted) throw signal.reason;
    if (r.truncated) throw new Error('the query returned more than 64 MiB');
    if (r.exitCode !== 0) {
      const err = this.redact(String(r.stderr).trim()) || `exit ${r.exitCode ?? r.signal}`;
      throw new Error(err);
    }
    const out = String(r.stdout);
    return out === '' ? [] : out.split('\n').map(parseBatchLine);
  }

  /**
   * Take the server-wide named lock `name` (`GET_LOCK`, no wait) in a client process of its own
   * that keeps its session open until `release` — or until this process dies: the client then
   * reads the end of its input, exits, and the server frees the lock with the session. Returns
   * undefined when another session holds it.
   */
  async holdLock(name: string, signal: AbortSignal): Promise<{ release: () => Promise<void> } | undefined> {
    const child = startChild(
      this.tool('client'),
      [...this.baseArgs(), '--batch', '--skip-column-names', '--unbuffered'],
      {
        stdin: 'pipe',
        stdout: 'pipe',
        stderr: 'pipe',
        signal,
      },
    );
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      stderr = (stderr + d).slice(-4000);
    });
    child.stdin?.write(`SELECT GET_LOCK(${quoteMysqlLiteral(name)}, 0);\n`);
    const first = await lines.next();
    if (first.done || first.value.trim() !== '1') {
      child.stdin?.end();
      await child;
      if (first.done) throw new Error(this.redact(stderr.trim()) || 'the client holding the restore lock ended');
      return undefined;
    }
    return {
      release: async () => {
        // Freed by the server before this returns: a client that only quits leaves the server to
        // free the lock when it gets round to ending the connection, and a claim made right after
        // (a rollback following its restore) could still find it held.
        if (child.stdin && !child.stdin.destroyed && !child.stdin.writableEnded) {
          child.stdin.on('error', () => {});
          child.stdin.write(`SELECT RELEASE_LOCK(${quoteMysqlLiteral(name)});\n`);
          await lines.next().catch(() => undefined);
        }
        child.stdin?.end();
        await child;
      },
    };
  }

  /** The server's version string, e.g. `10.11.19-MariaDB-0+deb12u1`. */
  async version(signal: AbortSignal): Promise<string> {
    return (await this.query('SELECT VERSION();', signal))[0]?.[0] ?? '';
  }

  /** Every user database (system databases left out). */
  async listDatabases(signal: AbortSignal): Promise<string[]> {
    const rows = await this.query('SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY 1;', signal);
    return rows.map((r) => r[0] ?? '').filter((d) => d && !MYSQL_SYSTEM_DATABASES.includes(d));
  }

  /** True when `database` exists. */
  async exists(database: string, signal: AbortSignal): Promise<boolean> {
    const rows = await this.query(
      `SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${quoteMysqlLiteral(database)};`,
      signal,
    );
    return rows[0]?.[0] === '1';
  }

  /** Base tables of `database`. */
  async baseTables(database: string, signal: AbortSignal): Promise<string[]> {
    const rows = await this.query(
      `SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${quoteMysqlLiteral(database)} AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1;`,
      signal,
    );
    return rows.map((r) => r[0] ?? '');
  }

  /**
   * Exact `COUNT(*)` of `tables` (all base tables when undefined) of each database, read in one
   * `START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY` so the numbers belong together.
   */
  async countRows(
    selection: Readonly<Record<string, readonly string[] | undefined>>,
    signal: AbortSignal,
  ): Promise<Record<string, Record<string, number>>> {
    const lists: [string, readonly string[]][] = [];
    for (const [db, tables] of Object.entries(selection))
      lists.push([db, tables ?? (await this.baseTables(db, signal))]);
    const selects = lists.flatMap(([db, tables]) =>
      tables.map(
        (t) =>
          `SELECT ${quoteMysqlLiteral(db)}, ${quoteMysqlLiteral(t)}, COUNT(*) FROM ${quoteMysqlIdent(db)}.${quoteMysqlIdent(t)};`,
      ),
    );
    const out: Record<string, Record<string, number>> = Object.fromEntries(lists.map(([db]) => [db, {}]));
    if (!selects.length) return out;
    const sql = ['START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY;', ...selects, 'COMMIT;'].join('\n');
    for (const [db, table, n] of await this.query(sql, signal)) {
      if (db === undefined || table === undefined) continue;
      const perDb = out[db] ?? {};
      perDb[table] = Number(n);
      out[db] = perDb;
    }
    return out;
  }
}

/** A scratch-style name: `<base><suffix>`, cut so the whole stays within MySQL's 64 characters. */
export function mysqlBoundedName(base: string, suffix: string): string {
  return `${base.slice(0, 64 - suffix.length)}${suffix}`;
}

/** A random suffix for scratch databases. */
export function randomTag(): string {
  return randomBytes(4).toString('hex');
}
