import nock from 'nock';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DuplicatiAuthenticationError, DuplicatiClient } from '../../../src/duplicati/index.js';
import { BASE, client21, dumpError, jwt, serverState } from './helpers.js';

const REFRESH_PATH = 'path=/api/v1/auth/refresh; httponly; samesite=strict';

beforeAll(() => nock.disableNetConnect());
afterEach(() => {
  nock.cleanAll();
});

describe('2.1+ JWT password auth', () => {
  it('logs in once, sends the bearer token, and keeps the refresh cookie off other routes', async () => {
    const access = jwt('a1');
    const scope = nock(BASE)
      .post('/api/v1/auth/login', { Password: 'pw-0123456789', RememberMe: false })
      .reply(
        200,
        { AccessToken: access, RefreshNonce: 'nonce-1' },
        { 'Set-Cookie': `RefreshToken_8200=r1; ${REFRESH_PATH}` },
      )
      .get('/api/v1/serverstate')
      .matchHeader('authorization', `Bearer ${access}`)
      .matchHeader('cookie', (v) => v === undefined)
      .reply(200, serverState(3));
    const s = await client21().server.state();
    expect(s.lastEventId).toBe(3);
    expect(scope.isDone()).toBe(true);
  });

  it('concurrent calls share one login (single-flight)', async () => {
    const access = jwt('a1');
    nock(BASE).post('/api/v1/auth/login').once().reply(200, { AccessToken: access, RefreshNonce: 'n' });
    nock(BASE).get('/api/v1/serverstate').times(5).reply(200, serverState(1));
    const dup = client21();
    const all = await Promise.all([1, 2, 3, 4, 5].map(() => dup.server.state()));
    expect(all).toHaveLength(5);
    expect(nock.isDone()).toBe(true);
  });

  it('on 401 refreshes with the rotating cookie and nonce, and never replays an old refresh token', async () => {
    const [a1, a2, a3] = [jwt('a1'), jwt('a2'), jwt('a3')];
    const refreshBodies: unknown[] = [];
    const refreshCookies: (string | undefined)[] = [];
    nock(BASE)
      .post('/api/v1/auth/login')
      .once()
      .reply(
        200,
        { AccessToken: a1, RefreshNonce: 'nonce-1' },
        { 'Set-Cookie': `RefreshToken_8200=r1; ${REFRESH_PATH}` },
      );
    nock(BASE)
      .get('/api/v1/serverstate')
      .matchHeader('authorization', `Bearer ${a1}`)
      .reply(401, '')
      .get('/api/v1/serverstate')
      .matchHeader('authorization', `Bearer ${a2}`)
      .reply(200, serverState(1))
      .get('/api/v1/serverstate')
      .matchHeader('authorization', `Bearer ${a2}`)
      .reply(401, '')
      .get('/api/v1/serverstate')
      .matchHeader('authorization', `Bearer ${a3}`)
      .reply(200, serverState(2));
    nock(BASE)
      .post('/api/v1/auth/refresh')
      .times(2)
      .reply(function (_uri, body) {
        refreshBodies.push(body);
        refreshCookies.push(this.req.headers.cookie as string | undefined);
        const n = refreshBodies.length;
        return [
          200,
          { AccessToken: n === 1 ? a2 : a3, RefreshNonce: `nonce-${n + 1}` },
          { 'Set-Cookie': `RefreshToken_8200=r${n + 1}; ${REFRESH_PATH}` },
        ];
      });
    const dup = client21();
    expect((await dup.server.state()).lastEventId).toBe(1);
    expect((await dup.server.state()).lastEventId).toBe(2);
    expect(refreshBodies).toEqual([{ Nonce: 'nonce-1' }, { Nonce: 'nonce-2' }]);
    expect(refreshCookies).toEqual(['RefreshToken_8200=r1', 'RefreshToken_8200=r2']);
    expect(nock.isDone()).toBe(true);
  });

  it('a refused refresh falls back to a password login, and the old refresh token is dropped', async () => {
    const [a1, a2] = [jwt('a1'), jwt('a2')];
    nock(BASE)
      .post('/api/v1/auth/login')
      .reply(200, { AccessToken: a1, RefreshNonce: 'n1' }, { 'Set-Cookie': `RefreshToken_8200=r1; ${REFRESH_PATH}` })
      .post('/api/v1/auth/refresh')
      .reply(401, { Error: 'Failed to refresh token', Code: 401 })
      .post('/api/v1/auth/login')
      .reply(200, { AccessToken: a2, RefreshNonce: null });
    nock(BASE)
      .get('/api/v1/backups')
      .reply(401, '')
      .get('/api/v1/backups')
      .matchHeader('authorization', `Bearer ${a2}`)
      .reply(200, []);
    nock(BASE).get('/api/v1/backups').matchHeader('authorization', `Bearer ${a2}`).reply(401, '');
    nock(BASE).post('/api/v1/auth/login').reply(200, { AccessToken: a1 });
    nock(BASE).get('/api/v1/backups').reply(200, []);
    const dup = client21();
    await expect(dup.backups.list()).resolves.toEqual([]);
    // No refresh cookie left: the next 401 goes straight to a login, never to a replayed r1.
    await expect(dup.backups.list()).resolves.toEqual([]);
    expect(nock.isDone()).toBe(true);
  });

  it('2.1.0.x: no refresh cookie or nonce, so a 401 means a new login', async () => {
    const [a1, a2] = [jwt('a1'), jwt('a2')];
    nock(BASE)
      .post('/api/v1/auth/login')
      .reply(200, { AccessToken: a1 })
      .get('/api/v1/serverstate')
      .reply(401, '')
      .post('/api/v1/auth/login')
      .reply(200, { AccessToken: a2 })
      .get('/api/v1/serverstate')
      .matchHeader('authorization', `Bearer ${a2}`)
      .reply(200, serverState(9));
    expect((await client21().server.state()).lastEventId).toBe(9);
    expect(nock.isDone()).toBe(true);
  });

  it('refreshes ahead of expiry instead of waiting for a 401', async () => {
    const soon = jwt('a1', Math.floor(Date.now() / 1000) + 5);
    const fresh = jwt('a2');
    nock(BASE)
      .post('/api/v1/auth/login')
      .reply(200, { AccessToken: soon, RefreshNonce: 'n1' }, { 'Set-Cookie': `RefreshToken_8200=r1; ${REFRESH_PATH}` })
      .get('/api/v1/serverstate')
      .reply(200, serverState(1))
      .post('/api/v1/auth/refresh', { Nonce: 'n1' })
      .reply(200, { AccessToken: fresh, RefreshNonce: 'n2' }, { 'Set-Cookie': `RefreshToken_8200=r2; ${REFRESH_PATH}` })
      .get('/api/v1/serverstate')
      .matchHeader('authorization', `Bearer ${fresh}`)
      .reply(200, serverState(2));
    const dup = client21();
    await dup.server.state();
    expect((await dup.server.state()).lastEventId).toBe(2);
    expect(nock.isDone()).toBe(true);
  });

  it('wrong password: DuplicatiAuthenticationError, not retried, password nowhere', async () => {
    const password = 'wrong-Passw0rd-xyz';
    nock(BASE).post('/api/v1/auth/login').once().reply(401, { Error: 'Failed to log in', Code: 401 });
    const err = await client21({ auth: { type: 'password', password } })
      .backups.list()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DuplicatiAuthenticationError);
    expect(dumpError(err)).not.toContain(password);
    expect(nock.isDone()).toBe(true);
  });

  it('passwordFile: reads the file and strips the trailing newline (docker _FILE convention)', async () => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const dir = await mkdtemp(path.join(tmpdir(), 'dk-dup-'));
    try {
      const file = path.join(dir, 'pw');
      await writeFile(file, 'from-file-pw\n');
      nock(BASE)
        .post('/api/v1/auth/login', { Password: 'from-file-pw', RememberMe: false })
        .reply(200, { AccessToken: jwt('a') })
        .get('/api/v1/backups')
        .reply(200, []);
      await expect(client21({ auth: { type: 'password', passwordFile: file } }).backups.list()).resolves.toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('token strategies', () => {
  it('preAuth sends `Authorization: PreAuth <token>` and a 401 is final', async () => {
    const token = 'preauth_token-123456';
    nock(BASE)
      .get('/api/v1/backups')
      .matchHeader('authorization', `PreAuth ${token}`)
      .reply(200, [])
      .get('/api/v1/backups')
      .once()
      .reply(401, '');
    const dup = new DuplicatiClient({ baseUrl: BASE, auth: { type: 'preAuth', token } });
    await expect(dup.backups.list()).resolves.toEqual([]);
    const err = await dup.backups.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DuplicatiAuthenticationError);
    expect(dumpError(err)).not.toContain(token);
    expect(await dup.generation()).toBe('2.1');
  });

  it('token sends a static bearer token', async () => {
    const token = jwt('forever');
    nock(BASE).get('/api/v1/backups').matchHeader('authorization', `Bearer ${token}`).reply(200, []);
    const dup = new DuplicatiClient({ baseUrl: BASE, auth: { type: 'token', token } });
    await expect(dup.backups.list()).resolves.toEqual([]);
  });
});

describe('generation detection without credentials', () => {
  it('Kestrel server header means 2.1+', async () => {
    nock(BASE).get('/').reply(200, 'ok', { Server: 'Kestrel' });
    const dup = new DuplicatiClient({ baseUrl: BASE, auth: { type: 'password', password: 'x-pass-word' } });
    expect(await dup.generation()).toBe('2.1');
  });

  it('/health = 200 means 2.1+ when the server header is hidden', async () => {
    nock(BASE).get('/').reply(302, '', { Location: '/ngclient/' }).get('/health').reply(200, 'Healthy');
    const dup = new DuplicatiClient({ baseUrl: BASE, auth: { type: 'password', password: 'x-pass-word' } });
    expect(await dup.generation()).toBe('2.1');
  });

  it('a login.cgi nonce means 2.0.x when nothing else tells', async () => {
    nock(BASE)
      .get('/')
      .reply(302, '')
      .get('/health')
      .reply(404, '')
      .post('/login.cgi', 'get-nonce=1')
      .reply(200, '\uFEFF{"Status":"OK","Nonce":"AAAA","Salt":"BBBB"}');
    const dup = new DuplicatiClient({ baseUrl: BASE, auth: { type: 'password', password: 'x-pass-word' } });
    expect(await dup.generation()).toBe('2.0');
  });
});
