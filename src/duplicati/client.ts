/**
 * {@link DuplicatiClient}: the typed client of the Duplicati server REST API (2.0.x and 2.1+).
 *
 * @module
 */
import { silentLogger } from '../core/logger.js';
import { JwtPasswordAuth, LegacyPasswordAuth, type PasswordSource, StaticTokenAuth, detectGeneration } from './auth.js';
import { type AuthStrategy, type Generation, HttpCore, type RawResponse } from './http.js';
import { type DuplicatiClientOptions, optionsFromEnv, validateClientOptions } from './options.js';
import { AuthResource } from './resources/auth.js';
import { BackupsResource } from './resources/backups.js';
import type { ClientContext } from './resources/context.js';
import { JobsResource } from './resources/jobs.js';
import { LogsResource } from './resources/logs.js';
import { NotificationsResource } from './resources/notifications.js';
import { ServerResource } from './resources/server.js';
import { TasksResource } from './resources/tasks.js';

/** Password auth that picks the 2.0.x or 2.1+ flow once the generation is known. */
class GenerationAwarePasswordAuth implements AuthStrategy {
  readonly type = 'password';
  #inner: AuthStrategy | undefined;
  #pending: Promise<AuthStrategy> | undefined;
  readonly #ctx: () => Promise<Generation>;
  readonly #make: (g: Generation) => AuthStrategy;
  constructor(generation: (signal?: AbortSignal) => Promise<Generation>, make: (g: Generation) => AuthStrategy) {
    this.#ctx = generation;
    this.#make = make;
  }
  #get(): Promise<AuthStrategy> {
    // One strategy for all concurrent first callers (a second one would log in a second time).
    this.#pending ??= this.#ctx().then(
      (g) => {
        this.#inner = this.#make(g);
        return this.#inner;
      },
      (e: unknown) => {
        this.#pending = undefined;
        throw e;
      },
    );
    return this.#pending;
  }
  async authorize(signal?: AbortSignal): Promise<{ headers: Record<string, string>; epoch: number }> {
    return (await this.#get()).authorize(signal);
  }
  isSessionFailure(res: RawResponse): boolean {
    return this.#inner?.isSessionFailure(res) ?? false;
  }
  async renew(epoch: number, signal?: AbortSignal, res?: RawResponse): Promise<boolean> {
    return (await this.#get()).renew(epoch, signal, res);
  }
  async logout(signal?: AbortSignal): Promise<void> {
    await this.#inner?.logout(signal);
  }
}

/**
 * Typed client of a Duplicati server. Speaks the 2.0.x (login.cgi + XSRF) and 2.1+ (JWT) lines,
 * detects which one answers, retries idempotent calls, and never lets a secret into an error or
 * a log line.
 *
 * @example
 * ```ts
 * import { DuplicatiClient } from 'duplicati-kit/duplicati';
 * const dup = new DuplicatiClient({ baseUrl: 'http://127.0.0.1:8200', auth: { type: 'password', passwordFile: '/run/secrets/duplicati' } });
 * const outcome = await dup.backups.runAndWait('1');
 * if (outcome.result !== 'Success') process.exitCode = 1;
 * ```
 */
export class DuplicatiClient {
  /** Backup jobs: CRUD, run/verify/compact/repair/restore, versions, files, logs, `runAndWait`, `restoreAndWait`. */
  readonly backups: BackupsResource;
  /** The task queue: list, get, stop, abort, wait. */
  readonly tasks: TasksResource;
  /** Server state (with long-poll), pause/resume, system info, settings. */
  readonly server: ServerResource;
  /** Server notifications. */
  readonly notifications: NotificationsResource;
  /** Server-wide logs. */
  readonly logs: LogsResource;
  /** Jobs as code: `jobs.apply(spec)`. */
  readonly jobs: JobsResource;
  /** Login, logout, generation. */
  readonly auth: AuthResource;
  readonly #core: HttpCore;
  readonly #options: DuplicatiClientOptions;
  #generation: Promise<Generation> | undefined;

  constructor(options: DuplicatiClientOptions) {
    const o = validateClientOptions(options);
    this.#options = o;
    const core = new HttpCore({
      baseUrl: o.baseUrl,
      logger: o.logger ?? silentLogger,
      timeout: o.timeout ?? 30_000,
      maxRetries: o.maxRetries ?? 2,
      retryMinDelayMs: o.retryMinDelayMs ?? 500,
      maxRetryAfterMs: o.maxRetryAfterMs ?? 60_000,
      httpsAgent: o.httpsAgent,
      axios: o.axios,
    });
    this.#core = core;
    const a = o.auth;
    if (a.type === 'preAuth') core.auth = new StaticTokenAuth(core, 'PreAuth', a.token);
    else if (a.type === 'token') core.auth = new StaticTokenAuth(core, 'Bearer', a.token);
    else {
      const source: PasswordSource = 'password' in a ? { password: a.password } : { passwordFile: a.passwordFile };
      if ('password' in a) core.addSecret(a.password);
      core.auth = new GenerationAwarePasswordAuth(
        (signal) => this.generation({ ...(signal ? { signal } : {}) }),
        (g) => (g === '2.0' ? new LegacyPasswordAuth(core, source) : new JwtPasswordAuth(core, source, a.rememberMe)),
      );
    }
    const ctx: ClientContext = {
      core,
      generation: (signal) => this.generation({ ...(signal ? { signal } : {}) }),
    };
    this.server = new ServerResource(ctx);
    this.tasks = new TasksResource(ctx, { server: this.server });
    this.backups = new BackupsResource(ctx, { server: this.server, tasks: this.tasks });
    this.notifications = new NotificationsResource(ctx);
    this.logs = new LogsResource(ctx);
    this.jobs = new JobsResource(ctx, { backups: this.backups });
    this.auth = new AuthResource(ctx);
  }

  /**
   * Build a client from environment variables (`DUPLICATI_URL`, `DUPLICATI_PASSWORD`,
   * `DUPLICATI_PASSWORD_FILE`, `DUPLICATI_PREAUTH_TOKEN`, `DUPLICATI_TOKEN`,
   * `DUPLICATI_GENERATION`, `DUPLICATI_TIMEOUT_MS`). Pass the environment explicitly.
   *
   * @example
   * ```ts
   * const dup = DuplicatiClient.fromEnv(process.env, { logger });
   * ```
   */
  static fromEnv(
    env: Readonly<Record<string, string | undefined>>,
    overrides: Partial<DuplicatiClientOptions> = {},
  ): DuplicatiClient {
    return new DuplicatiClient(optionsFromEnv(env, overrides));
  }

  /** The base URL with any credentials in it redacted. */
  get baseUrl(): string {
    return this.#core.scrub(this.#core.baseUrl);
  }

  /**
   * The server generation: configured, implied by token auth, or detected once (no credentials
   * needed).
   *
   * @example
   * ```ts
   * if ((await dup.generation()) === '2.0') console.error('legacy server');
   * ```
   */
  generation(options: { signal?: AbortSignal } = {}): Promise<Generation> {
    if (!this.#generation) {
      const o = this.#options;
      if (o.generation === '2.0' || o.generation === '2.1') this.#generation = Promise.resolve(o.generation);
      else if (o.auth.type !== 'password') this.#generation = Promise.resolve('2.1');
      else {
        const p = detectGeneration(this.#core);
        this.#generation = p;
        // A failed detection (server down) is tried again on the next call.
        p.catch(() => {
          if (this.#generation === p) this.#generation = undefined;
        });
      }
    }
    const p = this.#generation;
    const { signal } = options;
    if (!signal) return p;
    if (signal.aborted) return Promise.reject(signal.reason);
    // The listener goes once the answer is there: a long-lived signal serves many requests.
    let onAbort: (() => void) | undefined;
    return Promise.race([
      p,
      new Promise<never>((_, reject) => {
        onAbort = () => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
      }),
    ]).finally(() => {
      if (onAbort) signal.removeEventListener('abort', onAbort);
    });
  }

  /** Avoid dumping internals (cookies, tokens) with `util.inspect` / `console.log`. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `DuplicatiClient { baseUrl: '${this.baseUrl}', auth: '${this.#options.auth.type}' }`;
  }

  toJSON(): Record<string, unknown> {
    return { baseUrl: this.baseUrl, auth: this.#options.auth.type };
  }
}
