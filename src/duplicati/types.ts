/**
 * camelCase models of the Duplicati client. Wire names (PascalCase) are mapped in `schemas.ts`.
 *
 * @module
 */

/** A backup's schedule. `time` is the next run (ISO text as the server sends it). */
export interface Schedule {
  readonly id: string | null;
  readonly tags: readonly string[];
  readonly time: string | null;
  /** Duplicati timespan, e.g. `1D`, `1W`, `12h`. */
  readonly repeat: string | null;
  readonly lastRun: string | null;
  readonly rule: string | null;
  /** `mon` … `sun`. */
  readonly allowedDays: readonly string[];
}

/** One entry of `GET /backups` (a summary: sources, settings and filters are not loaded). */
export interface BackupSummary {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly tags: readonly string[];
  /** As stored; may contain credentials, never log it unredacted. */
  readonly targetUrl: string;
  readonly dbPath: string | null;
  /** Server-written statistics (`LastBackupFinished`, `SourceFilesSize`, …), all strings. */
  readonly metadata: Readonly<Record<string, string>>;
  readonly isTemporary: boolean;
  readonly schedule: Schedule | null;
}

/** One backup setting (`passphrase`, `keep-time`, `--run-script-before`, …). */
export interface BackupSetting {
  readonly name: string;
  readonly value: string | null;
  readonly filter: string | null;
}

/** One include/exclude filter. */
export interface BackupFilter {
  readonly order: number;
  readonly include: boolean;
  readonly expression: string;
}

/** A full backup configuration (`GET /backup/{id}`). */
export interface Backup extends BackupSummary {
  readonly sources: readonly string[];
  readonly settings: readonly BackupSetting[];
  readonly filters: readonly BackupFilter[];
  readonly displayNames: Readonly<Record<string, string>>;
}

/** Input of `backups.create` / `backups.update`. */
export interface BackupInput {
  readonly name: string;
  readonly description?: string;
  readonly tags?: readonly string[];
  readonly targetUrl: string;
  readonly sources: readonly string[];
  readonly settings?: readonly { readonly name: string; readonly value: string | null; readonly filter?: string }[];
  readonly filters?: readonly { readonly order?: number; readonly include: boolean; readonly expression: string }[];
  readonly metadata?: Readonly<Record<string, string>> | null;
  readonly schedule?: ScheduleInput | null;
}

/** Input schedule. */
export interface ScheduleInput {
  /** Next run time (ISO-8601). */
  readonly time: string;
  /** Duplicati timespan, e.g. `1D`, `1W`. */
  readonly repeat: string;
  readonly allowedDays?: readonly string[];
}

/** A version of a backup. Version 0 is the newest. */
export interface Fileset {
  readonly version: number;
  readonly isFullBackup: boolean;
  /** ISO time exactly as the server sent it; pass it back verbatim as a restore/list `time`. */
  readonly time: string;
  /** Null unless asked with `withSizes` (the server sends -1). */
  readonly fileCount: number | null;
  readonly fileSizes: number | null;
}

/** One entry of a folder listing or a search. */
export interface FileEntry {
  readonly path: string;
  readonly isFolder: boolean;
  /** Size in each listed fileset; null for folders or absent versions. */
  readonly sizes: readonly (number | null)[];
}

/** One row of a backup's local log (`LogData`). */
export interface LogEntry {
  readonly id: number;
  readonly operationId: number;
  readonly timestamp: Date;
  /** `Result` rows hold the JSON result of an operation in `message`. */
  readonly type: string;
  readonly message: string | null;
  readonly exception: string | null;
}

/** One row of a backup's remote-operation log. */
export interface RemoteLogEntry {
  readonly id: number;
  readonly operationId: number;
  readonly timestamp: Date;
  readonly operation: string;
  readonly path: string | null;
  readonly data: string | null;
}

/** Task status as the server reports it. `Completed` does not mean success. */
export interface TaskState {
  readonly id: string;
  /** `Waiting` | `Running` | `Completed` | `Failed`. */
  readonly status: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly errorMessage: string | null;
  readonly exception: string | null;
}

