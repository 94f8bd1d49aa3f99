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
export type * from './sources/types.js';
export { acquireLock, inspectLock, LOCK_FILE } from './core/lock.js';
export type { AcquireLockOptions, LockHandle, LockInfo } from './core/lock.js';
export { createBackupPlan } from './sources/plan.js';
export type { BackupPlan, BackupPlanOptions, PrepareOptions, PrepareResult, SourceResult } from './sources/plan.js';
export { createRestorePlan, RestorePlanError, verifyArtifacts } from './sources/restore-plan.js';
export type {
  EntryResult,
  EntryStatus,
  RestorePlan,
  RestorePlanOptions,
  RestoreReport,
  RestoreRunOptions,
} from './sources/restore-plan.js';
export { COMPOSITE_KIND, composeSources, composeTargets, expandEntry } from './sources/compose.js';
export type { CompositeSource } from './sources/compose.js';
export { DirectorySource, DirectoryTarget, walkTree } from './sources/directory.js';
export type { DirectorySourceOptions, DirectoryTargetOptions, ListingEntry, TreeStats } from './sources/directory.js';
export { compileFilters } from './sources/filters.js';
export type { PathFilter } from './sources/filters.js';
export { WORKDIR_MARKER } from './sources/workdir.js';
export { defineConfig, loadConfig, resolveConfig } from './sources/config.js';
export type { DuplicatiKitConfig, DuplicatiServerConfig, LoadedConfig, TypedEntry } from './sources/config.js';
export { ARCHIVE_KIND, ArchiveSource, ArchiveTarget } from './sources/archive.js';
export type { ArchiveSourceOptions, ArchiveTargetOptions } from './sources/archive.js';
export { extractArchive, scanArchive } from './sources/extract-archive.js';
export type { ArchiveStats, ExtractArchiveOptions, ExtractProgress, ExtractResult } from './sources/extract-archive.js';
export { SqliteSource, SqliteTarget } from './sources/sqlite.js';
export type { SqliteGateInput, SqliteSourceOptions, SqliteTargetOptions, SqliteVersionGate } from './sources/sqlite.js';
export { PostgresSource } from './sources/postgres.js';
export type { PostgresSourceOptions } from './sources/postgres.js';
export { PostgresTarget } from './sources/postgres-target.js';
export type { PostgresTargetOptions } from './sources/postgres-target.js';
export type { ArchiveReadOptions } from './sources/extract-archive.js';
export type { ChangedFilePolicy } from './sources/tar-pack.js';
export type { ScheduleConfig } from './sources/config.js';
export type { PgDumpInfo, PostgresDumpHooks } from './sources/postgres.js';
export type { PostgresTargetHooks } from './sources/postgres-target.js';
export type { PgConnectionFields, PgConnectionOptions, PgConnectionUrl } from './sources/pg-connection.js';
export type { PgExecutorOptions } from './sources/pg-executor.js';
export type { PgCountSelection, PgDumpFormat } from './sources/pg-dump.js';
export type { PgDatabaseSelection } from './sources/pg-cluster.js';
export { createParallelGzip } from './sources/gzip-parallel.js';
export type { ParallelGzipOptions } from './sources/gzip-parallel.js';
export { MysqlSource } from './sources/mysql.js';
export type { MysqlSourceOptions } from './sources/mysql.js';
export { MysqlTarget } from './sources/mysql-target.js';
export type { MysqlTargetHooks, MysqlTargetOptions } from './sources/mysql-target.js';
export type { MysqlObject, MysqlObjectKind } from './sources/mysql-objects.js';
export type { MysqlConnectionOptions } from './sources/mysql-client.js';
export { NginxSource, NginxTarget } from './sources/nginx.js';
export type { NginxSourceOptions, NginxTargetOptions } from './sources/nginx.js';
export type { CertificateInfo } from './sources/nginx-certs.js';
export { MongoSource } from './sources/mongo.js';
export type { MongoSourceOptions } from './sources/mongo.js';
export { MongoTarget } from './sources/mongo-target.js';
export type { MongoTargetOptions } from './sources/mongo-target.js';
