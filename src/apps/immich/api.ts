/**
 * A small Immich REST client (`x-api-key`) for what a backup needs: the server version, and
 * pausing / resuming the job queues around a database dump.
 *
 * @module
 */
import type { AxiosInstance } from 'axios';
import { z } from 'zod';
import { DuplicatiKitError, errorGuard, type ErrorOptions } from '../../core/errors.js';
import { type Logger, silentLogger } from '../../core/logger.js';
import { redactText } from '../../core/redact.js';
import type { PausedQueues } from '../../contracts/maintenance.js';
import { configErrorFrom } from '../../core/validate.js';
import { compareImmichVersions } from './schema.js';

/** The Immich API answered with an error, or could not be reached. Never carries the API key. */
export class ImmichApiError extends DuplicatiKitError {
  static override readonly errorName: string = 'ImmichApiError';
  static override readonly defaultCode: string = 'ERR_IMMICH_API';
  /** HTTP status, when the server answered. */
  readonly status: number | undefined;
  readonly method: string;
  readonly path: string;
  constructor(message: string, details: { status?: number; method: string; path: string }, options: ErrorOptions = {}) {
    super(message, options);
    this.status = details.status;
    this.method = details.method;
    this.path = details.path;
  }
}

/**
 * True when `e` is a {@link ImmichApiError}, from this copy of the package or another.
 *
 * @example
 * ```ts
 * if (isImmichApiError(e) && e.status === 401) console.error('check the Immich API key');
 * ```
 */
export const isImmichApiError = errorGuard<ImmichApiError>('ImmichApiError');

/**
 * Queues that are never paused: background tasks (cleanup), notifications, and Immich's own
 * database backup (pausing it would only delay, never prevent, a concurrent dump).
 */
export const IMMICH_UNPAUSABLE_QUEUES: readonly string[] = ['backgroundTask', 'notifications', 'backupDatabase'];

/** Queues paused around a dump when the server does not list its own. */
export const IMMICH_PAUSABLE_QUEUES: readonly string[] = [
  'thumbnailGeneration',
  'metadataExtraction',
  'videoConversion',
  'faceDetection',
  'facialRecognition',
  'smartSearch',
  'duplicateDetection',
  'storageTemplateMigration',
  'migration',
  'search',
  'sidecar',
  'library',
  'ocr',
  'workflow',
  'editor',
];

/** Options of {@link ImmichClient}. */
export interface ImmichClientOptions {
  /** e.g. `http://127.0.0.1:2283` (with or without `/api`). */
  readonly baseUrl: string;
  /** An admin API key (scopes: `server.about`, `queue.read`, `queue.update`, or `all`). */
  readonly apiKey: string;
  /** Per-request timeout. @default 30000 */
  readonly timeoutMs?: number;
  readonly logger?: Logger;
}

const optionsSchema = z
  .object({
    baseUrl: z.string().url(),
    apiKey: z.string().min(1),
    timeoutMs: z.number().int().min(100).optional(),
    logger: z.custom<Logger>((l) => typeof l === 'object' && l !== null).optional(),
  })
  .strict();

function isPausedIn(value: unknown): boolean | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.isPaused === 'boolean') return v.isPaused;
  for (const k of ['queueStatus', 'status']) {
    const inner = v[k] as Record<string, unknown> | undefined;
    if (inner && typeof inner.isPaused === 'boolean') return inner.isPaused;
  }
  return undefined;
}

/** Read `{ name → isPaused }` from a queue listing (array of `{ name, isPaused }` or a map). */
function queueStates(body: unknown): Map<string, boolean | undefined> {
  const out = new Map<string, boolean | undefined>();
  if (Array.isArray(body)) {
    for (const q of body) {
      const name = (q as { name?: unknown })?.name;
      if (typeof name === 'string') out.set(name, isPausedIn(q));
    }
  } else if (body && typeof body === 'object') {
    for (const [name, q] of Object.entries(body as Record<string, unknown>)) out.set(name, isPausedIn(q));
  }
  return out;
}

/**
 * Immich REST client for backups.
 *
 * @example
 * ```ts
 * const api = new ImmichClient({ baseUrl: 'http://127.0.0.1:2283', apiKey: process.env.IMMICH_API_KEY! });
 * const paused = await api.pauseQueues();
 * try { await dump(); } finally { await api.resumeQueues(paused); }
 * ```
 */
export class ImmichClient {
  /** Created on the first request: loading axios costs ~0.2 s of start-up, and most runs never call the API. */
  #http: Promise<AxiosInstance> | undefined;
  readonly #httpOptions: { baseURL: string; timeout: number; headers: Record<string, string> };
  readonly #key: string;
  readonly #logger: Logger;

