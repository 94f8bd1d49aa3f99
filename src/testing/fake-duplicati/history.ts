/**
 * Past backup runs written straight into a fake job's log, as the server would have written
 * them: a dashboard or an audit test needs a year of history without running a year of backups.
 *
 * @module
 */
import { compactUtc, sizeString, timeSpanText } from './format.js';
import { backupResult, logLine, type OperationOutcome, type ParsedResult } from './results.js';
import type { FakeBackup } from './state.js';

/** One past backup run. */
export interface FakeSeedRun {
  readonly begin: Date;
  /** Default: one minute after `begin`. */
  readonly end?: Date;
  /** Default `Success`. `Fatal` runs store nothing and set `LastErrorDate`/`LastErrorMessage`. */
  readonly result?: ParsedResult;
  /** The warning or error line of a run that did not succeed. */
  readonly message?: string;
  readonly examinedFiles?: number;
  readonly sizeOfExaminedFiles?: number;
  readonly addedFiles?: number;
  readonly modifiedFiles?: number;
  readonly uploadedBytes?: number;
}

/** Append `runs` (any order; written oldest first) to the job's log and update its metadata. */
export function appendRuns(b: FakeBackup, versionText: string, runs: readonly FakeSeedRun[]): void {
  const sorted = [...runs].sort((x, y) => x.begin.getTime() - y.begin.getTime());
  for (const run of sorted) {
    const begin = run.begin;
    const end = run.end ?? new Date(begin.getTime() + 60_000);
    const result = run.result ?? 'Success';
    const text = run.message ?? `Injected ${result.toLowerCase()}`;
    const fatal = result === 'Fatal';
    const outcome: OperationOutcome = {
      begin,
      end,
      messages: [logLine(begin, 'Information', 'Controller-StartingOperation', 'The operation Backup has started')],
      warnings: result === 'Warning' ? [logLine(end, 'Warning', 'Operation.BackupHandler-FileAccessError', text)] : [],
      errors:
        result === 'Error' || fatal
          ? [logLine(end, 'Error', 'Controller-FailedOperation', `The operation Backup has failed: ${text}`)]
          : [],
      interrupted: false,
      ...(fatal ? { forced: 'Fatal' as const } : {}),
    };
    const examined = run.examinedFiles ?? 0;
    const size = run.sizeOfExaminedFiles ?? 0;
    const uploaded = fatal ? 0 : (run.uploadedBytes ?? 0);
    const json = backupResult(
      versionText,
      outcome,
      {
        examinedFiles: examined,
        sizeOfExaminedFiles: size,
        addedFiles: run.addedFiles ?? 0,
        sizeOfAddedFiles: uploaded,
        modifiedFiles: run.modifiedFiles ?? 0,
        sizeOfModifiedFiles: 0,
        deletedFiles: 0,
        addedFolders: 0,
        deletedFolders: 0,
        filesWithError: 0,
        verified: [],
      },
      {
        uploadedBytes: uploaded,
        uploadedFiles: uploaded > 0 ? 3 : 0,
        downloadedBytes: 0,
        downloadedFiles: 0,
        knownFileCount: 0,
        knownFileSize: 0,
        lastBackupDate: begin,
        backupListCount: 0,
      },
    );
    b.operationCounter++;
    b.log.push({
      ID: (b.log.at(-1)?.ID ?? 0) + 1,
      OperationID: b.operationCounter,
      Timestamp: Math.floor(end.getTime() / 1000),
      Type: 'Result',
      Message: JSON.stringify(json),
      Exception: fatal ? `Duplicati.Library.Interface.UserInformationException: ${text}` : null,
    });
    if (fatal) {
      b.metadata.LastErrorDate = compactUtc(end);
      b.metadata.LastErrorMessage = text;
    } else if (result !== 'Error') {
      Object.assign(b.metadata, {
        LastBackupDate: compactUtc(begin),
        SourceFilesSize: String(size),
        SourceFilesCount: String(examined),
        SourceSizeString: sizeString(size),
        LastBackupStarted: compactUtc(begin),
        LastBackupFinished: compactUtc(end),
        LastBackupDuration: timeSpanText(end.getTime() - begin.getTime()),
      });
    }
  }
}
