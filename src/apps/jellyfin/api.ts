/**
 * A small Jellyfin REST client for what a backup needs: the server version, whether someone is
 * playing, whether a library scan runs, and the 10.11 built-in backup endpoints.
 *
 * @module
 */
import axios, { type AxiosInstance, isAxiosError } from 'axios';
import { z } from 'zod';
import { sleep, throwIfAborted } from '../../core/abort.js';
import { DuplicatiKitError, errorGuard, type ErrorOptions } from '../../core/errors.js';
import { redactUrl } from '../../core/redact.js';
import { configErrorFrom } from '../../core/validate.js';

/**
 * A Jellyfin API call failed (no answer, an HTTP error, or an answer of the wrong shape). Codes:
 * `ERR_JELLYFIN_API` (HTTP error), `ERR_JELLYFIN_UNREACHABLE`, `ERR_JELLYFIN_SCHEMA`,
 * `ERR_JELLYFIN_BUSY` (a task still runs after the wait).
 *
 * @example
 * ```ts
 * try { await jf.activePlayback(); } catch (e) { if (e instanceof JellyfinApiError && e.status === 401) … }
 * ```
 */
export class JellyfinApiError extends DuplicatiKitError {
  static override readonly errorName: string = 'JellyfinApiError';
  static override readonly defaultCode: string = 'ERR_JELLYFIN_API';
  /** HTTP status, when the server answered. */
  readonly status: number | undefined;
  readonly path: string;
  constructor(message: string, details: { status?: number; path: string }, options: ErrorOptions = {}) {
    super(message, options);
    this.status = details.status;
    this.path = details.path;
  }
}

/**
 * True when `e` is a {@link JellyfinApiError}, from this copy of the package or another.
 *
 * @example
 * ```ts
 * if (isJellyfinApiError(e) && e.status === 401) console.error('check the Jellyfin API key');
 * ```
 */
export const isJellyfinApiError = errorGuard<JellyfinApiError>('JellyfinApiError');

const clientOptions = z
  .object({
    baseUrl: z.string().url(),
    apiKey: z.string().min(1).optional(),
    timeoutMs: z.number().int().positive().optional(),
    backupTimeoutMs: z.number().int().positive().optional(),
  })
  .strict();

/** Options of {@link JellyfinClient}. */
export interface JellyfinClientOptions {
  /** The server's own address, e.g. `http://127.0.0.1:8096` (not a proxy: backups take long). */
  readonly baseUrl: string;
  /** An API key (Dashboard → API Keys). Sent as `Authorization: MediaBrowser Token="…"`, never in URLs. */
  readonly apiKey?: string;
  /** Per-request timeout. @default 10000 */
  readonly timeoutMs?: number;
  /** Timeout of `POST /Backup/Create`, which answers only when the backup is written. @default 3600000 */
  readonly backupTimeoutMs?: number;
}

/** `GET /System/Info/Public`. */
export interface JellyfinPublicInfo {
  readonly version: string;
  readonly id: string | undefined;
  readonly serverName: string | undefined;
  readonly startupWizardCompleted: boolean | undefined;
}

/** A session that is playing something. */
export interface JellyfinPlayback {
  readonly userName: string | undefined;
  readonly deviceName: string | undefined;
  readonly client: string | undefined;
  readonly item: string | undefined;
  readonly paused: boolean;
}

/** A client session (`GET /Sessions`). */
export interface JellyfinSession {
  readonly id: string;
  readonly userName: string | undefined;
  readonly deviceName: string | undefined;
  readonly client: string | undefined;
  /** Whether the client accepts remote commands (messages are one). */
  readonly supportsRemoteControl: boolean;
}

/** One scheduled task. */
export interface JellyfinTask {
  readonly key: string;
  readonly name: string;
  readonly state: string;
  readonly progress: number | undefined;
}

/** `BackupManifestDto` of the 10.11 built-in backup. */
export interface JellyfinBackupManifest {
  readonly serverVersion: string;
  readonly backupEngineVersion: string;
  readonly dateCreated: string;
  readonly path: string;
}

/** Tasks that rewrite the database heavily; a backup waits for them. */
export const BUSY_TASK_KEYS: readonly string[] = ['RefreshLibrary', 'OptimizeDatabaseTask'];

