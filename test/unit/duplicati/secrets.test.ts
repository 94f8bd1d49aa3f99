/**
 * Real secrets flow through every error path; none may show in a message, JSON, util.inspect of
 * the error (causes included), or any log line.
 */
import axios, { AxiosError, type InternalAxiosRequestConfig } from 'axios';
import nock from 'nock';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  DuplicatiClient,
  DuplicatiConflictError,
  DuplicatiConnectionError,
  DuplicatiSchemaError,
  DuplicatiServerError,
  DuplicatiTimeoutError,
} from '../../../src/duplicati/index.js';
import { BASE, captureLogger, dumpError, jwt } from './helpers.js';

const PASSWORD = 'Pw-hunter2-Secret';
const XSRF = 'XsrfValue+With/Plus=';
const SESSION = 'SessionAuthCookieValue123';
const PASSPHRASE = 'Passphrase-Of-The-Family';
const URL_USER = 'backupuser';
const URL_PASS = 'UrlPassw0rd!';
const QUERY_PASS = 'QueryS3cretValue';
const TARGET = `ssh://${URL_USER}:${encodeURIComponent(URL_PASS)}@nas.local/backups?auth-password=${QUERY_PASS}`;
const ACCESS = jwt('access');
const ALL = [
  PASSWORD,
  XSRF,
  encodeURIComponent(XSRF),
  SESSION,
  PASSPHRASE,
  URL_PASS,
  encodeURIComponent(URL_PASS),
  QUERY_PASS,
  ACCESS,
];

beforeAll(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());

function expectNoSecret(text: string): void {
  for (const s of ALL) expect(text, `leaked ${s}`).not.toContain(s);
}

/** A 2.0.x server that lets the client log in. */
function legacyLogin(): void {
  nock(BASE)
    .get('/')
    .reply(302, '', { 'Set-Cookie': `xsrf-token=${encodeURIComponent(XSRF)}; path=/`, Server: 'Tiny WebServer' })
    .post('/login.cgi', 'get-nonce=1')
    .reply(200, '\uFEFF{"Status":"OK","Nonce":"bm9uY2U=","Salt":"c2FsdA=="}', {
      'Set-Cookie': 'session-nonce=bm9uY2U%3D; path=/',
    })
    .post('/login.cgi', /^password=/)
    .reply(200, '\uFEFF{"Status":"OK"}', { 'Set-Cookie': `session-auth=${SESSION}; path=/` });
}

/**
 * An axios instance whose requests to `failPath` fail like a reset socket: an AxiosError holding
 * the request config (headers with the cookie and XSRF token) and a message with secrets in it.
 */
function failingAxios(failPath: string, leak = PASSWORD): ReturnType<typeof axios.create> {
  const instance = axios.create();
  const http = axios.getAdapter('http');
  instance.defaults.adapter = async (config: InternalAxiosRequestConfig) => {
    if (new URL(config.url ?? '').pathname !== failPath) return http(config);
    const cookie = String(config.headers.Cookie ?? '');
    throw new AxiosError(`socket hang up ${leak} Cookie: ${cookie} url ${config.url}`, 'ECONNRESET', config, {});
  };
  return instance;
}

function legacyClient(
  logger = captureLogger(),
  extra: { axios?: ReturnType<typeof axios.create> } = {},
): { dup: DuplicatiClient; logger: ReturnType<typeof captureLogger> } {
  const dup = new DuplicatiClient({
    ...extra,
    baseUrl: BASE,
    auth: { type: 'password', password: PASSWORD },
    logger,
    maxRetries: 1,
    retryMinDelayMs: 1,
    timeout: 2000,
  });
  return { dup, logger };
}

function check(err: unknown, logger: { lines: string[] }): void {
  expectNoSecret(dumpError(err));
  expectNoSecret(logger.lines.join('\n'));
}

