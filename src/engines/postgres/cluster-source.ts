/**
 * The all-databases mode of `PostgresSource`: `pg_dumpall --globals-only` (roles, tablespaces)
 * into `globals.sql`, then one `pg_dump` per database into `databases/<db>.<ext>`, each in its
 * own exported snapshot with its own row counts.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { anySignal } from '../../core/abort.js';
import type { ArtifactRef } from '../../core/artifact-writer.js';
import { mapLimit } from '../../core/concurrency.js';
import { DumpError, isDuplicatiKitError, SourceUnavailableError } from '../../core/errors.js';
import { globToRegExp } from '../../core/filters.js';
import { databaseInfo, type PgDatabaseInfo } from './admin.js';
import { connectionArgs, type ResolvedPgConnection } from './connection.js';
import {
  type PgCountSelection,
  type PgDumpFormat,
  type PgServerInfo,
  readServerInfo,
  streamToolToArtifact,
} from './dump.js';
import type { FoundPgTool, PgExecutor } from './executor.js';
import { createGlobalsObserver } from './globals.js';
import type { SqlSession } from './session.js';
import { dumpInSnapshot } from './snapshot-dump.js';
import type { ParallelGzipOptions } from '../_shared/gzip-parallel.js';
import type { PgEndpoint } from './endpoint.js';
import type { PgDatabaseSelection } from './options.js';
import type { JsonValue, PreparedSource, SourceContext } from '../../contracts/types.js';

/** Manifest format of the globals artifact. */
export const PG_GLOBALS_FORMAT = 'pg_dumpall-globals';
/** File name of the globals artifact inside the source's folder. */
export const PG_GLOBALS_FILE = 'globals.sql';

/** The scratch databases a restore in progress creates (`<db>_restore_<8 hex>`): never dumped. */
const SCRATCH = /_restore_[0-9a-f]{8}$/;
const TEMPLATES = new Set(['template0', 'template1']);

/** Options of the all-databases mode, as `PostgresSource` passes them. */
export interface ClusterDumpOptions {
  readonly databases: PgDatabaseSelection;
  readonly excludeDatabases: readonly string[];
  readonly globals: boolean;
  readonly rolePasswords: boolean;
  readonly concurrency: number;
  readonly format: PgDumpFormat;
  readonly counts: PgCountSelection;
  readonly gzip?: ParallelGzipOptions;
  readonly pgDumpArgs?: readonly string[];
}

/** A database chosen for the dump, with the facts a restore needs to create it alike. */
export interface ClusterDatabase extends PgDatabaseInfo {
  readonly name: string;
}

/** True when the current database holds user relations (tables, views, sequences, …). */
export async function hasUserRelations(s: SqlSession): Promise<boolean> {
  const rows = await s.query<{ n: string | number }>(
    `SELECT count(*) AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
        AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
        AND NOT EXISTS (SELECT 1 FROM pg_depend d
                         WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`,
  );
  return Number(rows[0]?.n ?? 0) > 0;
}

/**
 * The databases to dump. `'all'`: every database that accepts connections, except templates,
 * restores in progress (`*_restore_<8 hex>`), `exclude` (globs with `*` and `?`), and
 * `postgres` when it holds no user relation (it usually is the empty maintenance database).
 * A list: exactly those, each of which must exist and accept connections.
 */
export async function selectDatabases(
  admin: SqlSession,
  selection: PgDatabaseSelection,
  exclude: readonly string[],
  openDb: (name: string) => Promise<SqlSession>,
): Promise<{ databases: ClusterDatabase[]; skipped: Record<string, string> }> {
  const skipped: Record<string, string> = {};
  const rows = await admin.query<{ name: string; conn: boolean; template: boolean }>(
    'SELECT datname AS name, datallowconn AS conn, datistemplate AS template FROM pg_database ORDER BY datname',
  );
  let names: string[];
  if (selection === 'all') {
    const ex = exclude.map(globToRegExp);
    names = [];
    for (const r of rows) {
      if (TEMPLATES.has(r.name) || r.template) continue;
      if (!r.conn) skipped[r.name] = 'does not accept connections';
      else if (SCRATCH.test(r.name)) skipped[r.name] = 'a restore in progress';
      else if (ex.some((re) => re.test(r.name))) skipped[r.name] = 'excluded';
      else names.push(r.name);
    }
    if (names.includes('postgres')) {
      const s = await openDb('postgres');
      try {
        if (!(await hasUserRelations(s))) {
          names = names.filter((n) => n !== 'postgres');
          skipped.postgres = 'holds no user tables';
        }
      } finally {
        await s.close(true);
      }
    }
  } else {
    const byName = new Map(rows.map((r) => [r.name, r]));
    const missing = selection.filter((n) => !byName.has(n));
    if (missing.length) throw new Error(`no database named ${missing.map((n) => `"${n}"`).join(', ')} on the server`);
    const closed = selection.filter((n) => byName.get(n)?.conn === false);
    if (closed.length)
      throw new Error(`database ${closed.map((n) => `"${n}"`).join(', ')} does not accept connections`);
    names = [...selection];
  }
  const databases: ClusterDatabase[] = [];
  for (const name of names) {
    const info = await databaseInfo(admin, name);
    if (info) databases.push({ name, ...info });
  }
  return { databases, skipped };
}