const publicInfoSchema = z.looseObject({
  Version: z.string(),
  Id: z.string().optional(),
  ServerName: z.string().optional(),
  StartupWizardCompleted: z.boolean().optional(),
});
const sessionsSchema = z.array(
  z.looseObject({
    Id: z.string().nullish(),
    SupportsRemoteControl: z.boolean().nullish(),
    UserName: z.string().nullish(),
    DeviceName: z.string().nullish(),
    Client: z.string().nullish(),
    NowPlayingItem: z.looseObject({ Name: z.string().nullish() }).nullish(),
    PlayState: z.looseObject({ IsPaused: z.boolean().nullish() }).nullish(),
  }),
);
const tasksSchema = z.array(
  z.looseObject({
    Key: z.string().nullish(),
    Name: z.string().nullish(),
    State: z.string(),
    CurrentProgressPercentage: z.number().nullish(),
  }),
);
const backupManifestSchema = z.looseObject({
  ServerVersion: z.string(),
  BackupEngineVersion: z.string(),
  DateCreated: z.string(),
  Path: z.string(),
});

/** Options every call takes. */
export interface CallOptions {
  readonly signal?: AbortSignal;
}

/**
 * Jellyfin REST client (axios). The API key travels in the `Authorization` header only and never
 * appears in errors or logs.
 *
 * @example
 * ```ts
 * const jf = new JellyfinClient({ baseUrl: 'http://127.0.0.1:8096', apiKey: process.env.JELLYFIN_API_KEY });
 * const { version } = await jf.publicInfo();
 * const playing = await jf.activePlayback();
 * await jf.waitForTasks({ timeoutMs: 600_000 });
 * ```
 */
export class JellyfinClient {
  readonly baseUrl: string;
  readonly #http: AxiosInstance;
  readonly #apiKey: string | undefined;
  readonly #backupTimeoutMs: number;

