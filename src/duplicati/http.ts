/**
 * The HTTP core of {@link DuplicatiClient}: one attempt (`exchange`), authentication and
 * re-login (`call`), retries with p-retry, status mapping and zod parsing of the wire format.
 *
 * @module
 */
import type { Agent as HttpsAgent } from 'node:https';
import axios, { type AxiosInstance, type AxiosRequestConfig } from 'axios';
import pRetry from 'p-retry';
import type { z } from 'zod';
import { sleep } from '../core/abort.js';
import {
  DuplicatiConnectionError,
  DuplicatiError,
  DuplicatiRedirectError,
  DuplicatiResponseTooLargeError,
  DuplicatiSchemaError,
  DuplicatiTimeoutError,
  isDuplicatiAPIError,
  isDuplicatiConnectionError,
} from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { redactUrl } from '../core/redact.js';
import { CookieJar } from './cookies.js';
import { SanitizedCause, apiError, scrubPath, scrubText } from './errors.js';

/** Per-call options every client method takes. */
export interface RequestOptions {
  /** Aborts the call (and any retry back-off); the signal's reason is rethrown as it is. */
  readonly signal?: AbortSignal;
  /** Per-attempt timeout in ms; overrides the client's `timeout`. */
  readonly timeout?: number;
  /** Retries for this call; overrides the client's `maxRetries`. */
  readonly maxRetries?: number;
}

/** HTTP methods the client uses. */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

/** A request body: JSON, form fields (2.0.x style) or nothing. */
export type RequestBody = { readonly json: unknown } | { readonly form: Readonly<Record<string, string | undefined>> };

/** Query values; `undefined` entries are left out. */
export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

/** One response as received, body as bytes. */
export interface RawResponse {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

/** The server generation: 2.0.x (mono, login.cgi) or 2.1+ (Kestrel, JWT). */
export type Generation = '2.0' | '2.1';

/** What an auth strategy gives the core. */
export interface AuthStrategy {
  readonly type: string;
  /** Headers for an API request (logging in first, once, when needed) and the session epoch they belong to. */
  authorize(signal?: AbortSignal): Promise<{ headers: Record<string, string>; epoch: number }>;
  /** A request sent with `epoch` was refused with `res`; renew the session once. False when renewing cannot help. */
  renew(epoch: number, signal?: AbortSignal, res?: RawResponse): Promise<boolean>;
  /** True when this response means "session gone" rather than a real error. */
  isSessionFailure(res: RawResponse): boolean;
  /** Ends the session on the server, when there is one. */
  logout(signal?: AbortSignal): Promise<void>;
}

/** Settings of the core, validated by the client. */
export interface HttpCoreOptions {
  readonly baseUrl: string;
  readonly logger: Logger;
  readonly timeout: number;
  readonly maxRetries: number;
  readonly retryMinDelayMs: number;
  readonly maxRetryAfterMs: number;
  readonly httpsAgent?: HttpsAgent | undefined;
  readonly axios?: AxiosInstance | undefined;
}

/** Description of one API call. */
export interface CallSpec<T> {
  readonly method: HttpMethod;
  /** Absolute path, e.g. `/api/v1/backups`. */
  readonly path: string;
  /** Name for errors and logs, e.g. `backups.list`. */
  readonly operation: string;
  readonly query?: Query;
  readonly body?: RequestBody;
  /** Parses the JSON body; omitted: the body is ignored. */
  readonly schema?: z.ZodType<T>;
  /** Safe to retry (idempotent, or de-duplicated by the server). Default: GET/PUT/DELETE. */
  readonly retry?: boolean;
  /** Default true. */
  readonly auth?: boolean;
  /** Extra secrets that travel in this request (a passphrase). */
  readonly secrets?: readonly (string | undefined)[];
}

const RETRY_STATUS = new Set([408, 429, 502, 503, 504]);

/** Largest response body of an ordinary route (settings, states, one backup). */
export const MAX_RESPONSE_BYTES = 8 << 20;
/**
 * Routes whose answer is a list that grows with the data (file listings, logs, versions) get more
 * room; anything bigger is cut off with a {@link DuplicatiResponseTooLargeError} instead of growing
 * the process without bound.
 */
export const MAX_LIST_RESPONSE_BYTES: Readonly<Record<string, number>> = {
  'backups.files': 256 << 20,
  'backups.versions': 64 << 20,
  'backups.log': 64 << 20,
  'backups.remoteLog': 64 << 20,
  'logs.list': 64 << 20,
  'backups.exportConfig': 64 << 20,
  'backups.exportCommandLine': 64 << 20,
  'notifications.list': 64 << 20,
  'backups.list': 64 << 20,
};

/** The body limit of `operation`. */
export function responseLimitOf(operation: string): number {
  return MAX_LIST_RESPONSE_BYTES[operation] ?? MAX_RESPONSE_BYTES;
}
const retryAfterOf = new WeakMap<object, number>();

interface Issue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly errors?: readonly (readonly Issue[])[];
}

