/**
 * `PostgresSource`: one PostgreSQL database dumped with `pg_dump --clean --if-exists`, streamed
 * into an artifact, with server version, extensions and row counts read in the very snapshot the
 * dump sees; or every database of a server (`databases: 'all'` or a list) plus the roles and
 * tablespaces of `pg_dumpall --globals-only`.
 *
 * @module
 */
import { z } from 'zod';
import { DumpError, isDuplicatiKitError, type Phase, SourceUnavailableError } from '../../core/errors.js';
import { removePartials } from '../../core/artifact-writer.js';
import type { ParallelGzipOptions } from '../_shared/gzip-parallel.js';
import {
  type ClusterContext,
  type ClusterDumpOptions,
  type PgDatabaseSelection,
  planCluster,
  prepareCluster,
} from './cluster-source.js';
import {
  connectionDatabase,
  connectionSecrets,
  type PgConnectionOptions,
  pgConnectionSchema,
  type ResolvedPgConnection,
  resolveConnection,
  safeNameSchema,
} from './connection.js';
import { type PgCountSelection, type PgDumpFormat, type PgServerInfo, readServerInfo } from './dump.js';
import {
  type FoundPgTool,
  PgExecutor,
  type PgExecutorOptions,
  type PgToolName,
  pgExecutorSchema,
  pgToolVersionMessage,
  pickPgTool,
} from './executor.js';
import { openDriverSession, openPsqlSession, type SqlSession } from './session.js';
import { dumpInSnapshot } from './snapshot-dump.js';
import { configErrorFrom } from '../../core/validate.js';
import type { BackupSource, JsonValue, PreparedSource, SourceContext } from '../../contracts/types.js';

/**
 * Options of {@link PostgresSource}.
 */
export interface PostgresSourceOptions {
  /** Name in the plan and the manifest. @default 'postgres' */
  readonly name?: string;
  /**
   * The server. Its `database` is the database dumped, or, with `databases`, the one the source
   * connects to in order to list databases and run pg_dumpall (usually `postgres`).
   */
  readonly connection: PgConnectionOptions;
  /**
   * Dump several databases instead of the connection's one: `'all'` (every database that
   * accepts connections, except templates and an empty `postgres`) or a list of names. Each is
   * dumped in its own snapshot into `databases/<db>.<ext>`, next to `globals.sql` from
   * `pg_dumpall --globals-only`. Not with `fileName`; `counts` must be `'all'` or `'none'`.
   */
  readonly databases?: PgDatabaseSelection;
  /** With `databases: 'all'`: names (globs with `*` and `?`) to leave out. */
  readonly excludeDatabases?: readonly string[];
  /** With `databases`: also dump roles and tablespaces (`pg_dumpall --globals-only`). @default true */
  readonly globals?: boolean;
  /**
   * With `globals`: include role password hashes. `false` runs `--no-role-passwords`, which
   * also works for a non-superuser (managed servers). @default true
   */
  readonly rolePasswords?: boolean;
  /** With `databases`: how many databases are dumped at once. @default 1 */
  readonly concurrency?: number;
  /** Where pg_dump runs. @default 'local' */
  readonly executor?: PgExecutorOptions;
  /**
   * `sql` (plain, best for Duplicati's deduplication), `sql.gz` (gzip on all cores, a
   * multi-member stream `gunzip` reads) or `custom` (`pg_dump -Fc`, restored with
   * `pg_restore --jobs`). @default 'sql'
   */
  readonly format?: PgDumpFormat;
  /** Tables whose rows are counted into the manifest. @default 'all' */
  readonly counts?: PgCountSelection;
  /** Parallel gzip tuning for `sql.gz` (level 5 unless given: the size of `gzip -6` for a third of the CPU). */
  readonly gzip?: ParallelGzipOptions;
  /** Folders searched first for pg_dump/psql (local executor). */
  readonly binDirs?: readonly string[];
  /** Extra pg_dump options, e.g. `['--exclude-table-data=audit_log']`. */
  readonly pgDumpArgs?: readonly string[];
  /** Base name of the dump file (extension added). @default the database name */
  readonly fileName?: string;
}

