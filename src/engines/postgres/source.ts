/**
 * `PostgresSource`: one PostgreSQL database dumped with `pg_dump --clean --if-exists`, streamed
 * into an artifact, with server version, extensions and row counts read in the very snapshot the
 * dump sees; or every database of a server (`databases: 'all'` or a list) plus the roles and
 * tablespaces of `pg_dumpall --globals-only`.
 *
 * @module
 */
import { DumpError, isDuplicatiKitError, SourceUnavailableError } from '../../core/errors.js';
import { removePartials } from '../../core/artifact-writer.js';
import { type ClusterContext, type ClusterDumpOptions, planCluster, prepareCluster } from './cluster-source.js';
import { connectionDatabase, type ResolvedPgConnection } from './connection.js';
import { type PgServerInfo, readServerInfo } from './dump.js';
import { dumpInSnapshot } from './snapshot-dump.js';
import type { SqlSession } from './session.js';
import { configErrorFrom } from '../../core/validate.js';
import type { BackupSource, PreparedSource, SourceContext } from '../../contracts/types.js';
import { PgEndpoint } from './endpoint.js';
import {
  POSTGRES_KIND,
  POSTGRES_SOURCE_DEFAULTS,
  type PgDumpInfo,
  type PostgresDumpHooks,
  type PostgresSourceOptions,
  postgresSourceSchema,
} from './options.js';

const PROGRESS_STEP = 16 << 20;

