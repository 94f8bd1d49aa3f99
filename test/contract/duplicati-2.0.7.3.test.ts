/**
 * Contract tests: every exchange recorded from a real Duplicati 2.0.7.3 server is replayed byte
 * for byte (from a TCP server on 127.0.0.1, so reason phrases and empty headers survive; nock
 * guards that nothing else is reached), and what the client makes of it is asserted.
 */
import { existsSync } from 'node:fs';
import { inspect } from 'node:util';
import nock from 'nock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  DuplicatiAuthenticationError,
  DuplicatiBadRequestError,
  DuplicatiClient,
  DuplicatiConflictError,
  DuplicatiNotFoundError,
  legacyLoginProof,
} from '../../src/duplicati/index.js';
import { type Exchange, FIXTURES, ReplayServer, loadRecordings } from './recordings.js';

const PASSWORD = 'dupl-test-pw';
const available = existsSync(FIXTURES);
if (!available && process.env.CI) throw new Error(`Duplicati recordings missing at ${FIXTURES}`);
if (!available) console.warn(`skipping Duplicati contract tests: recordings missing at ${FIXTURES}`);
const rec = available ? loadRecordings() : new Map<string, Exchange>();
const R = (n: string): Exchange => {
  const ex = rec.get(n);
  if (!ex) throw new Error(`no recording ${n}`);
  return ex;
};
const LOGIN = [R('01'), R('02'), R('03')];

let server: ReplayServer;
let baseUrl: string;

beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
});
afterAll(() => {
  nock.enableNetConnect();
});
beforeEach(async () => {
  server = new ReplayServer();
  baseUrl = await server.start();
});
afterEach(async () => {
  await server.stop();
});

function client(password = PASSWORD): DuplicatiClient {
  return new DuplicatiClient({ baseUrl, auth: { type: 'password', password }, maxRetries: 0 });
}

function expectClean(): void {
  expect(server.mismatches).toEqual([]);
  expect(server.pending).toBe(0);
  for (const r of server.received) {
    // Tiny WebServer answers 404 / drops the connection on an empty header value.
    for (const line of r.rawHeaderLines) expect(line).toMatch(/:\s*\S/);
  }
}

describe.runIf(available)('recordings', () => {
  it('parse: 47 exchanges with status, reason phrase and BOM-prefixed JSON bodies', () => {
    const all = [...rec.values()].filter((e, i, a) => a.indexOf(e) === i);
    expect(all).toHaveLength(47);
    expect(R('22').response.statusText).toBe('Invalid or missing backup id');
    expect(R('04').response.body.subarray(0, 3)).toEqual(Buffer.from([0xef, 0xbb, 0xbf]));
  });

  it('the login proof the client computes is the one the real server accepted (03)', () => {
    const nonce = JSON.parse(R('02').response.body.toString('utf8').slice(1)) as { Nonce: string; Salt: string };
    const sent = new URLSearchParams(R('03').request.body.toString('utf8')).get('password');
    expect(legacyLoginProof(PASSWORD, nonce.Nonce, nonce.Salt)).toBe(sent);
  });
});