const databaseNameSchema = z
  .string()
  .min(1)
  .max(63)
  .refine((n) => n !== 'template0' && n !== 'template1', 'template databases are not dumped');

const sourceSchema = z
  .object({
    name: safeNameSchema.optional(),
    connection: pgConnectionSchema,
    databases: z
      .union([
        z.literal('all'),
        z
          .array(databaseNameSchema)
          .min(1)
          .refine((a) => new Set(a).size === a.length, 'names a database twice'),
      ])
      .optional(),
    excludeDatabases: z.array(z.string().min(1)).optional(),
    globals: z.boolean().optional(),
    rolePasswords: z.boolean().optional(),
    concurrency: z.number().int().min(1).max(16).optional(),
    executor: pgExecutorSchema.optional(),
    format: z.enum(['sql', 'sql.gz', 'custom']).optional(),
    counts: z.union([z.literal('all'), z.literal('none'), z.array(z.string().min(1))]).optional(),
    gzip: z
      .object({
        level: z.number().int().min(1).max(9).optional(),
        blockSize: z
          .number()
          .int()
          .min(64 * 1024)
          .max(64 << 20)
          .optional(),
        inFlight: z.number().int().min(1).max(64).optional(),
      })
      .strict()
      .optional(),
    binDirs: z.array(z.string().min(1)).optional(),
    pgDumpArgs: z
      .array(z.string().regex(/^--?[A-Za-z]/, 'must be an option'))
      .refine((a) => !a.some((x) => /^--?(password|W|f|file|F|format|snapshot)\b/.test(x)), {
        message: 'password, output file, format and snapshot options are set by the source',
      })
      .optional(),
    fileName: safeNameSchema.optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    const needs = (key: string, what: string): void =>
      ctx.addIssue({ code: 'custom', path: [key], message: `only with ${what}` });
    if (o.databases === undefined) {
      for (const key of ['globals', 'rolePasswords', 'concurrency', 'excludeDatabases'] as const) {
        if (o[key] !== undefined) needs(key, 'databases');
      }
      return;
    }
    if (o.excludeDatabases !== undefined && o.databases !== 'all') needs('excludeDatabases', "databases: 'all'");
    if (o.fileName !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['fileName'], message: 'not with databases (one file per database)' });
    }
    if (Array.isArray(o.counts)) {
      ctx.addIssue({ code: 'custom', path: ['counts'], message: "with databases, give 'all' or 'none'" });
    }
  });

/** What a {@link PostgresDumpHooks} callback learns about the dump in progress. */
export interface PgDumpInfo {
  readonly database: string;
  readonly server: PgServerInfo;
  readonly pgDump: FoundPgTool;
  readonly format: PgDumpFormat;
  readonly startedAt: Date;
}

/**
 * Extension points for app-specific sources built on {@link PostgresSource} (Immich uses them).
 * Every callback runs inside the dump's snapshot.
 */
export interface PostgresDumpHooks {
  /** Metadata read before pg_dump starts (e.g. the app version, needed for the file name). */
  before?(session: SqlSession, info: PgDumpInfo): Promise<Record<string, JsonValue>>;
  /** The artifact's file name. */
  artifactName?(info: PgDumpInfo, before: Readonly<Record<string, JsonValue>>): string;
  /** Metadata read while pg_dump runs (e.g. app-specific counts). */
  during?(session: SqlSession, info: PgDumpInfo): Promise<Record<string, JsonValue>>;
}

