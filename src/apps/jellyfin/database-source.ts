/**
 * `JellyfinDatabaseSource`: consistent online snapshots of Jellyfin's SQLite databases, built on
 * the generic SQLite snapshot.
 *
 * @module
 */
import { z } from 'zod';
import { SourceUnavailableError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import { configErrorFrom } from '../../core/validate.js';
import { snapshotError, snapshotMetadata, snapshotTuning } from '../../engines/sqlite/index.js';
import { closeQuietly, countRows, type SqliteDatabase, tableNames } from '../../engines/sqlite/index.js';
import { openLive, type SnapshotResult, takeSnapshot } from '../../engines/sqlite/index.js';
import type { BackupSource, JsonValue, PreparedSource, SourceContext } from '../../contracts/types.js';
import { BUSY_TASK_KEYS, JellyfinApiError, JellyfinClient, type JellyfinClientOptions } from './api.js';
import {
  findDatabases,
  type JellyfinDatabases,
  type JellyfinLocationOptions,
  JellyfinLayoutError,
  type JellyfinPaths,
  locationShape,
  resolveJellyfinPaths,
} from './layout.js';
import { countAccounts, countLibrary, type JellyfinCounts, readDbVersion, readMigrationsXml } from './version.js';

/** `kind` of the manifest entry a {@link JellyfinDatabaseSource} writes. */
export const JELLYFIN_DATABASE_KIND = 'jellyfin.database';

/** Tables counted per database, so a restore can check each file on its own. */
export const VERIFIED_TABLES: Readonly<Record<'jellyfin.db' | 'library.db', readonly string[]>> = {
  'jellyfin.db': ['Users', 'ApiKeys', 'BaseItems', 'UserData', '__EFMigrationsHistory'],
  'library.db': ['TypedBaseItems', 'UserDatas'],
};

/** A client, or the options to make one. */
export type JellyfinApiOption = JellyfinClient | JellyfinClientOptions;

const apiOption = z.custom<JellyfinApiOption>(
  (v) => v instanceof JellyfinClient || (typeof v === 'object' && v !== null && 'baseUrl' in v),
  'must be a JellyfinClient or { baseUrl, apiKey? }',
);

/** Zod shape of the API-related options shared by the Jellyfin sources. */
export const apiShape = {
  api: apiOption.optional(),
  whilePlaying: z.enum(['ignore', 'warn', 'fail']).optional(),
  waitForTasks: z
    .union([
      z.literal(false),
      z
        .object({
          timeoutMs: z.number().int().positive().optional(),
          pollMs: z.number().int().positive().optional(),
          keys: z.array(z.string().min(1)).optional(),
        })
        .strict(),
    ])
    .optional(),
};

const sourceSchema = z
  .object({
    name: z.string().min(1).optional(),
    ...locationShape,
    ...apiShape,
    method: z.enum(['copy', 'backup', 'vacuum']).optional(),
    pagesPerStep: z.number().int().positive().optional(),
    maxRestarts: z.number().int().nonnegative().optional(),
    busyTimeoutMs: z.number().int().nonnegative().optional(),
    integrity: z.enum(['full', 'quick']).optional(),
  })
  .strict();

/** What to do about the Jellyfin API before a backup. */
export interface JellyfinApiOptions {
  /**
   * The Jellyfin API (optional): records the exact server version, checks playback, waits for a
   * running library scan. An unreachable server is not an error (a stopped server is the safest
   * one to back up); it is logged.
   */
  readonly api?: JellyfinApiOption;
  /** Someone is playing: go on (`ignore`), log a warning (`warn`), or fail the backup (`fail`). @default 'warn' */
  readonly whilePlaying?: 'ignore' | 'warn' | 'fail';
  /**
   * Wait for a running library scan or database optimisation (`RefreshLibrary`,
   * `OptimizeDatabaseTask`) before snapshotting, or `false` not to. @default { timeoutMs: 900000, pollMs: 5000 }
   */
  readonly waitForTasks?:
    | false
    | { readonly timeoutMs?: number; readonly pollMs?: number; readonly keys?: readonly string[] };
}

/** Options of {@link JellyfinDatabaseSource}. */
export interface JellyfinDatabaseSourceOptions extends JellyfinLocationOptions, JellyfinApiOptions {
  /** @default 'jellyfin-db' */
  readonly name?: string;
  /** Snapshot method, see `SqliteSource`. @default 'copy' */
  readonly method?: 'copy' | 'backup' | 'vacuum';
  readonly pagesPerStep?: number;
  readonly maxRestarts?: number;
  readonly busyTimeoutMs?: number;
  readonly integrity?: 'full' | 'quick';
}

/**
 * Make a client from the option, if any.
 *
 * @example
 * ```ts
 * clientOf({ baseUrl: 'http://127.0.0.1:8096', apiKey });
 * ```
 */
export function clientOf(api: JellyfinApiOption | undefined): JellyfinClient | undefined {
  if (!api) return undefined;
  return api instanceof JellyfinClient ? api : new JellyfinClient(api);
}

/**
 * Ask the API (when configured) for the server version, playback and running tasks. Returns the
 * server version, or undefined when there is no API or it does not answer.
 */
export async function apiPreflight(
  client: JellyfinClient | undefined,
  o: JellyfinApiOptions,
  ctx: { signal: AbortSignal; logger: Logger },
  where: { source: string; kind: string },
): Promise<string | undefined> {
  if (!client) return undefined;
  let version: string;
  try {
    version = (await client.publicInfo({ signal: ctx.signal })).version;
  } catch (e) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    ctx.logger.warn('Jellyfin API not reachable; backing up without its checks', { error: (e as Error).message });
    return undefined;
  }
  const policy = o.whilePlaying ?? 'warn';
  if (policy !== 'ignore') {
    const playing = await client.activePlayback({ signal: ctx.signal });
    if (playing.length > 0) {
      const who = playing.map((p) => `${p.userName ?? '?'} on ${p.deviceName ?? p.client ?? '?'}`).join(', ');
      if (policy === 'fail') {
        throw new SourceUnavailableError(
          `someone is playing on Jellyfin (${who}); try again later or set whilePlaying: 'warn'`,
          { ...where, phase: 'prepare' },
          { code: 'ERR_JELLYFIN_PLAYING' },
        );
      }
      ctx.logger.warn('someone is playing on Jellyfin; the snapshot may miss the latest positions', { who });
    }
  }
  if (o.waitForTasks !== false) {
    const w = o.waitForTasks ?? {};
    try {
      const waited = await client.waitForTasks({
        signal: ctx.signal,
        keys: w.keys ?? BUSY_TASK_KEYS,
        ...(w.timeoutMs ? { timeoutMs: w.timeoutMs } : {}),
        ...(w.pollMs ? { pollMs: w.pollMs } : {}),
      });
      if (waited.length > 0) ctx.logger.info('waited for Jellyfin tasks', { tasks: waited.map((t) => t.key) });
    } catch (e) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      if (e instanceof JellyfinApiError && e.code === 'ERR_JELLYFIN_BUSY') {
        throw new SourceUnavailableError(e.message, { ...where, phase: 'prepare' }, { cause: e, code: e.code });
      }
      throw e;
    }
  }
  return version;
}