/**
 * A file name for database `name`: the name itself when it is a safe file name, else a safe
 * form plus a short hash; names equal up to case also get the hash (case-insensitive disks).
 */
export function databaseFileName(name: string, taken: Set<string>): string {
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  let base = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/.test(name) ? name : undefined;
  if (base === undefined) {
    const safe = name
      .replace(/[^A-Za-z0-9_.-]+/g, '_')
      .replace(/^[^A-Za-z0-9]+/, '')
      .slice(0, 60);
    base = `${safe || 'db'}-${hash}`;
  }
  if (taken.has(base.toLowerCase())) base = `${base}-${hash}`;
  taken.add(base.toLowerCase());
  return base;
}

/** argv of `pg_dumpall --globals-only` (exported for tests: no secret may appear in it). */
export function pgDumpallArgs(
  o: { readonly executor: PgExecutor; readonly conn: ResolvedPgConnection; readonly database: string },
  rolePasswords: boolean,
): string[] {
  const endpoint = o.executor.containerEndpoint;
  const target = endpoint ? { host: endpoint.host, port: endpoint.port, user: o.conn.user } : o.conn;
  return [
    '--globals-only',
    '--no-password',
    ...(rolePasswords ? [] : ['--no-role-passwords']),
    ...connectionArgs(target, o.database, '--database'),
  ];
}

/** Everything the cluster dump needs from the source. */
export interface ClusterContext {
  readonly endpoint: PgEndpoint;
  readonly conn: ResolvedPgConnection;
  /** The database the connection names: used to list databases and by pg_dumpall. */
  readonly connectDatabase: string;
  readonly where: { readonly source: string; readonly kind: string };
  readonly secrets: readonly string[];
}

/** Find the tools and the databases; shared by `check` and `prepare`. */
export async function planCluster(
  c: ClusterContext,
  o: ClusterDumpOptions,
  admin: SqlSession,
  phase: 'check' | 'prepare',
  signal: AbortSignal,
): Promise<{
  server: PgServerInfo;
  pgDump: FoundPgTool;
  pgDumpall: FoundPgTool | undefined;
  databases: ClusterDatabase[];
  skipped: Record<string, string>;
}> {
  const server = await readServerInfo(admin);
  const pgDump = await c.endpoint.tool('pg_dump', server.major, phase, signal);
  const pgDumpall = o.globals ? await c.endpoint.tool('pg_dumpall', server.major, phase, signal) : undefined;
  let picked: Awaited<ReturnType<typeof selectDatabases>>;
  try {
    picked = await selectDatabases(admin, o.databases, o.excludeDatabases, (db) =>
      c.endpoint.open(c.conn, db, phase, signal),
    );
  } catch (e) {
    if (signal.aborted || isDuplicatiKitError(e)) throw signal.aborted ? signal.reason : e;
    throw new SourceUnavailableError(
      `choosing the databases to dump failed: ${(e as Error).message}`,
      { ...c.where, phase },
      { cause: e, secrets: c.secrets, code: 'ERR_PG_DATABASES' },
    );
  }
  if (picked.databases.length === 0 && !o.globals) {
    throw new SourceUnavailableError(
      'no database to dump: every database was excluded',
      { ...c.where, phase },
      { code: 'ERR_PG_DATABASES' },
    );
  }
  return { server, pgDump, pgDumpall, ...picked };
}

const PROGRESS_STEP = 16 << 20;

/** Bytes written so far, reported every {@link PROGRESS_STEP}. */
function byteProgress(ctx: SourceContext): { onBytes: (n: number) => void; done: () => number } {
  let done = 0;
  let reported = 0;
  const onBytes = (n: number): void => {
    done += n;
    if (done - reported >= PROGRESS_STEP) {
      reported = done;
      ctx.onProgress({ phase: 'prepare', unit: 'bytes', completed: done, description: 'pg_dump' });
    }
  };
  return { onBytes, done: () => done };
}