/** Shared plumbing of PostgreSQL sources and targets: connection, executor, tools, sessions. */
export class PgEndpoint {
  readonly executor: PgExecutor;
  constructor(
    readonly connection: PgConnectionOptions,
    executor: PgExecutorOptions | undefined,
    binDirs: readonly string[] | undefined,
    readonly where: { readonly source: string; readonly kind: string },
  ) {
    this.executor = new PgExecutor(executor ?? 'local', binDirs ?? []);
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

  /** Find `tool` at a major version that can handle `serverMajor`, or fail listing what exists. */
  async tool(name: PgToolName, serverMajor: number, phase: Phase, signal: AbortSignal): Promise<FoundPgTool> {
    const found = await this.executor.findTools(name, signal);
    const pick = pickPgTool(found, serverMajor);
    if (!pick) {
      throw new SourceUnavailableError(
        pgToolVersionMessage(name, found, serverMajor),
        { ...this.where, phase },
        {
          code: 'ERR_PG_TOOL_VERSION',
        },
      );
    }
    return pick;
  }
}

const PROGRESS_STEP = 16 << 20;

/**
 * A PostgreSQL database as a backup source: `pg_dump --clean --if-exists` streamed into
 * `<workDir>/<name>/<db>.sql` (or `.sql.gz`, `.dump`), sha256 computed while writing. Row counts,
 * extensions and the server version go into the manifest, read in the same snapshot as the dump
 * (REPEATABLE READ transaction + `pg_export_snapshot()` + `pg_dump --snapshot`).
 *
 * With `databases` (`'all'` or a list) it dumps a whole server instead: `globals.sql` from
 * `pg_dumpall --globals-only` (roles with their password hashes, tablespaces, memberships), then
 * `databases/<db>.<ext>` per database, each in its own snapshot with its own row counts. The
 * manifest lists the databases, their counts, owners and locales, and the role names (never a
 * hash). A failure of any database fails the source and removes what was written.
 *
 * `pg` is imported on first use, so importing the package stays light.
 *
 * @example
 * ```ts
 * import { createBackupPlan, PostgresSource } from 'duplicati-kit';
 * const plan = createBackupPlan({
 *   workDir: '/srv/backup/staging',
 *   sources: [
 *     new PostgresSource({ connection: { url: 'postgres://app@127.0.0.1/app' }, format: 'sql.gz' }),
 *     new PostgresSource({
 *       name: 'pg-server',
 *       connection: { host: '127.0.0.1', user: 'postgres', passwordFile: '/run/secrets/pg', database: 'postgres' },
 *       databases: 'all',
 *       excludeDatabases: ['*_scratch'],
 *       format: 'custom',
 *     }),
 *   ],
 * });
 * ```
 */
export class PostgresSource implements BackupSource {
  readonly name: string;
  readonly kind: string;
  readonly #options: PostgresSourceOptions;
  readonly #hooks: PostgresDumpHooks;
  readonly #endpoint: PgEndpoint;