  constructor(options: ImmichClientOptions) {
    const parsed = optionsSchema.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid Immich API options', parsed.error, 'api');
    const base = options.baseUrl.replace(/\/+$/, '').replace(/\/api$/, '');
    this.#key = options.apiKey;
    this.#logger = options.logger ?? silentLogger;
    this.#httpOptions = {
      baseURL: `${base}/api`,
      timeout: options.timeoutMs ?? 30_000,
      headers: { 'x-api-key': options.apiKey, accept: 'application/json' },
    };
  }

  #client(): Promise<AxiosInstance> {
    this.#http ??= import('axios').then((m) =>
      m.default.create({ ...this.#httpOptions, validateStatus: () => true, maxRedirects: 0 }),
    );
    return this.#http;
  }

  async #call<T>(
    method: 'GET' | 'PUT',
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<{ status: number; data: T }> {
    try {
      const http = await this.#client();
      const r = await http.request<T>({ method, url: path, data: body, ...(signal ? { signal } : {}) });
      if (r.status >= 400) {
        const text = typeof r.data === 'string' ? r.data : JSON.stringify(r.data ?? '');
        throw new ImmichApiError(
          `Immich API ${method} ${path} answered ${r.status}: ${redactText(text.slice(0, 300), [this.#key])}`,
          { status: r.status, method, path },
          { secrets: [this.#key] },
        );
      }
      return { status: r.status, data: r.data };
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      if (e instanceof ImmichApiError) throw e;
      throw new ImmichApiError(
        `Immich API ${method} ${path} failed: ${(e as Error).message}`,
        { method, path },
        { secrets: [this.#key] },
      );
    }
  }

  /** The server version as `v<major>.<minor>.<patch>` (`GET /api/server/version`). */
  async serverVersion(options: { signal?: AbortSignal } = {}): Promise<string> {
    const { data } = await this.#call<{ major?: unknown; minor?: unknown; patch?: unknown }>(
      'GET',
      '/server/version',
      undefined,
      options.signal,
    );
    if (typeof data?.major !== 'number' || typeof data.minor !== 'number' || typeof data.patch !== 'number') {
      throw new ImmichApiError('Immich API GET /server/version returned no version', {
        method: 'GET',
        path: '/server/version',
      });
    }
    return `v${data.major}.${data.minor}.${data.patch}`;
  }

  /**
   * Pause every job queue except background tasks, notifications and database backups, using the
   * v2.3+ queues API or the older jobs API depending on `version` (read from the server when not
   * given). Queues already paused are left out of the result, so resuming does not un-pause what
   * an admin paused. If pausing fails halfway, the queues paused so far are resumed before the
   * error is thrown.
   */
  async pauseQueues(options: { signal?: AbortSignal; version?: string } = {}): Promise<PausedQueues> {
    const version = options.version ?? (await this.serverVersion(options));
    const api = compareImmichVersions(version, 'v2.3.0') >= 0 ? 'queues' : 'jobs';
    const listing = await this.#call<unknown>('GET', `/${api}`, undefined, options.signal).catch((e: unknown) => {
      if (options.signal?.aborted) throw e;
      this.#logger.warn('could not list Immich queues; pausing the known ones', { error: String(e) });
      return { status: 0, data: undefined };
    });
    const states = queueStates(listing.data);
    const candidates = states.size ? [...states.keys()] : [...IMMICH_PAUSABLE_QUEUES];
    const toPause = candidates.filter((n) => !IMMICH_UNPAUSABLE_QUEUES.includes(n) && states.get(n) !== true);
    const paused: string[] = [];
    try {
      for (const name of toPause) {
        const body = api === 'queues' ? { isPaused: true } : { command: 'pause', force: false };
        try {
          await this.#call('PUT', `/${api}/${encodeURIComponent(name)}`, body, options.signal);
          paused.push(name);
        } catch (e) {
          // A queue this server version does not have is not an error.
          if (e instanceof ImmichApiError && (e.status === 404 || e.status === 400) && !states.size) continue;
          throw e;
        }
      }
    } catch (e) {
      await this.resumeQueues({ api, names: paused }).catch((r: unknown) =>
        this.#logger.error('could not resume Immich queues after a failed pause', { queues: paused, error: String(r) }),
      );
      throw e;
    }
    this.#logger.info('paused Immich job queues', { queues: paused, api });
    return { api, names: paused };
  }

  /** Resume the queues {@link pauseQueues} paused; tries every queue, then reports the first failure. */
  async resumeQueues(paused: PausedQueues, options: { signal?: AbortSignal } = {}): Promise<void> {
    let first: unknown;
    for (const name of paused.names) {
      const body = paused.api === 'queues' ? { isPaused: false } : { command: 'resume', force: false };
      try {
        await this.#call('PUT', `/${paused.api}/${encodeURIComponent(name)}`, body, options.signal);
      } catch (e) {
        first ??= e;
      }
    }
    if (first !== undefined) throw first;
    if (paused.names.length) this.#logger.info('resumed Immich job queues', { queues: paused.names });
  }
}

/** zod schema of an `api` option: client options or a ready client. */
export const immichApiOptionSchema = z.union([z.instanceof(ImmichClient), optionsSchema.partial().passthrough()]);

/** A client from an `api` option (undefined stays undefined). */
export function toImmichClient(api: ImmichClientOptions | ImmichClient | undefined): ImmichClient | undefined {
  if (api === undefined) return undefined;
  return api instanceof ImmichClient ? api : new ImmichClient(api);
}
