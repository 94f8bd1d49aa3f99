/**
 * Authentication strategies: the 2.0.x nonce + salted SHA-256 login with XSRF header and
 * `session-auth` cookie, the 2.1+ JWT login with a rotating refresh cookie, pre-auth tokens
 * (2.1.2+) and static bearer tokens; plus generation detection without credentials.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { raceSignal } from '../core/abort.js';
import { DuplicatiAuthenticationError, DuplicatiError } from '../core/errors.js';
import type { AuthStrategy, Generation, HttpCore, RawResponse } from './http.js';

/** Run `fn` once for all concurrent callers; each caller may abandon the wait with its own signal. */
class SingleFlight<T> {
  #pending: Promise<T> | undefined;
  run(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (!this.#pending) {
      const p = fn();
      this.#pending = p;
      const clear = (): void => {
        if (this.#pending === p) this.#pending = undefined;
      };
      p.then(clear, clear);
    }
    return raceSignal(this.#pending, signal);
  }
}

/**
 * Find out which server generation answers at the base URL, without credentials:
 * `Server: Tiny WebServer` or an `xsrf-token` cookie on `GET /` means 2.0.x; `Server: Kestrel` or
 * `GET /health` = 200 means 2.1+; a `login.cgi` nonce probe settles the rest.
 */
export async function detectGeneration(core: HttpCore, signal?: AbortSignal): Promise<Generation> {
  const op = 'auth.detect';
  const root = await core.exchange('GET', '/', { operation: op, signal });
  const server = String(root.headers.server ?? '');
  if (/tiny webserver/i.test(server) || core.jar.get('xsrf-token') !== undefined) return '2.0';
  if (/kestrel/i.test(server)) return '2.1';
  const health = await core.exchange('GET', '/health', { operation: op, signal });
  if (health.status === 200) return '2.1';
  const probe = await core.exchange('POST', '/login.cgi', {
    operation: op,
    signal,
    body: { form: { 'get-nonce': '1' } },
  });
  if (probe.status === 200 && /"Nonce"/.test(core.text(probe))) return '2.0';
  throw new DuplicatiError(
    `Could not tell which Duplicati generation answers at ${core.scrub(core.baseUrl)} (no 2.0.x or 2.1+ signature)`,
    { secrets: core.secrets() },
  );
}

/** Where a password comes from. */
export type PasswordSource = { readonly password: string } | { readonly passwordFile: string };

async function loadPassword(src: PasswordSource, core: HttpCore, signal?: AbortSignal): Promise<string> {
  if ('password' in src) return src.password;
  let text: string;
  try {
    text = await readFile(src.passwordFile, { encoding: 'utf8', ...(signal ? { signal } : {}) });
  } catch (e) {
    if (signal?.aborted) throw signal.reason;
    throw new DuplicatiError(`Cannot read the Duplicati password file ${src.passwordFile}`, {
      cause: e,
      code: 'ERR_DUPLICATI_PASSWORD_FILE',
    });
  }
  // Docker secrets and `echo pw > file` end with a newline that is not part of the password.
  const pw = text.replace(/\r?\n$/, '');
  core.addSecret(pw);
  return pw;
}

/**
 * Compute the 2.0.x login proof: base64(SHA256(nonce ‖ SHA256(utf8(pw) ‖ salt))).
 *
 * @example
 * ```ts
 * const proof = legacyLoginProof('pw', nonceFromServer, saltFromServer); // POST /login.cgi password=<proof>
 * ```
 */
export function legacyLoginProof(password: string, nonceB64: string, saltB64: string): string {
  const salted = createHash('sha256')
    .update(Buffer.from(password, 'utf8'))
    .update(Buffer.from(saltB64, 'base64'))
    .digest();
  return createHash('sha256').update(Buffer.from(nonceB64, 'base64')).update(salted).digest('base64');
}

const nonceSchema = z.object({ Nonce: z.string().min(1), Salt: z.string().min(1) });

function authFailed(core: HttpCore, res: RawResponse, method: string, path: string, what: string): never {
  try {
    core.assertOk(res, method, path);
  } catch (e) {
    if (e instanceof DuplicatiAuthenticationError) {
      throw new DuplicatiAuthenticationError(
        `${what}: the server refused the credentials`,
        {
          status: e.status,
          method: e.method,
          path: e.path,
          ...(e.body === undefined ? {} : { body: e.body }),
          ...(e.statusText === undefined ? {} : { statusText: e.statusText }),
        },
        { secrets: core.secrets() },
      );
    }
    throw e;
  }
  throw new DuplicatiError(`${what}: unexpected HTTP ${res.status}`, { secrets: core.secrets() });
}

/** 2.0.x: nonce + salted SHA-256 via /login.cgi, `session-auth` cookie, `X-XSRF-Token` header. */
export class LegacyPasswordAuth implements AuthStrategy {
  readonly type = 'password-2.0';
  readonly #core: HttpCore;
  readonly #source: PasswordSource;
  readonly #flight = new SingleFlight<number>();
  #epoch = 0;
  #loggedIn = false;

  constructor(core: HttpCore, source: PasswordSource) {
    this.#core = core;
    this.#source = source;
  }

  #xsrfHeader(): Record<string, string> {
    const raw = this.#core.jar.get('xsrf-token');
    // The cookie is URL-encoded; the header must carry the decoded value.
    return raw ? { 'X-XSRF-Token': decodeURIComponent(raw) } : {};
  }

  async #login(signal?: AbortSignal): Promise<number> {
    const core = this.#core;
    const op = 'auth.login';
    const password = await loadPassword(this.#source, core, signal);
    core.jar.delete('session-auth');
    if (!core.jar.get('xsrf-token')) await core.exchange('GET', '/', { operation: op, signal });
    const nonceRes = await core.exchange('POST', '/login.cgi', {
      operation: op,
      signal,
      headers: this.#xsrfHeader(),
      body: { form: { 'get-nonce': '1' } },
    });
    core.assertOk(nonceRes, 'POST', '/login.cgi');
    const { Nonce, Salt } = core.parse(nonceSchema, nonceRes, { operation: op, method: 'POST', path: '/login.cgi' });
    const proof = legacyLoginProof(password, Nonce, Salt);
    core.addSecret(proof);
    const res = await core.exchange('POST', '/login.cgi', {
      operation: op,
      signal,
      headers: this.#xsrfHeader(),
      body: { form: { password: proof } },
      secrets: [proof],
    });
    if (res.status !== 200 || !core.jar.get('session-auth')) authFailed(core, res, 'POST', '/login.cgi', 'Login');
    core.jar.delete('session-nonce');
    this.#loggedIn = true;
    this.#epoch += 1;
    core.logger.debug('duplicati login', { generation: '2.0' });
    return this.#epoch;
  }

  async authorize(signal?: AbortSignal): Promise<{ headers: Record<string, string>; epoch: number }> {
    const epoch = this.#loggedIn ? this.#epoch : await this.#flight.run(() => this.#login(), signal);
    return { headers: this.#xsrfHeader(), epoch };
  }

  isSessionFailure(res: RawResponse): boolean {
    return res.status === 401 || (res.status === 400 && /xsrf/i.test(res.statusText));
  }

  async renew(epoch: number, signal?: AbortSignal, res?: RawResponse): Promise<boolean> {
    if (epoch === this.#epoch) {
      this.#loggedIn = false;
      // A stale XSRF token (10 min sliding) is replaced by fetching a fresh one before logging in again.
      if (res?.status === 400) this.#core.jar.delete('xsrf-token');
      await this.#flight.run(() => this.#login(), signal);
    }
    return true;
  }

  async logout(signal?: AbortSignal): Promise<void> {
    if (!this.#loggedIn) return;
    this.#loggedIn = false;
    const res = await this.#core.exchange('POST', '/logout.cgi', {
      operation: 'auth.logout',
      signal,
      headers: this.#xsrfHeader(),
      body: { form: {} },
    });
    this.#core.jar.delete('session-auth');
    this.#core.assertOk(res, 'POST', '/logout.cgi');
  }
}

const tokenSchema = z.object({ AccessToken: z.string().min(1), RefreshNonce: z.string().nullish() });

function jwtExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * 2.1+: `POST /api/v1/auth/login` gives a JWT (15 min) and a one-time refresh cookie
 * `RefreshToken_<port>` plus a `RefreshNonce` (2.1.2+). Refresh rotates both; a failed refresh
 * falls back to a password login. An old refresh token is never sent twice: the server treats a
 * replay as theft and revokes the whole token family.
 */
export class JwtPasswordAuth implements AuthStrategy {
  readonly type = 'password-2.1';
  readonly #core: HttpCore;
  readonly #source: PasswordSource;
  readonly #rememberMe: boolean;
  readonly #flight = new SingleFlight<number>();
  #epoch = 0;
  #token: string | undefined;
  #expiresAt: number | undefined;
  #nonce: string | undefined;