/** How long a check's session waits for the prepare that follows it before it is closed. */
const KEEP_MS = 60_000;

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
  /** The check's session, kept for the prepare that follows (see `#keep`). */
  #kept:
    | { session: SqlSession; conn: ResolvedPgConnection; signal: AbortSignal; timer: ReturnType<typeof setTimeout> }
    | undefined;

  /**
   * @param options validated here; a ConfigError names every bad field
   * @param hooks app-specific extensions (advanced)
   * @param kind manifest kind (apps built on this source pass their own)
   */
  constructor(options: PostgresSourceOptions, hooks: PostgresDumpHooks = {}, kind: string = POSTGRES_KIND) {
    const parsed = postgresSourceSchema.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid PostgresSource options', parsed.error);
    this.#options = options;
    this.#hooks = hooks;
    this.name = options.name ?? POSTGRES_SOURCE_DEFAULTS.name;
    this.kind = kind;
    this.#endpoint = new PgEndpoint(
      options.connection,
      options.executor,
      options.binDirs,
      {
        source: this.name,
        kind,
      },
      options.toolVersions,
    );
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
      excludeDatabases: o.excludeDatabases ?? POSTGRES_SOURCE_DEFAULTS.excludeDatabases,
      globals: o.globals ?? POSTGRES_SOURCE_DEFAULTS.globals,
      rolePasswords: o.rolePasswords ?? POSTGRES_SOURCE_DEFAULTS.rolePasswords,
      concurrency: o.concurrency ?? POSTGRES_SOURCE_DEFAULTS.concurrency,
      format: o.format ?? POSTGRES_SOURCE_DEFAULTS.format,
      counts: o.counts ?? POSTGRES_SOURCE_DEFAULTS.counts,
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
    const session = await this.#openThenWarm(conn, this.database, 'check', ctx.signal);
    let kept = false;
    try {
      const cluster = this.#cluster();
      if (cluster) {
        await planCluster(this.#clusterContext(conn), cluster, session, 'check', ctx.signal);
        return;
      }
      const server = await readServerInfo(session);
      await this.#endpoint.tool('pg_dump', server.major, 'check', ctx.signal);
      kept = !ctx.dryRun && this.#keep(session, conn, ctx.signal);
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
      if (!kept) await session.close();
    }
  }

  /**
   * Keep the check's session for the prepare that follows it in a plan: a connection costs the
   * server a backend start (~10 ms on loopback, more with TLS and a password). Kept at most
   * {@link KEEP_MS}, and never holding the process open meanwhile.
   */
  #keep(session: SqlSession, conn: ResolvedPgConnection, signal: AbortSignal): boolean {
    if (this.#endpoint.executor.isDocker || !session.hold?.(false)) return false;
    this.#dropKept();
    const timer = setTimeout(() => this.#dropKept(), KEEP_MS);
    timer.unref();
    this.#kept = { session, conn, signal, timer };
    return true;
  }

  /** The kept session, if it was kept under the same signal (the same plan run); else closed. */
  #takeKept(signal: AbortSignal): { session: SqlSession; conn: ResolvedPgConnection } | undefined {
    const kept = this.#kept;
    if (!kept) return undefined;
    this.#kept = undefined;
    clearTimeout(kept.timer);
    if (kept.signal === signal && !signal.aborted && kept.session.hold?.(true)) return kept;
    void kept.session.close();
    return undefined;
  }

  #dropKept(): void {
    const kept = this.#kept;
    if (!kept) return;
    this.#kept = undefined;
    clearTimeout(kept.timer);
    void kept.session.close();
  }

  /**
   * The session and server of a prepare: the one the check kept when it still answers, or a new
   * one.
   */
  async #prepareSession(
    database: string,
    signal: AbortSignal,
  ): Promise<{ conn: ResolvedPgConnection; session: SqlSession; server: PgServerInfo }> {
    const kept = this.#takeKept(signal);
    if (kept) {
      try {
        return { ...kept, server: await readServerInfo(kept.session) };
      } catch {
        // gone meanwhile (a server restart, an idle timeout): a new connection below
        await kept.session.close(true);
      }
    }
    const conn = await this.#endpoint.resolve(signal);
    const session = await this.#openThenWarm(conn, database, 'prepare', signal);
    try {
      return { conn, session, server: await readServerInfo(session) };
    } catch (e) {
      await session.close(true);
      if (signal.aborted) throw signal.reason;
      throw new DumpError(
        `dumping "${database}" failed: ${(e as Error)?.message ?? String(e)}`,
        { source: this.name, kind: this.kind, phase: 'prepare' },
        { cause: e, secrets: this.#endpoint.secrets(conn), code: 'ERR_PG_DUMP' },
      );
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
    const format = this.#options.format ?? POSTGRES_SOURCE_DEFAULTS.format;
    const where = { source: this.name, kind: this.kind, phase: 'prepare' as const };
    const { conn, session, server } = await this.#prepareSession(database, signal);
    const secrets = this.#endpoint.secrets(conn);
    try {
      // The restore's free-space check inside the server needs the database's size, not the dump's.
      const size = await session.query<{ n: string }>('SELECT pg_database_size(current_database()) AS n');
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
        counts: this.#options.counts ?? POSTGRES_SOURCE_DEFAULTS.counts,
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
          databaseBytes: Number(size[0]?.n ?? 0),
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

  /**
   * Open a session and start the tool probes beside it (they need the server's major only to
   * choose). The connection is asked for first: spawning a probe holds the thread for a few
   * milliseconds, and the server starts its backend meanwhile.
   */
  async #openThenWarm(
    conn: ResolvedPgConnection,
    database: string,
    phase: 'check' | 'prepare',
    signal: AbortSignal,
  ): Promise<SqlSession> {
    const opening = this.#endpoint.open(conn, database, phase, signal);
    const warm = setImmediate(() => {
      this.#endpoint.executor.warm('pg_dump');
      if (this.#cluster()) this.#endpoint.executor.warm('pg_dumpall');
    });
    try {
      return await opening;
    } catch (e) {
      clearImmediate(warm);
      throw e;
    }
  }

  /** Remove partial dumps a crashed run left in this source's folder (idempotent). */
  async cleanup(ctx: SourceContext): Promise<void> {
    await removePartials(ctx.sourceDir);
  }
}
