/**
 * `duplicati-kit`: core contracts, backup and restore plans, generic sources and targets, errors
 * and the logger. Imports no database driver: `pg` and `better-sqlite3` load lazily on first use.
 *
 * @module
 */
export * from './core/errors.js';
export * from './core/logger.js';
export * from './core/redact.js';
export { anySignal, sleep, withTimeout } from './core/abort.js';
export { ArtifactWriter, hashFile, PARTIAL_SUFFIX } from './core/artifact-writer.js';
export type { ArtifactData, ArtifactRef, ArtifactSink, ArtifactWriteOptions } from './core/artifact-writer.js';
export {
  MANIFEST_FILE,
  MANIFEST_VERSION,
  manifestSchema,
  parseManifest,
  readManifest,
  writeManifest,
} from './core/manifest.js';
export type { Manifest, ManifestSource } from './core/manifest.js';
export { VERSION } from './core/version.js';
export type * from './contracts/types.js';
export { acquireLock, inspectLock, LOCK_FILE } from './core/lock.js';
export type { AcquireLockOptions, LockHandle, LockInfo } from './core/lock.js';
export { createBackupPlan } from './plan/backup-plan.js';
export type { BackupPlan, BackupPlanOptions, PrepareOptions, PrepareResult, SourceResult } from './plan/backup-plan.js';
export { createRestorePlan, RestorePlanError, verifyArtifacts } from './plan/restore-plan.js';
export type {
  EntryResult,
  EntryStatus,
  RestorePlan,
  RestorePlanOptions,
  RestoreReport,
  RestoreRunOptions,
} from './plan/restore-plan.js';
export { COMPOSITE_KIND, composeSources, composeTargets, expandEntry } from './plan/compose.js';
export type { CompositeSource } from './plan/compose.js';
export { DirectorySource, DirectoryTarget, walkTree } from './engines/directory/index.js';
export type {
  DirectorySourceOptions,
  DirectoryTargetOptions,
  ListingEntry,
  TreeStats,
} from './engines/directory/index.js';
export { compileFilters } from './core/filters.js';
export type { PathFilter } from './core/filters.js';
export { WORKDIR_MARKER } from './plan/workdir.js';
export { defineConfig, loadConfig, resolveConfig } from './app/config.js';
export type { DuplicatiKitConfig, DuplicatiServerConfig, LoadedConfig, TypedEntry } from './app/config.js';
export { ARCHIVE_KIND, ArchiveSource, ArchiveTarget } from './engines/archive/index.js';
export type { ArchiveSourceOptions, ArchiveTargetOptions } from './engines/archive/index.js';
export { extractArchive, scanArchive } from './engines/archive/index.js';
export type { ArchiveStats, ExtractArchiveOptions, ExtractProgress, ExtractResult } from './engines/archive/index.js';
export { SqliteSource, SqliteTarget } from './engines/sqlite/index.js';
export type {
  SqliteGateInput,
  SqliteSourceOptions,
  SqliteTargetOptions,
  SqliteVersionGate,
} from './engines/sqlite/index.js';
export { PostgresSource } from './engines/postgres/index.js';
export type { PostgresSourceOptions } from './engines/postgres/index.js';
export { PostgresTarget } from './engines/postgres/index.js';
export type { PostgresTargetOptions } from './engines/postgres/index.js';
export type { ArchiveReadOptions } from './engines/archive/index.js';
export type { ChangedFilePolicy } from './engines/archive/index.js';
export type { ScheduleConfig } from './app/config.js';
export type { PgDumpInfo, PostgresDumpHooks } from './engines/postgres/index.js';
export type { PostgresTargetHooks } from './engines/postgres/index.js';
export type { PgConnectionFields, PgConnectionOptions, PgConnectionUrl } from './engines/postgres/index.js';
export type { PgExecutorOptions } from './engines/postgres/index.js';
export type { PgCountSelection, PgDumpFormat } from './engines/postgres/index.js';
export type { PgDatabaseSelection } from './engines/postgres/index.js';
export { createParallelGzip } from './engines/postgres/index.js';
export type { ParallelGzipOptions } from './engines/postgres/index.js';
export { MysqlSource } from './engines/mysql/index.js';
export type { MysqlSourceOptions } from './engines/mysql/index.js';
export { MysqlTarget } from './engines/mysql/index.js';
export type { MysqlTargetHooks, MysqlTargetOptions } from './engines/mysql/index.js';
export type { MysqlObject, MysqlObjectKind } from './engines/mysql/index.js';
export type { MysqlConnectionOptions } from './engines/mysql/index.js';
export { NginxSource, NginxTarget } from './engines/nginx/index.js';
export type { NginxSourceOptions, NginxTargetOptions } from './engines/nginx/index.js';
export type { CertificateInfo } from './engines/nginx/index.js';
export { MongoSource } from './engines/mongo/index.js';
export type { MongoSourceOptions } from './engines/mongo/index.js';
export { MongoTarget } from './engines/mongo/index.js';
export type { MongoTargetOptions } from './engines/mongo/index.js';
