/**
 * `duplicati-kit`: the contracts every backup source and restore target implements, the backup
 * and restore plans, the error classes and their guards, the logger contract and its adapters,
 * and the generic engines' sources and targets. Imports no database driver: `pg` and
 * `better-sqlite3` load lazily on first use.
 *
 * Config files live in `duplicati-kit/config`, the Duplicati client and its errors in
 * `duplicati-kit/duplicati`. The names at the end of this file are deprecated re-exports kept
 * for one minor version (see CHANGELOG.md).
 *
 * @module
 */
import type * as restoreReport from './contracts/restore-report.js';
import type * as contracts from './contracts/types.js';
import * as config from './app/config.js';
import * as abort from './core/abort.js';
import * as artifacts from './core/artifact-writer.js';
import * as errors from './core/errors.js';
import * as filters from './core/filters.js';
import * as lock from './core/lock.js';
import * as logger from './core/logger.js';
import * as manifest from './core/manifest.js';
import * as redact from './core/redact.js';
import * as version from './core/version.js';
import * as archive from './engines/archive/index.js';
import * as directory from './engines/directory/index.js';
import type * as mysql from './engines/mysql/index.js';
import type * as nginx from './engines/nginx/index.js';
import * as postgres from './engines/postgres/index.js';
import type * as sqlite from './engines/sqlite/index.js';
import type * as backupPlan from './plan/backup-plan.js';
import * as compose from './plan/compose.js';
import * as restorePlan from './plan/restore-plan.js';
import * as workdir from './plan/workdir.js';

// The contracts a source or target implements, with the types their methods take and return.
export type {
  BackupSource,
  ManifestEntry,
  PreparedSource,
  ProgressEvent,
  RestoreInput,
  RestoreOutput,
  RestoreTarget,
  SourceContext,
  VerificationReport,
  RestoreJournal,
} from './contracts/types.js';

// The plans, their options and results, and the manifest they write and read.
export type { Manifest } from './core/manifest.js';
export {
  type BackupPlan,
  type BackupPlanOptions,
  createBackupPlan,
  type PrepareOptions,
  type PrepareResult,
} from './plan/backup-plan.js';
export { composeSources, composeTargets } from './plan/compose.js';
export {
  createRestorePlan,
  isRestorePlanError,
  type RestorePlan,
  RestorePlanError,
  type RestorePlanOptions,
  type RestoreRunOptions,
  type RestoreJournalSink,
} from './plan/restore-plan.js';
export type { RestoreReport } from './contracts/restore-report.js';

// The errors a plan, a source or a target throws, each with a guard that works across copies.
export {
  ArchiveError,
  ConfigError,
  DumpError,
  DuplicatiKitError,
  isArchiveError,
  isConfigError,
  isDumpError,
  isDuplicatiKitError,
  isLockedError,
  isManifestError,
  isPlanError,
  isRestoreError,
  isSourceError,
  isSourceUnavailableError,
  isTimeoutError,
  isVerificationError,
  LockedError,
  ManifestError,
  PlanError,
  RestoreError,
  SourceError,
  SourceUnavailableError,
  TimeoutError,
  VerificationError,
  NoSpaceError,
  isNoSpaceError,
  NotRegularFileError,
  isNotRegularFileError,
} from './core/errors.js';

// The logger contract and its adapters.
export { fromPino, type Logger, silentLogger, streamLogger } from './core/logger.js';