/** Union failures hide the real field paths inside their branches; bring them out. */
function flattenIssues(issues: readonly Issue[], prefix: readonly PropertyKey[] = []): Issue[] {
  return issues.flatMap((i) => {
    const path = [...prefix, ...i.path];
    if (i.errors?.length) return i.errors.flatMap((branch) => flattenIssues(branch, path));
    return [{ path, message: i.message }];
  });
}

/** Strip the UTF-8 BOM Duplicati 2.0.x puts in front of every JSON body. */
export function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function buildQuery(query: Query | undefined): string {
  if (!query) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) continue;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

/** The HTTP core. One per client; holds the cookie jar and the secrets to redact. */
export class HttpCore {
  readonly baseUrl: string;
  readonly jar = new CookieJar();
  readonly logger: Logger;
  readonly options: HttpCoreOptions;
  #auth: AuthStrategy | undefined;
  readonly #secrets = new Set<string>();
  readonly #axios: AxiosInstance;

  constructor(options: HttpCoreOptions) {
    this.options = options;
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.logger = options.logger;
    this.#axios = options.axios ?? axios.create();
    // Credentials written into the base URL itself must never show up anywhere.
    try {
      const u = new URL(this.baseUrl);
      if (u.username) this.addSecret(decodeURIComponent(u.username));
      if (u.password) this.addSecret(decodeURIComponent(u.password));
    } catch {
      // validated by the client; nothing to add
    }
  }

  set auth(strategy: AuthStrategy) {
    this.#auth = strategy;
  }

  /** End the session, when the strategy has one. */
  async logout(signal?: AbortSignal): Promise<void> {
    await this.#auth?.logout(signal);
  }

  /** Remember values that must be redacted from every error and log line. */
  addSecret(...values: (string | undefined | null)[]): void {
    for (const v of values) {
      if (typeof v !== 'string' || v.length < 3) continue;
      this.#secrets.add(v);
      try {
        const decoded = decodeURIComponent(v);
        if (decoded !== v) this.#secrets.add(decoded);
      } catch {
        // not URL-encoded
      }
    }
  }