async function hasBaseItems(file: string): Promise<boolean> {
  const db = await openLive(file);
  try {
    return tableNames(db).has('BaseItems');
  } finally {
    closeQuietly(db);
  }
}

/** Paths and database files of a server, with layout errors as SourceUnavailableError. */
export async function locate(
  o: JellyfinLocationOptions,
  where: { source: string; kind: string; phase: 'check' | 'prepare' },
): Promise<{ paths: JellyfinPaths; dbs: JellyfinDatabases }> {
  try {
    const paths = await resolveJellyfinPaths(o);
    const dbs = await findDatabases(paths, o.databases, hasBaseItems);
    return { paths, dbs };
  } catch (e) {
    if (e instanceof JellyfinLayoutError) {
      throw new SourceUnavailableError(e.message, where, { cause: e, code: 'ERR_JELLYFIN_LAYOUT' });
    }
    throw snapshotError(e, where);
  }
}

/** Per-database facts read from a finished snapshot. */
function inspectDb(db: SqliteDatabase): Record<string, JsonValue> {
  const present = tableNames(db);
  const tables = [...VERIFIED_TABLES['jellyfin.db'], ...VERIFIED_TABLES['library.db']].filter((t) => present.has(t));
  return {
    tables: countRows(db, tables),
    accounts: present.has('Users') ? countAccounts(db) : null,
    library: countLibrary(db),
    version: present.has('__EFMigrationsHistory') ? readDbVersion(db) : null,
  };
}