// The generic engines.
export {
  ARCHIVE_KIND,
  ArchiveSource,
  type ArchiveSourceOptions,
  ArchiveTarget,
  type ArchiveTargetOptions,
  extractArchive,
} from './engines/archive/index.js';
export {
  DIRECTORY_KIND,
  DirectorySource,
  type DirectorySourceOptions,
  DirectoryTarget,
  type DirectoryTargetOptions,
} from './engines/directory/index.js';
export {
  MONGO_KIND,
  MongoSource,
  type MongoSourceOptions,
  MongoTarget,
  type MongoTargetOptions,
} from './engines/mongo/index.js';
export {
  MYSQL_KIND,
  MysqlSource,
  type MysqlSourceOptions,
  MysqlTarget,
  type MysqlTargetOptions,
} from './engines/mysql/index.js';
export {
  NGINX_KIND,
  NginxSource,
  type NginxSourceOptions,
  NginxTarget,
  type NginxTargetOptions,
} from './engines/nginx/index.js';
export {
  POSTGRES_KIND,
  PostgresSource,
  type PostgresSourceOptions,
  PostgresTarget,
  type PostgresTargetOptions,
} from './engines/postgres/index.js';
export {
  SQLITE_KIND,
  SqliteSource,
  type SqliteSourceOptions,
  SqliteTarget,
  type SqliteTargetOptions,
} from './engines/sqlite/index.js';

// ---------------------------------------------------------------------------------------------
// Deprecated: names that left the root, kept for one minor version. Each says where it went.
// They are declarations, not `export { … }` lists, so that the `@deprecated` tag survives into
// the bundled .d.ts files editors read.
// ---------------------------------------------------------------------------------------------

// Config files: their home is `duplicati-kit/config`.
/** @deprecated Import from 'duplicati-kit/config'; this re-export will be removed in 0.3. */
export const defineConfig = config.defineConfig;
/** @deprecated Import from 'duplicati-kit/config'; this re-export will be removed in 0.3. */
export const loadConfig = config.loadConfig;
/** @deprecated Import from 'duplicati-kit/config'; this re-export will be removed in 0.3. */
export const resolveConfig = config.resolveConfig;
/** @deprecated Import from 'duplicati-kit/config'; this re-export will be removed in 0.3. */
export type DuplicatiKitConfig = config.DuplicatiKitConfig;
/** @deprecated Import from 'duplicati-kit/config'; this re-export will be removed in 0.3. */
export type DuplicatiServerConfig = config.DuplicatiServerConfig;
/** @deprecated Import from 'duplicati-kit/config'; this re-export will be removed in 0.3. */
export type LoadedConfig = config.LoadedConfig;
/** @deprecated Import from 'duplicati-kit/config'; this re-export will be removed in 0.3. */
export type ScheduleConfig = config.ScheduleConfig;
/** @deprecated Import from 'duplicati-kit/config'; this re-export will be removed in 0.3. */
export type TypedEntry = config.TypedEntry;

// Duplicati client errors: their home is `duplicati-kit/duplicati`, beside the client that throws them.
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export const DuplicatiError = errors.DuplicatiError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export type DuplicatiError = errors.DuplicatiError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export const isDuplicatiError = errors.isDuplicatiError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export const DuplicatiAPIError = errors.DuplicatiAPIError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export type DuplicatiAPIError = errors.DuplicatiAPIError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export const isDuplicatiAPIError = errors.isDuplicatiAPIError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export const DuplicatiAuthenticationError = errors.DuplicatiAuthenticationError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export type DuplicatiAuthenticationError = errors.DuplicatiAuthenticationError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export const isDuplicatiAuthenticationError = errors.isDuplicatiAuthenticationError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export const DuplicatiBadRequestError = errors.DuplicatiBadRequestError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export type DuplicatiBadRequestError = errors.DuplicatiBadRequestError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export const DuplicatiPermissionDeniedError = errors.DuplicatiPermissionDeniedError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export type DuplicatiPermissionDeniedError = errors.DuplicatiPermissionDeniedError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export const DuplicatiNotFoundError = errors.DuplicatiNotFoundError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export type DuplicatiNotFoundError = errors.DuplicatiNotFoundError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export const isDuplicatiNotFoundError = errors.isDuplicatiNotFoundError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export const DuplicatiConflictError = errors.DuplicatiConflictError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export type DuplicatiConflictError = errors.DuplicatiConflictError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export const DuplicatiServerError = errors.DuplicatiServerError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export type DuplicatiServerError = errors.DuplicatiServerError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export const DuplicatiConnectionError = errors.DuplicatiConnectionError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export type DuplicatiConnectionError = errors.DuplicatiConnectionError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export const isDuplicatiConnectionError = errors.isDuplicatiConnectionError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export const DuplicatiTimeoutError = errors.DuplicatiTimeoutError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export type DuplicatiTimeoutError = errors.DuplicatiTimeoutError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export const isDuplicatiTimeoutError = errors.isDuplicatiTimeoutError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export const DuplicatiSchemaError = errors.DuplicatiSchemaError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export type DuplicatiSchemaError = errors.DuplicatiSchemaError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export const isDuplicatiSchemaError = errors.isDuplicatiSchemaError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export const DuplicatiTaskFailedError = errors.DuplicatiTaskFailedError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export type DuplicatiTaskFailedError = errors.DuplicatiTaskFailedError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export const isDuplicatiTaskFailedError = errors.isDuplicatiTaskFailedError;
/** @deprecated Import from 'duplicati-kit/duplicati'; this re-export will be removed in 0.3. */
export type ApiErrorDetails = errors.ApiErrorDetails;