describe('no secret leaks through any error path (2.0.x session)', () => {
  it('the XSRF header is sent decoded, and a 500 echoing the target URL and passphrase is redacted', async () => {
    legacyLogin();
    nock(BASE)
      .post('/api/v1/backups')
      .matchHeader('x-xsrf-token', XSRF)
      .reply(500, `\uFEFF{"Message":"Unable to save ${TARGET} with passphrase ${PASSPHRASE}","Type":"X"}`);
    const { dup, logger } = legacyClient();
    const err = await dup.backups
      .create({
        name: 'photos',
        targetUrl: TARGET,
        sources: ['/srv/photos/'],
        settings: [{ name: 'passphrase', value: PASSPHRASE }],
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DuplicatiServerError);
    expect((err as Error).message).toContain('Unable to save ssh://***@nas.local/backups?auth-password=***');
    check(err, logger);
  });

  it('409 echoing the name and URL', async () => {
    legacyLogin();
    nock(BASE).post('/api/v1/backups').reply(409, `{"Error":"exists: ${TARGET}"}`);
    const { dup, logger } = legacyClient();
    const err = await dup.backups.create({ name: 'p', targetUrl: TARGET, sources: ['/x/'] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DuplicatiConflictError);
    check(err, logger);
  });

  it('a socket error whose message carries the password and cookie becomes a sanitised cause', async () => {
    legacyLogin();
    const { dup, logger } = legacyClient(undefined, { axios: failingAxios('/api/v1/backups') });
    const err = await dup.backups.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DuplicatiConnectionError);
    const cause = (err as Error).cause as Error & { code?: string };
    expect(cause.code).toBe('ECONNRESET');
    // No axios internals (config, request, headers) survive into the cause.
    expect(Object.keys(cause).sort()).toEqual(['code', 'name']);
    expect(dumpError(err)).not.toMatch(/config|headers|_header/i);
    check(err, logger);
  });

  it('a timeout', async () => {
    legacyLogin();
    nock(BASE).get('/api/v1/serverstate').times(2).delay(500).reply(200, '{}');
    const { dup, logger } = legacyClient();
    const err = await dup.server.state({ timeout: 50 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DuplicatiTimeoutError);
    check(err, logger);
  });

  it('a schema mismatch on a body carrying secrets names the field, not the values', async () => {
    legacyLogin();
    nock(BASE)
      .get('/api/v1/backup/1')
      .reply(200, {
        success: true,
        data: { Backup: { ID: '1', Name: 'x', TargetURL: 42, Settings: [{ Name: 'passphrase', Value: PASSPHRASE }] } },
      });
    const { dup, logger } = legacyClient();
    const err = await dup.backups.get('1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DuplicatiSchemaError);
    expect(err).toMatchObject({ method: 'GET', path: '/api/v1/backup/1' });
    expect((err as DuplicatiSchemaError).fields.some((f) => f.includes('TargetURL'))).toBe(true);
    expect((err as Error).message).toContain('backups.get');
    check(err, logger);
  });

  it('a restore passphrase echoed by a 400', async () => {
    legacyLogin();
    nock(BASE)
      .post('/api/v1/backup/1/restore', (body: unknown) => JSON.stringify(body).includes('passphrase'))
      .reply(400, `{"Error":"Wrong passphrase ${PASSPHRASE}"}`);
    const { dup, logger } = legacyClient();
    const err = await dup.backups
      .restore('1', { time: '2026-11-29T06:58:58+00:00', to: '/restore', passphrase: PASSPHRASE })
      .catch((e: unknown) => e);
    expect((err as { status?: number }).status).toBe(400);
    check(err, logger);
  });

  it('a 401 after renewing (session cookie and XSRF value in play)', async () => {
    legacyLogin();
    legacyLogin();
    nock(BASE).get('/api/v1/backups').times(2).reply(401, '');
    // The second login happens without GET / because the XSRF cookie is still valid.
    nock.removeInterceptor({ hostname: 'duplicati.test', port: 8200, path: '/', method: 'GET' });
    const { dup, logger } = legacyClient();
    const err = await dup.backups.list().catch((e: unknown) => e);
    expect((err as { status?: number }).status).toBe(401);
    check(err, logger);
  });

  it('jobs.apply diffs never show the passphrase or URL credentials', async () => {
    legacyLogin();
    nock(BASE).get('/api/v1/backups').reply(200, '\uFEFF[]');
    const { dup, logger } = legacyClient();
    const r = await dup.jobs.apply(
      { name: 'photos', sources: ['/srv/photos/'], target: TARGET, passphrase: PASSPHRASE },
      { dryRun: true },
    );
    expect(r.action).toBe('create');
    expectNoSecret(JSON.stringify(r));
    expectNoSecret(logger.lines.join('\n'));
  });

  it('the client itself does not dump its session through util.inspect or JSON', async () => {
    legacyLogin();
    nock(BASE).get('/api/v1/backups').reply(200, '\uFEFF[]');
    const { dup } = legacyClient();
    await dup.backups.list();
    expectNoSecret(dumpError(dup));
  });

  it('credentials inside the base URL are redacted too', async () => {
    const dup = new DuplicatiClient({
      baseUrl: `http://admin:${URL_PASS}@duplicati.test:8200`,
      auth: { type: 'token', token: ACCESS },
      maxRetries: 0,
      axios: failingAxios('/api/v1/backups', URL_PASS),
    });
    const err = await dup.backups.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DuplicatiConnectionError);
    expectNoSecret(dumpError(err));
    expectNoSecret(dup.baseUrl);
  });
});
