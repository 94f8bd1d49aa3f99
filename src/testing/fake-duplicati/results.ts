/**
 * The `Result` JSON a Duplicati operation writes into its job log (`LogData.Message`), with the
 * keys in the order a 2.0.7.3 server writes them (see the recordings 19 and 36).
 *
 * @module
 */
import { isoFractionZ, isoSecondsOffset, logLineTime, timeSpanText } from './format.js';

/** Outcome levels of a Duplicati operation (`ParsedResult`). */
export type ParsedResult = 'Success' | 'Warning' | 'Error' | 'Fatal';

/** What an operation run produced, before it is serialised. */
export interface OperationOutcome {
  readonly begin: Date;
  readonly end: Date;
  readonly messages: readonly string[];
  readonly warnings: readonly string[];
  readonly errors: readonly string[];
  readonly interrupted: boolean;
  /** Forced result (an injected fault); otherwise derived from warnings and errors. */
  readonly forced?: ParsedResult;
}

/** `ParsedResult` as Duplicati derives it: errors beat warnings. */
export function parsedResultOf(o: OperationOutcome): ParsedResult {
  if (o.forced) return o.forced;
  if (o.errors.length > 0) return 'Error';
  if (o.warnings.length > 0) return 'Warning';
  return 'Success';
}

/** A log line as it appears in `Messages`/`Warnings`/`Errors`. */
export function logLine(at: Date, level: 'Information' | 'Warning' | 'Error', tag: string, text: string): string {
  return `${logLineTime(at)} - [${level}-Duplicati.Library.Main.${tag}]: ${text}`;
}

/** Figures about the (imaginary) remote store that appear in every result. */
export interface BackendFigures {
  readonly uploadedBytes: number;
  readonly uploadedFiles: number;
  readonly downloadedBytes: number;
  readonly downloadedFiles: number;
  readonly knownFileCount: number;
  readonly knownFileSize: number;
  readonly lastBackupDate: Date | undefined;
  readonly backupListCount: number;
}

const EMPTY_BACKEND: BackendFigures = {
  uploadedBytes: 0,
  uploadedFiles: 0,
  downloadedBytes: 0,
  downloadedFiles: 0,
  knownFileCount: 0,
  knownFileSize: 0,
  lastBackupDate: undefined,
  backupListCount: 0,
};

const MIN_DATE = '0001-01-01T00:00:00';

function tail(
  versionText: string,
  parsed: ParsedResult,
  interrupted: boolean,
  begin: Date,
  end: Date | undefined,
  lists?: { messages: readonly string[]; warnings: readonly string[]; errors: readonly string[] },
): Record<string, unknown> {
  return {
    ParsedResult: parsed,
    Interrupted: interrupted,
    Version: versionText,
    EndTime: end ? isoFractionZ(end) : MIN_DATE,
    BeginTime: isoFractionZ(begin),
    Duration: timeSpanText(end ? end.getTime() - begin.getTime() : 0),
    MessagesActualLength: lists?.messages.length ?? 0,
    WarningsActualLength: lists?.warnings.length ?? 0,
    ErrorsActualLength: lists?.errors.length ?? 0,
    Messages: lists ? lists.messages.slice(0, 20) : null,
    Warnings: lists ? lists.warnings.slice(0, 20) : null,
    Errors: lists ? lists.errors.slice(0, 20) : null,
  };
}

function backendStatistics(
  versionText: string,
  op: string,
  begin: Date,
  b: BackendFigures,
  parsed: ParsedResult,
): Record<string, unknown> {
  return {
    RemoteCalls: b.uploadedFiles + b.downloadedFiles + 2,
    BytesUploaded: b.uploadedBytes,
    BytesDownloaded: b.downloadedBytes,
    FilesUploaded: b.uploadedFiles,
    FilesDownloaded: b.downloadedFiles,
    FilesDeleted: 0,
    FoldersCreated: 0,
    RetryAttempts: 0,
    UnknownFileSize: 0,
    UnknownFileCount: 0,
    KnownFileCount: b.knownFileCount,
    KnownFileSize: b.knownFileSize,
    LastBackupDate: b.lastBackupDate ? isoSecondsOffset(b.lastBackupDate) : MIN_DATE,
    BackupListCount: b.backupListCount,
    TotalQuotaSpace: 0,
    FreeQuotaSpace: 0,
    AssignedQuotaSpace: -1,
    ReportedQuotaError: false,
    ReportedQuotaWarning: false,
    MainOperation: op,
    ...tail(
      versionText,
      parsed === 'Fatal' ? 'Error' : parsed === 'Warning' ? 'Success' : parsed,
      false,
      begin,
      undefined,
    ),
  };
}

