import nock from 'nock';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { DuplicatiClient, isDuplicatiNotFoundError } from '../../../src/duplicati/index.js';
import { BASE, jwt, resultRow, serverState } from './helpers.js';

beforeAll(() => nock.disableNetConnect());
afterEach(() => {
  vi.useRealTimers();
  nock.cleanAll();
});

/** Let pending I/O callbacks run (setImmediate is not faked). */
async function settle(): Promise<void> {
  for (let i = 0; i < 500; i++) await new Promise((r) => setImmediate(r));
}

/**
 * Wait (in real time, at most 10 s) until the client sleeps on a faked timer: a request still in
 * flight on a loaded machine must not see fake time move under it. Request timeouts use
 * AbortSignal.timeout, which is not faked, so a pending faked timer means "between requests".
 */
async function untilSleeping(): Promise<void> {
  const t0 = performance.now();
  while (vi.getTimerCount() === 0 && performance.now() - t0 < 10_000) await new Promise((r) => setImmediate(r));
}

function dup(): DuplicatiClient {
  return new DuplicatiClient({ baseUrl: BASE, auth: { type: 'token', token: jwt('t') }, retryMinDelayMs: 1 });
}

const task = (status: string, extra: object = {}) => ({
  Status: status,
  ID: 12,
  TaskStarted: '2026-11-29T02:00:00Z',
  TaskFinished: status === 'Running' ? null : '2026-11-29T02:01:00Z',
  ErrorMessage: null,
  Exception: null,
  ...extra,
});