// Details of the error classes and helpers of the library itself.
/** @deprecated Internal; will be removed in 0.3. Use `ConfigError['issues'][number]`. */
export type ConfigIssue = errors.ConfigIssue;
/** @deprecated Internal; will be removed in 0.3. */
export type ErrorOptions = errors.ErrorOptions;
/** @deprecated Internal; will be removed in 0.3. Use `SourceError['phase']`. */
export type Phase = errors.Phase;
/** @deprecated Internal; will be removed in 0.3. Use `PlanError['results'][number]`. */
export type StepResult = errors.StepResult;
/** @deprecated Internal; will be removed in 0.3. Use `VerificationError['problems'][number]`. */
export type VerificationProblem = errors.VerificationProblem;
/** @deprecated Internal; will be removed in 0.3. */
export const describeError = errors.describeError;
/** @deprecated Internal; will be removed in 0.3. */
export const rethrowIfAborted = errors.rethrowIfAborted;

/** @deprecated Internal; will be removed in 0.3. Use `Record<string, unknown>`. */
export type LogFields = logger.LogFields;
/** @deprecated Internal; will be removed in 0.3. */
export type LogLevel = logger.LogLevel;
/** @deprecated Internal; will be removed in 0.3. Use `Parameters<typeof fromPino>[0]`. */
export type PinoLike = logger.PinoLike;
/** @deprecated Internal; will be removed in 0.3. Use `Parameters<typeof streamLogger>[0]`. */
export type StreamLoggerOptions = logger.StreamLoggerOptions;
/** @deprecated Internal; will be removed in 0.3. */
export const childLogger = logger.childLogger;

/** @deprecated Internal; will be removed in 0.3. */
export const REDACTED = redact.REDACTED;
/** @deprecated Internal; will be removed in 0.3. */
export const isSecretKey = redact.isSecretKey;
/** @deprecated Internal; will be removed in 0.3. */
export const redactHeaders = redact.redactHeaders;
/** @deprecated Internal; will be removed in 0.3. */
export const redactObject = redact.redactObject;
/** @deprecated Internal; will be removed in 0.3. */
export const redactText = redact.redactText;
/** @deprecated Internal; will be removed in 0.3. */
export const redactUrl = redact.redactUrl;

/** @deprecated Internal; will be removed in 0.3. */
export const anySignal = abort.anySignal;
/** @deprecated Internal; will be removed in 0.3. */
export const sleep = abort.sleep;
/** @deprecated Internal; will be removed in 0.3. */
export const withTimeout = abort.withTimeout;