  constructor(core: HttpCore, source: PasswordSource, rememberMe = false) {
    this.#core = core;
    this.#source = source;
    this.#rememberMe = rememberMe;
  }

  #accept(res: RawResponse, op: string, path: string): number {
    const parsed = this.#core.parse(tokenSchema, res, { operation: op, method: 'POST', path });
    this.#token = parsed.AccessToken;
    this.#expiresAt = jwtExpiry(parsed.AccessToken);
    this.#nonce = parsed.RefreshNonce ?? undefined;
    this.#core.addSecret(parsed.AccessToken, parsed.RefreshNonce);
    this.#epoch += 1;
    return this.#epoch;
  }

  #refreshCookie(): string | undefined {
    return this.#core.jar.findName('RefreshToken_');
  }

  #dropRefresh(): void {
    const name = this.#refreshCookie();
    if (name) this.#core.jar.delete(name);
    this.#nonce = undefined;
  }

  async #login(signal?: AbortSignal): Promise<number> {
    const core = this.#core;
    const path = '/api/v1/auth/login';
    const password = await loadPassword(this.#source, core, signal);
    const res = await core.exchange('POST', path, {
      operation: 'auth.login',
      signal,
      body: { json: { Password: password, RememberMe: this.#rememberMe } },
      secrets: [password],
    });
    if (res.status !== 200) authFailed(core, res, 'POST', path, 'Login');
    core.logger.debug('duplicati login', { generation: '2.1' });
    return this.#accept(res, 'auth.login', path);
  }

  async #refreshOrLogin(signal?: AbortSignal): Promise<number> {
    const core = this.#core;
    const path = '/api/v1/auth/refresh';
    if (this.#refreshCookie()) {
      const body = this.#nonce ? { json: { Nonce: this.#nonce } } : undefined;
      try {
        const res = await core.exchange('POST', path, { operation: 'auth.refresh', signal, body });
        if (res.status === 200) {
          core.logger.debug('duplicati token refreshed');
          return this.#accept(res, 'auth.refresh', path);
        }
        core.logger.debug('duplicati refresh refused, logging in again', { status: res.status });
      } catch (e) {
        // Whether the server rotated the token is unknown: never send this one again.
        this.#dropRefresh();
        throw e;
      }
      this.#dropRefresh();
    }
    return this.#login(signal);
  }

  async authorize(signal?: AbortSignal): Promise<{ headers: Record<string, string>; epoch: number }> {
    const stale = this.#expiresAt !== undefined && this.#expiresAt - 30_000 <= Date.now();
    let epoch = this.#epoch;
    if (!this.#token) epoch = await this.#flight.run(() => this.#login(), signal);
    else if (stale) epoch = await this.#flight.run(() => this.#refreshOrLogin(), signal);
    return { headers: { Authorization: `Bearer ${this.#token}` }, epoch };
  }

  isSessionFailure(res: RawResponse): boolean {
    return res.status === 401;
  }

  async renew(epoch: number, signal?: AbortSignal): Promise<boolean> {
    if (epoch === this.#epoch) await this.#flight.run(() => this.#refreshOrLogin(), signal);
    return true;
  }

  async logout(signal?: AbortSignal): Promise<void> {
    const name = this.#refreshCookie();
    this.#token = undefined;
    if (!name) return;
    const body = this.#nonce ? { json: { Nonce: this.#nonce } } : undefined;
    try {
      await this.#core.exchange('POST', '/api/v1/auth/refresh/logout', { operation: 'auth.logout', signal, body });
    } finally {
      this.#dropRefresh();
    }
  }
}

/** A fixed token: `Authorization: PreAuth <t>` (2.1.2+ pre-auth) or `Bearer <t>` (forever token). */
export class StaticTokenAuth implements AuthStrategy {
  readonly type: string;
  readonly #header: string;
  constructor(core: HttpCore, scheme: 'PreAuth' | 'Bearer', token: string) {
    this.type = scheme === 'PreAuth' ? 'preAuth' : 'token';
    this.#header = `${scheme} ${token}`;
    core.addSecret(token);
  }
  async authorize(): Promise<{ headers: Record<string, string>; epoch: number }> {
    return { headers: { Authorization: this.#header }, epoch: 1 };
  }
  isSessionFailure(): boolean {
    return false;
  }
  async renew(): Promise<boolean> {
    return false;
  }
  async logout(): Promise<void> {}
}
