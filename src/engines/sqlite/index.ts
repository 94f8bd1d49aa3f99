/**
 * The SQLite engine: its backup source, its restore target, their options, and the building blocks
 * the apps (`src/apps/*`) build on. Everything outside this folder imports the engine from here.
 *
 * @module
 */
export { closeQuietly, countRows, loadSqliteDriver, tableNames } from './driver.js';
export type { SqliteDatabase } from './driver.js';
export {
  InstallFailure,
  checkDatabaseFile,
  dropSafetyCopy,
  installDatabase,
  liveInUseChecks,
  moveAside,
  putBack,
} from './install.js';
export type { Check, InstallState } from './install.js';
export { openLive, takeSnapshot } from './snapshot.js';
export type { SnapshotResult } from './snapshot.js';
export { SQLITE_KIND, SQLITE_SOURCE_DEFAULTS, SQLITE_TARGET_DEFAULTS } from './options.js';
export type { SqliteGateInput, SqliteSourceOptions, SqliteTargetOptions, SqliteVersionGate } from './options.js';
export { SqliteSource, snapshotError, snapshotMetadata, snapshotTuning } from './source.js';
export { SqliteTarget, installError, manifestCounts } from './target.js';
