import { describe, expect, it } from 'vitest';
import { isHookEnvError } from '../../../src/hooks/errors.js';
import {
  parseDotNetTimeSpan,
  parseDuplicatiResultJson,
  parseDuplicatiResultText,
  parseResultFile,
} from '../../../src/hooks/result-file.js';
import { buildResultFile } from '../../../src/testing/hook-env.js';

// Shaped like DuplicatiFormatSerializer output for a backup with warnings: properties one per line,
// string lists as `Key: [` … `]` with items indented four spaces and separated by a trailing comma,
// DateTime as local time plus unix seconds, no blank line before `Log data:`.
const WARNING_TEXT = [
  'DeletedFiles: 0',
  'DeletedFolders: 0',
  'ModifiedFiles: 3',
  'ExaminedFiles: 1204',
  'SizeOfExaminedFiles: 52428800',
  'PartialBackup: False',
  'Dryrun: False',
  'MainOperation: Backup',
  'ParsedResult: Warning',
  'Interrupted: False',
  'Version: 2.1.0.5 (2.1.0.5_stable_2025-03-04)',
  'EndTime: 11/29/2026 3:04:05 AM (1795921445)',
  'BeginTime: 11/29/2026 3:00:00 AM (1795921200)',
  'Duration: 00:04:05.1234567',
  'MessagesActualLength: 40',
  'WarningsActualLength: 2',
  'ErrorsActualLength: 0',
  'LimitedMessages: []',
  'LimitedWarnings: [',
  '    2026-11-29 03:01:00 +01 - [Warning-Duplicati.Library.Main.Operation.Backup.FileBlockProcessor.FileEntry-PathProcessingFailed]: Failed to process path: /srv/photos/a.jpg',
  'System.IO.IOException: The file is locked,',
  '    2026-11-29 03:02:00 +01 - [Warning-Duplicati.Library.Main.Operation.BackupHandler-SnapshotFailed]: no snapshot',
  ']',
  'LimitedErrors: []',
  'SomeFutureProperty: 42',
  'Log data:',
  '2026-11-29 03:01:00 +01 - [Warning-Duplicati.Library.Main.Operation.Backup.FileBlockProcessor.FileEntry-PathProcessingFailed]: Failed to process path: /srv/photos/a.jpg',
  'System.IO.IOException: The file is locked',
  '   at System.IO.FileStream.Open()',
  '2026-11-29 03:02:00 +01 - [Warning-Duplicati.Library.Main.Operation.BackupHandler-SnapshotFailed]: no snapshot',
  '',
].join('\n');

const FATAL_TEXT = [
  'Failed: The remote server returned an error: (403) Forbidden.',
  'Details: System.Net.WebException: The remote server returned an error: (403) Forbidden.',
  '   at Duplicati.Library.Backend.S3.PutAsync(String remotename)',
  '   at Duplicati.Library.Main.BackendManager.DoPut(FileEntryItem item)',
  '',
  'MainOperation: Backup',
  'ParsedResult: Fatal',
  'Interrupted: False',
  'EndTime: 1/1/0001 12:00:00 AM (-62135596800)',
  'BeginTime: 11/29/2026 3:00:00 AM (1795921200)',
  'Duration: 00:00:00',
  'WarningsActualLength: 0',
  'ErrorsActualLength: 1',
  'Log data:',
  '2026-11-29 03:00:09 +01 - [Error-Duplicati.Library.Main.Operation.BackupHandler-FatalError]: Fatal error',
  '',
].join('\r\n');

describe('parseDuplicatiResultText', () => {
  it('reads the summary fields, lists, unknown properties and grouped log entries', () => {
    const r = parseDuplicatiResultText(WARNING_TEXT);
    expect(r.format).toBe('Duplicati');
    expect(r.parsedResult).toBe('Warning');
    expect(r.mainOperation).toBe('Backup');
    expect(r.interrupted).toBe(false);
    expect(r.beginTime?.toISOString()).toBe(new Date(1795921200 * 1000).toISOString());
    expect(r.endTime?.getTime()).toBe(1795921445 * 1000);
    expect(r.durationMs).toBe(245_123);
    expect(r.version).toBe('2.1.0.5 (2.1.0.5_stable_2025-03-04)');
    expect(r.warningCount).toBe(2);
    expect(r.errorCount).toBe(0);
    expect(r.exception).toBeUndefined();
    expect(r.data['SomeFutureProperty']).toBe('42');
    expect(r.data['ExaminedFiles']).toBe('1204');
    const warnings = r.data['LimitedWarnings'] as string[];
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain('/srv/photos/a.jpg\nSystem.IO.IOException: The file is locked');
    expect(r.logLines).toHaveLength(2);
    expect(r.logLines[0]).toMatchObject({
      level: 'Warning',
      tag: 'Duplicati.Library.Main.Operation.Backup.FileBlockProcessor.FileEntry-PathProcessingFailed',
      time: '2026-11-29 03:01:00 +01',
    });
    expect(r.logLines[0]?.message).toContain('at System.IO.FileStream.Open()');
    expect(r.logLines[1]?.message).toBe('no snapshot');
  });

  it('reads the exception block of a failed operation and CRLF line endings', () => {
    const r = parseDuplicatiResultText(FATAL_TEXT);
    expect(r.parsedResult).toBe('Fatal');
    expect(r.exception?.message).toBe('The remote server returned an error: (403) Forbidden.');
    expect(r.exception?.details).toContain('at Duplicati.Library.Main.BackendManager.DoPut');
    expect(r.exception?.details).not.toContain('MainOperation');
    expect(r.endTime).toBeUndefined();
    expect(r.errorCount).toBe(1);
    expect(r.logLines.map((l) => l.level)).toEqual(['Error']);
  });

  it('reads nested objects printed with indentation', () => {
    const r = parseDuplicatiResultText(
      [
        'ParsedResult: Success',
        'BackendStatistics:',
        '    RemoteCalls: 12',
        '    BytesUploaded: 1024',
        'Interrupted: True',
      ].join('\n'),
    );
    expect(r.data['BackendStatistics']).toEqual({ RemoteCalls: '12', BytesUploaded: '1024' });
    expect(r.interrupted).toBe(true);
  });

  it('never throws on text it does not understand', () => {
    const r = parseDuplicatiResultText('null?');
    expect(r.parsedResult).toBeUndefined();
    expect(r.logLines).toEqual([]);
    expect(parseDuplicatiResultText('{{ weird').data).toEqual({});
  });
});

