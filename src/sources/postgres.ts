/**
 * `PostgresSource`: one PostgreSQL database dumped with `pg_dump --clean --if-exists`, streamed
 * into an artifact, with server version, extensions and row counts read in the very snapshot the
 * dump sees.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { anySignal } from '../core/abort.js';
import type { ArtifactRef } from '../core/artifact-writer.js';
import { DumpError, isDuplicatiKitError, type Phase, SourceUnavailableError } from '../core/errors.js';
import { removePartials } from '../core/artifact-writer.js';
import type { ParallelGzipOptions } from './gzip-parallel.js';
import {
  connectionDatabase,
  connectionSecrets,
  type PgConnectionOptions,
  pgConnectionSchema,
  type ResolvedPgConnection,
  resolveConnection,
  safeNameSchema,
} from './pg-connection.js';
import {
  countRows,
  PG_DUMP_EXTENSION,
  type PgCountSelection,
  type PgDumpFormat,
  type PgServerInfo,
  readExtensions,
  readServerInfo,
  runPgDump,
} from './pg-dump.js';
import {
  type FoundPgTool,
  PgExecutor,
  type PgExecutorOptions,
  type PgToolName,
  pgExecutorSchema,
  pgToolVersionMessage,
  pickPgTool,
} from './pg-executor.js';
import { openDriverSession, openPsqlSession, type SqlSession } from './pg-session.js';
import { configErrorFrom } from './plan.js';
import type { BackupSource, JsonValue, PreparedSource, SourceContext } from './types.js';

/**
 * Options of {@link PostgresSource}.
 */
