/**
 * `client.server`: server state (with long-poll), progress, pause/resume, system info, settings.
 *
 * @module
 */
import { z } from 'zod';
import type { RequestOptions } from '../http.js';
import { progressWire, serverStateWire, systemInfoWire } from '../schemas.js';
import type { ProgressState, ServerState, SystemInfo } from '../types.js';
import { API, type ClientContext, seg } from './context.js';

/** Options of {@link ServerResource.state}. */
export interface ServerStateOptions extends RequestOptions {
  /**
   * Block until the server's event counter differs from `lastEventId` or `durationSeconds`
   * passes. The server accepts 11 s … 1 h (2.0.x rejects 10 s and less).
   */
  readonly longPoll?: { readonly lastEventId: number; readonly durationSeconds?: number };
}

/** Smallest long-poll duration every generation accepts (2.0.x wants strictly more than 10 s). */
export const MIN_LONG_POLL_SECONDS = 11;
const MAX_LONG_POLL_SECONDS = 3600;

/** Server-level operations. */
export class ServerResource {
  readonly #ctx: ClientContext;
  constructor(ctx: ClientContext) {
    this.#ctx = ctx;
  }

  /**
   * `GET /serverstate`, optionally long-polling for the next event.
   *
   * @example
   * ```ts
   * const s = await dup.server.state();
   * const next = await dup.server.state({ longPoll: { lastEventId: s.lastEventId, durationSeconds: 60 } });
   * ```
   */
  state(options: ServerStateOptions = {}): Promise<ServerState> {
    const lp = options.longPoll;
    if (!lp) {
      return this.#ctx.core.call(
        { method: 'GET', path: `${API}/serverstate`, operation: 'server.state', schema: serverStateWire },
        options,
      );
    }
    const duration = Math.min(
      MAX_LONG_POLL_SECONDS,
      Math.max(MIN_LONG_POLL_SECONDS, Math.round(lp.durationSeconds ?? 60)),
    );
    return this.#ctx.core.call(
      {
        method: 'GET',
        path: `${API}/serverstate`,
        operation: 'server.state',
        query: { lasteventid: lp.lastEventId, longpoll: true, duration: `${duration}s` },
        schema: serverStateWire,
      },
      { ...options, timeout: options.timeout ?? (duration + 30) * 1000 },
    );
  }

  /**
   * `GET /progressstate`: progress of the running task, or of the last one (the server keeps
   * it); null when the server has never run a task (2.1+ answers 404 then).
   *
   * @example
   * ```ts
   * const p = await dup.server.progress();
   * if (p) console.error(p.phase, p.overallProgress);
   * ```
   */
  async progress(options: RequestOptions = {}): Promise<ProgressState | null> {
    try {
      return await this.#ctx.core.call(
        { method: 'GET', path: `${API}/progressstate`, operation: 'server.progress', schema: progressWire },
        options,
      );
    } catch (e) {
      if ((e as { status?: number }).status === 404) return null;
      throw e;
    }
  }

  /**
   * Pause the scheduler (and running transfers on 2.1.2+ with `pauseTransfers`), optionally
   * for a Duplicati timespan such as `30m`.
   *
   * @example
   * ```ts
   * await dup.server.pause({ duration: '1h' });
   * ```
   */
  async pause(options: RequestOptions & { duration?: string; pauseTransfers?: boolean } = {}): Promise<void> {
    await this.#ctx.core.call(
      {
        method: 'POST',
        path: `${API}/serverstate/pause`,
        operation: 'server.pause',
        query: { duration: options.duration, pauseTransfers: options.pauseTransfers },
        retry: true,
      },
      options,
    );
  }

  /**
   * Resume after {@link pause}.
   *
   * @example
   * ```ts
   * await dup.server.resume();
   * ```
   */
  async resume(options: RequestOptions = {}): Promise<void> {
    await this.#ctx.core.call(
      { method: 'POST', path: `${API}/serverstate/resume`, operation: 'server.resume', retry: true },
      options,
    );
  }

  /**
   * `GET /systeminfo` (server version, OS, password placeholder, …).
   *
   * @example
   * ```ts
   * const { serverVersion } = await dup.server.systemInfo();
   * ```
   */
  systemInfo(options: RequestOptions = {}): Promise<SystemInfo> {
    return this.#ctx.core.call(
      { method: 'GET', path: `${API}/systeminfo`, operation: 'server.systemInfo', schema: systemInfoWire },
      options,
    );
  }

  /**
   * The server version string, e.g. `2.0.7.3`.
   *
   * @example
   * ```ts
   * console.error(await dup.server.version());
   * ```
   */
  async version(options: RequestOptions = {}): Promise<string> {
    return (await this.systemInfo(options)).serverVersion;
  }

  /**
   * `GET /serversettings`: a flat key → value map. Values of secret-named keys (2.0.x returns the
   * password hash and salt here) are left out.
   *
   * @example
   * ```ts
   * const settings = await dup.server.settings();
   * ```
   */
  async settings(options: RequestOptions = {}): Promise<Record<string, string | null>> {
    const raw = await this.#ctx.core.call(
      {
        method: 'GET',
        path: `${API}/serversettings`,
        operation: 'server.settings',
        schema: z.record(z.string(), z.union([z.string(), z.null()])),
      },
      options,
    );
    const out: Record<string, string | null> = {};
    for (const [k, v] of Object.entries(raw)) if (!/passphrase|password|jwt|pbkdf|salt/i.test(k)) out[k] = v;
    return out;
  }

  /**
   * Change server settings (`PATCH /serversettings`); a null value removes a `--option`.
   *
   * @example
   * ```ts
   * await dup.server.updateSettings({ '--send-mail-level': 'Warning,Error' });
   * ```
   */
  async updateSettings(values: Readonly<Record<string, string | null>>, options: RequestOptions = {}): Promise<void> {
    await this.#ctx.core.call(
      {
        method: 'PATCH',
        path: `${API}/serversettings`,
        operation: 'server.updateSettings',
        body: { json: values },
        retry: true,
      },
      options,
    );
  }

  /**
   * One server setting (`GET /serversetting/{key}`).
   *
   * @example
   * ```ts
   * const tz = await dup.server.setting('server-timezone');
   * ```
   */
  setting(key: string, options: RequestOptions = {}): Promise<string | null> {
    return this.#ctx.core.call(
      {
        method: 'GET',
        path: `${API}/serversetting/${seg(key)}`,
        operation: 'server.setting',
        schema: z
          .string()
          .nullish()
          .transform((v) => v ?? null),
      },
      options,
    );
  }
}