function compactResults(versionText: string, at: Date, stats: Record<string, unknown>): Record<string, unknown> {
  return {
    DeletedFileCount: 0,
    DownloadedFileCount: 0,
    UploadedFileCount: 0,
    DeletedFileSize: 0,
    DownloadedFileSize: 0,
    UploadedFileSize: 0,
    Dryrun: false,
    VacuumResults: null,
    MainOperation: 'Compact',
    ...tail(versionText, 'Success', false, at, at),
    BackendStatistics: stats,
  };
}

/** File counters of a backup run. */
export interface BackupCounters {
  readonly examinedFiles: number;
  readonly sizeOfExaminedFiles: number;
  readonly addedFiles: number;
  readonly sizeOfAddedFiles: number;
  readonly modifiedFiles: number;
  readonly sizeOfModifiedFiles: number;
  readonly deletedFiles: number;
  readonly addedFolders: number;
  readonly deletedFolders: number;
  readonly filesWithError: number;
  /** dlist names of the remote files the post-backup test "verified". */
  readonly verified: readonly string[];
}

/** The `Result` object of a `Backup` operation. */
export function backupResult(
  versionText: string,
  o: OperationOutcome,
  c: BackupCounters,
  b: BackendFigures,
): Record<string, unknown> {
  const parsed = parsedResultOf(o);
  const stats = backendStatistics(versionText, 'Backup', o.begin, b, parsed);
  const mid = o.end;
  return {
    DeletedFiles: c.deletedFiles,
    DeletedFolders: c.deletedFolders,
    ModifiedFiles: c.modifiedFiles,
    ExaminedFiles: c.examinedFiles,
    OpenedFiles: c.addedFiles + c.modifiedFiles,
    AddedFiles: c.addedFiles,
    SizeOfModifiedFiles: c.sizeOfModifiedFiles,
    SizeOfAddedFiles: c.sizeOfAddedFiles,
    SizeOfExaminedFiles: c.sizeOfExaminedFiles,
    SizeOfOpenedFiles: c.sizeOfAddedFiles + c.sizeOfModifiedFiles,
    NotProcessedFiles: 0,
    AddedFolders: c.addedFolders,
    TooLargeFiles: 0,
    FilesWithError: c.filesWithError,
    ModifiedFolders: 0,
    ModifiedSymlinks: 0,
    AddedSymlinks: 0,
    DeletedSymlinks: 0,
    PartialBackup: o.interrupted,
    Dryrun: false,
    MainOperation: 'Backup',
    CompactResults: compactResults(versionText, mid, stats),
    VacuumResults: null,
    DeleteResults: {
      DeletedSetsActualLength: 0,
      DeletedSets: [],
      Dryrun: false,
      MainOperation: 'Delete',
      CompactResults: compactResults(versionText, mid, stats),
      ...tail(versionText, 'Success', false, mid, mid),
      BackendStatistics: stats,
    },
    RepairResults: null,
    TestResults: {
      MainOperation: 'Test',
      VerificationsActualLength: c.verified.length,
      Verifications: c.verified.map((k) => ({ Key: k, Value: [] })),
      ...tail(versionText, 'Success', false, mid, mid),
      BackendStatistics: stats,
    },
    ...tail(versionText, parsed, o.interrupted, o.begin, o.end, o),
    BackendStatistics: stats,
  };
}

/** File counters of a restore run. */
export interface RestoreCounters {
  readonly restoredFiles: number;
  readonly sizeOfRestoredFiles: number;
  readonly restoredFolders: number;
}

/** The `Result` object of a `Restore` operation. */
export function restoreResult(
  versionText: string,
  o: OperationOutcome,
  c: RestoreCounters,
  b: BackendFigures,
): Record<string, unknown> {
  const parsed = parsedResultOf(o);
  return {
    RestoredFiles: c.restoredFiles,
    SizeOfRestoredFiles: c.sizeOfRestoredFiles,
    RestoredFolders: c.restoredFolders,
    RestoredSymlinks: 0,
    PatchedFiles: 0,
    DeletedFiles: 0,
    DeletedFolders: 0,
    DeletedSymlinks: 0,
    MainOperation: 'Restore',
    RecreateDatabaseResults: null,
    ...tail(versionText, parsed, o.interrupted, o.begin, o.end, o),
    BackendStatistics: backendStatistics(versionText, 'Restore', o.begin, b, parsed),
  };
}

/** The `Result` of the simpler operations (`Test` = verify, `Compact`, `Repair`, `Vacuum`, …). */
export function genericResult(
  versionText: string,
  operation: string,
  o: OperationOutcome,
  b: BackendFigures = EMPTY_BACKEND,
): Record<string, unknown> {
  const parsed = parsedResultOf(o);
  return {
    MainOperation: operation,
    ...tail(versionText, parsed, o.interrupted, o.begin, o.end, o),
    BackendStatistics: backendStatistics(versionText, operation, o.begin, b, parsed),
  };
}