/** @deprecated Internal; will be removed in 0.3. Sources write through `ctx.artifacts`. */
export const ArtifactWriter = artifacts.ArtifactWriter;
/** @deprecated Internal; will be removed in 0.3. Sources write through `ctx.artifacts`. */
export type ArtifactWriter = artifacts.ArtifactWriter;
/** @deprecated Internal; will be removed in 0.3. */
export const hashFile = artifacts.hashFile;
/** @deprecated Internal; will be removed in 0.3. */
export const PARTIAL_SUFFIX = artifacts.PARTIAL_SUFFIX;
/** @deprecated Internal; will be removed in 0.3. */
export type ArtifactData = artifacts.ArtifactData;
/** @deprecated Internal; will be removed in 0.3. Use `PreparedSource['artifacts'][number]`. */
export type ArtifactRef = artifacts.ArtifactRef;
/** @deprecated Internal; will be removed in 0.3. */
export type ArtifactSink = artifacts.ArtifactSink;
/** @deprecated Internal; will be removed in 0.3. */
export type ArtifactWriteOptions = artifacts.ArtifactWriteOptions;

/** @deprecated Internal; will be removed in 0.3. */
export const MANIFEST_FILE = manifest.MANIFEST_FILE;
/** @deprecated Internal; will be removed in 0.3. */
export const MANIFEST_VERSION = manifest.MANIFEST_VERSION;
/** @deprecated Internal; will be removed in 0.3. */
export const manifestSchema = manifest.manifestSchema;
/** @deprecated Internal; will be removed in 0.3. */
export const parseManifest = manifest.parseManifest;
/** @deprecated Internal; will be removed in 0.3. */
export const readManifest = manifest.readManifest;
/** @deprecated Internal; will be removed in 0.3. */
export const writeManifest = manifest.writeManifest;
/** @deprecated Internal; will be removed in 0.3. Use `ManifestEntry`. */
export type ManifestSource = manifest.ManifestSource;

/** @deprecated Internal; will be removed in 0.3. Read `version` from 'duplicati-kit/package.json'. */
export const VERSION = version.VERSION;

/** @deprecated Internal; will be removed in 0.3. */
export type JsonValue = contracts.JsonValue;
/** @deprecated Internal; will be removed in 0.3. Use `RestoreInput['artifacts'][number]`. */
export type ResolvedArtifact = contracts.ResolvedArtifact;

/** @deprecated Internal; will be removed in 0.3. */
export const acquireLock = lock.acquireLock;
/** @deprecated Internal; will be removed in 0.3. */
export const inspectLock = lock.inspectLock;
/** @deprecated Internal; will be removed in 0.3. */
export const LOCK_FILE = lock.LOCK_FILE;
/** @deprecated Internal; will be removed in 0.3. */
export type AcquireLockOptions = lock.AcquireLockOptions;
/** @deprecated Internal; will be removed in 0.3. */
export type LockHandle = lock.LockHandle;
/** @deprecated Internal; will be removed in 0.3. */
export type LockInfo = lock.LockInfo;

// Plan details: write the options inline, let results be inferred.
/** @deprecated Internal; will be removed in 0.3. Use `PrepareResult['results'][number]`. */
export type SourceResult = backupPlan.SourceResult;

/** @deprecated Internal; will be removed in 0.3. Use `RestoreReport['entries'][number]`. */
export type EntryResult = restoreReport.EntryResult;
/** @deprecated Internal; will be removed in 0.3. Use `RestoreReport['entries'][number]['status']`. */
export type EntryStatus = restoreReport.EntryStatus;
/** @deprecated Internal; will be removed in 0.3. */
export const verifyArtifacts = restorePlan.verifyArtifacts;

/** @deprecated Internal; will be removed in 0.3. */
export const COMPOSITE_KIND = compose.COMPOSITE_KIND;
/** @deprecated Internal; will be removed in 0.3. Use `ReturnType<typeof composeSources>`. */
export type CompositeSource = compose.CompositeSource;
/** @deprecated Internal; will be removed in 0.3. */
export const expandEntry = compose.expandEntry;

/** @deprecated Internal; will be removed in 0.3. */
export const WORKDIR_MARKER = workdir.WORKDIR_MARKER;

/** @deprecated Internal; will be removed in 0.3. */
export const compileFilters = filters.compileFilters;
/** @deprecated Internal; will be removed in 0.3. */
export type PathFilter = filters.PathFilter;

