/**
 * `duplicati-kit/immich`: the Immich database and media library as backup sources and restore
 * targets, built on the generic PostgreSQL pieces. Loads `pg` only when a database is used.
 *
 * @module
 */
import { type CompositeSource, composeSources } from '../../plan/compose.js';
import type { ImmichDatabaseSourceOptions } from './database-source.js';
import { ImmichDatabaseSource } from './database-source.js';
import type { ImmichLibrarySourceOptions } from './library-source.js';
import { ImmichLibrarySource } from './library-source.js';

export type {
  BackupSource,
  PreparedSource,
  ProgressEvent,
  RestoreTarget,
  SourceContext,
} from '../../contracts/types.js';
export {
  IMMICH_PAUSABLE_QUEUES,
  IMMICH_UNPAUSABLE_QUEUES,
  ImmichApiClient,
  ImmichApiError,
  type ImmichApiOptions,
  type PausedQueues,
} from './api.js';
export {
  IMMICH_DB_CONTAINER,
  IMMICH_DB_KIND,
  ImmichDatabaseSource,
  type ImmichDatabaseSourceOptions,
  immichDumpName,
} from './database-source.js';
export {
  type AssetPathConsumer,
  dumpKind,
  hostPathOf,
  ImmichDatabaseTarget,
  type ImmichDatabaseTargetOptions,
  SEARCH_PATH_FIX,
  SEARCH_PATH_LINE,
} from './database-target.js';
export { fromImmichEnv, type ImmichEnvConfig, parseDotenv } from './env.js';
export {
  countTree,
  IMMICH_LIBRARY_KIND,
  ImmichLibrarySource,
  type ImmichLibrarySourceOptions,
} from './library-source.js';
export {
  defaultImmichPathMap,
  ImmichLibraryCheck,
  type ImmichLibraryCheckOptions,
  type ImmichLibraryCheckSettings,
  type ImmichPathMapping,
  mapImmichPath,
} from './library-check.js';
export { ImmichLibraryTarget, type ImmichLibraryTargetOptions } from './library-target.js';
export {
  compareImmichVersions,
  IMMICH_CONTAINER_PREFIXES,
  IMMICH_FOLDERS,
  IMMICH_TABLES,
  type ImmichFolder,
  type ImmichSchemaGeneration,
  parseImmichVersion,
  streamAssetPaths,
} from './schema.js';

/** Options of {@link immichSource}. */
export interface ImmichSourceOptions {
  /** Name of the composed source. @default 'immich' */
  readonly name?: string;
  /** The database part (named `db` inside the composite unless given). */
  readonly database: Omit<ImmichDatabaseSourceOptions, 'name'> & { readonly name?: string };
  /** The media folders part (named `library` unless given). */
  readonly library: Omit<ImmichLibrarySourceOptions, 'name'> & { readonly name?: string };
}

/**
 * Immich as one source: the database dump first, then the media folders (Immich's own advice:
 * database first, so every asset the dump names is in the file backup taken after it).
 *
 * @example
 * ```ts
 * import { createBackupPlan } from 'duplicati-kit';
 * import { fromImmichEnv, immichSource } from 'duplicati-kit/immich';
 * const env = await fromImmichEnv('/opt/immich/.env');
 * const plan = createBackupPlan({
 *   workDir: '/srv/backup/staging',
 *   sources: [immichSource({ database: { connection: env.connection }, library: { uploadLocation: env.uploadLocation! } })],
 * });
 * ```
 */
export function immichSource(options: ImmichSourceOptions): CompositeSource {
  return composeSources(options.name ?? 'immich', [
    new ImmichDatabaseSource({ ...options.database, name: options.database.name ?? 'db' }),
    new ImmichLibrarySource({ ...options.library, name: options.library.name ?? 'library' }),
  ]);
}
