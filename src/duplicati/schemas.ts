/**
 * zod schemas of the Duplicati wire format (PascalCase, both generations) and their mapping to the
 * camelCase models of `types.ts`. Objects are lenient to extra fields and strict on the fields
 * read here.
 *
 * @module
 */
import { z } from 'zod';
import type {
  Backup,
  BackupFilter,
  BackupSetting,
  BackupSummary,
  FileEntry,
  Fileset,
  LogEntry,
  Notification,
  ProgressState,
  RemoteLogEntry,
  Schedule,
  ServerState,
  SystemInfo,
  TaskState,
} from './types.js';

const id = z.union([z.string(), z.number()]).transform(String);
const nstr = z
  .string()
  .nullish()
  .transform((v) => v ?? null);
const strArray = z
  .array(z.string())
  .nullish()
  .transform((v) => v ?? []);

export const scheduleWire = z
  .object({
    ID: id.optional(),
    Tags: strArray,
    Time: nstr,
    Repeat: nstr,
    LastRun: nstr,
    Rule: nstr,
    AllowedDays: strArray,
  })
  .transform(
    (s): Schedule => ({
      id: s.ID ?? null,
      tags: s.Tags,
      time: s.Time,
      repeat: s.Repeat,
      lastRun: s.LastRun,
      rule: s.Rule,
      allowedDays: s.AllowedDays,
    }),
  );

const settingWire = z
  .object({ Name: z.string(), Value: nstr, Filter: nstr })
  .transform((s): BackupSetting => ({ name: s.Name, value: s.Value, filter: s.Filter }));

const filterWire = z
  .object({ Order: z.number(), Include: z.boolean(), Expression: z.string() })
  .transform((f): BackupFilter => ({ order: f.Order, include: f.Include, expression: f.Expression }));

const backupCore = z.object({
  ID: id,
  Name: z.string(),
  Description: nstr,
  Tags: strArray,
  TargetURL: z.string(),
  DBPath: nstr,
  Metadata: z
    .record(z.string(), z.union([z.string(), z.null()]))
    .nullish()
    .transform((m) => {
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(m ?? {})) if (v !== null) out[k] = v;
      return out;
    }),
  IsTemporary: z.boolean().nullish(),
  Sources: z.array(z.string()).nullish(),
  Settings: z.array(settingWire).nullish(),
  Filters: z.array(filterWire).nullish(),
});

type BackupCoreOut = z.output<typeof backupCore>;

function summaryOf(b: BackupCoreOut, schedule: Schedule | null): BackupSummary {
  return {
    id: b.ID,
    name: b.Name,
    description: b.Description ?? '',
    tags: b.Tags,
    targetUrl: b.TargetURL,
    dbPath: b.DBPath,
    metadata: b.Metadata,
    isTemporary: b.IsTemporary ?? false,
    schedule,
  };
}

/** `GET /backups` item: `{Backup, Schedule}` (2.0 adds `IsUnencryptedOrPassphraseStored` outside). */
export const backupListItemWire = z
  .object({ Backup: backupCore, Schedule: scheduleWire.nullish() })
  .transform((x): BackupSummary => summaryOf(x.Backup, x.Schedule ?? null));

const backupFullInner = z
  .object({
    Backup: backupCore,
    Schedule: scheduleWire.nullish(),
    DisplayNames: z.record(z.string(), z.string()).nullish(),
  })
  .transform(
    (x): Backup => ({
      ...summaryOf(x.Backup, x.Schedule ?? null),
      sources: x.Backup.Sources ?? [],
      settings: x.Backup.Settings ?? [],
      filters: x.Backup.Filters ?? [],
      displayNames: x.DisplayNames ?? {},
    }),
  );

/** `GET /backup/{id}`: 2.1+ plain, 2.0.x wrapped in `{success, data}`. */
export const backupGetWire = z.preprocess(
  (v) => (v && typeof v === 'object' && 'success' in v && 'data' in v ? (v as { data: unknown }).data : v),
  backupFullInner,
);

/** POST /backups: 2.0 `{status, ID}`, 2.1+ `{ID, Temporary}`. */
export const createdWire = z.object({ ID: id }).transform((x) => ({ id: x.ID }));

