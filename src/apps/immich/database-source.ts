/**
 * `ImmichDatabaseSource`: the Immich PostgreSQL database, dumped like Immich's own backups
 * (`pg_dump --clean --if-exists`, `.sql.gz` named `immich-db-backup-<ts>-v<immich>-pg<pg>`), on
 * top of the generic {@link PostgresSource}.
 *
 * @module
 */
import { z } from 'zod';
import { withTimeout } from '../../core/abort.js';
import { SourceError } from '../../core/errors.js';
import type { ParallelGzipOptions } from '../../engines/postgres/index.js';
import { type PgConnectionOptions, pgConnectionSchema, safeNameSchema } from '../../engines/postgres/index.js';
import { type PgExecutorOptions, pgExecutorSchema } from '../../engines/postgres/index.js';
import { toolVersionCacheSchema } from '../../engines/postgres/index.js';
import type { ToolVersionCache } from '../../core/tool-versions.js';
import { configErrorFrom } from '../../core/validate.js';
import { type PgDumpInfo, PostgresSource } from '../../engines/postgres/index.js';
import type { BackupSource, JsonValue, PreparedSource, SourceContext } from '../../contracts/types.js';
import type { PausedQueues } from '../../contracts/maintenance.js';
import { type ImmichClient, type ImmichClientOptions, immichApiOptionSchema, toImmichClient } from './api.js';
import {
  compareImmichVersions,
  detectGeneration,
  immichCountsFromDump,
  readImmichCounts,
  readImmichVersion,
} from './schema.js';

/**
 * Manifest kind of {@link ImmichDatabaseSource} entries (and what `ImmichDatabaseTarget` accepts).
 * App kinds follow `<app>.<part>`, which would make this `immich.database`; it stays
 * `immich.postgres` because manifests already written carry that value and restores route on it.
 */
export const IMMICH_DATABASE_KIND = 'immich.postgres';

/** Default container of Immich's database in the official compose file. */
export const IMMICH_DB_CONTAINER = 'immich_postgres';

/** Options of {@link ImmichDatabaseSource}. */
export interface ImmichDatabaseSourceOptions {
  /** @default 'immich-db' */
  readonly name?: string;
  /** The Immich database (see `fromImmichEnv`). */
  readonly connection: PgConnectionOptions;
  /** @default { docker: { container: 'immich_postgres' } } — the tools matching the server. */
  readonly executor?: PgExecutorOptions;
  /**
   * `sql.gz` (Immich's own format, restorable from Immich's UI) or `sql` (plain text, best for
   * Duplicati's deduplication). @default 'sql.gz'
   */
  readonly format?: 'sql' | 'sql.gz';
  readonly gzip?: ParallelGzipOptions;
  readonly binDirs?: readonly string[];
  /** `--version` outputs remembered between runs (code only; the CLI passes its own). */
  readonly toolVersions?: ToolVersionCache;
  /** Immich API: records the server version, and pauses job queues during the dump. */
  readonly api?: ImmichClientOptions | ImmichClient;
  /** Pause job queues during the dump (needs `api`). @default true when `api` is given */
  readonly pauseQueues?: boolean;
}

const schema = z
  .object({
    name: safeNameSchema.optional(),
    connection: pgConnectionSchema,
    executor: pgExecutorSchema.optional(),
    format: z.enum(['sql', 'sql.gz']).optional(),
    gzip: z.record(z.string(), z.number()).optional(),
    binDirs: z.array(z.string()).optional(),
    toolVersions: toolVersionCacheSchema.optional(),
    api: immichApiOptionSchema.optional(),
    pauseQueues: z.boolean().optional(),
  })
  .strict();