  /** Every secret known now, cookie values included. */
  secrets(extra: readonly (string | undefined)[] = []): string[] {
    const out = new Set(this.#secrets);
    for (const v of this.jar.values()) {
      out.add(v);
      try {
        out.add(decodeURIComponent(v));
      } catch {
        // keep the raw form only
      }
    }
    for (const e of extra) if (e) out.add(e);
    return [...out];
  }

  /** Scrub a text of every known secret. */
  scrub(text: string, extra: readonly (string | undefined)[] = []): string {
    return scrubText(text, this.secrets(extra));
  }

  /**
   * One HTTP attempt: no auth logic, no retry. Stores cookies. Throws
   * {@link DuplicatiConnectionError} / {@link DuplicatiTimeoutError} when there is no response and
   * the caller's abort reason when the caller aborted.
   */
  async exchange(
    method: HttpMethod,
    path: string,
    init: {
      query?: Query | undefined;
      headers?: Record<string, string | undefined>;
      body?: RequestBody | undefined;
      signal?: AbortSignal | undefined;
      timeout?: number | undefined;
      operation: string;
      secrets?: readonly (string | undefined)[] | undefined;
    },
  ): Promise<RawResponse> {
    const fullPath = path + buildQuery(init.query);
    const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': 'duplicati-kit' };
    const cookie = this.jar.header(path);
    if (cookie) headers.Cookie = cookie;
    let data: string | undefined;
    if (init.body && 'json' in init.body) {
      data = JSON.stringify(init.body.json);
      headers['Content-Type'] = 'application/json; charset=utf-8';
    } else if (init.body && 'form' in init.body) {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(init.body.form)) if (v !== undefined) params.append(k, v);
      data = params.toString();
      headers['Content-Type'] = 'application/x-www-form-urlencoded; charset=UTF-8';
    }
    // Tiny WebServer (2.0.x) answers 404 or drops the connection on an empty header value.
    for (const [k, v] of Object.entries(init.headers ?? {})) if (v) headers[k] = v;

    const timeoutMs = init.timeout ?? this.options.timeout;
    const timer = AbortSignal.timeout(timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, timer]) : timer;
    const config: AxiosRequestConfig = {
      method,
      url: this.baseUrl + fullPath,
      headers,
      data,
      signal,
      responseType: 'arraybuffer',
      transformResponse: [(d: unknown) => d],
      validateStatus: () => true,
      // Never followed: a redirect to another origin would carry the session there.
      maxRedirects: 0,
      // Counted after decompression, so a gzip bomb stops at the limit too.
      maxContentLength: responseLimitOf(init.operation),
      decompress: true,
      proxy: false,
      ...(this.options.httpsAgent ? { httpsAgent: this.options.httpsAgent } : {}),
    };
    const started = Date.now();
    const shownPath = scrubPath(fullPath);
    try {
      const res = await this.#axios.request<ArrayBuffer | Buffer>(config);
      const rawHeaders = res.headers as Record<string, string | string[] | undefined>;
      this.jar.store(rawHeaders['set-cookie']);
      const body = Buffer.isBuffer(res.data)
        ? res.data
        : res.data
          ? Buffer.from(res.data as ArrayBuffer)
          : Buffer.alloc(0);
      this.logger.debug('duplicati request', {
        operation: init.operation,
        method,
        path: shownPath,
        status: res.status,
        ms: Date.now() - started,
      });
      return { status: res.status, statusText: res.statusText ?? '', headers: rawHeaders, body };
    } catch (error) {
      if (init.signal?.aborted) throw init.signal.reason;
      const secrets = this.secrets(init.secrets);
      if ((error as { code?: unknown }).code === 'ERR_BAD_RESPONSE' && /maxContentLength/.test(String(error))) {
        const limit = responseLimitOf(init.operation);
        throw new DuplicatiResponseTooLargeError(
          `${method} ${shownPath} (${init.operation}): the response grew past ${limit} bytes and was cut off; is ${this.baseUrl} a Duplicati server?`,
          limit,
          { secrets },
        );
      }
      const cause = new SanitizedCause(error, secrets);
      this.logger.debug('duplicati request failed', {
        operation: init.operation,
        method,
        path: shownPath,
        code: cause.code,
        ms: Date.now() - started,
      });
      if (timer.aborted) {
        throw new DuplicatiTimeoutError(`${method} ${shownPath} timed out after ${timeoutMs} ms`, {
          cause,
          secrets,
        });
      }
      throw new DuplicatiConnectionError(`${method} ${shownPath} failed: ${cause.message}`, { cause, secrets });
    }
  }

  #redirect(
    method: string,
    shownPath: string,
    status: number,
    headers: Readonly<Record<string, string | string[] | undefined>>,
  ): DuplicatiRedirectError {
    const raw = headers.location;
    const location = typeof raw === 'string' ? this.scrub(redactUrl(raw)) : undefined;
    return new DuplicatiRedirectError(
      `Duplicati answered ${method} ${shownPath} with a redirect (HTTP ${status}) to ${location ?? 'an unnamed location'} — is the URL right? (base URL ${this.scrub(redactUrl(this.baseUrl))}; redirects are not followed)`,
      { status, method, path: shownPath, ...(location !== undefined ? { location } : {}) },
      { secrets: this.secrets() },
    );
  }

  /** Decode a body as text, BOM stripped. */
  text(res: RawResponse): string {
    return stripBom(res.body.toString('utf8'));
  }

  /** Parse a JSON body with a schema; any mismatch is a {@link DuplicatiSchemaError}. */
  parse<T>(schema: z.ZodType<T>, res: RawResponse, where: { operation: string; method: string; path: string }): T {
    const text = this.text(res);
    const path = scrubPath(where.path);
    let json: unknown;
    if (text.trim() === '') json = undefined;
    else {
      try {
        json = JSON.parse(text);
      } catch {
        throw new DuplicatiSchemaError(
          `${where.operation}: ${where.method} ${path} returned a body that is not JSON (HTTP ${res.status})`,
          { method: where.method, path, fields: ['(body)'] },
          { secrets: this.secrets() },
        );
      }
    }
    const result = schema.safeParse(json);
    if (result.success) return result.data;
    const issues = flattenIssues(result.error.issues);
    const fields = [...new Set(issues.map((i) => i.path.map(String).join('.') || '(root)'))];
    const detail = issues
      .slice(0, 5)
      .map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    throw new DuplicatiSchemaError(
      `${where.operation}: ${where.method} ${path} returned an unexpected shape (${detail})`,
      { method: where.method, path, fields },
      { secrets: this.secrets() },
    );
  }

  /** Throw the status-mapped error when `res` is an HTTP error. */
  assertOk(res: RawResponse, method: string, path: string, extra?: readonly (string | undefined)[]): void {
    if (res.status < 400) return;
    const err = apiError(
      { status: res.status, statusText: res.statusText, method, path, body: this.text(res) },
      this.secrets(extra),
    );
    const after = parseRetryAfter(res.headers['retry-after']);
    if (after !== undefined) retryAfterOf.set(err, after);
    throw err;
  }

  /**
   * One API call: authorize, send, renew the session once on a session failure, map errors,
   * parse; retried with p-retry when `spec.retry` allows it.
   */
  async call<T = void>(spec: CallSpec<T>, options: RequestOptions = {}): Promise<T> {
    const res = await this.callRaw(spec, options);
    if (!spec.schema) return undefined as T;
    const fullPath = spec.path + buildQuery(spec.query);
    return this.parse(spec.schema, res, { operation: spec.operation, method: spec.method, path: fullPath });
  }

  /** Like {@link call} but returns the successful raw response (downloads). */
  async callRaw(spec: CallSpec<unknown>, options: RequestOptions = {}): Promise<RawResponse> {
    const retry = spec.retry ?? spec.method !== 'POST';
    const retries = retry ? (options.maxRetries ?? this.options.maxRetries) : 0;
    const { signal } = options;
    try {
      return await this.#retry(spec, options, retries);
    } catch (e) {
      // p-retry turns a non-Error abort reason into a TypeError; the caller gets its own reason back.
      if (signal?.aborted) throw signal.reason;
      throw e;
    }
  }

  #retry(spec: CallSpec<unknown>, options: RequestOptions, retries: number): Promise<RawResponse> {
    const { signal } = options;
    return pRetry(() => this.#attempt(spec, options), {
      retries,
      minTimeout: this.options.retryMinDelayMs,
      maxTimeout: Math.max(this.options.retryMinDelayMs, 30_000),
      factor: 2,
      randomize: true,
      ...(signal ? { signal } : {}),
      shouldRetry: ({ error }) =>
        !signal?.aborted &&
        (isDuplicatiConnectionError(error) || (isDuplicatiAPIError(error) && RETRY_STATUS.has(error.status))),
      onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
        if (retriesLeft <= 0 || signal?.aborted) return;
        const retryable =
          isDuplicatiConnectionError(error) || (isDuplicatiAPIError(error) && RETRY_STATUS.has(error.status));
        if (!retryable) return;
        this.logger.debug('duplicati retry', {
          operation: spec.operation,
          attempt: attemptNumber,
          retriesLeft,
          error: error.message,
        });
        const after = retryAfterOf.get(error);
        if (after !== undefined) await sleep(Math.min(after, this.options.maxRetryAfterMs), signal);
      },
    });
  }

  async #attempt(spec: CallSpec<unknown>, options: RequestOptions): Promise<RawResponse> {
    const { signal } = options;
    const useAuth = spec.auth !== false;
    if (useAuth && !this.#auth) throw new DuplicatiError('No authentication strategy configured');
    let renewed = false;
    for (;;) {
      const authz = useAuth && this.#auth ? await this.#auth.authorize(signal) : { headers: {}, epoch: 0 };
      const res = await this.exchange(spec.method, spec.path, {
        query: spec.query,
        body: spec.body,
        headers: authz.headers,
        signal,
        timeout: options.timeout,
        operation: spec.operation,
        secrets: spec.secrets,
      });
      // API routes never redirect; one that does is not the Duplicati API the base URL should name.
      if (res.status >= 300 && res.status < 400) {
        throw this.#redirect(spec.method, scrubPath(spec.path + buildQuery(spec.query)), res.status, res.headers);
      }
      if (useAuth && this.#auth && !renewed && this.#auth.isSessionFailure(res)) {
        renewed = true;
        this.logger.debug('duplicati session refused, renewing', { operation: spec.operation, status: res.status });
        if (await this.#auth.renew(authz.epoch, signal, res)) continue;
      }
      const fullPath = spec.path + buildQuery(spec.query);
      this.assertOk(res, spec.method, fullPath, spec.secrets);
      return res;
    }
  }
}