/** Task-started responses: `{Status, ID}` (2.1+ and most 2.0 routes), `{Status:"OK"}` (2.0 run), `{TaskID}` (2.0 restore). */
export const taskStartedWire = z
  .object({ ID: id.nullish(), TaskID: id.nullish(), Status: z.string().nullish() })
  .transform((x) => ({ taskId: x.ID ?? x.TaskID ?? null }));

export const filesetWire = z
  .object({
    Version: z.number(),
    IsFullBackup: z.union([z.number(), z.boolean()]).nullish(),
    Time: z.string(),
    FileCount: z.number().nullish(),
    FileSizes: z.number().nullish(),
  })
  .transform(
    (f): Fileset => ({
      version: f.Version,
      isFullBackup: f.IsFullBackup === undefined || f.IsFullBackup === null ? true : Boolean(f.IsFullBackup),
      time: f.Time,
      fileCount: f.FileCount === undefined || f.FileCount === null || f.FileCount < 0 ? null : f.FileCount,
      fileSizes: f.FileSizes === undefined || f.FileSizes === null || f.FileSizes < 0 ? null : f.FileSizes,
    }),
  );

export const filesWire = z
  .object({
    Filesets: z.array(filesetWire).nullish(),
    Files: z.array(z.object({ Path: z.string(), Sizes: z.array(z.number()).nullish() })),
  })
  .transform((x) => ({
    filesets: x.Filesets ?? [],
    files: x.Files.map(
      (f): FileEntry => ({
        path: f.Path,
        isFolder: f.Path.endsWith('/') || f.Path.endsWith('\\'),
        sizes: (f.Sizes ?? []).map((s) => (s < 0 ? null : s)),
      }),
    ),
  }));

const unixSeconds = z.number().transform((s) => new Date(s * 1000));

export const logEntryWire = z
  .object({
    ID: z.number(),
    OperationID: z.number(),
    Timestamp: unixSeconds,
    Type: z.string(),
    Message: nstr,
    Exception: nstr,
  })
  .transform(
    (r): LogEntry => ({
      id: r.ID,
      operationId: r.OperationID,
      timestamp: r.Timestamp,
      type: r.Type,
      message: r.Message,
      exception: r.Exception,
    }),
  );

export const remoteLogEntryWire = z
  .object({
    ID: z.number(),
    OperationID: z.number(),
    Timestamp: unixSeconds,
    Operation: z.string(),
    Path: nstr,
    Data: nstr,
  })
  .transform(
    (r): RemoteLogEntry => ({
      id: r.ID,
      operationId: r.OperationID,
      timestamp: r.Timestamp,
      operation: r.Operation,
      path: r.Path,
      data: r.Data,
    }),
  );

export const taskStateWire = z
  .object({
    Status: z.string(),
    ID: id.nullish(),
    TaskStarted: nstr,
    TaskFinished: nstr,
    ErrorMessage: nstr,
    Exception: nstr,
  })
  .transform((t): Omit<TaskState, 'id'> & { wireId: string | null } => ({
    wireId: t.ID ?? null,
    status: t.Status,
    startedAt: t.TaskStarted,
    finishedAt: t.TaskFinished,
    errorMessage: t.ErrorMessage,
    exception: t.Exception,
  }));

const tuple = z.object({ Item1: id, Item2: id.nullish() });

export const serverStateWire = z
  .object({
    ProgramState: z.string(),
    ActiveTask: tuple.nullish(),
    SchedulerQueueIds: z.array(tuple).nullish(),
    ProposedSchedule: z.array(z.object({ Item1: id, Item2: z.string().nullish() })).nullish(),
    HasWarning: z.boolean().nullish(),
    HasError: z.boolean().nullish(),
    SuggestedStatusIcon: nstr,
    EstimatedPauseEnd: nstr,
    LastEventID: z.number(),
    LastDataUpdateID: z.number().nullish(),
    LastNotificationUpdateID: z.number().nullish(),
  })
  .transform(
    (s): ServerState => ({
      programState: s.ProgramState,
      activeTask: s.ActiveTask ? { taskId: s.ActiveTask.Item1, backupId: s.ActiveTask.Item2 ?? null } : null,
      queue: (s.SchedulerQueueIds ?? []).map((q) => ({ taskId: q.Item1, backupId: q.Item2 ?? null })),
      proposedSchedule: (s.ProposedSchedule ?? []).map((p) => ({ backupId: p.Item1, time: p.Item2 ?? null })),
      hasWarning: s.HasWarning ?? false,
      hasError: s.HasError ?? false,
      suggestedStatusIcon: s.SuggestedStatusIcon,
      estimatedPauseEnd: s.EstimatedPauseEnd,
      lastEventId: s.LastEventID,
      lastDataUpdateId: s.LastDataUpdateID ?? null,
      lastNotificationUpdateId: s.LastNotificationUpdateID ?? null,
    }),
  );

