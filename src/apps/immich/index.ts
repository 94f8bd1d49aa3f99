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
import type * as contracts from '../../contracts/types.js';
import * as api from './api.js';
import * as databaseSource from './database-source.js';
import * as databaseTarget from './database-target.js';
import * as env from './env.js';
import * as libraryCheck from './library-check.js';
import * as librarySource from './library-source.js';
import * as schema from './schema.js';

export {
  IMMICH_PAUSABLE_QUEUES,
  IMMICH_UNPAUSABLE_QUEUES,
  ImmichApiError,
  ImmichClient,
  type ImmichClientOptions,
  isImmichApiError,
} from './api.js';
export type { PausedQueues } from '../../contracts/maintenance.js';
export {
  IMMICH_DATABASE_KIND,
  IMMICH_DB_CONTAINER,
  ImmichDatabaseSource,
  type ImmichDatabaseSourceOptions,
} from './database-source.js';
export { ImmichDatabaseTarget, type ImmichDatabaseTargetOptions } from './database-target.js';
export { fromImmichEnv, type ImmichEnvConfig } from './env.js';
export { IMMICH_LIBRARY_KIND, ImmichLibrarySource, type ImmichLibrarySourceOptions } from './library-source.js';
export {
  type AssetPathConsumer,
  ImmichLibraryCheck,
  type ImmichLibraryCheckOptions,
  type ImmichLibraryCheckSettings,
  type ImmichPathMapping,
} from './library-check.js';
export { ImmichLibraryTarget, type ImmichLibraryTargetOptions } from './library-target.js';
export { IMMICH_FOLDERS, type ImmichFolder } from './schema.js';

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

// ---------------------------------------------------------------------------------------------
// Deprecated: kept for one minor version (see CHANGELOG.md). Declarations, not `export { … }`
// lists, so that the `@deprecated` tags survive into the bundled .d.ts files.
// ---------------------------------------------------------------------------------------------

/** @deprecated Renamed to {@link ImmichClient} (`<App>Client`, like `DuplicatiClient`); this alias will be removed in 0.3. */
export const ImmichApiClient = api.ImmichClient;
/** @deprecated Renamed to {@link ImmichClient} (`<App>Client`, like `DuplicatiClient`); this alias will be removed in 0.3. */
export type ImmichApiClient = api.ImmichClient;
/** @deprecated Renamed to {@link ImmichClientOptions}; this alias will be removed in 0.3. */
export type ImmichApiOptions = api.ImmichClientOptions;
/** @deprecated Use {@link IMMICH_DATABASE_KIND}; this alias will be removed in 0.3. */
export const IMMICH_DB_KIND = databaseSource.IMMICH_DATABASE_KIND;

/** @deprecated Internal; will be removed in 0.3. */
export const immichDumpName = databaseSource.immichDumpName;

/** @deprecated Internal; will be removed in 0.3. */
export const dumpKind = databaseTarget.dumpKind;
/** @deprecated Internal; will be removed in 0.3. */
export const hostPathOf = databaseTarget.hostPathOf;
/** @deprecated Internal; will be removed in 0.3. */
export const SEARCH_PATH_FIX = databaseTarget.SEARCH_PATH_FIX;
/** @deprecated Internal; will be removed in 0.3. */
export const SEARCH_PATH_LINE = databaseTarget.SEARCH_PATH_LINE;

/** @deprecated Internal; will be removed in 0.3. Use `fromImmichEnv`. */
export const parseDotenv = env.parseDotenv;

/** @deprecated Internal; will be removed in 0.3. */
export const countTree = librarySource.countTree;

/** @deprecated Internal; will be removed in 0.3. */
export const defaultImmichPathMap = libraryCheck.defaultImmichPathMap;
/** @deprecated Internal; will be removed in 0.3. */
export const mapImmichPath = libraryCheck.mapImmichPath;

/** @deprecated Internal; will be removed in 0.3. */
export const compareImmichVersions = schema.compareImmichVersions;
/** @deprecated Internal; will be removed in 0.3. */
export const IMMICH_CONTAINER_PREFIXES = schema.IMMICH_CONTAINER_PREFIXES;
/** @deprecated Internal; will be removed in 0.3. */
export const IMMICH_TABLES = schema.IMMICH_TABLES;
/** @deprecated Internal; will be removed in 0.3. */
export type ImmichSchemaGeneration = schema.ImmichSchemaGeneration;
/** @deprecated Internal; will be removed in 0.3. */
export const parseImmichVersion = schema.parseImmichVersion;
/** @deprecated Internal; will be removed in 0.3. */
export const streamAssetPaths = schema.streamAssetPaths;

/** @deprecated Import from 'duplicati-kit'; this re-export will be removed in 0.3. */
export type BackupSource = contracts.BackupSource;
/** @deprecated Import from 'duplicati-kit'; this re-export will be removed in 0.3. */
export type PreparedSource = contracts.PreparedSource;
/** @deprecated Import from 'duplicati-kit'; this re-export will be removed in 0.3. */
export type ProgressEvent = contracts.ProgressEvent;
/** @deprecated Import from 'duplicati-kit'; this re-export will be removed in 0.3. */
export type RestoreTarget = contracts.RestoreTarget;
/** @deprecated Import from 'duplicati-kit'; this re-export will be removed in 0.3. */
export type SourceContext = contracts.SourceContext;