  constructor(options: JellyfinClientOptions) {
    const parsed = clientOptions.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid JellyfinClient options', parsed.error);
    const o = parsed.data;
    this.baseUrl = o.baseUrl.replace(/\/+$/, '');
    this.#apiKey = o.apiKey;
    this.#backupTimeoutMs = o.backupTimeoutMs ?? 3_600_000;
    this.#http = axios.create({
      baseURL: this.baseUrl,
      timeout: o.timeoutMs ?? 10_000,
      headers: {
        Accept: 'application/json',
        ...(o.apiKey
          ? { Authorization: `MediaBrowser Client="duplicati-kit", Token="${encodeURIComponent(o.apiKey)}"` }
          : {}),
      },
      // Status handling is ours: every non-2xx becomes a JellyfinApiError.
      validateStatus: () => true,
    });
  }

  /** Keep the API key out of `util.inspect` and JSON. */
  toJSON(): Record<string, unknown> {
    return { baseUrl: redactUrl(this.baseUrl), apiKey: this.#apiKey ? '***' : undefined };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `JellyfinClient ${JSON.stringify(this.toJSON())}`;
  }

  async #call<T>(
    method: 'GET' | 'POST',
    path: string,
    schema: z.ZodType<T> | undefined,
    options: CallOptions & { body?: unknown; timeoutMs?: number; params?: Record<string, string> } = {},
  ): Promise<{ status: number; data: T | undefined }> {
    throwIfAborted(options.signal);
    const secrets = [this.#apiKey];
    let res: { status: number; data: unknown };
    try {
      res = await this.#http.request({
        method,
        url: path,
        ...(options.params ? { params: options.params } : {}),
        ...(options.body !== undefined ? { data: options.body } : {}),
        ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (e) {
      if (options.signal?.aborted) throw options.signal.reason;
      const code = isAxiosError(e) ? e.code : undefined;
      throw new JellyfinApiError(
        `Jellyfin at ${redactUrl(this.baseUrl)} did not answer ${method} ${path}${code ? ` (${code})` : ''}`,
        { path },
        { cause: e, code: 'ERR_JELLYFIN_UNREACHABLE', secrets },
      );
    }
    if (res.status === 204) return { status: res.status, data: undefined };
    if (res.status < 200 || res.status >= 300) {
      const hint = res.status === 401 || res.status === 403 ? ' (check the API key; it must be an admin key)' : '';
      throw new JellyfinApiError(`Jellyfin answered ${res.status} to ${method} ${path}${hint}`, {
        status: res.status,
        path,
      });
    }
    if (!schema) return { status: res.status, data: undefined };
    const parsed = schema.safeParse(res.data);
    if (!parsed.success) {
      throw new JellyfinApiError(
        `unexpected answer to ${method} ${path}: ${parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ')}`,
        { status: res.status, path },
        { code: 'ERR_JELLYFIN_SCHEMA' },
      );
    }
    return { status: res.status, data: parsed.data };
  }

  /** `GET /System/Info/Public` (no key needed): version, server id and name. */
  async publicInfo(options: CallOptions = {}): Promise<JellyfinPublicInfo> {
    const { data } = await this.#call('GET', '/System/Info/Public', publicInfoSchema, options);
    const d = data as z.infer<typeof publicInfoSchema>;
    return {
      version: d.Version,
      id: d.Id,
      serverName: d.ServerName,
      startupWizardCompleted: d.StartupWizardCompleted,
    };
  }

  /** Sessions playing something right now (`GET /Sessions`, `NowPlayingItem` set). */
  async activePlayback(options: CallOptions = {}): Promise<JellyfinPlayback[]> {
    const { data } = await this.#call('GET', '/Sessions', sessionsSchema, options);
    return (data ?? [])
      .filter((s) => s.NowPlayingItem)
      .map((s) => ({
        userName: s.UserName ?? undefined,
        deviceName: s.DeviceName ?? undefined,
        client: s.Client ?? undefined,
        item: s.NowPlayingItem?.Name ?? undefined,
        paused: s.PlayState?.IsPaused === true,
      }));
  }

  /** Every client session the server knows (`GET /Sessions`). */
  async sessions(options: CallOptions & { activeWithinSeconds?: number } = {}): Promise<JellyfinSession[]> {
    const { data } = await this.#call('GET', '/Sessions', sessionsSchema, {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.activeWithinSeconds !== undefined
        ? { params: { activeWithinSeconds: String(options.activeWithinSeconds) } }
        : {}),
    });
    return (data ?? [])
      .filter((s) => typeof s.Id === 'string' && s.Id)
      .map((s) => ({
        id: s.Id as string,
        userName: s.UserName ?? undefined,
        deviceName: s.DeviceName ?? undefined,
        client: s.Client ?? undefined,
        supportsRemoteControl: s.SupportsRemoteControl !== false,
      }));
  }

  /** Show a message on one session (`POST /Sessions/{id}/Message`, body `{ Header, Text, TimeoutMs }`). */
  async sendMessage(
    sessionId: string,
    message: { readonly header?: string; readonly text: string; readonly timeoutMs?: number },
    options: CallOptions = {},
  ): Promise<void> {
    await this.#call('POST', `/Sessions/${encodeURIComponent(sessionId)}/Message`, undefined, {
      ...(options.signal ? { signal: options.signal } : {}),
      body: {
        Header: message.header ?? 'duplicati-kit',
        Text: message.text,
        ...(message.timeoutMs !== undefined ? { TimeoutMs: message.timeoutMs } : {}),
      },
    });
  }

  /**
   * Show a message on every session that accepts remote commands (active in the last
   * `activeWithinSeconds`, default 900). Returns how many were told and the failures, which do
   * not throw: a session that went away is not an error.
   *
   * @example
   * ```ts
   * const { sent } = await jf.messageSessions({ header: 'Maintenance', text: 'Jellyfin restarts in 1 minute' });
   * ```
   */
  async messageSessions(
    message: { readonly header?: string; readonly text: string; readonly timeoutMs?: number },
    options: CallOptions & { activeWithinSeconds?: number } = {},
  ): Promise<{ sent: number; failed: { session: string; error: string }[] }> {
    const all = await this.sessions({ ...options, activeWithinSeconds: options.activeWithinSeconds ?? 900 });
    const failed: { session: string; error: string }[] = [];
    let sent = 0;
    for (const s of all.filter((x) => x.supportsRemoteControl)) {
      try {
        await this.sendMessage(s.id, message, options.signal ? { signal: options.signal } : {});
        sent++;
      } catch (e) {
        if (options.signal?.aborted) throw options.signal.reason;
        failed.push({ session: s.deviceName ?? s.id, error: (e as Error).message });
      }
    }
    return { sent, failed };
  }

  /** Scheduled tasks (`GET /ScheduledTasks?isHidden=false`). */
  async scheduledTasks(options: CallOptions = {}): Promise<JellyfinTask[]> {
    const { data } = await this.#call('GET', '/ScheduledTasks', tasksSchema, {
      ...(options.signal ? { signal: options.signal } : {}),
      params: { isHidden: 'false' },
    });
    return (data ?? []).map((t) => ({
      key: t.Key ?? '',
      name: t.Name ?? t.Key ?? '',
      state: t.State,
      progress: t.CurrentProgressPercentage ?? undefined,
    }));
  }

  /** The tasks among `keys` that are running now. */
  async runningTasks(keys: readonly string[] = BUSY_TASK_KEYS, options: CallOptions = {}): Promise<JellyfinTask[]> {
    const tasks = await this.scheduledTasks(options);
    return tasks.filter((t) => keys.includes(t.key) && t.state !== 'Idle');
  }

  /**
   * Wait until none of `keys` (library scan, database optimisation) runs. Resolves with the tasks
   * waited for; rejects with a JellyfinApiError (`ERR_JELLYFIN_BUSY`) after `timeoutMs`.
   */
  async waitForTasks(
    options: CallOptions & { keys?: readonly string[]; timeoutMs?: number; pollMs?: number } = {},
  ): Promise<JellyfinTask[]> {
    const deadline = Date.now() + (options.timeoutMs ?? 900_000);
    const waited = new Map<string, JellyfinTask>();
    for (;;) {
      const running = await this.runningTasks(
        options.keys ?? BUSY_TASK_KEYS,
        options.signal ? { signal: options.signal } : {},
      );
      for (const t of running) waited.set(t.key, t);
      if (running.length === 0) return [...waited.values()];
      if (Date.now() >= deadline) {
        throw new JellyfinApiError(
          `Jellyfin is still running ${running.map((t) => t.name).join(', ')} after ${options.timeoutMs ?? 900_000} ms`,
          { path: '/ScheduledTasks' },
          { code: 'ERR_JELLYFIN_BUSY' },
        );
      }
      await sleep(options.pollMs ?? 5000, options.signal);
    }
  }

  /** 10.11+: the built-in backups in `<data>/data/backups` (`GET /Backup`). */
  async listBackups(options: CallOptions = {}): Promise<JellyfinBackupManifest[]> {
    const { data } = await this.#call('GET', '/Backup', z.array(backupManifestSchema), options);
    return (data ?? []).map(toManifest);
  }

  /**
   * 10.11+: create a built-in backup (`POST /Backup/Create`). The request stays open until the
   * archive is written; it runs with `backupTimeoutMs`. Call the server directly, not through a
   * proxy that times out.
   */
  async createBackup(
    options: CallOptions & { metadata?: boolean; trickplay?: boolean; subtitles?: boolean } = {},
  ): Promise<JellyfinBackupManifest> {
    const { data } = await this.#call('POST', '/Backup/Create', backupManifestSchema, {
      ...(options.signal ? { signal: options.signal } : {}),
      timeoutMs: this.#backupTimeoutMs,
      body: {
        Metadata: options.metadata ?? false,
        Trickplay: options.trickplay ?? false,
        Subtitles: options.subtitles ?? false,
        Database: true,
      },
    });
    return toManifest(data as z.infer<typeof backupManifestSchema>);
  }

  /** 10.11+: the manifest of one built-in backup by file name, or undefined when it is not one. */
  async backupManifest(fileName: string, options: CallOptions = {}): Promise<JellyfinBackupManifest | undefined> {
    const { data } = await this.#call('GET', '/Backup/Manifest', backupManifestSchema, {
      ...(options.signal ? { signal: options.signal } : {}),
      params: { path: fileName },
    });
    return data ? toManifest(data) : undefined;
  }
}

function toManifest(d: z.infer<typeof backupManifestSchema>): JellyfinBackupManifest {
  return {
    serverVersion: d.ServerVersion,
    backupEngineVersion: d.BackupEngineVersion,
    dateCreated: d.DateCreated,
    path: d.Path,
  };
}
