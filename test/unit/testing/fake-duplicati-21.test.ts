import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isConfigError } from '../../../src/core/errors.js';
import { FakeDuplicatiServer, type FakeDuplicatiServerOptions } from '../../../src/testing/index.js';
import { tempDir } from '../../helpers/context.js';

/**
 * The 2.1+ protocol of the fake (JWT login, rotating refresh cookie with nonce, Kestrel error
 * shapes, version-specific routes) and its state machine and faults, driven with plain fetch.
 */

let dir: string;
let cleanup: () => Promise<void>;
let src: string;
const servers: FakeDuplicatiServer[] = [];

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('fake-21-'));
  src = path.join(dir, 'src');
  await mkdir(path.join(src, 'album'), { recursive: true });
  await writeFile(path.join(src, 'a.txt'), 'alpha');
  await writeFile(path.join(src, 'album', 'b.jpg'), Buffer.alloc(1234, 1));
});

afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  await cleanup();
});

async function start(options: Partial<FakeDuplicatiServerOptions> = {}): Promise<FakeDuplicatiServer> {
  const s = await FakeDuplicatiServer.start({ generation: '2.1', password: 'pw', ...options });
  servers.push(s);
  return s;
}

/** A minimal 2.1 client: bearer token plus the refresh cookie and nonce, kept by hand. */
class Raw {
  token = '';
  refreshCookie = '';
  nonce: string | null = null;
  constructor(readonly server: FakeDuplicatiServer) {}
  async call(method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    const h: Record<string, string> = { ...headers };
    if (this.token) h.authorization = `Bearer ${this.token}`;
    if (body !== undefined) h['content-type'] = 'application/json';
    return fetch(`${this.server.url}${p}`, {
      method,
      headers: h,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }
  async json<T = Record<string, unknown>>(method: string, p: string, body?: unknown): Promise<T> {
    const r = await this.call(method, p, body);
    expect(r.status, `${method} ${p}`).toBe(200);
    return (await r.json()) as T;
  }
  /** Keep the tokens of a successful login or refresh. */
  private async adopt(r: Response): Promise<void> {
    if (r.status !== 200) return;
    const b = (await r.clone().json()) as { AccessToken: string; RefreshNonce?: string | null };
    this.token = b.AccessToken;
    this.nonce = b.RefreshNonce ?? null;
    const c = r.headers.getSetCookie().find((v) => v.startsWith(`RefreshToken_${this.server.port}=`));
    if (c) this.refreshCookie = c.split(';')[0] ?? '';
  }
  async login(rememberMe = false): Promise<Response> {
    const r = await this.call('POST', '/api/v1/auth/login', { Password: 'pw', RememberMe: rememberMe });
    await this.adopt(r);
    return r;
  }
  async refresh(cookie = this.refreshCookie, nonce = this.nonce): Promise<Response> {
    const r = await fetch(`${this.server.url}/api/v1/auth/refresh`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json' },
      body: JSON.stringify(nonce === null ? {} : { Nonce: nonce }),
    });
    await this.adopt(r);
    return r;
  }
}

/** A server with one job `j` over the test source and a logged-in raw client. */
async function withJob(
  options: Partial<FakeDuplicatiServerOptions> = {},
): Promise<{ s: FakeDuplicatiServer; id: string; c: Raw }> {
  const s = await start(options);
  const id = s.createBackup({ name: 'j', sources: [`${src}/`] });
  const c = new Raw(s);
  await c.login();
  return { s, id, c };
}

const job = (sources: string[], settings: { Name: string; Value: string }[] = []) => ({
  Backup: {
    Name: 'photos',
    Description: '',
    Tags: [],
    TargetURL: 'file:///tmp/target',
    Sources: sources,
    Settings: [{ Name: '--no-encryption', Value: 'true' }, ...settings],
    Filters: [],
    Metadata: {},
  },
  Schedule: null,
});

describe('FakeDuplicatiServer 2.1 auth', () => {
  it('answers /health without auth and refuses API calls without a token', async () => {
    const s = await start();
    const h = await fetch(`${s.url}/health`);
    expect(h.status).toBe(200);
    expect(h.headers.get('server')).toBe('Kestrel');
    expect(await h.text()).toBe('Healthy');
    const r = await fetch(`${s.url}/api/v1/backups`);
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBe('Bearer');
    expect(await r.text()).toBe('');
  });

  it('rejects a wrong password with the Kestrel error shape', async () => {
    const s = await start();
    const r = await fetch(`${s.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ password: 'nope' }),
    });
    expect(r.status).toBe(401);
    expect(await r.json()).toEqual({ Error: 'Failed to log in', Code: 401 });
    expect(s.authCounters.failedLogins).toBe(1);
  });

  it('logs in, sets a RefreshToken_<port> cookie, and rotates it with the nonce', async () => {
    const s = await start();
    const c = new Raw(s);
    const r = await c.login();
    const cookie = r.headers.getSetCookie()[0] ?? '';
    expect(cookie).toMatch(
      new RegExp(
        `^RefreshToken_${s.port}=[^;]+; expires=[^;]+; domain=127\\.0\\.0\\.1; path=/api/v1/auth/refresh; samesite=strict; httponly$`,
      ),
    );
    expect(c.nonce).toEqual(expect.any(String));
    expect(await c.json<unknown[]>('GET', '/api/v1/backups')).toEqual([]);
    const firstCookie = c.refreshCookie;
    const firstNonce = c.nonce;
    expect((await c.refresh()).status).toBe(200);
    expect(c.refreshCookie).not.toBe(firstCookie);
    expect(c.nonce).not.toBe(firstNonce);
    expect(await c.json<unknown[]>('GET', '/api/v1/backups')).toEqual([]);
    expect(s.authCounters.refreshes).toBe(1);
  });

  it('refuses a refresh without the nonce and a replayed refresh token revokes the family', async () => {
    const s = await start();
    const c = new Raw(s);
    await c.login();
    expect((await c.refresh(c.refreshCookie, null)).status).toBe(401);
    const old = { cookie: c.refreshCookie, nonce: c.nonce };
    expect((await c.refresh()).status).toBe(200);
    const replay = await c.refresh(old.cookie, old.nonce);
    expect(replay.status).toBe(401);
    expect(await replay.json()).toEqual({ Error: 'Failed to refresh token', Code: 401 });
    expect(s.authCounters.replayedRefreshTokens).toBe(1);
    expect((await c.call('GET', '/api/v1/backups')).status).toBe(401);
    expect((await c.refresh()).status).toBe(401);
  });

  it('expires access tokens by the clock and by expireTokens(); refresh still works', async () => {
    let clock = Date.parse('2026-11-29T08:00:00Z');
    const s = await start({ tokenLifetimeMs: 500, now: () => new Date(clock) });
    const c = new Raw(s);
    await c.login();
    expect((await c.call('GET', '/api/v1/backups')).status).toBe(200);
    clock += 501;
    const expired = await c.call('GET', '/api/v1/backups');
    expect(expired.status).toBe(401);
    expect(expired.headers.get('www-authenticate')).toMatch(
      /^Bearer error="invalid_token", error_description="The token expired at/,
    );
    expect((await c.refresh()).status).toBe(200);
    expect((await c.call('GET', '/api/v1/backups')).status).toBe(200);
    s.expireTokens();
    expect((await c.call('GET', '/api/v1/backups')).status).toBe(401);
    expect((await c.refresh()).status).toBe(200);
    expect((await c.call('GET', '/api/v1/backups')).status).toBe(200);
  });

  it('2.1.0.x: no refresh cookie without RememberMe, no nonce, old stop routes', async () => {
    const s = await start({ version: '2.1.0.5' });
    const c = new Raw(s);
    const r = await c.login(false);
    expect(r.headers.getSetCookie()).toEqual([]);
    expect(Object.keys((await r.json()) as object)).toEqual(['AccessToken']);
    const id = String((await c.json('POST', '/api/v1/backups', job([`${src}/`]))).ID);
    const hold = s.holdTasks();
    const run = await c.json<{ ID: number }>('POST', `/api/v1/backup/${id}/run`);
    await hold.started;
    expect((await c.call('POST', `/api/v1/task/${run.ID}/stop`)).status).toBe(404);
    expect((await c.call('POST', `/api/v1/task/${run.ID}/stopnow`)).status).toBe(200);
    hold.release();
    await s.whenIdle();
    expect(await c.json('GET', `/api/v1/task/${run.ID}`)).toEqual({
      Status: 'Completed',
      ID: run.ID,
      ErrorMessage: null,
      Exception: null,
    });
    const remember = new Raw(s);
    const r2 = await remember.login(true);
    expect(r2.headers.getSetCookie()).toHaveLength(1);
    expect((await remember.refresh(remember.refreshCookie, null)).status).toBe(200);
  });

  it('accepts pre-auth tokens on 2.1.2+', async () => {
    const s = await start({ preAuthTokens: ['pre-auth-token-1'] });
    const ok = await fetch(`${s.url}/api/v1/backups`, { headers: { authorization: 'PreAuth pre-auth-token-1' } });
    expect(ok.status).toBe(200);
    const bad = await fetch(`${s.url}/api/v1/backups`, { headers: { authorization: 'PreAuth wrong-token-22' } });
    expect(bad.status).toBe(401);
  });

  it('rejects bad options with a ConfigError naming each field', async () => {
    const err = await FakeDuplicatiServer.start({
      generation: '2.1',
      version: '2.0.7.3',
      port: -1,
    } as FakeDuplicatiServerOptions).catch((e: unknown) => e);
    expect(isConfigError(err)).toBe(true);
    expect((err as { issues: { path: string }[] }).issues.map((i) => i.path).sort()).toEqual(['port', 'version']);
  });
});

describe('FakeDuplicatiServer state machine (2.1 wire)', () => {
  it('runs copy the sources into versions; files, log and restore follow', async () => {
    const s = await start();
    const c = new Raw(s);
    await c.login();
    const created = await c.json('POST', '/api/v1/backups', job([`${src}/`]));
    expect(created).toEqual({ ID: '1', Temporary: false });
    const run = await c.json<{ Status: string; ID: number }>('POST', '/api/v1/backup/1/run');
    await s.whenIdle();
    const task = await c.json('GET', `/api/v1/task/${run.ID}`);
    expect(task).toMatchObject({ Status: 'Completed', ID: run.ID, ErrorMessage: null });
    expect(Object.keys(task)).toEqual(['Status', 'ID', 'TaskStarted', 'TaskFinished', 'ErrorMessage', 'Exception']);
    const sets = await c.json<{ Version: number; Time: string; FileCount: number; FileSizes: number }[]>(
      'GET',
      '/api/v1/backup/1/filesets?include-metadata=true',
    );
    expect(sets).toEqual([
      { Version: 0, IsFullBackup: 1, Time: expect.stringMatching(/Z$/), FileCount: 2, FileSizes: 1239 },
    ]);
    const time = encodeURIComponent(sets[0]?.Time ?? '');
    const listing = await c.json(
      'GET',
      `/api/v1/backup/1/files?filter=${encodeURIComponent(`${src}/`)}&folder-contents=true&time=${time}`,
    );
    expect(listing.Files).toEqual([
      { Path: `${src}/album/`, Sizes: [-1] },
      { Path: `${src}/a.txt`, Sizes: [5] },
    ]);
    expect((await c.call('GET', '/api/v1/backup/1/files?filter=x')).status).toBe(400);
    const out = path.join(dir, 'out');
    const restore = await c.json<{ ID: number }>('POST', '/api/v1/backup/1/restore', {
      time: sets[0]?.Time,
      paths: [`${src}/`],
      restore_path: out,
      overwrite: true,
    });
    await s.whenIdle();
    expect(await c.json('GET', `/api/v1/task/${restore.ID}`)).toMatchObject({ Status: 'Completed' });
    expect(await readFile(path.join(out, 'a.txt'), 'utf8')).toBe('alpha');
    expect(await readFile(path.join(out, 'album', 'b.jpg'))).toEqual(Buffer.alloc(1234, 1));
    const log = await c.json<{ Type: string; Message: string }[]>('GET', '/api/v1/backup/1/log');
    expect(log.map((r) => JSON.parse(r.Message).MainOperation)).toEqual(['Restore', 'Backup']);
    expect(log.map((r) => JSON.parse(r.Message).ParsedResult)).toEqual(['Success', 'Success']);
  });

  it('an unchanged source gives no new version; a changed one does; keep-versions prunes', async () => {
    const s = await start();
    const id = s.createBackup({ name: 'j', sources: [`${src}/`], settings: { 'keep-versions': '2' } });
    const c = new Raw(s);
    await c.login();
    for (const content of ['alpha', 'beta', 'gamma', 'gamma']) {
      await writeFile(path.join(src, 'a.txt'), content);
      await c.json('POST', `/api/v1/backup/${id}/run`);
      await s.whenIdle();
    }
    expect(s.versions(id).map((v) => v.version)).toEqual([0, 1]);
    expect(s.logRows(id)).toHaveLength(4);
  });

  it('a Fatal run is Failed on 2.1.2+ but Completed on 2.0, and its log row says Fatal', async () => {
    for (const options of [{ generation: '2.1' as const }, { generation: '2.1' as const, version: '2.1.0.5' }]) {
      const s = await start(options);
      const id = s.createBackup({ name: 'j', sources: [`${src}/`] });
      s.failNextRun('Fatal', 'disk on fire');
      const c = new Raw(s);
      await c.login(true);
      const run = await c.json<{ ID: number }>('POST', `/api/v1/backup/${id}/run`);
      await s.whenIdle();
      const task = await c.json('GET', `/api/v1/task/${run.ID}`);
      expect(task.Status).toBe(options.version ? 'Completed' : 'Failed');
      expect(JSON.parse(s.logRows(id)[0]?.Message ?? '{}').ParsedResult).toBe('Fatal');
      expect(s.versions(id)).toEqual([]);
      expect(s.backups()[0]?.metadata.LastErrorMessage).toBe('disk on fire');
    }
  });

  it('a missing source folder is fatal; an Error fault still stores a version', async () => {
    const s = await start();
    const missing = s.createBackup({ name: 'gone', sources: [path.join(dir, 'nope/')] });
    const ok = s.createBackup({ name: 'ok', sources: [`${src}/`] });
    s.failNextRun('Error', 'one file unreadable');
    const c = new Raw(s);
    await c.login();
    await c.json('POST', `/api/v1/backup/${ok}/run`);
    await c.json('POST', `/api/v1/backup/${missing}/run`);
    await s.whenIdle();
    expect(JSON.parse(s.logRows(missing)[0]?.Message ?? '{}').ParsedResult).toBe('Fatal');
    expect(JSON.parse(s.logRows(ok)[0]?.Message ?? '{}').ParsedResult).toBe('Error');
    expect(s.versions(ok)).toHaveLength(1);
    const notes = await c.json<{ Type: string }[]>('GET', '/api/v1/notifications');
    expect(notes.map((n) => n.Type)).toEqual(['Error', 'Error']);
  });

  it('long-poll returns when an event happens; bad durations are refused', async () => {
    const { s, id, c } = await withJob();
    const state = await c.json<{ LastEventID: number }>('GET', '/api/v1/serverstate');
    const poll = c.json<{ LastEventID: number }>(
      'GET',
      `/api/v1/serverstate?lastEventId=${state.LastEventID}&longpoll=true&duration=300s`,
    );
    await c.json('POST', `/api/v1/backup/${id}/run`);
    expect((await poll).LastEventID).toBeGreaterThan(state.LastEventID);
    expect((await c.call('GET', '/api/v1/serverstate?lastEventId=1&longpoll=true&duration=5s')).status).toBe(400);
    await s.whenIdle();
  });

  it('stop on a held task interrupts it; abort makes it Failed on 2.1.2+', async () => {
    const { s, id, c } = await withJob();
    const hold = s.holdTasks();
    const run = await c.json<{ ID: number }>('POST', `/api/v1/backup/${id}/run`);
    await hold.started;
    expect(await c.json<unknown[]>('GET', '/api/v1/tasks')).toEqual([
      expect.objectContaining({ ID: run.ID, Status: 'Running' }),
    ]);
    expect((await c.call('POST', `/api/v1/task/${run.ID}/stopnow`)).status).toBe(404);
    expect((await c.call('POST', `/api/v1/task/${run.ID}/abort`)).status).toBe(200);
    hold.release();
    await s.whenIdle();
    expect((await c.json('GET', `/api/v1/task/${run.ID}`)).Status).toBe('Failed');
    expect(JSON.parse(s.logRows(id)[0]?.Message ?? '{}')).toMatchObject({ ParsedResult: 'Error', Interrupted: true });
  });

  it('a stopped run is an interrupted Warning and never leaves an empty newest version', async () => {
    const { s, id, c } = await withJob();
    await c.json('POST', `/api/v1/backup/${id}/run`);
    await s.whenIdle();
    const hold = s.holdTasks();
    const run = await c.json<{ ID: number }>('POST', `/api/v1/backup/${id}/run`);
    await hold.started;
    expect((await c.call('POST', `/api/v1/task/${run.ID}/stop`)).status).toBe(200);
    hold.release();
    await s.whenIdle();
    expect((await c.json('GET', `/api/v1/task/${run.ID}`)).Status).toBe('Completed');
    expect(JSON.parse(s.logRows(id)[0]?.Message ?? '{}')).toMatchObject({ ParsedResult: 'Warning', Interrupted: true });
    expect(s.versions(id)).toHaveLength(1);
    expect(s.versions(id)[0]?.fileCount).toBe(2);
  });

  it('2.3+ masks secrets and a PUT with the placeholder keeps the stored secret', async () => {
    const s = await start({ version: '2.3.0.4' });
    const c = new Raw(s);
    await c.login();
    const body = job([`${src}/`], [{ Name: 'passphrase', Value: 'family-photos-secret' }]);
    body.Backup.TargetURL = 'ssh://host/backup?auth-username=u&auth-password=hunter2';
    await c.json('POST', '/api/v1/backups', body);
    const got = await c.json<{ Backup: { TargetURL: string; Settings: { Name: string; Value: string }[] } }>(
      'GET',
      '/api/v1/backup/1',
    );
    expect(got.Backup.TargetURL).toBe('ssh://host/backup?auth-username=u&auth-password=***************');
    expect(got.Backup.Settings.find((x) => x.Name === 'passphrase')?.Value).toBe('***************');
    expect((await c.call('PUT', '/api/v1/backup/1', { Backup: got.Backup, Schedule: null })).status).toBe(200);
    expect(s.backups()[0]?.settings.passphrase).toBe('family-photos-secret');
    expect(s.backups()[0]?.targetUrl).toContain('auth-password=hunter2');
  });

  it('2.3.1+ refuses reads of a job database while a task holds it', async () => {
    const { s, id, c } = await withJob({ version: '2.3.1.0' });
    const hold = s.holdTasks();
    await c.json('POST', `/api/v1/backup/${id}/run`);
    await hold.started;
    const locked = await c.call('GET', `/api/v1/backup/${id}/log`);
    expect(locked.status).toBe(400);
    expect(await locked.json()).toMatchObject({ Code: 400, HelpId: 'DatabaseLocked' });
    hold.release();
    await s.whenIdle();
    expect((await c.call('GET', `/api/v1/backup/${id}/log`)).status).toBe(200);
  });

  it('validates jobs like the server: missing passphrase, duplicate name', async () => {
    const s = await start();
    const c = new Raw(s);
    await c.login();
    const noPass = job([`${src}/`]);
    noPass.Backup.Settings = [];
    const r = await c.call('POST', '/api/v1/backups', noPass);
    expect(r.status).toBe(400);
    expect(await r.json()).toEqual({ Error: 'Missing passphrase', Code: 400 });
    await c.json('POST', '/api/v1/backups', job([`${src}/`]));
    const dup = await c.call('POST', '/api/v1/backups', job([`${src}/`]));
    expect(dup.status).toBe(409);
  });
});

describe('FakeDuplicatiServer faults and restart', () => {
  it('answers 500, garbage and dropped connections for the next N requests only', async () => {
    const s = await start();
    const c = new Raw(s);
    await c.login();
    s.failNextRequests(2);
    expect((await c.call('GET', '/api/v1/backups')).status).toBe(500);
    const second = await c.call('GET', '/api/v1/backups');
    expect(await second.json()).toEqual({ Error: 'An error occurred', Code: 500 });
    expect((await c.call('GET', '/api/v1/backups')).status).toBe(200);
    s.garbageNextResponses(1, { path: '/api/v1/serverstate' });
    const garbage = await c.call('GET', '/api/v1/serverstate');
    expect(garbage.status).toBe(200);
    await expect(garbage.json()).rejects.toThrow();
    s.dropNextConnections(1);
    await expect(c.call('GET', '/api/v1/backups')).rejects.toThrow();
    expect((await c.call('GET', '/api/v1/backups')).status).toBe(200);
    expect(s.requests.filter((r) => r.fault).map((r) => r.fault)).toEqual(['status', 'status', 'garbage', 'drop']);
  });

  it('restart keeps jobs and versions, loses tokens and finished task results', async () => {
    const { s, id, c } = await withJob();
    const run = await c.json<{ ID: number }>('POST', `/api/v1/backup/${id}/run`);
    await s.whenIdle();
    const port = s.port;
    await s.restart();
    expect(s.port).toBe(port);
    // A pooled keep-alive connection was cut by the restart, as a real restart cuts it: the first
    // request may fail on it. Spend that connection on a probe.
    await fetch(`${s.url}/health`).catch(() => undefined);
    expect((await c.call('GET', '/api/v1/backups')).status).toBe(401);
    expect((await c.refresh()).status).toBe(401);
    await c.login();
    expect((await c.json<unknown[]>('GET', '/api/v1/backups')).length).toBe(1);
    expect((await c.call('GET', `/api/v1/task/${run.ID}`)).status).toBe(404);
    expect(s.versions(id)).toHaveLength(1);
  });

  it('restart with dropTasks kills the running task without a result', async () => {
    const { s, id, c } = await withJob();
    const hold = s.holdTasks();
    await c.json('POST', `/api/v1/backup/${id}/run`);
    await hold.started;
    await s.restart({ dropTasks: true });
    hold.release();
    await s.whenIdle();
    expect(s.logRows(id)).toEqual([]);
    expect(s.versions(id)).toEqual([]);
  });
});