/** `pg_dumpall --globals-only` into `globals.sql`, with the role and tablespace names it creates. */
async function dumpGlobals(
  c: ClusterContext,
  o: ClusterDumpOptions,
  pgDumpall: FoundPgTool,
  ctx: SourceContext,
  onBytes: (n: number) => void,
): Promise<{ ref: ArtifactRef; roles: string[]; tablespaces: string[] }> {
  const observer = createGlobalsObserver();
  const ref = await streamToolToArtifact({
    executor: c.endpoint.executor,
    tool: pgDumpall,
    label: 'pg_dumpall',
    args: pgDumpallArgs({ executor: c.endpoint.executor, conn: c.conn, database: c.connectDatabase }, o.rolePasswords),
    conn: c.conn,
    name: PG_GLOBALS_FILE,
    format: PG_GLOBALS_FORMAT,
    stages: [observer.stream],
    artifacts: ctx.artifacts,
    signal: ctx.signal,
    where: c.where,
    secrets: c.secrets,
    onBytes,
  });
  return { ref, roles: observer.roles, tablespaces: observer.tablespaces };
}

type DatabaseDump = Awaited<ReturnType<typeof dumpInSnapshot>>;

/** What {@link dumpDatabases} gives for a database dropped during the backup. */
const DROPPED = 'dropped during the backup';

/**
 * Dump every database, `o.concurrency` at once, each in its own snapshot; each artifact is pushed
 * to `written` as soon as it exists. The first failure stops the others and is thrown, naming its
 * database; a caller's abort is rethrown as-is. With `databases: 'all'`, a database whose dump
 * failed and that `exists` no longer finds was dropped since the listing: it is {@link DROPPED},
 * not a failure ("all" is every database there is).
 */
async function dumpDatabases(
  c: ClusterContext,
  o: ClusterDumpOptions,
  plan: { server: PgServerInfo; pgDump: FoundPgTool; databases: readonly ClusterDatabase[] },
  ctx: SourceContext,
  onBytes: (n: number) => void,
  written: ArtifactRef[],
  exists: (name: string) => Promise<boolean>,
): Promise<(DatabaseDump | typeof DROPPED)[]> {
  const signal = ctx.signal;
  const { server, pgDump, databases } = plan;
  const stop = new AbortController();
  const inner = anySignal(signal, stop.signal);
  const taken = new Set<string>();
  const files = databases.map((d) => databaseFileName(d.name, taken));
  const dbWriter = ctx.artifacts.scoped('databases');
  let failure: { error: unknown } | undefined;
  const results = await mapLimit(
    databases,
    o.concurrency,
    async (db, i) => {
      try {
        const session = await c.endpoint.open(c.conn, db.name, 'prepare', inner);
        try {
          const dumped = await dumpInSnapshot({
            endpoint: c.endpoint,
            session,
            conn: c.conn,
            info: { database: db.name, server, pgDump, format: o.format, startedAt: new Date() },
            hooks: {},
            baseName: files[i] as string,
            counts: o.counts,
            artifacts: dbWriter,
            workDir: ctx.workDir,
            signal: inner,
            where: c.where,
            secrets: c.secrets,
            ...(o.pgDumpArgs ? { pgDumpArgs: o.pgDumpArgs } : {}),
            ...(o.gzip ? { gzip: o.gzip } : {}),
            onBytes,
          });
          written.push(dumped.ref);
          ctx.logger.info('dumped PostgreSQL database', { database: db.name, bytes: dumped.ref.bytes });
          return dumped;
        } finally {
          await session.close(true);
        }
      } catch (e) {
        if (o.databases === 'all' && !failure && !inner.aborted && !(await exists(db.name).catch(() => true))) {
          ctx.logger.warn('a database was dropped during the backup; it is not in it', { database: db.name });
          return DROPPED;
        }
        // The first failure stops the others; their own "stopped" errors are not the story.
        if (!failure && !signal.aborted) {
          // Name the database: with dozens of them, "pg_dump failed" alone says too little.
          const error = new DumpError(
            `dumping database "${db.name}" failed: ${(e as Error)?.message ?? String(e)}`,
            { ...c.where, phase: 'prepare' },
            {
              cause: e,
              secrets: c.secrets,
              code: isDuplicatiKitError(e) ? e.code : 'ERR_PG_DUMP',
            },
          );
          failure = { error };
          stop.abort(error);
        }
        return undefined;
      }
    },
    inner,
  ).catch(() => undefined);
  if (signal.aborted) throw signal.reason;
  if (failure) throw failure.error;
  if (!results) throw new DumpError('the database dumps stopped', { ...c.where, phase: 'prepare' });
  return databases.map((db, i) => {
    const r = results[i];
    if (!r) throw new DumpError(`database "${db.name}" was not dumped`, { ...c.where, phase: 'prepare' });
    return r;
  });
}