export interface PostgresSourceOptions {
  /** Name in the plan and the manifest. @default 'postgres' */
  readonly name?: string;
  readonly connection: PgConnectionOptions;
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

const sourceSchema = z
  .object({
    name: safeNameSchema.optional(),
    connection: pgConnectionSchema,
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
  .strict();

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

/** The counts `selection` asks for, or the names it asks for that the dump does not hold. */
function pickCounts(all: Record<string, number>, selection: PgCountSelection): Record<string, number> | string {
  if (selection === 'all') return all;
  if (selection === 'none') return {};
  const out: Record<string, number> = {};
  const missing: string[] = [];
  for (const name of selection) {
    const key = name.includes('.') ? name : `public.${name}`;
    const n = all[key];
    if (n === undefined) missing.push(key);
    else out[key] = n;
  }
  return missing.length ? missing.join(', ') : out;
}

/**
 * A PostgreSQL database as a backup source: `pg_dump --clean --if-exists` streamed into
 * `<workDir>/<name>/<db>.sql` (or `.sql.gz`, `.dump`), sha256 computed while writing. Row counts,
 * extensions and the server version go into the manifest, read in the same snapshot as the dump
 * (REPEATABLE READ transaction + `pg_export_snapshot()` + `pg_dump --snapshot`).
 *
 * `pg` is imported on first use, so importing the package stays light.
 *
 * @example
 * ```ts
 * import { createBackupPlan, PostgresSource } from 'duplicati-kit';
 * const plan = createBackupPlan({
 *   workDir: '/srv/backup/staging',
 *   sources: [new PostgresSource({ connection: { url: 'postgres://app@127.0.0.1/app' }, format: 'sql.gz' })],
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

  /** The database this source dumps. */
  get database(): string {
    return connectionDatabase(this.#options.connection);
  }

  /** Preflight: connect, read the server version, find a pg_dump at least as new. */
  async check(ctx: SourceContext): Promise<void> {
    const conn = await this.#endpoint.resolve(ctx.signal);
    const session = await this.#endpoint.open(conn, this.database, 'check', ctx.signal);
    try {
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

  /** Dump the database; see the class description. */
  async prepare(ctx: SourceContext): Promise<PreparedSource> {
    const signal = ctx.signal;
    const database = this.database;
    const format = this.#options.format ?? 'sql';
    const conn = await this.#endpoint.resolve(signal);
    const secrets = this.#endpoint.secrets(conn);
    const where = { source: this.name, kind: this.kind, phase: 'prepare' as const };
    const session = await this.#endpoint.open(conn, database, 'prepare', signal);
    let committed: ArtifactRef | undefined;
    try {
      const server = await readServerInfo(session);
      const pgDump = await this.#endpoint.tool('pg_dump', server.major, 'prepare', signal);
      const info: PgDumpInfo = { database, server, pgDump, format, startedAt: new Date() };
      if (ctx.dryRun) {
        ctx.logger.info('dry run: would dump', { database, format, pgDump: pgDump.version });
        return { artifacts: [], metadata: { dryRun: true, database, serverVersion: server.version } };
      }
      await session.exec('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const snapshot = String((await session.query<{ id: string }>('SELECT pg_export_snapshot() AS id'))[0]?.id);
      const extensions = await readExtensions(session);
      const before = this.#hooks.before ? await this.#hooks.before(session, info) : {};
      const name =
        this.#hooks.artifactName?.(info, before) ??
        `${this.#options.fileName ?? database}.${PG_DUMP_EXTENSION[format]}`;

      const selection = this.#options.counts ?? 'all';
      // Plain dumps are counted from their own COPY data as they stream: exact for the file, and
      // no second scan of the database. Custom archives are counted in the exported snapshot.
      const fromStream = format !== 'custom' && selection !== 'none';
      const stop = new AbortController();
      let done = 0;
      let reported = 0;
      const dump = runPgDump({
        executor: this.#endpoint.executor,
        pgDump,
        conn,
        database,
        format,
        name,
        artifacts: ctx.artifacts,
        signal: anySignal(signal, stop.signal),
        snapshot,
        ...(this.#options.pgDumpArgs ? { extraArgs: this.#options.pgDumpArgs } : {}),
        ...(this.#options.gzip ? { gzip: this.#options.gzip } : {}),
        where: { source: this.name, kind: this.kind },
        secrets,
        countRows: fromStream,
        onBytes: (n) => {
          done += n;
          if (done - reported >= PROGRESS_STEP) {
            reported = done;
            ctx.onProgress({ phase: 'prepare', unit: 'bytes', completed: done, description: 'pg_dump' });
          }
        },
      });
      // A failed dump must not wait for counts still scanning a large table.
      dump.catch(() => session.close(true));
      const during = (async () => {
        const counts = fromStream ? undefined : await countRows(session, selection);
        const extra = this.#hooks.during ? await this.#hooks.during(session, info) : {};
        return { counts, extra };
      })();
      const [d, m] = await Promise.allSettled([dump, during]);
      if (d.status === 'fulfilled') committed = d.value.ref;
      if (signal.aborted) throw signal.reason;
      if (d.status === 'rejected') throw d.reason;
      if (m.status === 'rejected') {
        stop.abort();
        throw new DumpError(
          `reading row counts of "${database}" in the dump's snapshot failed: ${(m.reason as Error)?.message}`,
          where,
          { cause: m.reason, secrets, code: 'ERR_PG_METADATA' },
        );
      }
      const counts = fromStream ? pickCounts(d.value.counts ?? {}, selection) : (m.value.counts ?? {});
      if (typeof counts === 'string') {
        throw new DumpError(`the dump of "${database}" holds no data for ${counts}`, where, {
          secrets,
          code: 'ERR_PG_METADATA',
        });
      }
      await session.exec('COMMIT');
      const ref = committed as ArtifactRef;
      committed = undefined;
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
          extensions,
          counts,
          countsFrom: fromStream ? 'dump' : 'snapshot',
          ...before,
          ...m.value.extra,
        },
      };
    } catch (e) {
      if (committed) await fsp.rm(path.join(ctx.workDir, ...committed.path.split('/')), { force: true });
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
