/**
 * Source and target types a config file can name (`type: sqlite`). Each loads its module on
 * first use, so a config with only folders never loads a database driver.
 *
 * @module
 */
import { ConfigError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { QueuePauser } from '../contracts/maintenance.js';
import type { Notifier } from '../contracts/notifier.js';
import type { SessionMessenger } from '../ops/checklist-restore.js';
import type { BackupSource, RestoreTarget } from '../contracts/types.js';
import type { ToolVersionCache } from '../core/tool-versions.js';

type Factory<T> = (options: Record<string, unknown>) => Promise<T>;

/** What the caller of {@link buildSource} / {@link buildTarget} hands every entry that can use it. */
export interface BuildExtras {
  /** `--version` outputs remembered between runs, for the PostgreSQL-based types. */
  readonly toolVersions?: ToolVersionCache;
}

/** The types whose options take `toolVersions` (their tools are PostgreSQL's). */
const USES_PG_TOOLS: ReadonlySet<string> = new Set(['postgres', 'immich-database']);

/** `entry`'s options with the extras its type takes (an entry's own value wins). */
function withExtras(entry: { type: string }, extras: BuildExtras | undefined): Record<string, unknown> {
  const o = withoutType(entry);
  const tv = extras?.toolVersions;
  if (tv === undefined) return o;
  if (USES_PG_TOOLS.has(entry.type)) return { toolVersions: tv, ...o };
  const db = o.database;
  if (entry.type === 'immich' && typeof db === 'object' && db !== null && !Array.isArray(db))
    return { ...o, database: { toolVersions: tv, ...db } };
  return o;
}

/**
 * A config entry's fields as the options of the class it names. The config schema only checked
 * `type`; each constructor validates its own options and throws a ConfigError naming every bad
 * field, so this is the one place the registry trusts an unchecked shape.
 */
const options = <T>(fields: Record<string, unknown>): T => fields as T;

const withoutType = (e: { type: string }): Record<string, unknown> => {
  const { type: _type, ...rest } = e as Record<string, unknown>;
  return rest;
};

const SOURCES: Record<string, Factory<BackupSource>> = {
  directory: async (o) => new (await import('../engines/directory/index.js')).DirectorySource(options(o)),
  archive: async (o) => new (await import('../engines/archive/index.js')).ArchiveSource(options(o)),
  sqlite: async (o) => new (await import('../engines/sqlite/index.js')).SqliteSource(options(o)),
  postgres: async (o) => new (await import('../engines/postgres/index.js')).PostgresSource(options(o)),
  jellyfin: async (o) => (await import('../apps/jellyfin/index.js')).jellyfinSource(options(o)),
  immich: async (o) => (await import('../apps/immich/index.js')).immichSource(options(o)),
  mysql: async (o) => new (await import('../engines/mysql/index.js')).MysqlSource(options(o)),
  nginx: async (o) => new (await import('../engines/nginx/index.js')).NginxSource(options(o)),
  mongodb: async (o) => new (await import('../engines/mongo/index.js')).MongoSource(options(o)),
  // The seed layout backs the Immich database and the photos up in separate jobs: one part each.
  'immich-database': async (o) => new (await import('../apps/immich/index.js')).ImmichDatabaseSource(options(o)),
  'immich-library': async (o) => new (await import('../apps/immich/index.js')).ImmichLibrarySource(options(o)),
};

const TARGETS: Record<string, Factory<RestoreTarget>> = {
  directory: async (o) => new (await import('../engines/directory/index.js')).DirectoryTarget(options(o)),
  archive: async (o) => new (await import('../engines/archive/index.js')).ArchiveTarget(options(o)),
  sqlite: async (o) => new (await import('../engines/sqlite/index.js')).SqliteTarget(options(o)),
  postgres: async (o) => new (await import('../engines/postgres/index.js')).PostgresTarget(options(o)),
  jellyfin: async (o) => (await import('../apps/jellyfin/index.js')).jellyfinTarget(options(o)),
  'immich-database': async (o) => new (await import('../apps/immich/index.js')).ImmichDatabaseTarget(options(o)),
  'immich-library': async (o) => new (await import('../apps/immich/index.js')).ImmichLibraryTarget(options(o)),
  mysql: async (o) => new (await import('../engines/mysql/index.js')).MysqlTarget(options(o)),
  nginx: async (o) => new (await import('../engines/nginx/index.js')).NginxTarget(options(o)),
  mongodb: async (o) => new (await import('../engines/mongo/index.js')).MongoTarget(options(o)),
};

const NOTIFIERS: Record<string, Factory<Notifier>> = {
  ntfy: async (o) => new (await import('../ops/notify.js')).NtfyNotifier(options(o)),
  healthchecks: async (o) => new (await import('../ops/notify.js')).HealthchecksNotifier(options(o)),
  webhook: async (o) => new (await import('../ops/notify.js')).WebhookNotifier(options(o)),
};

/** Notifier types a config may name. */
export const notifierTypes = (): string[] => Object.keys(NOTIFIERS);

/** Build a notifier from a config entry. */
export function buildNotifier(entry: { type: string }): Promise<Notifier> {
  const f = NOTIFIERS[entry.type];
  if (!f) throw new ConfigError(`unknown notifier type ${entry.type}`);
  return f(withoutType(entry));
}

/** Source types a config may name. */
export const sourceTypes = (): string[] => Object.keys(SOURCES);
/** Target types a config may name. */
export const targetTypes = (): string[] => Object.keys(TARGETS);

/** Build a source from a config entry (`type` plus the class's options). */
export function buildSource(entry: { type: string }, extras?: BuildExtras): Promise<BackupSource> {
  const f = SOURCES[entry.type];
  if (!f) throw new ConfigError(`unknown source type ${entry.type}`);
  return f(withExtras(entry, extras));
}

/** Build a target from a config entry (`type` plus the class's options). */
export function buildTarget(entry: { type: string }, extras?: BuildExtras): Promise<RestoreTarget> {
  const f = TARGETS[entry.type];
  if (!f) throw new ConfigError(`unknown target type ${entry.type}`);
  return f(withExtras(entry, extras));
}

/**
 * Immich's API client as the maintenance window's queue pauser (loads the Immich module on use).
 */
export async function immichQueuePauser(options: {
  readonly baseUrl: string;
  readonly apiKey: string;
  readonly logger?: Logger;
}): Promise<QueuePauser> {
  const { ImmichClient } = await import('../apps/immich/index.js');
  return new ImmichClient(options);
}

/** Jellyfin's API client as the checklist's session messenger (loads the Jellyfin module on use). */
export async function jellyfinMessenger(options: {
  readonly baseUrl: string;
  readonly apiKey: string;
}): Promise<SessionMessenger> {
  const { JellyfinClient } = await import('../apps/jellyfin/index.js');
  return new JellyfinClient(options);
}

/** The live folders Duplicati backs up directly: every `DirectorySource`'s paths. */
export async function directSourcePaths(sources: readonly BackupSource[]): Promise<string[]> {
  const { DirectorySource } = await import('../engines/directory/index.js');
  return sources.flatMap((s) => (s instanceof DirectorySource ? [...s.options.paths] : []));
}

/**
 * The directory engine's tree walker, loaded on use (the demo counts and digests folders with it
 * without importing an engine itself).
 */
export async function treeWalker(): Promise<typeof import('../engines/directory/index.js').walkTree> {
  return (await import('../engines/directory/index.js')).walkTree;
}

/**
 * The TLS certificates the config's nginx sources back up (subject, names, expiry), read with the
 * nginx engine's own reader; loads the engine only when an nginx source is configured.
 */
export async function sourceCertificates(
  sources: readonly BackupSource[],
): Promise<import('../engines/nginx/index.js').CertificateInfo[]> {
  if (!sources.some((s) => s.kind === 'nginx')) return [];
  const { NginxSource } = await import('../engines/nginx/index.js');
  const out = [];
  for (const s of sources) if (s instanceof NginxSource) out.push(...(await s.certificates()));
  return out;
}