/** The manifest's line for one dumped database: what a restore needs to create it alike. */
function databaseMetadata(db: ClusterDatabase, r: DatabaseDump): JsonValue {
  return {
    name: db.name,
    artifact: r.ref.path,
    owner: db.owner,
    encoding: db.encoding,
    collate: db.collate,
    ctype: db.ctype,
    extensions: r.extensions,
    counts: r.counts,
    countsFrom: r.countsFrom,
  };
}

/**
 * Dump the globals and every selected database. A failure of any part fails the whole: the
 * artifacts already written are removed and the first error is thrown (other dumps in flight are
 * stopped first). A caller's abort is rethrown as-is.
 */
export async function prepareCluster(
  c: ClusterContext,
  o: ClusterDumpOptions,
  ctx: SourceContext,
): Promise<PreparedSource> {
  const signal = ctx.signal;
  const admin = await c.endpoint.open(c.conn, c.connectDatabase, 'prepare', signal);
  const written: ArtifactRef[] = [];
  try {
    const plan = await planCluster(c, o, admin, 'prepare', signal);
    const { server, pgDump, pgDumpall, databases } = plan;
    const common = {
      cluster: true,
      selection: o.databases === 'all' ? 'all' : 'list',
      format: o.format,
      serverVersion: server.version,
      serverVersionNum: server.versionNum,
      serverMajor: server.major,
      pgDumpVersion: pgDump.version,
      pgDumpallVersion: pgDumpall?.version ?? null,
      executor: c.endpoint.executor.isDocker ? 'docker' : 'local',
      skipped: plan.skipped,
    } satisfies Record<string, JsonValue>;
    if (ctx.dryRun) {
      ctx.logger.info('dry run: would dump PostgreSQL databases', {
        databases: databases.map((d) => d.name),
        globals: o.globals,
      });
      return { artifacts: [], metadata: { dryRun: true, ...common, databases: databases.map((d) => d.name) } };
    }
    const progress = byteProgress(ctx);
    const globals = pgDumpall ? await dumpGlobals(c, o, pgDumpall, ctx, progress.onBytes) : undefined;
    if (globals) written.push(globals.ref);
    const exists = async (name: string): Promise<boolean> => (await databaseInfo(admin, name)) !== undefined;
    const results = await dumpDatabases(c, o, plan, ctx, progress.onBytes, written, exists);
    ctx.onProgress({ phase: 'prepare', unit: 'bytes', completed: progress.done(), description: 'pg_dump done' });
    const skipped: Record<string, string> = { ...plan.skipped };
    const dumped: { db: ClusterDatabase; r: DatabaseDump }[] = [];
    databases.forEach((db, i) => {
      const r = results[i] as DatabaseDump | typeof DROPPED;
      if (r === DROPPED) skipped[db.name] = DROPPED;
      else dumped.push({ db, r });
    });
    const perDb: JsonValue[] = dumped.map(({ db, r }) => databaseMetadata(db, r));
    const artifacts = [...(globals ? [globals.ref] : []), ...dumped.map(({ r }) => r.ref)];
    written.length = 0;
    return {
      artifacts,
      metadata: {
        ...common,
        skipped,
        globals: globals?.ref.path ?? null,
        rolePasswords: pgDumpall ? o.rolePasswords : null,
        roles: globals?.roles ?? [],
        tablespaces: globals?.tablespaces ?? [],
        databases: perDb,
      },
    };
  } catch (e) {
    await Promise.all(written.map((r) => fsp.rm(path.join(ctx.workDir, ...r.path.split('/')), { force: true })));
    if (signal.aborted) throw signal.reason;
    if (isDuplicatiKitError(e)) throw e;
    throw new DumpError(
      `dumping the PostgreSQL databases failed: ${(e as Error)?.message ?? String(e)}`,
      {
        ...c.where,
        phase: 'prepare',
      },
      { cause: e, secrets: c.secrets, code: 'ERR_PG_DUMP' },
    );
  } finally {
    await admin.close(true);
  }
}
