import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { streamLogger } from '../../../src/core/logger.js';
import { HealthchecksNotifier, notifyAll, NtfyNotifier, WebhookNotifier } from '../../../src/ops/notify.js';
import type { NotificationEvent } from '../../../src/contracts/notifier.js';
import { startRecorder } from '../../helpers/http-recorder.js';
import { Writable } from 'node:stream';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

const failure: NotificationEvent = {
  kind: 'failure',
  title: 'Backup of Immich failed',
  message: 'pg_dump exited with 1',
  job: 'immich',
  durationMs: 61_000,
  runId: 'run-1',
  log: 'line 1\nline 2',
  details: { result: 'Error' },
};

describe('notifiers (real HTTP server on loopback)', () => {
  it('ntfy posts title, priority, tags and bearer token', async () => {
    const srv = await startRecorder();
    closers.push(srv.close);
    const n = new NtfyNotifier({ url: `${srv.url}/backups`, token: 'tk_secret_value' });
    await n.notify(failure);
    await n.notify({ ...failure, kind: 'start' });
    expect(srv.requests).toHaveLength(1);
    const r = srv.requests[0]!;
    expect(r).toMatchObject({ method: 'POST', url: '/backups', body: 'pg_dump exited with 1' });
    expect(r.headers).toMatchObject({
      title: 'Backup of Immich failed',
      priority: '5',
      tags: 'rotating_light',
      authorization: 'Bearer tk_secret_value',
    });
  });

  it('Healthchecks gets start, success and fail pings with a run id; logs only when enabled', async () => {
    const srv = await startRecorder();
    closers.push(srv.close);
    const plain = new HealthchecksNotifier({ pingUrl: `${srv.url}/ping/1234-uuid` });
    const withLog = new HealthchecksNotifier({ pingUrl: `${srv.url}/ping/1234-uuid/`, includeLog: true });
    await plain.notify({ ...failure, kind: 'start' });
    await plain.notify({ ...failure, kind: 'success', title: 'ok', message: 'done' });
    await plain.notify(failure);
    await withLog.notify(failure);
    expect(srv.requests.map((r) => r.url)).toEqual([
      '/ping/1234-uuid/start?rid=run-1',
      '/ping/1234-uuid?rid=run-1',
      '/ping/1234-uuid/fail?rid=run-1',
      '/ping/1234-uuid/fail?rid=run-1',
    ]);
    expect(srv.requests[2]!.body).toContain('duration: 61 s');
    expect(srv.requests[2]!.body).not.toContain('line 1');
    expect(srv.requests[3]!.body).toContain('line 1\nline 2');
  });

  it('the webhook posts the event as JSON, with the log only when enabled', async () => {
    const srv = await startRecorder();
    closers.push(srv.close);
    await new WebhookNotifier({ url: `${srv.url}/hook`, headers: { 'X-Token': 'hdr-secret' } }).notify(failure);
    const body = JSON.parse(srv.requests[0]!.body);
    expect(body).toMatchObject({ kind: 'failure', job: 'immich', details: { result: 'Error' } });
    expect(body.log).toBeUndefined();
    expect(srv.requests[0]!.headers['x-token']).toBe('hdr-secret');
  });

  it('a failing notifier is logged and returned, never thrown, and leaks no secret', async () => {
    const srv = await startRecorder(() => ({ status: 500, body: 'boom tk_secret_value' }));
    closers.push(srv.close);
    const lines: string[] = [];
    const logger = streamLogger({
      stream: new Writable({
        write: (c, _e, cb) => {
          lines.push(String(c));
          cb();
        },
      }),
      level: 'debug',
    });
    const ok = await startRecorder();
    closers.push(ok.close);
    const results = await notifyAll(
      [
        new NtfyNotifier({ url: `${srv.url}/t`, token: 'tk_secret_value' }),
        new HealthchecksNotifier({ pingUrl: 'http://127.0.0.1:1/secret-ping-uuid' }),
        new WebhookNotifier({ url: `${ok.url}/fine` }),
      ],
      failure,
      { logger },
    );
    expect(results.map((r) => [r.notifier, r.ok])).toEqual([
      ['ntfy', false],
      ['healthchecks', false],
      ['webhook', true],
    ]);
    const text = [...lines, ...results.map((r) => `${r.error?.message} ${inspect(r.error)}`)].join('\n');
    expect(text).toContain('answered 500');
    expect(text).toContain('cannot reach');
    expect(text).not.toContain('tk_secret_value');
    expect(text).not.toContain('secret-ping-uuid');
  });

  it('validates options', () => {
    expect(() => new HealthchecksNotifier({})).toThrow(/exactly one of pingUrl or pingUrlFile/);
    expect(() => new NtfyNotifier({ url: 'not a url' })).toThrow(/invalid ntfy options/);
  });
});
