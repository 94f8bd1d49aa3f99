/**
 * Options of {@link DuplicatiClient}, validated once with zod in the constructor.
 *
 * @module
 */
import type { Agent as HttpsAgent } from 'node:https';
import type { AxiosInstance } from 'axios';
import { z } from 'zod';
import { ConfigError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';

/** Password login; works on both generations (2.0.x login.cgi, 2.1+ JWT). */
export type PasswordAuthOptions =
  | { readonly type: 'password'; readonly password: string; readonly rememberMe?: boolean }
  | { readonly type: 'password'; readonly passwordFile: string; readonly rememberMe?: boolean };

/** How the client authenticates. */
export type DuplicatiAuthOptions =
  | PasswordAuthOptions
  /** A `--webservice-pre-auth-tokens` token (2.1.2+), sent as `Authorization: PreAuth <token>`. */
  | { readonly type: 'preAuth'; readonly token: string }
  /** A static bearer token (a forever token from `auth/issue-forever-token`). */
  | { readonly type: 'token'; readonly token: string };

/**
 * Options of `new DuplicatiClient(...)`.
 *
 * @example
 * ```ts
 * const options: DuplicatiClientOptions = {
 *   baseUrl: 'https://nas.lan:8200',
 *   auth: { type: 'password', passwordFile: '/run/secrets/duplicati' },
 *   httpsAgent: new https.Agent({ ca: await readFile('/etc/ssl/nas-ca.pem') }),
 *   timeout: 60_000,
 * };
 * ```
 */
export interface DuplicatiClientOptions {
  /** e.g. `http://127.0.0.1:8200`. */
  readonly baseUrl: string;
  readonly auth: DuplicatiAuthOptions;
  /** `auto` (default) detects it without credentials. Token auth implies `2.1`. */
  readonly generation?: 'auto' | '2.0' | '2.1';
  /** Silent by default. */
  readonly logger?: Logger;
  /** Per-attempt timeout, ms. @default 30000 */
  readonly timeout?: number;
  /** Retries of idempotent calls on network errors and 408/429/502/503/504. @default 2 */
  readonly maxRetries?: number;
  /** First back-off delay, ms. @default 500 */
  readonly retryMinDelayMs?: number;
  /** Cap on an honoured `Retry-After`, ms. @default 60000 */
  readonly maxRetryAfterMs?: number;
  /** For HTTPS with a self-signed certificate: an agent with `ca` set. */
  readonly httpsAgent?: HttpsAgent;
  /** An axios instance to send through (tests, proxies). Its defaults are overridden per request. */
  readonly axios?: AxiosInstance;
}

const logger = z.custom<Logger>(
  (v) => typeof v === 'object' && v !== null && typeof (v as Logger).debug === 'function',
  'must be a Logger (debug/info/warn/error)',
);

const auth = z.union([
  z.object({ type: z.literal('password'), password: z.string().min(1), rememberMe: z.boolean().optional() }).strict(),
  z
    .object({ type: z.literal('password'), passwordFile: z.string().min(1), rememberMe: z.boolean().optional() })
    .strict(),
  z.object({ type: z.literal('preAuth'), token: z.string().regex(/^[A-Za-z0-9_-]{10,}$/) }).strict(),
  z.object({ type: z.literal('token'), token: z.string().min(1) }).strict(),
]);

const schema = z
  .object({
    baseUrl: z.string().refine((u) => {
      try {
        return /^https?:$/.test(new URL(u).protocol);
      } catch {
        return false;
      }
    }, 'must be an http(s) URL'),
    auth,
    generation: z.enum(['auto', '2.0', '2.1']).optional(),
    logger: logger.optional(),
    timeout: z.number().int().positive().optional(),
    maxRetries: z.number().int().min(0).max(20).optional(),
    retryMinDelayMs: z.number().int().min(0).optional(),
    maxRetryAfterMs: z.number().int().min(0).optional(),
    httpsAgent: z.custom<HttpsAgent>((v) => typeof v === 'object' && v !== null).optional(),
    axios: z.custom<AxiosInstance>((v) => typeof v === 'function' || (typeof v === 'object' && v !== null)).optional(),
  })
  .strict();

/** Validate client options; every bad field is named in the {@link ConfigError}. Secrets never appear. */
export function validateClientOptions(input: unknown): DuplicatiClientOptions {
  const r = schema.safeParse(input);
  if (r.success) {
    const o = r.data as DuplicatiClientOptions;
    if (o.generation === '2.0' && o.auth.type !== 'password') {
      throw new ConfigError('Invalid DuplicatiClient options', [
        { path: 'auth.type', message: 'token authentication needs a 2.1+ server' },
      ]);
    }
    return o;
  }
  const issues = r.error.issues.map((i) => ({
    path: i.path.map(String).join('.'),
    // zod messages name types, never the values given, so no secret leaks here.
    message: i.message,
  }));
  throw new ConfigError('Invalid DuplicatiClient options', issues);
}

/**
 * Build client options from environment variables: `DUPLICATI_URL` (default
 * `http://127.0.0.1:8200`), `DUPLICATI_PASSWORD` or `DUPLICATI_PASSWORD_FILE`,
 * `DUPLICATI_PREAUTH_TOKEN`, `DUPLICATI_TOKEN`, `DUPLICATI_GENERATION`, `DUPLICATI_TIMEOUT_MS`.
 */
export function optionsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  overrides: Partial<DuplicatiClientOptions> = {},
): DuplicatiClientOptions {
  const baseUrl = env.DUPLICATI_URL || 'http://127.0.0.1:8200';
  let authOpt: DuplicatiAuthOptions | undefined;
  if (env.DUPLICATI_PREAUTH_TOKEN) authOpt = { type: 'preAuth', token: env.DUPLICATI_PREAUTH_TOKEN };
  else if (env.DUPLICATI_TOKEN) authOpt = { type: 'token', token: env.DUPLICATI_TOKEN };
  else if (env.DUPLICATI_PASSWORD_FILE) authOpt = { type: 'password', passwordFile: env.DUPLICATI_PASSWORD_FILE };
  else if (env.DUPLICATI_PASSWORD) authOpt = { type: 'password', password: env.DUPLICATI_PASSWORD };
  if (!authOpt && !overrides.auth) {
    throw new ConfigError(
      'No Duplicati credentials in the environment',
      [
        {
          path: 'DUPLICATI_PASSWORD',
          message: 'set DUPLICATI_PASSWORD, DUPLICATI_PASSWORD_FILE, DUPLICATI_PREAUTH_TOKEN or DUPLICATI_TOKEN',
        },
      ],
      { code: 'ERR_DUPLICATI_NO_CREDENTIALS' },
    );
  }
  const gen = env.DUPLICATI_GENERATION;
  const timeout = env.DUPLICATI_TIMEOUT_MS ? Number(env.DUPLICATI_TIMEOUT_MS) : undefined;
  return {
    baseUrl,
    ...(authOpt ? { auth: authOpt } : {}),
    ...(gen === '2.0' || gen === '2.1' || gen === 'auto' ? { generation: gen } : {}),
    ...(timeout !== undefined ? { timeout } : {}),
    ...overrides,
  } as DuplicatiClientOptions;
}