describe.runIf(available)('2.0.7.3 session', () => {
  it('detects 2.0, logs in with nonce + salted hash, sends the decoded XSRF header and cookies (01-04)', async () => {
    server.queue([...LOGIN, R('04')]);
    const dup = client();
    await expect(dup.backups.list()).resolves.toEqual([]);
    expect(await dup.generation()).toBe('2.0');
    expectClean();
    const [, nonceReq, pwReq, apiReq] = server.received;
    expect(nonceReq?.body).toBe('get-nonce=1');
    const nonce = JSON.parse(R('02').response.body.toString('utf8').slice(1)) as { Nonce: string; Salt: string };
    expect(new URLSearchParams(pwReq?.body ?? '').get('password')).toBe(
      legacyLoginProof(PASSWORD, nonce.Nonce, nonce.Salt),
    );
    expect(pwReq?.headers.cookie).toContain('session-nonce=xyylqiXdVT7smAuFiKUse7OUDEfjacfDCB4O68dbvko%3D');
    expect(apiReq?.headers['x-xsrf-token']).toBe('QrLXn0Cp+FzLHUMjNrWj+3Nt4hyJvKBlQ6ruDcBZFMk=');
    expect(apiReq?.headers.cookie).toContain('session-auth=aSkDJDjet653HIhWy416ZUCf6y9iO3zPOpNaG4ymMto');
    expect(apiReq?.headers.cookie).toContain('xsrf-token=QrLXn0Cp%2BFzLHUMjNrWj%2B3Nt4hyJvKBlQ6ruDcBZFMk%3D');
  });

  it('server state, system info, progress (05, 06, 11, 12, 27, 31)', async () => {
    server.queue([...LOGIN, R('05'), R('06'), R('11'), R('12'), R('27'), R('31'), R('32')]);
    const dup = client();
    const s = await dup.server.state();
    expect(s).toMatchObject({ programState: 'Running', activeTask: null, lastEventId: 15, hasWarning: false });
    const info = await dup.server.systemInfo();
    expect(info).toMatchObject({ serverVersion: '2.0.7.3', passwordPlaceholder: '**********', osType: 'Linux' });
    expect(await dup.server.progress()).toMatchObject({ taskId: '2', backupId: '1', phase: 'Verify_Running' });
    expect((await dup.server.state()).lastEventId).toBe(24);
    expect(await dup.server.progress()).toMatchObject({ taskId: '6', phase: 'Restore_Complete' });
    expect((await dup.server.state()).activeTask).toEqual({ taskId: '7', backupId: '1' });
    expect(await dup.server.progress()).toMatchObject({ taskId: '7', phase: 'Backup_Complete', overallProgress: 1 });
    expectClean();
  });

  it('create, list, get (wrapped), run without task id, tasks, task state (07-10, 13-15)', async () => {
    server.queue([...LOGIN, R('07'), R('08'), R('09'), R('10'), R('13'), R('14'), R('15')]);
    const dup = client();
    const created = await dup.backups.create({
      name: 'live-probe',
      description: 'probe job',
      targetUrl: 'file:///srv/duplicati-kit/target',
      sources: ['/srv/duplicati-kit/src/'],
      settings: [{ name: '--no-encryption', value: 'true' }],
    });
    expect(created).toEqual({ id: '1' });
    const createReq = server.received.at(-1);
    expect(JSON.parse(createReq?.body ?? '{}')).toMatchObject({
      Backup: { Name: 'live-probe', TargetURL: 'file:///srv/duplicati-kit/target' },
      Schedule: null,
    });
    const list = await dup.backups.list();
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ id: '1', name: 'live-probe', schedule: null, isTemporary: false });
    const full = await dup.backups.get('1');
    expect(full.sources).toEqual(['/srv/duplicati-kit/src/']);
    expect(full.settings.find((s) => s.name === 'retention-policy')?.value).toBe('1W:1D,4W:1W,12M:1M');
    expect(await dup.backups.run('1')).toEqual({ taskId: null });
    expect(await dup.tasks.list()).toEqual([]);
    expect(await dup.tasks.get('2')).toMatchObject({ id: '2', status: 'Completed', errorMessage: null });
    const after = await dup.backups.list();
    expect(after[0]?.metadata.LastBackupFinished).toBe('20261129T065858Z');
    expectClean();
  });

  it('versions with and without sizes, folder listing with the 2.0 path form (16-18, 33)', async () => {
    server.queue([...LOGIN, R('16'), R('17'), R('33')]);
    server.queue([R('18')], true);
    const dup = client();
    expect(await dup.backups.versions('1')).toEqual([
      { version: 0, isFullBackup: true, time: '2026-11-29T06:58:58+00:00', fileCount: null, fileSizes: null },
    ]);
    expect((await dup.backups.versions('1', { withSizes: true }))[0]).toMatchObject({ fileCount: 3, fileSizes: 20028 });
    const two = await dup.backups.versions('1', { withSizes: true });
    expect(two.map((v) => v.version)).toEqual([0, 1]);
    const listing = await dup.backups.files('1', { time: two[1]?.time ?? '', path: '/srv/duplicati-kit/src/' });
    expect(listing.files).toEqual([
      { path: '/srv/duplicati-kit/src/sub/', isFolder: true, sizes: [null] },
      { path: '/srv/duplicati-kit/src/hello.txt', isFolder: false, sizes: [16] },
    ]);
    expectClean();
  });

  it('log rows and their Result messages; restore with form fields (19-21, 36)', async () => {
    server.queue([...LOGIN, R('19'), R('16'), R('20'), R('21'), R('36')]);
    const dup = client();
    const rows = [];
    for await (const row of dup.backups.log('1')) rows.push(row);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: 1, type: 'Result' });
    expect(rows[0]?.timestamp.toISOString()).toBe('2026-11-29T06:58:58.000Z');
    const started = await dup.backups.restore('1', {
      version: 0,
      to: '/srv/duplicati-kit/restore',
      paths: ['/srv/duplicati-kit/src/sub/notes.txt', '/srv/duplicati-kit/src/hello.txt'],
    });
    expect(started).toEqual({ taskId: '6' });
    const form = new URLSearchParams(server.received.at(-1)?.body ?? '');
    expect(JSON.parse(form.get('paths') ?? '[]')).toEqual([
      '/srv/duplicati-kit/src/sub/notes.txt',
      '/srv/duplicati-kit/src/hello.txt',
    ]);
    expect(form.get('time')).toBe('2026-11-29T06:58:58+00:00');
    expect(form.get('restore-path')).toBe('/srv/duplicati-kit/restore');
    expect(form.get('overwrite')).toBe('false');
    expect(await dup.tasks.get('6')).toMatchObject({ status: 'Completed' });
    const after = [];
    for await (const row of dup.backups.log('1', { pageSize: 10 })) after.push(row.id);
    expect(after).toEqual([3, 2, 1]);
    expectClean();
  });

  it('404 reason phrase becomes a DuplicatiNotFoundError (22)', async () => {
    server.queue([...LOGIN, R('22')]);
    const err = await client()
      .backups.get('99')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DuplicatiNotFoundError);
    expect(err).toMatchObject({ status: 404, statusText: 'Invalid or missing backup id', path: '/api/v1/backup/99' });
    expect((err as Error).message).toContain('Invalid or missing backup id');
    expectClean();
  });

  it('400 "Missing XSRF Token" renews the XSRF cookie and session, then retries once (23)', async () => {
    server.queue([...LOGIN, R('23'), R('01'), R('25'), R('03'), R('04')]);
    await expect(client().backups.list()).resolves.toEqual([]);
    expectClean();
    expect(server.received.map((r) => r.answeredWith)).toEqual([
      ...LOGIN.map((e) => e.name),
      R('23').name,
      R('01').name,
      R('25').name,
      R('03').name,
      R('04').name,
    ]);
  });

  it('401 "Not logged in" mid-session logs in again and retries once (24, 45, 46)', async () => {
    server.queue([...LOGIN, R('24'), R('45'), R('46'), R('04')]);
    await expect(client().backups.list()).resolves.toEqual([]);
    expectClean();
    const retried = server.received.at(-1);
    expect(retried?.headers.cookie).toContain('session-auth=tGBGRTvGAE8oCFVweMCnELioiCUdxoH2AfHCOcbAZPs');
  });

  it('a second 401 after renewing is a DuplicatiAuthenticationError (24, 44)', async () => {
    server.queue([...LOGIN, R('24'), R('45'), R('46'), R('44')]);
    await expect(client().backups.list()).rejects.toBeInstanceOf(DuplicatiAuthenticationError);
    expectClean();
  });

  it('wrong password: 401 with empty body, no secret anywhere (25, 26)', async () => {
    const wrong = 'not-the-password-0451';
    server.queue([R('01'), R('25'), R('26')]);
    const err = await client(wrong)
      .backups.list()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DuplicatiAuthenticationError);
    expect((err as Error).message).toMatch(/refused the credentials/);
    const dump = `${(err as Error).message}\n${JSON.stringify(err)}\n${inspect(err, { depth: 10, showHidden: true })}`;
    expect(dump).not.toContain(wrong);
    const proof = new URLSearchParams(server.received.at(-1)?.body ?? '').get('password') ?? '';
    expect(proof.length).toBeGreaterThan(10);
    expect(dump).not.toContain(proof);
    expect(dump).not.toContain('QrLXn0Cp');
    expectClean();
  });

  it('long-poll durations: the client never sends ≤ 10 s, and a 400 is a DuplicatiBadRequestError (28, 29, 34)', async () => {
    server.queue([...LOGIN, R('28'), R('29'), R('34')]);
    const dup = client();
    const err = await dup.server.state({ longPoll: { lastEventId: 1, durationSeconds: 5 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DuplicatiBadRequestError);
    expect((err as Error).message).toContain('Invalid duration, must be at least 10 seconds');
    expect(server.received.at(-1)?.target).toBe('/api/v1/serverstate?lasteventid=1&longpoll=true&duration=11s');
    const err10 = await dup.server
      .state({ longPoll: { lastEventId: 1, durationSeconds: 10 } })
      .catch((e: unknown) => e);
    expect(err10).toBeInstanceOf(DuplicatiBadRequestError);
    expect(server.received.at(-1)?.target).toMatch(/duration=11s$/);
    const s = await dup.server.state({ longPoll: { lastEventId: 1, durationSeconds: 11 } });
    expect(s.lastEventId).toBe(48);
    expect(server.received.at(-1)?.target).toBe(R('34').request.target);
    expectClean();
  });

  it('runAndWait on 2.0: task id from server state, outcome from the newest Backup Result row (30-32, 36)', async () => {
    server.queue([...LOGIN, R('19'), R('30'), R('31'), R('05')]);
    server.queueFor('/api/v1/task/7', R('14'));
    server.queue([R('36')]);
    const outcome = await client().backups.runAndWait('1');
    expect(outcome).toMatchObject({
      taskId: '7',
      backupId: '1',
      status: 'Completed',
      result: 'Success',
      interrupted: false,
      operation: 'Backup',
    });
    expect(outcome.startedAt?.toISOString()).toBe('2026-11-29T06:59:16.055Z');
    expectClean();
  });

  it('restoreAndWait: a restore with a warning is reported as Warning (20, 21, 36)', async () => {
    server.queue([...LOGIN, R('19'), R('16'), R('20'), R('05'), R('21'), R('36')]);
    const outcome = await client().backups.restoreAndWait('1', {
      version: 0,
      to: '/srv/duplicati-kit/restore',
      paths: ['/srv/duplicati-kit/src/hello.txt'],
    });
    expect(outcome).toMatchObject({ taskId: '6', status: 'Completed', result: 'Warning', operation: 'Restore' });
    expect(outcome.warnings[0]).toContain('CreateMissingFolder');
    expectClean();
  });

  it('notifications (35)', async () => {
    server.queue([...LOGIN, R('35')]);
    expect(await client().notifications.list()).toEqual([
      {
        id: '1',
        type: 'Warning',
        title: 'Warning while running live-probe',
        message: 'Got 1 warning(s)',
        exception: null,
        backupId: '1',
        action: 'backup:show-log',
        timestamp: '2026-11-29T06:59:07Z',
      },
    ]);
    expectClean();
  });

  it('update, duplicate-name conflict, JSON-body create, delete with task id, logout (37-43)', async () => {
    server.queue([...LOGIN, R('37'), R('38'), R('39'), R('40'), R('41'), R('42'), R('43')]);
    const dup = client();
    const input = {
      name: 'live-probe',
      description: 'probe job (updated via PUT)',
      targetUrl: 'file:///srv/duplicati-kit/target',
      sources: ['/srv/duplicati-kit/src/'],
    };
    await expect(dup.backups.update('1', input)).resolves.toBeUndefined();
    const conflict = await dup.backups.create(input).catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(DuplicatiConflictError);
    expect((conflict as Error).message).toContain('There already exists a backup with the name: live-probe');
    expect(await dup.backups.create({ ...input, name: 'json-body-job' })).toEqual({ id: '2' });
    expect((await dup.backups.list()).map((b) => b.name)).toEqual(['live-probe', 'json-body-job']);
    expect(await dup.backups.delete('2')).toEqual({ taskId: '9' });
    expect((await dup.backups.list()).map((b) => b.id)).toEqual(['1']);
    await dup.auth.logout();
    expect(server.received.at(-1)?.target).toBe('/logout.cgi');
    expectClean();
  });

  it('after logout the next call logs in again (44-47)', async () => {
    server.queue([...LOGIN, R('05'), R('43'), R('45'), R('46'), R('47')]);
    const dup = client();
    await dup.server.state();
    await dup.auth.logout();
    const s = await dup.server.state();
    expect(s.lastEventId).toBe(8);
    expect(R('44').response.status).toBe(401);
    expectClean();
  });

  it('jobs.apply against the recorded job shape: diff, then PUT (08, 09, 37)', async () => {
    server.queue([...LOGIN, R('08'), R('09'), R('37')]);
    const r = await client().jobs.apply({
      name: 'live-probe',
      description: 'probe job (updated via PUT)',
      sources: ['/srv/duplicati-kit/src/'],
      target: 'file:///srv/duplicati-kit/target',
      retention: { policy: '1W:1D,4W:1W,12M:1M' },
    });
    expect(r.action).toBe('update');
    expect(r.changes).toEqual([{ field: 'description', before: 'probe job', after: 'probe job (updated via PUT)' }]);
    const put = JSON.parse(server.received.at(-1)?.body ?? '{}') as {
      Backup: { Settings: { Name: string; Value: string }[] };
    };
    expect(put.Backup.Settings.map((s) => s.Name)).toEqual(
      expect.arrayContaining(['compression-module', 'dblock-size', 'retention-policy', '--no-encryption']),
    );
    expectClean();
  });
});