// Engine details: reach option parts through the options type, e.g. `PostgresSourceOptions['connection']`.
/** @deprecated Internal; will be removed in 0.3. */
export const walkTree = directory.walkTree;
/** @deprecated Internal; will be removed in 0.3. */
export type ListingEntry = directory.ListingEntry;
/** @deprecated Internal; will be removed in 0.3. */
export type TreeStats = directory.TreeStats;

/** @deprecated Internal; will be removed in 0.3. */
export const scanArchive = archive.scanArchive;
/** @deprecated Internal; will be removed in 0.3. */
export type ArchiveStats = archive.ArchiveStats;
/** @deprecated Internal; will be removed in 0.3. */
export type ArchiveReadOptions = archive.ArchiveReadOptions;
/** @deprecated Internal; will be removed in 0.3. Use `Parameters<typeof extractArchive>[2]`. */
export type ExtractArchiveOptions = archive.ExtractArchiveOptions;
/** @deprecated Internal; will be removed in 0.3. */
export type ExtractProgress = archive.ExtractProgress;
/** @deprecated Internal; will be removed in 0.3. Use `Awaited<ReturnType<typeof extractArchive>>`. */
export type ExtractResult = archive.ExtractResult;
/** @deprecated Internal; will be removed in 0.3. Use `ArchiveSourceOptions['onChangedFile']`. */
export type ChangedFilePolicy = archive.ChangedFilePolicy;

/** @deprecated Internal; will be removed in 0.3. */
export type SqliteGateInput = sqlite.SqliteGateInput;
/** @deprecated Internal; will be removed in 0.3. Use `SqliteTargetOptions['versionGate']`. */
export type SqliteVersionGate = sqlite.SqliteVersionGate;

/** @deprecated Internal; will be removed in 0.3. Use `PostgresSourceOptions['connection']`. */
export type PgConnectionOptions = postgres.PgConnectionOptions;
/** @deprecated Internal; will be removed in 0.3. */
export type PgConnectionFields = postgres.PgConnectionFields;
/** @deprecated Internal; will be removed in 0.3. */
export type PgConnectionUrl = postgres.PgConnectionUrl;
/** @deprecated Internal; will be removed in 0.3. Use `PostgresSourceOptions['executor']`. */
export type PgExecutorOptions = postgres.PgExecutorOptions;
/** @deprecated Internal; will be removed in 0.3. Use `PostgresSourceOptions['databases']`. */
export type PgDatabaseSelection = postgres.PgDatabaseSelection;
/** @deprecated Internal; will be removed in 0.3. Use `PostgresSourceOptions['format']`. */
export type PgDumpFormat = postgres.PgDumpFormat;
/** @deprecated Internal; will be removed in 0.3. Use `PostgresSourceOptions['counts']`. */
export type PgCountSelection = postgres.PgCountSelection;
/** @deprecated Internal; will be removed in 0.3. */
export type PgDumpInfo = postgres.PgDumpInfo;
/** @deprecated Internal; will be removed in 0.3. */
export type PostgresDumpHooks = postgres.PostgresDumpHooks;
/** @deprecated Internal; will be removed in 0.3. */
export type PostgresTargetHooks = postgres.PostgresTargetHooks;
/** @deprecated Internal; will be removed in 0.3. */
export const createParallelGzip = postgres.createParallelGzip;
/** @deprecated Internal; will be removed in 0.3. */
export type ParallelGzipOptions = postgres.ParallelGzipOptions;

/** @deprecated Internal; will be removed in 0.3. Use `MysqlSourceOptions['connection']`. */
export type MysqlConnectionOptions = mysql.MysqlConnectionOptions;
/** @deprecated Internal; will be removed in 0.3. */
export type MysqlTargetHooks = mysql.MysqlTargetHooks;
/** @deprecated Internal; will be removed in 0.3. */
export type MysqlObject = mysql.MysqlObject;
/** @deprecated Internal; will be removed in 0.3. */
export type MysqlObjectKind = mysql.MysqlObjectKind;

/** @deprecated Internal; will be removed in 0.3. */
export type CertificateInfo = nginx.CertificateInfo;