export const progressWire = z
  .object({
    BackupID: nstr,
    TaskID: id.nullish(),
    Phase: nstr,
    OverallProgress: z.number().nullish(),
    ProcessedFileCount: z.number().nullish(),
    ProcessedFileSize: z.number().nullish(),
    TotalFileCount: z.number().nullish(),
    TotalFileSize: z.number().nullish(),
    StillCounting: z.boolean().nullish(),
    CurrentFilename: nstr,
    BackendAction: nstr,
    BackendPath: nstr,
  })
  .transform(
    (p): ProgressState => ({
      backupId: p.BackupID,
      taskId: p.TaskID ?? null,
      phase: p.Phase,
      overallProgress: p.OverallProgress ?? null,
      processedFileCount: p.ProcessedFileCount ?? null,
      processedFileSize: p.ProcessedFileSize ?? null,
      totalFileCount: p.TotalFileCount ?? null,
      totalFileSize: p.TotalFileSize ?? null,
      stillCounting: p.StillCounting ?? false,
      currentFilename: p.CurrentFilename,
      backendAction: p.BackendAction,
      backendPath: p.BackendPath,
    }),
  );

export const systemInfoWire = z
  .object({
    APIVersion: z.number().nullish(),
    ServerVersion: z.string(),
    ServerVersionName: nstr,
    ServerVersionType: nstr,
    PasswordPlaceholder: nstr,
    StartedBy: nstr,
    ServerTime: nstr,
    OSType: nstr,
    DirectorySeparator: nstr,
    PathSeparator: nstr,
    MachineName: nstr,
  })
  .transform(
    (s): SystemInfo => ({
      apiVersion: s.APIVersion ?? null,
      serverVersion: s.ServerVersion,
      serverVersionName: s.ServerVersionName,
      serverVersionType: s.ServerVersionType,
      passwordPlaceholder: s.PasswordPlaceholder,
      startedBy: s.StartedBy,
      serverTime: s.ServerTime,
      osType: s.OSType,
      directorySeparator: s.DirectorySeparator,
      pathSeparator: s.PathSeparator,
      machineName: s.MachineName,
    }),
  );

export const notificationWire = z
  .object({
    ID: id,
    Type: z.string(),
    Title: nstr,
    Message: nstr,
    Exception: nstr,
    BackupID: id.nullish(),
    Action: nstr,
    Timestamp: nstr,
  })
  .transform(
    (n): Notification => ({
      id: n.ID,
      type: n.Type,
      title: n.Title,
      message: n.Message,
      exception: n.Exception || null,
      backupId: n.BackupID ?? null,
      action: n.Action,
      timestamp: n.Timestamp,
    }),
  );

export const isActiveWire = z.object({ Active: z.boolean() }).transform((x) => x.Active);

export const serverLogWire = z
  .object({ BackupID: id.nullish(), Message: nstr, Exception: nstr, Timestamp: unixSeconds })
  .transform((r) => ({
    backupId: r.BackupID ?? null,
    message: r.Message,
    exception: r.Exception,
    timestamp: r.Timestamp,
  }));

/** The JSON inside a `Result` log row's `Message`. */
export const resultMessageWire = z
  .object({
    ParsedResult: z.enum(['Unknown', 'Success', 'Warning', 'Error', 'Fatal']),
    MainOperation: z.string().nullish(),
    Interrupted: z.boolean().nullish(),
    BeginTime: nstr,
    EndTime: nstr,
    Messages: z.array(z.string()).nullish(),
    Warnings: z.array(z.string()).nullish(),
    Errors: z.array(z.string()).nullish(),
  })
  .loose();
