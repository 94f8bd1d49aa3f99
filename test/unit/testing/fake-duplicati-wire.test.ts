import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDuplicatiServer } from '../../../src/testing/index.js';
import { tempDir } from '../../helpers/context.js';
import {
  bodyJson,
  formOf,
  hasBom,
  headerOf,
  headersOf,
  loadRecordings,
  RECORDINGS_DIR,
  type Recording,
  recordingsAvailable,
} from '../../helpers/recordings.js';

/**
 * Holds the fake's 2.0 wire format against the recordings of a live 2.0.7.3 server: every
 * recorded request is replayed, in recorded order, with the fake's own cookie values, through a
 * raw node:http client; status, reason phrase, header names in order, the headers that matter,
 * cookie format and lifetime, BOM, JSON keys (in order) and types, and the deterministic values
 * must match.
 */

const available = recordingsAvailable();
if (!available && process.env.CI) throw new Error(`Duplicati recordings missing at ${RECORDINGS_DIR}`);
if (!available) {
  console.warn(
    `skipping the fake's wire test: no Duplicati recordings at ${RECORDINGS_DIR} (set DUPLICATI_RECORDINGS_DIR)`,
  );
}

const REC_SRC = '/srv/duplicati-kit/src/';
const REC_RESTORE = '/srv/duplicati-kit/restore';
const PASSWORD = 'dupl-test-pw';

interface RawResponse {
  status: number;
  reason: string;
  headers: [string, string][];
  body: Buffer;
}

