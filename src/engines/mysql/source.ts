/**
 * `MysqlSource`: MySQL/MariaDB databases dumped with `mariadb-dump`/`mysqldump
 * --single-transaction`, one artifact per database, with exact row counts in the manifest.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { PassThrough, type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ArtifactRef } from '../../core/artifact-writer.js';
import { removePartials } from '../../core/artifact-writer.js';
import { DumpError, isDuplicatiKitError, SourceUnavailableError } from '../../core/errors.js';
import { MysqlEndpoint, quoteMysqlIdent } from './client.js';
import { createBlockStream } from '../_shared/block-stream.js';
import { createParallelGzip } from '../_shared/gzip-parallel.js';
import { spawnTool } from '../_shared/spawn.js';
import { createMysqlRowCounter } from './row-counter.js';
import { configErrorFrom } from '../../core/validate.js';
import type { BackupSource, JsonValue, PreparedSource, SourceContext } from '../../contracts/types.js';
import { MYSQL_KIND, MYSQL_SOURCE_DEFAULTS, type MysqlSourceOptions, mysqlSourceSchema } from './options.js';

/** Options every dump gets (exported for tests: no secret may appear in argv). */
export const MYSQL_DUMP_OPTIONS: readonly string[] = [
  '--single-transaction',
  '--quick',
  '--routines',
  '--events',
  '--triggers',
  '--hex-blob',
  '--no-tablespaces',
  '--default-character-set=utf8mb4',
];

/** The last line a complete dump ends with (absent from a dump cut short). */
const COMPLETED = /-- Dump completed/;

/** Which tables of each database to count: undefined = all base tables. */
function countSelection(
  databases: readonly string[],
  option: MysqlSourceOptions['counts'],
): Record<string, readonly string[] | undefined> | string {
  const counts = option ?? MYSQL_SOURCE_DEFAULTS.counts;
  if (counts === 'none') return {};
  if (counts === 'all') return Object.fromEntries(databases.map((d) => [d, undefined]));
  const out: Record<string, string[]> = {};
  for (const name of counts) {
    const dot = name.indexOf('.');
    const [db, table] =
      dot < 0 && databases.length === 1 ? [databases[0] as string, name] : [name.slice(0, dot), name.slice(dot + 1)];
    if (dot < 0 && databases.length !== 1)
      return `"${name}" must be written db.table when several databases are dumped`;
    if (!databases.includes(db)) return `"${name}" names a database that is not dumped`;
    out[db] = [...(out[db] ?? []), table];
  }
  return out;
}

/** Keeps the last bytes of a stream going through it. */
function tailKeeper(): { stream: Transform; tail: () => string } {
  let tail = '';
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      tail = (tail + chunk.toString('latin1')).slice(-512);
      cb(null, chunk);
    },
  });
  return { stream, tail: () => tail };
}

/**
 * MySQL or MariaDB databases as a backup source: each database is dumped with `mariadb-dump`
 * (or `mysqldump`) `--single-transaction --routines --events --triggers --hex-blob` and streamed
 * into `<workDir>/<name>/<db>.sql[.gz]`, sha256 computed while writing. The password reaches the
 * tools through a temporary option file (mode 0600), never argv. The dump has no `CREATE
 * DATABASE`/`USE`, so it loads into any database name.
 *
 * With `databases: 'all'`, a database dropped after the listing and before or while it is dumped
 * is left out with a warning and named in `droppedDuringBackup`: "all" is every database there
 * is. A database named in the configuration that fails to dump fails the source.
 *
 * Manifest metadata: `serverVersion`, `dumpTool`, `format`, `databases` (names dumped),
 * `counts` (`{ db: { table: rows } }`, counted from the dump's own INSERT tuples as it streams:
 * exact for the file whatever is written to the database meanwhile, and no second scan).
 *
 * Users and grants (the `mysql` system database) are not dumped.
 *
 * @throws {ConfigError} from the constructor when the options are invalid.
 * @example
 * ```ts
 * import { createBackupPlan, MysqlSource } from 'duplicati-kit';
 * const plan = createBackupPlan({
 *   workDir: '/srv/backup/staging',
 *   sources: [new MysqlSource({ name: 'nextcloud-db', connection: { user: 'backup', passwordFile: '/root/.dbpass', database: 'nextcloud' } })],
 * });
 * ```
 */
