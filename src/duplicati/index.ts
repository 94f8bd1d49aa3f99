/**
 * `duplicati-kit/duplicati`: the typed Duplicati REST client. Loads no database driver, so a
 * hook that only talks to Duplicati stays light.
 *
 * @example
 * ```ts
 * import { DuplicatiClient, isDuplicatiAuthenticationError } from 'duplicati-kit/duplicati';
 * const dup = DuplicatiClient.fromEnv(process.env);
 * const r = await dup.backups.runAndWait('1');
 * ```
 *
 * @module
 */
import * as auth from './auth.js';

export { DuplicatiClient } from './client.js';
export type { DuplicatiAuthOptions, DuplicatiClientOptions, PasswordAuthOptions } from './options.js';
export type { Generation, RequestOptions } from './http.js';
export type {
  AndWaitOptions,
  FilesOptions,
  RestoreOptions,
  TaskStarted,
  VersionSelector,
  BackupsResource,
} from './resources/backups.js';
export type { TaskListItem, TasksResource, WaitOptions } from './resources/tasks.js';
export type { ServerResource, ServerStateOptions } from './resources/server.js';
export type { NotificationsResource } from './resources/notifications.js';
export type { LogsResource, ServerLogEntry } from './resources/logs.js';
export type { AuthResource } from './resources/auth.js';
export type { ApplyOptions, ApplyResult, JobChange, JobSpec, JobsResource, Weekday } from './resources/jobs.js';
export type {
  Backup,
  BackupFilter,
  BackupInput,
  BackupSetting,
  BackupSummary,
  FileEntry,
  Fileset,
  LogEntry,
  Notification,
  OperationOutcome,
  OperationResult,
  ProgressState,
  QueuedTask,
  RemoteLogEntry,
  Schedule,
  ScheduleInput,
  ServerState,
  SystemInfo,
  TaskState,
} from './types.js';
export {
  DuplicatiAPIError,
  DuplicatiAuthenticationError,
  DuplicatiBadRequestError,
  DuplicatiConflictError,
  DuplicatiConnectionError,
  DuplicatiError,
  DuplicatiNotFoundError,
  DuplicatiPermissionDeniedError,
  DuplicatiSchemaError,
  DuplicatiServerError,
  DuplicatiTaskFailedError,
  DuplicatiTimeoutError,
  isDuplicatiAPIError,
  isDuplicatiAuthenticationError,
  isDuplicatiBadRequestError,
  isDuplicatiConflictError,
  isDuplicatiConnectionError,
  isDuplicatiError,
  isDuplicatiNotFoundError,
  isDuplicatiPermissionDeniedError,
  isDuplicatiSchemaError,
  isDuplicatiServerError,
  isDuplicatiTaskFailedError,
  isDuplicatiTimeoutError,
  DuplicatiRedirectError,
  DuplicatiResponseTooLargeError,
  isDuplicatiRedirectError,
  isDuplicatiResponseTooLargeError,
} from '../core/errors.js';
export type { ApiErrorDetails } from '../core/errors.js';
export type { Logger } from '../core/logger.js';

// Deprecated: kept for one minor version (see CHANGELOG.md). A declaration, not an `export { … }`
// list, so that the `@deprecated` tag survives into the bundled .d.ts files.
/** @deprecated Internal (the 2.0.x login handshake the client performs); will be removed in 0.3. */
export const legacyLoginProof = auth.legacyLoginProof;