  /**
   * @param options validated here; a ConfigError names every bad field
   * @param hooks app-specific extensions (advanced)
   * @param kind manifest kind (apps built on this source pass their own)
   */
  constructor(options: PostgresSourceOptions, hooks: PostgresDumpHooks = {}, kind = 'postgres') {
    const parsed = sourceSchema.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid PostgresSource options', parsed.error);
    this.#options = options;
    this.#hooks = hooks;
    this.name = options.name ?? 'postgres';
    this.kind = kind;
    this.#endpoint = new PgEndpoint(options.connection, options.executor, options.binDirs, {
      source: this.name,
      kind,
    });
  }

  /** The database this source dumps (with `databases`: the one it connects to, to list them). */
  get database(): string {
    return connectionDatabase(this.#options.connection);
  }

  /** The all-databases options, when `databases` was given. */
  #cluster(): ClusterDumpOptions | undefined {
    const o = this.#options;
    if (o.databases === undefined) return undefined;
    return {
      databases: o.databases,
      excludeDatabases: o.excludeDatabases ?? [],
      globals: o.globals ?? true,
      rolePasswords: o.rolePasswords ?? true,
      concurrency: o.concurrency ?? 1,
      format: o.format ?? 'sql',
      counts: o.counts ?? 'all',
      ...(o.gzip ? { gzip: o.gzip } : {}),
      ...(o.pgDumpArgs ? { pgDumpArgs: o.pgDumpArgs } : {}),
    };
  }

  #clusterContext(conn: ResolvedPgConnection): ClusterContext {
    return {
      endpoint: this.#endpoint,
      conn,
      connectDatabase: this.database,
      where: { source: this.name, kind: this.kind },
      secrets: this.#endpoint.secrets(conn),
    };
  }

  /**
   * Preflight: connect, read the server version, find a pg_dump (and, for all databases, a
   * pg_dumpall) at least as new; with `databases`, also check the databases to dump.
   */
  async check(ctx: SourceContext): Promise<void> {
    const conn = await this.#endpoint.resolve(ctx.signal);
    const session = await this.#endpoint.open(conn, this.database, 'check', ctx.signal);
    try {
      const cluster = this.#cluster();
      if (cluster) {
        await planCluster(this.#clusterContext(conn), cluster, session, 'check', ctx.signal);
        return;
      }
      const server = await readServerInfo(session);
      await this.#endpoint.tool('pg_dump', server.major, 'check', ctx.signal);
    } catch (e) {
      if (ctx.signal.aborted || isDuplicatiKitError(e)) throw ctx.signal.aborted ? ctx.signal.reason : e;
      throw new SourceUnavailableError(
        `checking "${this.database}" failed: ${(e as Error).message}`,
        {
          source: this.name,
          kind: this.kind,
          phase: 'check',
        },
        { cause: e, secrets: this.#endpoint.secrets(conn) },
      );
    } finally {
      await session.close();
    }
  }

  /** Dump the database (or the databases and globals); see the class description. */
  async prepare(ctx: SourceContext): Promise<PreparedSource> {
    const cluster = this.#cluster();
    if (cluster) {
      const conn = await this.#endpoint.resolve(ctx.signal);
      return prepareCluster(this.#clusterContext(conn), cluster, ctx);
    }
    const signal = ctx.signal;
    const database = this.database;
    const format = this.#options.format ?? 'sql';
    const conn = await this.#endpoint.resolve(signal);
    const secrets = this.#endpoint.secrets(conn);
    const where = { source: this.name, kind: this.kind, phase: 'prepare' as const };
    const session = await this.#endpoint.open(conn, database, 'prepare', signal);
    try {
      const server = await readServerInfo(session);
      const pgDump = await this.#endpoint.tool('pg_dump', server.major, 'prepare', signal);
      const info: PgDumpInfo = { database, server, pgDump, format, startedAt: new Date() };
      if (ctx.dryRun) {
        ctx.logger.info('dry run: would dump', { database, format, pgDump: pgDump.version });
        return { artifacts: [], metadata: { dryRun: true, database, serverVersion: server.version } };
      }
      let done = 0;
      let reported = 0;
      const dumped = await dumpInSnapshot({
        endpoint: this.#endpoint,
        session,
        conn,
        info,
        hooks: this.#hooks,
        baseName: this.#options.fileName ?? database,
        counts: this.#options.counts ?? 'all',
        artifacts: ctx.artifacts,
        workDir: ctx.workDir,
        signal,
        where: { source: this.name, kind: this.kind },
        secrets,
        ...(this.#options.pgDumpArgs ? { pgDumpArgs: this.#options.pgDumpArgs } : {}),
        ...(this.#options.gzip ? { gzip: this.#options.gzip } : {}),
        onBytes: (n) => {
          done += n;
          if (done - reported >= PROGRESS_STEP) {
            reported = done;
            ctx.onProgress({ phase: 'prepare', unit: 'bytes', completed: done, description: 'pg_dump' });
          }
        },
      });
      const ref = dumped.ref;
      ctx.onProgress({ phase: 'prepare', unit: 'bytes', completed: done, description: 'pg_dump done' });
      ctx.logger.info('dumped PostgreSQL database', { database, bytes: ref.bytes, format });
      return {
        artifacts: [ref],
        metadata: {
          database,
          format,
          serverVersion: server.version,
          serverVersionNum: server.versionNum,
          serverMajor: server.major,
          pgDumpVersion: pgDump.version,
          executor: this.#endpoint.executor.isDocker ? 'docker' : 'local',
          extensions: dumped.extensions,
          counts: dumped.counts,
          countsFrom: dumped.countsFrom,
          ...dumped.extra,
        },
      };
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      if (isDuplicatiKitError(e)) throw e;
      throw new DumpError(`dumping "${database}" failed: ${(e as Error)?.message ?? String(e)}`, where, {
        cause: e,
        secrets,
        code: 'ERR_PG_DUMP',
      });
    } finally {
      await session.close(true);
    }
  }

  /** Remove partial dumps a crashed run left in this source's folder (idempotent). */
  async cleanup(ctx: SourceContext): Promise<void> {
    await removePartials(ctx.sourceDir);
  }
}