/** A queued or running task that belongs to a backup. */
export interface QueuedTask {
  readonly taskId: string;
  readonly backupId: string | null;
}

/** `GET /serverstate`. */
export interface ServerState {
  /** `Running` | `Paused`. */
  readonly programState: string;
  readonly activeTask: QueuedTask | null;
  readonly queue: readonly QueuedTask[];
  readonly proposedSchedule: readonly { readonly backupId: string; readonly time: string | null }[];
  readonly hasWarning: boolean;
  readonly hasError: boolean;
  readonly suggestedStatusIcon: string | null;
  readonly estimatedPauseEnd: string | null;
  /** Event counter for long-polling. */
  readonly lastEventId: number;
  readonly lastDataUpdateId: number | null;
  readonly lastNotificationUpdateId: number | null;
}

/** `GET /progressstate`: progress of the running (or last) task. */
export interface ProgressState {
  readonly backupId: string | null;
  readonly taskId: string | null;
  readonly phase: string | null;
  readonly overallProgress: number | null;
  readonly processedFileCount: number | null;
  readonly processedFileSize: number | null;
  readonly totalFileCount: number | null;
  readonly totalFileSize: number | null;
  readonly stillCounting: boolean;
  readonly currentFilename: string | null;
  readonly backendAction: string | null;
  readonly backendPath: string | null;
}

/** `GET /systeminfo` (the fields the client reads). */
export interface SystemInfo {
  readonly apiVersion: number | null;
  /** e.g. `2.0.7.3`, `2.1.0.5`. */
  readonly serverVersion: string;
  readonly serverVersionName: string | null;
  readonly serverVersionType: string | null;
  /** What masked secrets look like on this server (10 asterisks on 2.0, 15 on 2.1+). */
  readonly passwordPlaceholder: string | null;
  readonly startedBy: string | null;
  readonly serverTime: string | null;
  readonly osType: string | null;
  readonly directorySeparator: string | null;
  readonly pathSeparator: string | null;
  readonly machineName: string | null;
}

/** A server notification. */
export interface Notification {
  readonly id: string;
  /** `Information` | `Warning` | `Error`. */
  readonly type: string;
  readonly title: string | null;
  readonly message: string | null;
  readonly exception: string | null;
  readonly backupId: string | null;
  readonly action: string | null;
  readonly timestamp: string | null;
}

/** The outcome of an operation as written in its `Result` log row. */
export type OperationResult = 'Success' | 'Warning' | 'Error' | 'Fatal';

/**
 * What `runAndWait` / `restoreAndWait` return.
 *
 * @example
 * ```ts
 * const o = await dup.backups.runAndWait('1');
 * if (o.result === 'Warning') console.error(o.warnings.join('\n'));
 * ```
 */
export interface OperationOutcome {
  /** Null only when a 2.0.x run finished before its task could be seen. */
  readonly taskId: string | null;
  readonly backupId: string;
  /** Final task status (`Completed`, `Failed`), or `Unknown` when the server forgot the task. */
  readonly status: string;
  /**
   * The true outcome. `Success` only when the newest `Result` log row of this operation says
   * Success and it was not interrupted (a run aborted by a hook or stopped is `Fatal`).
   */
  readonly result: OperationResult;
  /** True when the operation was stopped or aborted (by a hook, a user, `tasks.stop`). */
  readonly interrupted: boolean;
  /** Operation named in the Result row, e.g. `Backup`, `Restore`. */
  readonly operation: string | null;
  readonly startedAt: Date | null;
  readonly finishedAt: Date | null;
  /** Messages, warnings and errors of the result (first 20 of each, as the server keeps them). */
  readonly messages: readonly string[];
  readonly warnings: readonly string[];
  readonly errors: readonly string[];
  /** The full parsed Result JSON, when there was one. */
  readonly raw: Readonly<Record<string, unknown>> | null;
}