function rawSend(
  port: number,
  method: string,
  target: string,
  headers: [string, string][],
  body: Buffer,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method, path: target, headers: headers.flat(), agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const h: [string, string][] = [];
          for (let i = 0; i < res.rawHeaders.length; i += 2)
            h.push([res.rawHeaders[i] ?? '', res.rawHeaders[i + 1] ?? '']);
          resolve({
            status: res.statusCode ?? 0,
            reason: res.statusMessage ?? '',
            headers: h,
            body: Buffer.concat(chunks),
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** Keys (in order) and types of `actual` against `expected`; arrays by their first element. */
function shapeDiff(expected: unknown, actual: unknown, at = '$', out: string[] = []): string[] {
  const ke = kind(expected);
  const ka = kind(actual);
  if (ke !== ka) {
    out.push(`${at}: expected ${ke}, got ${ka}`);
    return out;
  }
  if (ke === 'object') {
    const e = expected as Record<string, unknown>;
    const a = actual as Record<string, unknown>;
    if (Object.keys(e).join(',') !== Object.keys(a).join(',')) {
      out.push(`${at}: keys ${Object.keys(e).join(',')} != ${Object.keys(a).join(',')}`);
    }
    for (const k of Object.keys(e)) if (k in a) shapeDiff(e[k], a[k], `${at}.${k}`, out);
  } else if (ke === 'array') {
    const e = expected as unknown[];
    const a = actual as unknown[];
    if (e.length > 0) for (const item of a) shapeDiff(e[0], item, `${at}[]`, out);
  }
  return out;
}

function pick(v: unknown, dotted: string): unknown {
  let cur = v;
  for (const part of dotted.split('.')) {
    if (cur === null || cur === undefined) return undefined;
    cur = (cur as Record<string, unknown>)[/^\d+$/.test(part) ? Number(part) : part];
  }
  return cur;
}

const cookieShape = (c: string): string =>
  c.replace(/^([^=]+)=[^;]*; expires=[^;]+;path=\/;$/, '$1=<v>; expires=<date>;path=/;');

function cookieLifetimeMs(c: string, date: string): number {
  const exp = /expires=([^;]+);/.exec(c)?.[1] ?? '';
  return Date.parse(exp) - Date.parse(date);
}

describe.skipIf(!available)('FakeDuplicatiServer 2.0 wire format against the 2.0.7.3 recordings', () => {
  const recordings = available ? loadRecordings() : new Map<string, Recording>();
  let server: FakeDuplicatiServer;
  let cleanup: () => Promise<void>;
  let src: string;
  let restoreDir: string;
  const jar = new Map<string, string>();
  const times = new Map<string, string>();
  let lastNonce: { Nonce: string; Salt: string } | undefined;
  let previousSalt: string | undefined;

  beforeAll(async () => {
    const t = await tempDir('fake-wire-');
    cleanup = t.cleanup;
    src = path.join(t.dir, 'src');
    restoreDir = path.join(t.dir, 'restore');
    await mkdir(path.join(src, 'sub'), { recursive: true });
    // The recorded job backed up 3 files, 20,028 bytes: hello.txt (16), sub/notes.txt (12), 20,000 more in sub/.
    await writeFile(path.join(src, 'hello.txt'), 'hello, duplicati');
    await writeFile(path.join(src, 'sub', 'notes.txt'), 'some notes\n\n');
    await writeFile(path.join(src, 'sub', 'blob.bin'), Buffer.alloc(20_000, 7));
    server = await FakeDuplicatiServer.start({ generation: '2.0', password: PASSWORD });
  });

  afterAll(async () => {
    await server?.close();
    await cleanup?.();
  });

  /** Replace the recorded paths and version times with the fake's. */
  function mapText(text: string): string {
    let out = text
      .replaceAll(REC_SRC, `${src}/`)
      .replaceAll(encodeURIComponent(REC_SRC), encodeURIComponent(`${src}/`))
      .replaceAll(REC_RESTORE, restoreDir)
      .replaceAll(encodeURIComponent(REC_RESTORE), encodeURIComponent(restoreDir));
    for (const [recorded, ours] of times) {
      out = out.replaceAll(recorded, ours).replaceAll(encodeURIComponent(recorded), encodeURIComponent(ours));
    }
    return out;
  }

  /** Send a recorded request to the fake, with the fake's cookie values; optionally a new body. */
  async function replay(rec: Recording, body?: string): Promise<RawResponse> {
    const sentCookies = (headerOf(rec.request, 'Cookie') ?? '')
      .split(';')
      .map((c) => c.trim().split('=')[0] ?? '')
      .filter((n) => n !== '');
    const payload = Buffer.from(body ?? mapText(rec.request.body.toString('utf8')), 'utf8');
    const headers: [string, string][] = [];
    for (const [k, v] of rec.request.headers) {
      const name = k.toLowerCase();
      if (name === 'host') headers.push([k, `127.0.0.1:${server.port}`]);
      else if (name === 'cookie') headers.push([k, sentCookies.map((n) => `${n}=${jar.get(n) ?? ''}`).join('; ')]);
      else if (name === 'x-xsrf-token') headers.push([k, decodeURIComponent(jar.get('xsrf-token') ?? '')]);
      else if (name === 'content-length') headers.push([k, String(payload.length)]);
      else headers.push([k, v]);
    }
    const res = await rawSend(server.port, rec.request.method, mapText(rec.request.target), headers, payload);
    for (const [k, v] of res.headers) {
      if (k.toLowerCase() !== 'set-cookie') continue;
      const kv = v.split(';')[0] ?? '';
      const i = kv.indexOf('=');
      jar.set(kv.slice(0, i), kv.slice(i + 1));
    }
    return res;
  }

  /** Compare a response with the recorded one; `same` lists paths whose values must be equal. */
  function expectLike(rec: Recording, res: RawResponse, same: readonly string[] = []): unknown {
    const recorded = rec.response;
    expect(res.status).toBe(recorded.status);
    expect(res.reason).toBe(recorded.reason);
    expect(res.headers.map(([k]) => k)).toEqual(recorded.headers.map(([k]) => k));
    for (const name of ['Server', 'Content-Type', 'Cache-Control', 'Connection', 'Location']) {
      expect(res.headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1], name).toBe(
        headerOf(recorded, name),
      );
    }
    const ours = res.headers.filter(([k]) => k.toLowerCase() === 'set-cookie').map(([, v]) => v.trim());
    const theirs = headersOf(recorded, 'Set-Cookie');
    expect(ours.map(cookieShape)).toEqual(theirs.map(cookieShape));
    const ourDate = res.headers.find(([k]) => k === 'Date')?.[1] ?? '';
    const theirDate = headerOf(recorded, 'Date') ?? '';
    expect(ours.map((c) => cookieLifetimeMs(c, ourDate))).toEqual(theirs.map((c) => cookieLifetimeMs(c, theirDate)));
    expect(Number(res.headers.find(([k]) => k === 'Content-Length')?.[1])).toBe(res.body.length);
    expect(hasBom(res.body)).toBe(hasBom(recorded.body));
    const expected =
      recorded.body.length > 0 ? JSON.parse(mapText(JSON.stringify(bodyJson(recorded.body)))) : undefined;
    const actual = res.body.length > 0 ? bodyJson(res.body) : undefined;
    expect(shapeDiff(expected, actual)).toEqual([]);
    for (const p of same) expect(pick(actual, p), p).toEqual(pick(expected, p));
    return actual;
  }

  /** The `Result` messages of log rows must have the recorded keys, order and types. */
  function expectResultMessages(rec: Recording, actual: unknown, same: readonly string[]): void {
    const recordedRows = bodyJson(rec.response.body) as { Message: string }[];
    const rows = actual as { Message: string }[];
    expect(rows.length).toBe(recordedRows.length);
    rows.forEach((row, i) => {
      const expected = JSON.parse(recordedRows[i]?.Message ?? '{}') as Json;
      const ours = JSON.parse(row.Message) as Json;
      expect(shapeDiff(expected, ours)).toEqual([]);
      for (const p of same) expect(pick(ours, p), `${i}.${p}`).toEqual(pick(expected, p));
      expect(pick(ours, 'BeginTime')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?Z$/);
      expect(pick(ours, 'EndTime')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?Z$/);
      expect(pick(ours, 'Duration')).toMatch(/^\d\d:\d\d:\d\d(\.\d{7})?$/);
      expect(pick(ours, 'BackendStatistics.EndTime')).toBe('0001-01-01T00:00:00');
    });
  }

  const rec = (name: string): Recording => {
    const r = recordings.get(name);
    if (!r) throw new Error(`recording ${name} missing`);
    return r;
  };

  it('01 GET / redirects to the login page and sets an xsrf-token cookie', async () => {
    expectLike(rec('01-index-unauthenticated'), await replay(rec('01-index-unauthenticated')));
  });

  it('02 get-nonce answers Status/Nonce/Salt and sets session-nonce', async () => {
    const body = expectLike(rec('02-login-get-nonce'), await replay(rec('02-login-get-nonce')), ['Status']);
    lastNonce = body as { Nonce: string; Salt: string };
    expect(Buffer.from(lastNonce.Nonce, 'base64')).toHaveLength(32);
  });

  it('03 the salted SHA-256 proof logs in and sets session-auth', async () => {
    const proof = createHash('sha256')
      .update(Buffer.from(lastNonce?.Nonce ?? '', 'base64'))
      .update(
        createHash('sha256')
          .update(Buffer.concat([Buffer.from(PASSWORD), Buffer.from(lastNonce?.Salt ?? '', 'base64')]))
          .digest(),
      )
      .digest('base64');
    const res = await replay(rec('03-login-password'), `password=${encodeURIComponent(proof)}`);
    expectLike(rec('03-login-password'), res, ['Status']);
    previousSalt = lastNonce?.Salt;
  });

  it('04 lists no backups', async () => {
    expectLike(rec('04-backups-empty'), await replay(rec('04-backups-empty')));
    expect(bodyJson((await replay(rec('04-backups-empty'))).body)).toEqual([]);
  });

  it('05 serverstate has the 2.0 keys', async () => {
    expectLike(rec('05-serverstate'), await replay(rec('05-serverstate')), [
      'ProgramState',
      'ActiveTask',
      'HasWarning',
      'HasError',
      'SuggestedStatusIcon',
      'EstimatedPauseEnd',
    ]);
  });

  it('06 systeminfo has the top-level 2.0 keys', async () => {
    expectLike(rec('06-systeminfo'), await replay(rec('06-systeminfo')), [
      'APIVersion',
      'ServerVersion',
      'PasswordPlaceholder',
    ]);
  });

  it('07 creates a job from form field data', async () => {
    expectLike(rec('07-create-backup'), await replay(rec('07-create-backup')), ['status', 'ID']);
  });

  it('08 lists the job as a summary', async () => {
    expectLike(rec('08-backups-one'), await replay(rec('08-backups-one')), [
      '0.IsUnencryptedOrPassphraseStored',
      '0.Schedule',
      '0.Backup.ID',
      '0.Backup.Name',
      '0.Backup.Description',
      '0.Backup.TargetURL',
      '0.Backup.Sources',
      '0.Backup.Settings',
      '0.Backup.Filters',
      '0.Backup.Metadata',
    ]);
  });

  it('09 gets the job wrapped in success/data', async () => {
    expectLike(rec('09-backup-1-get'), await replay(rec('09-backup-1-get')), [
      'success',
      'data.Backup.Sources',
      'data.Backup.Settings',
      'data.Backup.Filters',
      'data.DisplayNames',
    ]);
  });

  let firstRunTask = 0;
  it('10-12 run answers without a task id; progress and state follow the task', async () => {
    const hold = server.holdTasks();
    expectLike(rec('10-backup-1-run'), await replay(rec('10-backup-1-run')), ['Status']);
    firstRunTask = (await hold.started).id;
    expectLike(rec('11-progressstate-during'), await replay(rec('11-progressstate-during')), ['BackupID']);
    hold.release();
    await server.whenIdle();
    const state = expectLike(rec('12-serverstate-during'), await replay(rec('12-serverstate-during')), ['ActiveTask']);
    expect(pick(state, 'LastEventID')).toBeGreaterThan(1);
  });

  it('13-14 tasks is empty when idle and the finished task says Completed', async () => {
    expectLike(rec('13-tasks'), await replay(rec('13-tasks')));
    const r = rec('14-task-2');
    const res = await replay({ ...r, request: { ...r.request, target: `/api/v1/task/${firstRunTask}` } });
    expectLike(r, res, ['Status', 'ErrorMessage', 'Exception']);
  });

  it('15 the job metadata after the run', async () => {
    const body = expectLike(rec('15-backups-after-run'), await replay(rec('15-backups-after-run')), [
      '0.Backup.Metadata.BackupListCount',
      '0.Backup.Metadata.SourceFilesSize',
      '0.Backup.Metadata.SourceFilesCount',
      '0.Backup.Metadata.SourceSizeString',
    ]);
    for (const key of ['LastBackupDate', 'LastBackupStarted', 'LastBackupFinished', 'LastCompactFinished']) {
      expect(pick(body, `0.Backup.Metadata.${key}`), key).toMatch(/^\d{8}T\d{6}Z$/);
    }
    expect(pick(body, '0.Backup.Metadata.LastBackupDuration')).toMatch(/^\d\d:\d\d:\d\d(\.\d{7})?$/);
  });

  it('16-17 filesets, without and with metadata', async () => {
    const plain = expectLike(rec('16-backup-1-filesets'), await replay(rec('16-backup-1-filesets')), [
      '0.Version',
      '0.IsFullBackup',
      '0.FileCount',
      '0.FileSizes',
    ]);
    times.set('2026-11-29T06:58:58+00:00', String(pick(plain, '0.Time')));
    expectLike(rec('17-backup-1-filesets-with-metadata'), await replay(rec('17-backup-1-filesets-with-metadata')), [
      '0.Version',
      '0.Time',
      '0.FileCount',
      '0.FileSizes',
    ]);
  });

  it('18 files of a folder, echoing the query parameters', async () => {
    expectLike(rec('18-backup-1-files-folder'), await replay(rec('18-backup-1-files-folder')), [
      'prefix-only',
      'folder-contents',
      'time',
      'Filesets',
      'Files',
    ]);
  });

  it('19 the job log holds one Result row shaped like the real one', async () => {
    const r = rec('19-backup-1-log');
    const rows = expectLike(r, await replay(r), ['0.ID', '0.OperationID', '0.Type', '0.Exception']);
    expectResultMessages(r, rows, [
      'ParsedResult',
      'MainOperation',
      'ExaminedFiles',
      'AddedFiles',
      'SizeOfAddedFiles',
      'AddedFolders',
      'Interrupted',
      'WarningsActualLength',
      'ErrorsActualLength',
    ]);
  });

  let restoreTask = 0;
  it('20-21 restore answers a TaskID and writes the files below restore-path', async () => {
    const body = expectLike(rec('20-backup-1-restore'), await replay(rec('20-backup-1-restore')));
    restoreTask = Number(pick(body, 'TaskID'));
    await server.whenIdle();
    const r = rec('21-task-restore-poll-1');
    expectLike(r, await replay({ ...r, request: { ...r.request, target: `/api/v1/task/${restoreTask}` } }), ['Status']);
    expect(await readFile(path.join(restoreDir, 'hello.txt'), 'utf8')).toBe('hello, duplicati');
    expect(await readFile(path.join(restoreDir, 'sub', 'notes.txt'), 'utf8')).toBe('some notes\n\n');
  });

  it('22-24 error shapes: unknown backup, missing XSRF header, not logged in', async () => {
    expectLike(rec('22-error-backup-not-found'), await replay(rec('22-error-backup-not-found')), ['Error']);
    expectLike(rec('23-error-missing-xsrf'), await replay(rec('23-error-missing-xsrf')));
    expectLike(rec('24-error-not-logged-in'), await replay(rec('24-error-not-logged-in')));
  });

  it('25-26 a wrong password is 401 Unauthorized with an empty body', async () => {
    expectLike(rec('25-error-login-wrong-password-nonce'), await replay(rec('25-error-login-wrong-password-nonce')));
    expectLike(rec('26-error-login-wrong-password'), await replay(rec('26-error-login-wrong-password')));
  });

  it('27 idle progressstate keeps the last task', async () => {
    const body = expectLike(rec('27-progressstate-idle'), await replay(rec('27-progressstate-idle')), [
      'BackupID',
      'Phase',
      'ProcessedFileCount',
      'ProcessedFileSize',
    ]);
    expect(pick(body, 'TaskID')).toBe(restoreTask);
  });

  it('28-29 long-poll durations of 5 s and 10 s are refused', async () => {
    expectLike(
      rec('28-error-serverstate-longpoll-duration-5s'),
      await replay(rec('28-error-serverstate-longpoll-duration-5s')),
      ['Error'],
    );
    expectLike(
      rec('29-error-serverstate-longpoll-duration-10s'),
      await replay(rec('29-error-serverstate-longpoll-duration-10s')),
      ['Error'],
    );
  });

  it('30-33 a second run with a modified file gives a second version', async () => {
    await writeFile(path.join(src, 'hello.txt'), 'hello, duplicati — second run!');
    const hold = server.holdTasks();
    expectLike(rec('30-backup-1-run-second'), await replay(rec('30-backup-1-run-second')), ['Status']);
    const task = await hold.started;
    const state = expectLike(
      rec('31-serverstate-right-after-run'),
      await replay(rec('31-serverstate-right-after-run')),
      ['ActiveTask.Item2', 'HasWarning', 'SuggestedStatusIcon'],
    );
    expect(pick(state, 'ActiveTask.Item1')).toBe(task.id);
    hold.release();
    await server.whenIdle();
    expectLike(rec('32-progressstate-poll-1'), await replay(rec('32-progressstate-poll-1')), [
      'BackupID',
      'Phase',
      'OverallProgress',
      'TotalFileCount',
      'TotalFileSize',
    ]);
    const sets = expectLike(
      rec('33-backup-1-filesets-two-versions'),
      await replay(rec('33-backup-1-filesets-two-versions')),
      ['0.Version', '0.FileCount', '0.FileSizes', '1.Version', '1.Time', '1.FileCount', '1.FileSizes'],
    );
    times.set('2026-11-29T06:59:16+00:00', String(pick(sets, '0.Time')));
  });

  it('34-35 a stale lasteventid returns at once; the restore warning is a notification', async () => {
    expectLike(rec('34-serverstate-longpoll-valid'), await replay(rec('34-serverstate-longpoll-valid')), [
      'ActiveTask',
      'HasWarning',
      'SuggestedStatusIcon',
    ]);
    expectLike(rec('35-notifications'), await replay(rec('35-notifications')), [
      '0.Type',
      '0.Title',
      '0.Message',
      '0.Exception',
      '0.BackupID',
      '0.Action',
      '0.LogEntryID',
      '0.MessageID',
      '0.MessageLogTag',
    ]);
  });

  it('36 pagesize is clamped to 10: three Result rows, newest first', async () => {
    const r = rec('36-backup-1-log-after-second');
    const rows = expectLike(r, await replay(r), ['0.ID', '1.ID', '2.ID', '0.Type', '1.Type']);
    expectResultMessages(r, rows, [
      'ParsedResult',
      'MainOperation',
      'ModifiedFiles',
      'ExaminedFiles',
      'SizeOfExaminedFiles',
      'WarningsActualLength',
    ]);
  });

  it('37-42 update, duplicate name, JSON-body create, delete', async () => {
    expectLike(rec('37-backup-1-update-put'), await replay(rec('37-backup-1-update-put')), ['Status']);
    expectLike(rec('38-error-create-duplicate-name'), await replay(rec('38-error-create-duplicate-name')), ['Error']);
    expectLike(rec('39-create-backup-json-body'), await replay(rec('39-create-backup-json-body')), ['status', 'ID']);
    expectLike(rec('40-backups-two'), await replay(rec('40-backups-two')), ['0.Backup.Description', '1.Backup.Name']);
    expectLike(rec('41-backup-2-delete'), await replay(rec('41-backup-2-delete')), ['Status']);
    expectLike(rec('42-backups-after-delete'), await replay(rec('42-backups-after-delete')), ['0.Backup.Name']);
    expect(server.backups().map((b) => b.name)).toEqual(['live-probe']);
  });

  it('43-44 logout is 204 OK and ends the session', async () => {
    expectLike(rec('43-logout'), await replay(rec('43-logout')));
    expectLike(rec('44-after-logout-backups'), await replay(rec('44-after-logout-backups')));
  });

  it('45-47 after a restart: new xsrf token and salt, state kept', async () => {
    await server.restart();
    const nonce = expectLike(rec('45-relogin-get-nonce'), await replay(rec('45-relogin-get-nonce')), ['Status']) as {
      Nonce: string;
      Salt: string;
    };
    expect(nonce.Salt).not.toBe(previousSalt);
    const proof = createHash('sha256')
      .update(Buffer.from(nonce.Nonce, 'base64'))
      .update(
        createHash('sha256')
          .update(Buffer.concat([Buffer.from(PASSWORD), Buffer.from(nonce.Salt, 'base64')]))
          .digest(),
      )
      .digest('base64');
    expectLike(
      rec('46-relogin-password'),
      await replay(rec('46-relogin-password'), `password=${encodeURIComponent(proof)}`),
      ['Status'],
    );
    expectLike(rec('47-serverstate-after-restart'), await replay(rec('47-serverstate-after-restart')), [
      'HasWarning',
      'SuggestedStatusIcon',
    ]);
    expect(formOf(rec('46-relogin-password').request).has('password')).toBe(true);
  });
});