describe('tasks.wait', () => {
  it('long-polls server state between task checks and stops at Completed', async () => {
    const targets: string[] = [];
    nock(BASE)
      .get('/api/v1/serverstate')
      .reply(200, serverState(5, { task: 12, backup: '1' }))
      .get('/api/v1/task/12')
      .reply(200, task('Running'))
      .get('/api/v1/serverstate')
      .query({ lasteventid: '5', longpoll: 'true', duration: '60s' })
      .reply(function () {
        targets.push(this.req.path);
        return [200, serverState(6)];
      })
      .get('/api/v1/task/12')
      .reply(200, task('Completed'));
    const final = await dup().tasks.wait('12');
    expect(final).toMatchObject({ id: '12', status: 'Completed', finishedAt: '2026-11-29T02:01:00Z' });
    expect(targets).toHaveLength(1);
    expect(nock.isDone()).toBe(true);
  });

  it('falls back to polling when the server refuses long-poll', async () => {
    nock(BASE)
      .get('/api/v1/serverstate')
      .reply(200, serverState(5))
      .get('/api/v1/task/12')
      .reply(200, task('Running'))
      .get('/api/v1/serverstate')
      .query(true)
      .reply(400, '')
      .get('/api/v1/task/12')
      .reply(200, task('Running'))
      .get('/api/v1/task/12')
      .reply(200, task('Failed', { ErrorMessage: 'boom' }));
    const final = await dup().tasks.wait('12', { pollIntervalMs: 1 });
    expect(final).toMatchObject({ status: 'Failed', errorMessage: 'boom' });
    expect(nock.isDone()).toBe(true);
  });

  it('keeps waiting through a restart (502s from the proxy past the retries, then the task again)', async () => {
    nock(BASE)
      .get('/api/v1/serverstate')
      .reply(200, serverState(5))
      .get('/api/v1/task/12')
      .reply(200, task('Running'))
      .get('/api/v1/serverstate')
      .query(true)
      .times(3)
      .reply(502, '')
      .get('/api/v1/serverstate')
      .reply(200, serverState(1))
      .get('/api/v1/task/12')
      .reply(200, task('Completed'));
    const client = new DuplicatiClient({
      baseUrl: BASE,
      auth: { type: 'token', token: jwt('t') },
      retryMinDelayMs: 1,
      maxRetries: 2,
    });
    await expect(client.tasks.wait('12')).resolves.toMatchObject({ status: 'Completed' });
    expect(nock.isDone()).toBe(true);
  });

  it('an unknown task is a DuplicatiNotFoundError', async () => {
    nock(BASE)
      .get('/api/v1/serverstate')
      .reply(200, serverState(5))
      .get('/api/v1/task/99')
      .reply(404, { Error: 'No such task found', Code: 404 });
    const err = await dup()
      .tasks.wait('99')
      .catch((e: unknown) => e);
    expect(isDuplicatiNotFoundError(err)).toBe(true);
  });

  it('totalTimeout ends the wait with a TimeoutError', async () => {
    nock(BASE)
      .get('/api/v1/serverstate')
      .reply(200, serverState(5))
      .get('/api/v1/task/12')
      .reply(200, task('Running'))
      .get('/api/v1/serverstate')
      .query(true)
      .delay(5000)
      .reply(200, serverState(6));
    await expect(dup().tasks.wait('12', { totalTimeout: 100 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    nock.cleanAll();
  });

  it('stop uses `stop` on 2.1.2+ and falls back to `stopaftercurrentfile` on 2.1.0.x', async () => {
    nock(BASE).post('/api/v1/task/12/stop').reply(200, '');
    const a = dup();
    await a.tasks.stop('12');
    nock(BASE)
      .post('/api/v1/task/13/stop')
      .reply(404, '')
      .post('/api/v1/task/13/stopaftercurrentfile')
      .reply(200, '')
      .post('/api/v1/task/14/stopaftercurrentfile')
      .reply(200, '');
    const b = dup();
    await b.tasks.stop('13');
    await b.tasks.stop('14');
    expect(nock.isDone()).toBe(true);
  });
});

describe('request rate while idle-waiting', () => {
  it('long-poll: one request in flight however long the task runs', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const seen: string[] = [];
    const unmatched = (req: { path?: string }) => seen.push(`unmatched ${req.path}`);
    nock.emitter.on('no match', unmatched);
    const scope = nock(BASE)
      .get('/api/v1/serverstate')
      .reply(200, serverState(5))
      .get('/api/v1/task/12')
      .reply(200, task('Running'))
      .get('/api/v1/serverstate')
      .query(true)
      .delay(10 * 60_000)
      .reply(200, serverState(5));
    scope.on('request', (req: { path: string }) => seen.push(req.path));
    const ctl = new AbortController();
    const waiting = dup().tasks.wait('12', { signal: ctl.signal, longPollSeconds: 3600 });
    waiting.catch(() => {});
    await settle();
    await vi.advanceTimersByTimeAsync(5 * 60_000);
    await settle();
    nock.emitter.removeListener('no match', unmatched);
    expect(seen).toEqual([
      '/api/v1/serverstate',
      '/api/v1/task/12',
      '/api/v1/serverstate?lasteventid=5&longpoll=true&duration=3600s',
    ]);
    ctl.abort(new Error('done'));
    await expect(waiting).rejects.toThrow('done');
  });

  it('polling fallback: at most one request per 10 s', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let taskGets = 0;
    nock(BASE)
      .get('/api/v1/task/12')
      .times(100)
      .reply(200, () => {
        taskGets++;
        return task('Running');
      });
    const ctl = new AbortController();
    const waiting = dup().tasks.wait('12', { signal: ctl.signal, longPoll: false });
    waiting.catch(() => {});
    for (let s = 0; s < 60; s++) {
      await settle();
      await untilSleeping();
      await vi.advanceTimersByTimeAsync(1000);
    }
    await settle();
    expect(taskGets).toBeGreaterThanOrEqual(6);
    expect(taskGets).toBeLessThanOrEqual(7);
    ctl.abort(new Error('done'));
    await expect(waiting).rejects.toThrow('done');
  });
});

describe('backups.runAndWait: the true outcome', () => {
  function runFlow(finalTask: object, newRow: object | null): void {
    nock(BASE)
      .get('/api/v1/backup/1/log')
      .query({ pagesize: '10' })
      .reply(200, [resultRow(40, { ParsedResult: 'Success', MainOperation: 'Backup' })])
      .post('/api/v1/backup/1/run')
      .reply(200, { Status: 'OK', ID: 12 })
      .get('/api/v1/serverstate')
      .reply(200, serverState(7, { task: 12, backup: '1' }))
      .get('/api/v1/task/12')
      .reply(200, finalTask)
      .get('/api/v1/backup/1/log')
      .query({ pagesize: '20' })
      .reply(200, [...(newRow ? [newRow] : []), resultRow(40, { ParsedResult: 'Success', MainOperation: 'Backup' })]);
  }

  it('Completed with a Success row is a success', async () => {
    runFlow(task('Completed'), resultRow(41, { ParsedResult: 'Success', MainOperation: 'Backup' }));
    const r = await dup().backups.runAndWait('1');
    expect(r).toMatchObject({ taskId: '12', status: 'Completed', result: 'Success', interrupted: false });
  });

  it('a failed run that still says Completed (2.0 / 2.1.0.x) is Fatal', async () => {
    runFlow(
      task('Completed'),
      resultRow(41, { ParsedResult: 'Fatal', MainOperation: 'Backup', Errors: ['The remote folder is missing'] }),
    );
    const r = await dup().backups.runAndWait('1');
    expect(r).toMatchObject({ status: 'Completed', result: 'Fatal' });
    expect(r.errors).toContain('The remote folder is missing');
  });

  it('a run aborted by a hook (Interrupted, ParsedResult Success) is not a success', async () => {
    runFlow(task('Completed'), resultRow(41, { ParsedResult: 'Success', MainOperation: 'Backup', Interrupted: true }));
    const r = await dup().backups.runAndWait('1');
    expect(r).toMatchObject({ result: 'Fatal', interrupted: true });
  });

  it('a Failed task with an Error row is Fatal and carries the task error', async () => {
    runFlow(
      task('Failed', { ErrorMessage: 'disk full' }),
      resultRow(41, { ParsedResult: 'Error', MainOperation: 'Backup' }),
    );
    const r = await dup().backups.runAndWait('1');
    expect(r).toMatchObject({ status: 'Failed', result: 'Fatal' });
    expect(r.errors).toContain('disk full');
  });

  it('a Warning row is a Warning; an older row of the same backup is never taken', async () => {
    runFlow(task('Completed'), resultRow(41, { ParsedResult: 'Warning', MainOperation: 'Backup' }));
    expect((await dup().backups.runAndWait('1')).result).toBe('Warning');
    runFlow(task('Completed'), null);
    const r = await dup().backups.runAndWait('1');
    expect(r.result).toBe('Fatal');
    expect(r.errors.at(-1)).toMatch(/no Result log row/);
  });

  it('a newer row of another operation (a verify) is skipped', async () => {
    nock(BASE)
      .get('/api/v1/backup/1/log')
      .query(true)
      .reply(200, [])
      .post('/api/v1/backup/1/run')
      .reply(200, { Status: 'OK', ID: 12 })
      .get('/api/v1/serverstate')
      .reply(200, serverState(7))
      .get('/api/v1/task/12')
      .reply(200, task('Completed'))
      .get('/api/v1/backup/1/log')
      .query(true)
      .reply(200, [
        resultRow(3, { ParsedResult: 'Success', MainOperation: 'Test' }),
        resultRow(2, { ParsedResult: 'Error', MainOperation: 'Backup' }),
      ]);
    expect((await dup().backups.runAndWait('1')).result).toBe('Error');
  });
});