const JSON_RESULT = JSON.stringify({
  Data: {
    DeletedFiles: 0,
    ExaminedFiles: 1204,
    MainOperation: 'Backup',
    ParsedResult: 'Error',
    Interrupted: false,
    Version: '2.2.0.3 (2.2.0.3_stable_2026-01-06)',
    EndTime: '2026-11-29T03:04:05.1234567+01:00',
    BeginTime: '2026-11-29T02:00:00.5Z',
    Duration: '01:04:04.6234567',
    WarningsActualLength: 0,
    ErrorsActualLength: 1,
    BackendStatistics: { RemoteCalls: 12, BytesUploaded: 1024, LastBackupDate: '0001-01-01T00:00:00' },
    NewerField: { Nested: [1, 2] },
  },
  Extra: null,
  LogLines: [
    '2026-11-29 03:04:00 +01 - [Error-Duplicati.Library.Main.Operation.BackupHandler-FileAccessError]: access denied\nSystem.UnauthorizedAccessException: denied',
  ],
  Exception: null,
});

describe('parseDuplicatiResultJson', () => {
  it('reads the summary fields and keeps unknown ones', () => {
    const r = parseDuplicatiResultJson(JSON_RESULT);
    expect(r.format).toBe('Json');
    expect(r.parsedResult).toBe('Error');
    expect(r.endTime?.toISOString()).toBe('2026-11-29T02:04:05.123Z');
    expect(r.beginTime?.toISOString()).toBe('2026-11-29T02:00:00.500Z');
    expect(r.durationMs).toBe(3_844_623);
    expect(r.errorCount).toBe(1);
    expect(r.data['NewerField']).toEqual({ Nested: [1, 2] });
    expect(r.logLines[0]).toMatchObject({
      level: 'Error',
      message: 'access denied\nSystem.UnauthorizedAccessException: denied',
    });
    expect(r.exception).toBeUndefined();
  });

  it('reads the exception string, message without the type name', () => {
    const r = parseDuplicatiResultJson(
      JSON.stringify({
        Data: null,
        Extra: null,
        LogLines: [],
        Exception:
          'Duplicati.Library.Interface.UserInformationException: The script "/x" returned with exit code 5\n   at X',
      }),
    );
    expect(r.exception?.message).toBe('The script "/x" returned with exit code 5');
    expect(r.parsedResult).toBeUndefined();
  });

  it('throws a HookEnvError for broken JSON', () => {
    let err: unknown;
    try {
      parseDuplicatiResultJson('{"Data": ', '/tmp/result');
    } catch (e) {
      err = e;
    }
    expect(isHookEnvError(err)).toBe(true);
  });
});

describe('parseResultFile', () => {
  it('recognises JSON by content even when the format option says Duplicati', () => {
    expect(parseResultFile(JSON_RESULT, 'Duplicati').format).toBe('Json');
    expect(parseResultFile(WARNING_TEXT, 'Duplicati').format).toBe('Duplicati');
    expect(parseResultFile(WARNING_TEXT, 'Template').format).toBe('Template');
  });

  it('reads every parsed result back from files built in both formats', () => {
    for (const parsedResult of ['Success', 'Warning', 'Error', 'Fatal', 'Unknown'] as const) {
      for (const format of ['Duplicati', 'Json'] as const) {
        const text = buildResultFile(
          {
            parsedResult,
            warnings: ['w1'],
            logLines: ['2026-01-01 02:00:01 +00 - [Warning-X-Y]: w1'],
            ...(parsedResult === 'Fatal' ? { exception: { message: 'boom' } } : {}),
          },
          format,
        );
        const r = parseResultFile(text, format);
        expect(r.parsedResult).toBe(parsedResult);
        expect(r.warningCount).toBe(1);
        expect(r.durationMs).toBe(180_000);
        expect(r.logLines.map((l) => l.message)).toEqual(['w1']);
        expect(r.exception?.message).toBe(parsedResult === 'Fatal' ? 'boom' : undefined);
      }
    }
  });
});

describe('parseDotNetTimeSpan', () => {
  it('reads hh:mm:ss with optional days and fraction', () => {
    expect(parseDotNetTimeSpan('00:00:01')).toBe(1000);
    expect(parseDotNetTimeSpan('1.02:00:00.5')).toBe(26 * 3_600_000 + 500);
    expect(parseDotNetTimeSpan('nope')).toBeUndefined();
  });
});