/**
 * Snapshots of Jellyfin's databases (`jellyfin.db`, and `library.db` up to 10.10), taken online
 * through SQLite's backup API while Jellyfin keeps writing, each checked with `integrity_check`.
 * The manifest records the install type, the database layout, the Jellyfin version (EF migration
 * fingerprint, code-migration product version, `migrations.xml`, and the API's answer when
 * configured) and the counts a restore is checked against: users, API keys, items (without the
 * placeholder item), played items and resume positions.
 *
 * @example
 * ```ts
 * import { JellyfinDatabaseSource } from 'duplicati-kit/jellyfin';
 * const db = new JellyfinDatabaseSource({ install: 'debian' });
 * const docker = new JellyfinDatabaseSource({ install: 'docker', root: '/srv/jellyfin/config',
 *   api: { baseUrl: 'http://127.0.0.1:8096', apiKey: process.env.JELLYFIN_API_KEY } });
 * ```
 */
export class JellyfinDatabaseSource implements BackupSource {
  readonly name: string;
  readonly kind = JELLYFIN_DATABASE_KIND;
  readonly #o: JellyfinDatabaseSourceOptions;
  readonly #client: JellyfinClient | undefined;

  constructor(options: JellyfinDatabaseSourceOptions = {}) {
    const parsed = sourceSchema.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid JellyfinDatabaseSource options', parsed.error);
    this.#o = parsed.data as JellyfinDatabaseSourceOptions;
    this.name = this.#o.name ?? 'jellyfin-db';
    this.#client = clientOf(this.#o.api);
  }

  #where<P extends 'check' | 'prepare'>(phase: P) {
    return { source: this.name, kind: this.kind, phase };
  }

  /** The folders and databases exist and open read-only; no exclusive lock is held. */
  async check(ctx: SourceContext): Promise<void> {
    const { dbs } = await locate(this.#o, this.#where('check'));
    for (const file of [dbs.jellyfin, dbs.library]) {
      if (!file) continue;
      try {
        closeQuietly(await openLive(file, { busyTimeoutMs: this.#o.busyTimeoutMs ?? 5000 }));
      } catch (e) {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        throw snapshotError(e, this.#where('check'));
      }
    }
  }

  async prepare(ctx: SourceContext): Promise<PreparedSource> {
    const o = this.#o;
    const where = this.#where('prepare');
    const { paths, dbs } = await locate(o, where);
    const serverVersion = await apiPreflight(this.#client, o, ctx, where);
    const files: [string, string][] = [['jellyfin.db', dbs.jellyfin]];
    if (dbs.library) files.push(['library.db', dbs.library]);
    const artifacts = [];
    const databases: Record<string, JsonValue> = {};
    const facts: Record<string, Record<string, JsonValue>> = {};
    for (const [artifactName, live] of files) {
      let result: SnapshotResult | undefined;
      try {
        const ref = await ctx.artifacts.adopt(
          artifactName,
          { format: 'sqlite', signal: ctx.signal },
          async (partial) => {
            result = await takeSnapshot({
              live,
              dest: partial,
              signal: ctx.signal,
              ...snapshotTuning(o),
              ...(o.method ? { method: o.method } : {}),
              inspect: inspectDb,
              onPages: (completed, total) =>
                ctx.onProgress({ phase: 'prepare', unit: 'pages', completed, total, description: live }),
            });
            // Hashed beside the integrity check, after the snapshot's last write.
            return result.file;
          },
        );
        artifacts.push(ref);
      } catch (e) {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        throw snapshotError(e, where);
      }
      const r = result as unknown as SnapshotResult;
      facts[artifactName] = r.extra;
      databases[artifactName] = { ...snapshotMetadata(live, r), counts: r.extra.tables ?? {} };
      ctx.logger.info('jellyfin database snapshot taken', { file: live, restarts: r.restarts });
    }
    const main = facts['jellyfin.db'] ?? {};
    const lib = (dbs.library ? facts['library.db']?.library : main.library) as Record<string, number> | undefined;
    const accounts = (main.accounts ?? {}) as Record<string, number>;
    const counts: JellyfinCounts = {
      users: accounts.users ?? 0,
      apiKeys: accounts.apiKeys ?? 0,
      items: lib?.items ?? 0,
      playedItems: lib?.playedItems ?? 0,
      resumePositions: lib?.resumePositions ?? 0,
    };
    const migrationsXml = await readMigrationsXml(paths.configDir);
    return {
      artifacts,
      metadata: {
        install: paths.install,
        layout: dbs.layout,
        paths: {
          dataDir: paths.dataDir,
          configDir: paths.configDir,
          dbDir: paths.dbDir,
          metadataDir: paths.metadataDir,
        },
        version: {
          ...((main.version ?? {}) as Record<string, JsonValue>),
          serverVersion: serverVersion ?? null,
          migrationsXml,
        },
        counts,
        databases,
      },
    };
  }
}
