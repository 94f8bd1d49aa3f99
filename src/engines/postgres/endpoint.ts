/**
 * `PgEndpoint`: the plumbing PostgreSQL sources and targets share (connection, executor, tools,
 * sessions). Its own file so the dump and restore helpers can take one without importing the source.
 *
 * @module
 */
import { type Phase, SourceUnavailableError } from '../../core/errors.js';
import type { ToolVersionCache } from '../../core/tool-versions.js';
import {
  connectionSecrets,
  type PgConnectionOptions,
  type ResolvedPgConnection,
  resolveConnection,
} from './connection.js';
import {
  type FoundPgTool,
  PgExecutor,
  type PgExecutorOptions,
  type PgToolName,
  pgToolVersionMessage,
} from './executor.js';
import { openDriverSession, openPsqlSession, type SqlSession } from './session.js';
import { POSTGRES_SOURCE_DEFAULTS } from './options.js';

/** Shared plumbing of PostgreSQL sources and targets: connection, executor, tools, sessions. */
export class PgEndpoint {
  readonly executor: PgExecutor;
  /** Tools found so far, by `<tool>@<server major>`. */
  readonly #tools = new Map<string, FoundPgTool>();
  constructor(
    readonly connection: PgConnectionOptions,
    executor: PgExecutorOptions | undefined,
    binDirs: readonly string[] | undefined,
    readonly where: { readonly source: string; readonly kind: string },
    toolVersions?: ToolVersionCache,
  ) {
    this.executor = new PgExecutor(
      executor ?? POSTGRES_SOURCE_DEFAULTS.executor,
      binDirs ?? POSTGRES_SOURCE_DEFAULTS.binDirs,
      toolVersions,
    );
  }

  /** Secrets to redact, including a password read from a file. */
  secrets(resolved?: ResolvedPgConnection): string[] {
    return connectionSecrets(this.connection, resolved);
  }

  /** Load the password and normalise the connection. */
  resolve(signal: AbortSignal): Promise<ResolvedPgConnection> {
    return resolveConnection(this.connection, signal);
  }

  /** Where errors say the server is, without credentials. */
  describe(conn: ResolvedPgConnection, database: string): string {
    if (this.executor.isDocker) return `database "${database}" (through docker exec)`;
    return `database "${database}" at ${conn.host ?? 'localhost'}:${conn.port ?? 5432}`;
  }

  /**
   * Open a session (driver for local tools, psql inside the container for docker). Connection
   * failures become {@link SourceUnavailableError} without the password.
   */
  async open(conn: ResolvedPgConnection, database: string, phase: Phase, signal: AbortSignal): Promise<SqlSession> {
    try {
      if (!this.executor.isDocker) return await openDriverSession(conn, database, signal);
      return await openPsqlSession(this.executor, 'psql', conn, database, signal);
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      throw new SourceUnavailableError(
        `cannot connect to PostgreSQL ${this.describe(conn, database)}: ${(e as Error).message ?? String(e)}`,
        { ...this.where, phase },
        { cause: e, secrets: this.secrets(conn), code: 'ERR_PG_CONNECT' },
      );
    }
  }

  /**
   * Find `tool` at a major version that can handle `serverMajor`, or fail listing what exists.
   * A tool found is remembered for this endpoint (a plan's `check` and `prepare` look it up twice
   * in one process, and each lookup starts the tools with `--version`).
   */
  async tool(name: PgToolName, serverMajor: number, phase: Phase, signal: AbortSignal): Promise<FoundPgTool> {
    const key = `${name}@${serverMajor}`;
    const known = this.#tools.get(key);
    if (known) return known;
    const { pick, found } = await this.executor.findToolFor(name, serverMajor, signal);
    if (!pick) {
      throw new SourceUnavailableError(
        pgToolVersionMessage(name, found, serverMajor),
        { ...this.where, phase },
        {
          code: 'ERR_PG_TOOL_VERSION',
        },
      );
    }
    this.#tools.set(key, pick);
    return pick;
  }
}