export class MysqlSource implements BackupSource {
  readonly name: string;
  readonly kind = MYSQL_KIND;
  readonly #options: MysqlSourceOptions;

  /** @param options validated here; a ConfigError names every bad field */
  constructor(options: MysqlSourceOptions) {
    const parsed = mysqlSourceSchema.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid MysqlSource options', parsed.error);
    this.#options = options;
    this.name = options.name ?? MYSQL_SOURCE_DEFAULTS.name;
  }

  #where(phase: 'check' | 'prepare') {
    return { source: this.name, kind: this.kind, phase };
  }

  async #databases(endpoint: MysqlEndpoint, signal: AbortSignal): Promise<string[]> {
    const c = this.#options.connection;
    if (c.database !== undefined) return [c.database];
    if (c.databases === 'all') return endpoint.listDatabases(signal);
    return [...(c.databases ?? [])];
  }

  /** Preflight: tools present, server reachable, every named database exists. */
  async check(ctx: SourceContext): Promise<void> {
    const endpoint = new MysqlEndpoint(this.#options.connection, { source: this.name, kind: this.kind });
    await endpoint.open('check', ctx.signal);
    try {
      await endpoint.version(ctx.signal);
      // Listed databases exist by definition (asking again would only race a drop); named ones must.
      const named = this.#options.connection.databases === 'all' ? [] : await this.#databases(endpoint, ctx.signal);
      for (const db of named) {
        if (!(await endpoint.exists(db, ctx.signal))) {
          throw new SourceUnavailableError(
            `database "${db}" does not exist at ${endpoint.address}`,
            this.#where('check'),
          );
        }
      }
    } catch (e) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      if (isDuplicatiKitError(e)) throw e;
      throw new SourceUnavailableError(
        `cannot reach MySQL at ${endpoint.address}: ${(e as Error).message}`,
        this.#where('check'),
        { cause: e, secrets: endpoint.secrets, code: 'ERR_MYSQL_CONNECT' },
      );
    } finally {
      await endpoint.close();
    }
  }

  /** Dump every database; see the class description. */
  async prepare(ctx: SourceContext): Promise<PreparedSource> {
    const signal = ctx.signal;
    const format = this.#options.format ?? MYSQL_SOURCE_DEFAULTS.format;
    const endpoint = new MysqlEndpoint(this.#options.connection, { source: this.name, kind: this.kind });
    await endpoint.open('prepare', signal);
    const written: ArtifactRef[] = [];
    try {
      let serverVersion: string;
      let databases: string[];
      try {
        serverVersion = await endpoint.version(signal);
        databases = await this.#databases(endpoint, signal);
      } catch (e) {
        if (signal.aborted) throw signal.reason;
        throw new SourceUnavailableError(
          `cannot reach MySQL at ${endpoint.address}: ${(e as Error).message}`,
          this.#where('prepare'),
          { cause: e, secrets: endpoint.secrets, code: 'ERR_MYSQL_CONNECT' },
        );
      }
      if (ctx.dryRun) {
        ctx.logger.info('dry run: would dump', { databases, format });
        return { artifacts: [], metadata: { dryRun: true, databases, serverVersion } };
      }
      const selection = countSelection(databases, this.#options.counts);
      if (typeof selection === 'string') throw new DumpError(`counts: ${selection}`, this.#where('prepare'));
      const counts: Record<string, Record<string, number>> = {};
      const listed = this.#options.connection.databases === 'all';
      const dumpedDatabases: string[] = [];
      const dropped: string[] = [];
      for (const db of databases) {
        let dumped: { ref: ArtifactRef; counts: Record<string, number> };
        try {
          dumped = await this.#dumpOne(endpoint, db, format, ctx);
        } catch (e) {
          // `all` is every database there is: one dropped since the listing is no longer one of them.
          // A database named in the configuration stays a failure.
          if (!listed || signal.aborted || (await endpoint.exists(db, signal).catch(() => true))) throw e;
          ctx.logger.warn('a database was dropped during the backup; it is not in it', { database: db });
          dropped.push(db);
          continue;
        }
        dumpedDatabases.push(db);
        written.push(dumped.ref);
        const wanted = selection[db];
        if (!(db in selection)) continue;
        if (wanted === undefined) {
          counts[db] = dumped.counts;
          continue;
        }
        const missing = wanted.filter((t) => dumped.counts[t] === undefined);
        if (missing.length) {
          throw new DumpError(
            `counts: the dump of "${db}" holds no table ${missing.join(', ')}`,
            this.#where('prepare'),
          );
        }
        counts[db] = Object.fromEntries(wanted.map((t) => [t, dumped.counts[t] as number]));
      }
      ctx.logger.info('dumped MySQL databases', { databases: dumpedDatabases, format });
      return {
        artifacts: written,
        metadata: {
          serverVersion,
          dumpTool: endpoint.tool('dump'),
          format,
          databases: dumpedDatabases,
          ...(dropped.length ? { droppedDuringBackup: dropped } : {}),
          counts: counts as Record<string, JsonValue>,
          countsFrom: 'dump',
        },
      };
    } catch (e) {
      for (const ref of written) await fsp.rm(path.join(ctx.workDir, ...ref.path.split('/')), { force: true });
      if (signal.aborted) throw signal.reason;
      if (isDuplicatiKitError(e)) throw e;
      throw new DumpError(`dumping MySQL failed: ${(e as Error)?.message ?? String(e)}`, this.#where('prepare'), {
        cause: e,
        secrets: endpoint.secrets,
        code: 'ERR_MYSQL_DUMP',
      });
    } finally {
      await endpoint.close();
    }
  }

  async #dumpOne(
    endpoint: MysqlEndpoint,
    db: string,
    format: 'sql' | 'sql.gz',
    ctx: SourceContext,
  ): Promise<{ ref: ArtifactRef; counts: Record<string, number> }> {
    const signal = ctx.signal;
    const { child, stderrTail } = spawnTool(
      { file: endpoint.tool('dump'), args: [...endpoint.baseArgs(), ...MYSQL_DUMP_OPTIONS, '--', db], env: {} },
      { stdin: 'ignore', stdout: 'pipe' },
      signal,
    );
    const sink = ctx.artifacts.open(`${db}.${format}`, { format, signal });
    const tail = tailKeeper();
    const counter = createMysqlRowCounter();
    let bytes = 0;
    let pipeError: unknown;
    try {
      // mysqldump's 64 KiB pieces regrouped into 1 MiB blocks before the counter, gzip and the
      // file; gzip on every core (1 MiB members, as the PostgreSQL dumps), not one zlib stream.
      const body = format === 'sql.gz' ? createParallelGzip({ level: 6 }) : new PassThrough();
      (child.stdout as Readable).on('data', (c: Buffer) => {
        bytes += c.length;
      });
      await pipeline(child.stdout as Readable, createBlockStream(), tail.stream, counter, body, sink.stream, {
        signal,
      });
    } catch (e) {
      pipeError = e;
      child.kill();
    }
    const result = await child;
    if (signal.aborted) {
      await sink.abort(signal.reason);
      throw signal.reason;
    }
    const complete = COMPLETED.test(tail.tail());
    if (pipeError !== undefined || result.exitCode !== 0 || !complete) {
      await sink.abort(pipeError);
      const lines = endpoint.redact(stderrTail().trim()).split('\n').slice(-10).join('\n');
      const why =
        result.exitCode !== 0
          ? `${endpoint.tool('dump')} failed on "${db}" (exit ${result.exitCode ?? result.signal ?? 'unknown'})${lines ? `:\n${lines}` : ''}`
          : pipeError !== undefined
            ? `writing the dump of "${db}" failed: ${(pipeError as Error)?.message ?? String(pipeError)}`
            : `the dump of "${db}" ended without its completion line${lines ? `:\n${lines}` : ''}`;
      throw new DumpError(why, this.#where('prepare'), {
        ...(pipeError !== undefined ? { cause: pipeError } : {}),
        secrets: endpoint.secrets,
        code: 'ERR_MYSQL_DUMP',
      });
    }
    const ref = await sink.finish();
    ctx.onProgress({ phase: 'prepare', unit: 'bytes', completed: bytes, description: `dumped ${quoteMysqlIdent(db)}` });
    return { ref, counts: { ...counter.counts } };
  }

  /** Remove partial dumps a crashed run left in this source's folder (idempotent). */
  async cleanup(ctx: SourceContext): Promise<void> {
    await removePartials(ctx.sourceDir);
  }
}
