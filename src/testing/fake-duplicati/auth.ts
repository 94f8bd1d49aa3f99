/**
 * Authentication state of the fake: the 2.0.x nonce + salted SHA-256 login with sessions and
 * XSRF tokens, and the 2.1+ JWT access tokens with rotating refresh tokens.
 *
 * @module
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const sha256 = (...parts: Buffer[]): Buffer => createHash('sha256').update(Buffer.concat(parts)).digest();

function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Sliding-expiry token table. */
class TokenTable {
  private readonly map = new Map<string, number>();
  constructor(private readonly limit: number) {}
  issue(token: string, expires: number): void {
    if (this.map.size >= this.limit) {
      const oldest = this.map.keys().next().value;
      if (oldest !== undefined) this.map.delete(oldest);
    }
    this.map.set(token, expires);
  }
  valid(token: string | undefined, now: number): boolean {
    if (token === undefined) return false;
    const exp = this.map.get(token);
    if (exp === undefined) return false;
    if (exp <= now) {
      this.map.delete(token);
      return false;
    }
    return true;
  }
  touch(token: string, expires: number): void {
    if (this.map.has(token)) this.map.set(token, expires);
  }
  delete(token: string): void {
    this.map.delete(token);
  }
  clear(): void {
    this.map.clear();
  }
  get size(): number {
    return this.map.size;
  }
}

/** 2.0.x: `/login.cgi` challenge, `session-auth` sessions and `xsrf-token`s. */
export class Auth20 {
  static readonly XSRF_LIFETIME_MS = 10 * 60_000;
  static readonly NONCE_LIFETIME_MS = 10 * 60_000;
  readonly xsrf = new TokenTable(500);
  readonly sessions = new TokenTable(10_000);
  private readonly nonces = new TokenTable(50);
  private salt = randomBytes(32);
  private stored: Buffer | undefined;

  constructor(
    private password: string | null,
    readonly sessionLifetimeMs: number,
  ) {
    this.rehash();
  }

  /** `--webservice-password` re-salts the stored hash on every start, as the real server does. */
  rehash(): void {
    this.salt = randomBytes(32);
    this.stored = this.password === null ? undefined : sha256(Buffer.from(this.password, 'utf8'), this.salt);
  }

  get passwordRequired(): boolean {
    return this.stored !== undefined;
  }

  /** A fresh XSRF token (base64 of 32 random bytes). */
  newXsrf(now: number): string {
    const t = randomBytes(32).toString('base64');
    this.xsrf.issue(t, now + Auth20.XSRF_LIFETIME_MS);
    return t;
  }

  /** `get-nonce=1`: a single-use nonce and the salt. */
  newNonce(now: number): { nonce: string; salt: string } {
    const nonce = randomBytes(32).toString('base64');
    this.nonces.issue(nonce, now + Auth20.NONCE_LIFETIME_MS);
    return { nonce, salt: this.salt.toString('base64') };
  }

  /**
   * Check `password=<proof>` against the nonce of the `session-nonce` cookie:
   * proof = base64(SHA256(nonce ‖ SHA256(utf8(password) ‖ salt))). The nonce is spent either way.
   */
  login(nonce: string | undefined, proof: string | undefined, now: number): string | undefined {
    if (nonce === undefined || proof === undefined || !this.nonces.valid(nonce, now)) return undefined;
    this.nonces.delete(nonce);
    if (!this.stored) return undefined;
    const expected = sha256(Buffer.from(nonce, 'base64'), this.stored);
    if (!safeEqual(expected, Buffer.from(proof, 'base64'))) return undefined;
    const session = randomBytes(32).toString('base64url');
    this.sessions.issue(session, now + this.sessionLifetimeMs);
    return session;
  }

  /** Drop everything a restart loses. */
  reset(): void {
    this.xsrf.clear();
    this.sessions.clear();
    this.nonces.clear();
    this.rehash();
  }
}

/** Claims the fake puts in its JWTs. */
export interface JwtClaims {
  typ: 'AccessToken' | 'RefreshToken';
  sid: string;
  fam: string;
  cnt: number;
  nce?: string;
  iat: number;
  nbf: number;
  exp: number;
  /** Expiry in milliseconds, so tests can use lifetimes below a second. */
  xms: number;
  /** Generation of access tokens; `expireTokens()` bumps it. */
  gen: number;
  /** A RememberMe (long-lived) refresh token. */
  lng?: boolean;
  iss: string;
  aud: string;
}

interface Family {
  counter: number;
  lastRotation: number;
  nonceHash: string | undefined;
}

/** Why an access token was refused. */
export type AccessRejection = 'missing' | 'invalid' | 'expired';

/** 2.1+: HS256 JWTs, token families, refresh rotation with reuse detection. */
export class Auth21 {
  private key = randomBytes(32);
  private readonly families = new Map<string, Family>();
  private generation = 0;
  foreverTokenIssued = false;

  constructor(
    private readonly password: string | null,
    readonly accessLifetimeMs: number,
    readonly refreshLifetimeMs: number,
    readonly shortRefreshLifetimeMs: number,
  ) {}

  get passwordRequired(): boolean {
    return this.password !== null;
  }

  checkPassword(candidate: unknown): boolean {
    if (this.password === null) return true;
    if (typeof candidate !== 'string') return false;
    return safeEqual(sha256(Buffer.from(candidate, 'utf8')), sha256(Buffer.from(this.password, 'utf8')));
  }

  private sign(claims: JwtClaims): string {
    const enc = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const head = `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc(claims)}`;
    return `${head}.${createHmac('sha256', this.key).update(head).digest('base64url')}`;
  }

