import nock from 'nock';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  DuplicatiAuthenticationError,
  DuplicatiBadRequestError,
  DuplicatiClient,
  DuplicatiServerError,
} from '../../../src/duplicati/index.js';
import { BASE, captureLogger, jwt } from './helpers.js';

beforeAll(() => nock.disableNetConnect());
afterEach(() => {
  vi.useRealTimers();
  nock.cleanAll();
});

function tokenClient(extra: Partial<ConstructorParameters<typeof DuplicatiClient>[0]> = {}): DuplicatiClient {
  return new DuplicatiClient({
    baseUrl: BASE,
    auth: { type: 'token', token: jwt('t') },
    retryMinDelayMs: 1,
    maxRetries: 3,
    ...extra,
  });
}

/** Let pending I/O callbacks run (setImmediate is not faked). */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  expect(cond()).toBe(true);
}

describe('retries', () => {
  it('retries idempotent GETs on 502/503/504/408/429 and on a reset connection', async () => {
    nock(BASE)
      .get('/api/v1/backups')
      .reply(502, '')
      .get('/api/v1/backups')
      .reply(408, '')
      .get('/api/v1/backups')
      .reply(429, '')
      .get('/api/v1/backups')
      .reply(200, []);
    await expect(tokenClient().backups.list()).resolves.toEqual([]);
    expect(nock.isDone()).toBe(true);
  });

  it('gives up after maxRetries with the last status-mapped error', async () => {
    nock(BASE).get('/api/v1/backups').times(3).reply(503, '{"Error":"busy","Code":503}');
    const err = await tokenClient({ maxRetries: 2 })
      .backups.list()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DuplicatiServerError);
    expect((err as Error).message).toContain('busy');
    expect(nock.isDone()).toBe(true);
  });

  it('honours Retry-After before the next attempt', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const logger = captureLogger();
    const first = nock(BASE).get('/api/v1/backups').reply(503, '', { 'Retry-After': '30' });
    const second = nock(BASE).get('/api/v1/backups').reply(200, []);
    const p = tokenClient({ logger }).backups.list();
    await until(() => first.isDone() && logger.lines.some((l) => l.includes('duplicati retry')));
    await vi.advanceTimersByTimeAsync(29_000);
    expect(second.isDone()).toBe(false);
    await vi.advanceTimersByTimeAsync(2_000);
    vi.useRealTimers();
    await expect(p).resolves.toEqual([]);
    expect(second.isDone()).toBe(true);
  });

  it('an abort during the back-off rejects at once with the caller’s reason', async () => {
    nock(BASE).get('/api/v1/backups').reply(503, '', { 'Retry-After': '3600' });
    const ctl = new AbortController();
    const reason = new Error('user pressed ctrl-c');
    const logger = captureLogger();
    const origDebug = logger.debug;
    logger.debug = (m, f) => {
      origDebug(m, f);
      if (m === 'duplicati retry') queueMicrotask(() => ctl.abort(reason));
    };
    const err = await tokenClient({ logger, maxRetryAfterMs: 3_600_000 })
      .backups.list({ signal: ctl.signal })
      .catch((e: unknown) => e);
    expect(err).toBe(reason);
  });

  it('never retries a 400 or a 401, nor a non-idempotent POST', async () => {
    nock(BASE).get('/api/v1/backups').once().reply(400, '');
    await expect(tokenClient().backups.list()).rejects.toBeInstanceOf(DuplicatiBadRequestError);
    nock(BASE).get('/api/v1/backups').once().reply(401, '');
    await expect(tokenClient().backups.list()).rejects.toBeInstanceOf(DuplicatiAuthenticationError);
    nock(BASE).post('/api/v1/backup/1/restore').once().reply(503, '');
    await expect(
      tokenClient().backups.restore('1', { time: '2026-11-29T00:00:00Z', to: '/restore' }),
    ).rejects.toBeInstanceOf(DuplicatiServerError);
    expect(nock.isDone()).toBe(true);
  });

  it('retries `run`, which the server de-duplicates', async () => {
    nock(BASE)
      .post('/api/v1/backup/1/run')
      .reply(503, '')
      .post('/api/v1/backup/1/run')
      .reply(200, { Status: 'OK', ID: 12 });
    await expect(tokenClient().backups.run('1')).resolves.toEqual({ taskId: '12' });
  });

  it('a non-Error abort reason comes back unchanged', async () => {
    const ctl = new AbortController();
    ctl.abort('shutdown');
    await expect(tokenClient().backups.list({ signal: ctl.signal })).rejects.toBe('shutdown');
  });

  it('a caller abort before the request is rethrown as it is', async () => {
    const ctl = new AbortController();
    const reason = new Error('stop');
    ctl.abort(reason);
    await expect(tokenClient().backups.list({ signal: ctl.signal })).rejects.toBe(reason);
  });
});