/** Local `yyyyMMddTHHmmss`, as in Immich's own backup names. */
function localStamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}T${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/**
 * The dump's file name. Immich (v2.5+) reads the version in `-v<version>-` to decide how to
 * restore a file: `<= 2.4` means a `pg_dumpall` cluster dump. Our dumps are always single-database
 * `pg_dump`s, so for databases of Immich 2.4 and older the version is left out of the name, or
 * Immich's restore would replay the dump into the `postgres` database.
 */
export function immichDumpName(
  immichVersion: string | undefined,
  pgVersion: string,
  format: 'sql' | 'sql.gz',
  at: Date,
): string {
  const pg = pgVersion.split(' ')[0] ?? pgVersion;
  const v = immichVersion?.replace(/^v/, '');
  const versionPart = v && compareImmichVersions(immichVersion, 'v2.5.0') >= 0 ? `-v${v}` : '';
  return `immich-db-backup-${localStamp(at)}${versionPart}-pg${pg}.${format}`;
}

/**
 * The Immich database as a backup source. Dumps with `pg_dump --clean --if-exists` (never
 * `pg_dumpall`) inside the `immich_postgres` container by default, as `sql.gz` on all cores. The
 * manifest records the Immich version (newest `version_history` row), the schema generation,
 * PostgreSQL version, extensions, and counts (assets by status, users, albums, album assets, exif,
 * faces, people, plus every table) read in the dump's own snapshot. With `api`, the job queues
 * are paused during the dump and always resumed.
 *
 * @example
 * ```ts
 * import { ImmichDatabaseSource, fromImmichEnv } from 'duplicati-kit/immich';
 * const env = await fromImmichEnv('/opt/immich/.env');
 * const source = new ImmichDatabaseSource({ connection: env.connection });
 * ```
 */
export class ImmichDatabaseSource implements BackupSource {
  readonly name: string;
  readonly kind = IMMICH_DATABASE_KIND;
  readonly #pg: PostgresSource;
  readonly #api: ImmichClient | undefined;
  readonly #pause: boolean;

  constructor(options: ImmichDatabaseSourceOptions) {
    const parsed = schema.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid ImmichDatabaseSource options', parsed.error);
    this.name = options.name ?? 'immich-db';
    const format = options.format ?? 'sql.gz';
    this.#api = toImmichClient(options.api);
    this.#pause = options.pauseQueues ?? this.#api !== undefined;
    this.#pg = new PostgresSource(
      {
        name: this.name,
        connection: options.connection,
        executor: options.executor ?? { docker: { container: IMMICH_DB_CONTAINER } },
        format,
        counts: 'all',
        ...(options.gzip ? { gzip: options.gzip } : {}),
        ...(options.binDirs ? { binDirs: options.binDirs } : {}),
        ...(options.toolVersions ? { toolVersions: options.toolVersions } : {}),
      },
      {
        before: async (session) => {
          const generation = await detectGeneration(session);
          const version = await readImmichVersion(session);
          return { immichVersion: version ?? null, schemaGeneration: generation ?? null };
        },
        artifactName: (info: PgDumpInfo, before) =>
          immichDumpName(
            typeof before.immichVersion === 'string' ? before.immichVersion : undefined,
            info.server.version,
            format,
            info.startedAt,
          ),
        during: async (session, info) => {
          const generation = await detectGeneration(session);
          // A plain dump counts every table's rows as it streams (prepare() adds those below): only
          // the counts that need a filter are read here, beside the dump, not whole-table scans.
          const tableCounts = info.format === 'custom';
          return { immich: generation ? await readImmichCounts(session, generation, { tableCounts }) : {} };
        },
      },
      IMMICH_DATABASE_KIND,
    );
  }

  /** Preflight: database reachable, pg_dump new enough, API reachable when configured. */
  async check(ctx: SourceContext): Promise<void> {
    await this.#pg.check(ctx);
    if (this.#api) await this.#api.serverVersion({ signal: ctx.signal });
  }

  /** Dump (queues paused around it when an API is configured). */
  async prepare(ctx: SourceContext): Promise<PreparedSource> {
    let serverVersion: string | undefined;
    let paused: PausedQueues | undefined;
    let result: PreparedSource | undefined;
    let resumeError: unknown;
    try {
      if (this.#api) {
        serverVersion = await this.#api.serverVersion({ signal: ctx.signal });
        if (this.#pause && !ctx.dryRun) {
          paused = await this.#api.pauseQueues({ signal: ctx.signal, version: serverVersion });
        }
      }
      result = await this.#pg.prepare(ctx);
    } finally {
      resumeError = paused ? await this.#resume(paused, ctx) : undefined;
    }
    if (resumeError !== undefined && paused) {
      throw new SourceError(
        `the dump succeeded but Immich queues stay paused (${paused.names.join(', ')}): ${(resumeError as Error).message}`,
        { source: this.name, kind: this.kind, phase: 'prepare' },
        { cause: resumeError, code: 'ERR_IMMICH_RESUME' },
      );
    }
    const metadata: Record<string, JsonValue> = { ...(result.metadata ?? {}) };
    const immich = metadata.immich;
    const generation = metadata.schemaGeneration;
    if (
      metadata.countsFrom === 'dump' &&
      isRecord(immich) &&
      isRecord(metadata.counts) &&
      (generation === 'singular' || generation === 'plural')
    ) {
      metadata.immich = { ...immich, ...immichCountsFromDump(generation, metadata.counts) };
    }
    if (serverVersion) metadata.immichServerVersion = serverVersion;
    if (paused) metadata.pausedQueues = [...paused.names];
    return { ...result, metadata };
  }

  /** Resume even when the caller aborted: a failed backup must not leave Immich paused. */
  async #resume(paused: PausedQueues, ctx: SourceContext): Promise<unknown> {
    try {
      await this.#api?.resumeQueues(paused, { signal: withTimeout(undefined, 60_000, 'resuming Immich queues') });
      return undefined;
    } catch (e) {
      ctx.logger.error('Immich job queues could not be resumed; resume them in Administration > Jobs', {
        queues: paused.names,
        error: String(e),
      });
      return e;
    }
  }

  /** Remove partial dumps left by a crashed run. */
  cleanup(ctx: SourceContext): Promise<void> {
    return this.#pg.cleanup(ctx);
  }
}

function isRecord(v: JsonValue | undefined): v is { [key: string]: JsonValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