  /** Verify signature and shape; undefined when the token is not one of ours. */
  decode(token: string): JwtClaims | undefined {
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    const [h, p, s] = parts as [string, string, string];
    const expected = createHmac('sha256', this.key).update(`${h}.${p}`).digest();
    if (!safeEqual(expected, Buffer.from(s, 'base64url'))) return undefined;
    try {
      return JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as JwtClaims;
    } catch {
      return undefined;
    }
  }

  private claims(
    typ: JwtClaims['typ'],
    sid: string,
    fam: string,
    cnt: number,
    lifetimeMs: number,
    now: number,
  ): JwtClaims {
    const xms = now + lifetimeMs;
    return {
      typ,
      sid,
      fam,
      cnt,
      iat: Math.floor(now / 1000),
      nbf: Math.floor(now / 1000),
      exp: Math.ceil(xms / 1000),
      xms,
      gen: this.generation,
      iss: 'https://duplicati',
      aud: 'https://duplicati',
    };
  }

  /** Start a token family: access token plus (optionally) a refresh token and its nonce. */
  issue(
    now: number,
    opts: { refresh: boolean; longRefresh: boolean; withNonce: boolean; sid?: string; lifetimeMs?: number },
  ): { access: string; refresh?: string; nonce?: string; family: string } {
    const family = randomBytes(12).toString('base64url');
    this.families.set(family, { counter: 0, lastRotation: now, nonceHash: undefined });
    return { family, ...this.mint(family, 0, now, opts) };
  }

  private mint(
    family: string,
    cnt: number,
    now: number,
    opts: { refresh: boolean; longRefresh: boolean; withNonce: boolean; sid?: string; lifetimeMs?: number },
  ): { access: string; refresh?: string; nonce?: string } {
    const sid = opts.sid ?? 'webserver';
    const access = this.sign(
      this.claims('AccessToken', sid, family, cnt, opts.lifetimeMs ?? this.accessLifetimeMs, now),
    );
    if (!opts.refresh) return { access };
    const fam = this.families.get(family) as Family;
    const lifetime = opts.longRefresh ? this.refreshLifetimeMs : this.shortRefreshLifetimeMs;
    const claims = this.claims('RefreshToken', sid, family, cnt, lifetime, now);
    claims.lng = opts.longRefresh;
    let nonce: string | undefined;
    if (opts.withNonce) {
      nonce = randomBytes(24).toString('base64');
      fam.nonceHash = createHash('sha256').update(nonce).digest('base64');
      claims.nce = fam.nonceHash;
    }
    return { access, refresh: this.sign(claims), ...(nonce === undefined ? {} : { nonce }) };
  }

  /**
   * Rotate a refresh token. A token behind its family's counter is a replay: the whole family is
   * revoked (the server's "Token family re-use detected").
   */
  refresh(
    token: string,
    nonce: unknown,
    now: number,
    opts: { requireNonce: boolean },
  ):
    | { ok: true; access: string; refresh: string; nonce?: string; longRefresh: boolean }
    | { ok: false; reused: boolean } {
    const c = this.decode(token);
    if (c?.typ !== 'RefreshToken' || c.xms <= now) return { ok: false, reused: false };
    const fam = this.families.get(c.fam);
    if (!fam) return { ok: false, reused: false };
    if (c.cnt !== fam.counter) {
      this.families.delete(c.fam);
      return { ok: false, reused: true };
    }
    if (opts.requireNonce || c.nce !== undefined) {
      const given = typeof nonce === 'string' ? createHash('sha256').update(nonce).digest('base64') : undefined;
      if (given === undefined || given !== fam.nonceHash) return { ok: false, reused: false };
    }
    fam.counter++;
    fam.lastRotation = now;
    const longRefresh = c.lng === true;
    const minted = this.mint(c.fam, fam.counter, now, {
      refresh: true,
      longRefresh,
      withNonce: opts.requireNonce || c.nce !== undefined,
      sid: c.sid,
    });
    return {
      ok: true,
      access: minted.access,
      refresh: minted.refresh as string,
      longRefresh,
      ...(minted.nonce ? { nonce: minted.nonce } : {}),
    };
  }

  /** Revoke the family of a refresh token (logout). */
  revoke(token: string | undefined): void {
    const c = token === undefined ? undefined : this.decode(token);
    if (c) this.families.delete(c.fam);
  }

  /** Validate a bearer access token. */
  checkAccess(
    token: string,
    now: number,
  ): { ok: true; claims: JwtClaims } | { ok: false; why: AccessRejection; claims?: JwtClaims } {
    const c = this.decode(token);
    if (c?.typ !== 'AccessToken') return { ok: false, why: 'invalid' };
    if (c.fam !== 'temporary' && !this.families.has(c.fam)) return { ok: false, why: 'invalid' };
    if (c.xms <= now || c.gen < this.generation) return { ok: false, why: 'expired', claims: c };
    return { ok: true, claims: c };
  }

  /** A forever token (10 years, family `temporary`). */
  forever(now: number): string {
    this.foreverTokenIssued = true;
    return this.sign(this.claims('AccessToken', 'forever-token', 'temporary', 0, 10 * 365 * 86_400_000, now));
  }

  /** Every access token issued so far counts as expired from now on. */
  expireAccessTokens(): void {
    this.generation++;
  }

  /** A restart that loses all tokens: new signing key, no families. */
  reset(): void {
    this.key = randomBytes(32);
    this.families.clear();
    this.foreverTokenIssued = false;
  }
}
