/**
 * Notifications: ntfy, Healthchecks.io and a generic JSON webhook behind one interface. A notifier
 * that fails is logged, never allowed to turn a good backup into a failed one.
 *
 * Uses the platform `fetch`, so a hook that notifies loads no HTTP library.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { anySignal, withTimeout } from '../core/abort.js';
import { DuplicatiKitError, errorGuard } from '../core/errors.js';
import { childLogger, type Logger, silentLogger } from '../core/logger.js';
import { redactText, redactUrl } from '../core/redact.js';
import { configErrorFrom } from '../core/validate.js';
import type { NotificationEvent, NotificationKind, Notifier } from '../contracts/notifier.js';

/** A notifier could not deliver; the message carries no token, password or ping key. */
export class NotificationError extends DuplicatiKitError {
  static override readonly errorName: string = 'NotificationError';
  static override readonly defaultCode: string = 'ERR_NOTIFICATION';
  readonly notifier: string;
  constructor(message: string, notifier: string, options: { cause?: unknown; secrets?: (string | undefined)[] } = {}) {
    super(message, options);
    this.notifier = notifier;
  }
}

/**
 * True when `e` is a {@link NotificationError}, from this copy of the package or another.
 *
 * @example
 * ```ts
 * if (isNotificationError(e)) console.error(`${e.notifier} did not deliver: ${e.message}`);
 * ```
 */
export const isNotificationError = errorGuard<NotificationError>('NotificationError');

function secretFrom(value: string | undefined, file: string | undefined): string | undefined {
  if (value !== undefined) return value;
  if (file !== undefined) return readFileSync(file, 'utf8').trim();
  return undefined;
}

async function send(
  notifier: string,
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string },
  signal: AbortSignal | undefined,
  secrets: (string | undefined)[],
  shownUrl: string,
): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, redirect: 'follow', ...(signal ? { signal } : {}) });
  } catch (e) {
    if (signal?.aborted && !(signal.reason instanceof DuplicatiKitError)) throw signal.reason;
    const why = e instanceof Error ? ((e.cause as Error | undefined)?.message ?? e.message) : String(e);
    throw new NotificationError(`${notifier}: cannot reach ${shownUrl}: ${why}`, notifier, { secrets });
  }
  // Drain the body so the connection is released; keep only a short excerpt for the error.
  const text = (await res.text().catch(() => '')).slice(0, 200);
  if (!res.ok) {
    throw new NotificationError(
      `${notifier}: ${shownUrl} answered ${res.status} ${redactText(text, secrets)}`.trim(),
      notifier,
      { secrets },
    );
  }
}

const ntfyOptions = z
  .object({
    name: z.string().min(1).optional(),
    /** Topic URL: `https://ntfy.sh/my-backups`. */
    url: z.string().url(),
    token: z.string().min(1).optional(),
    tokenFile: z.string().min(1).optional(),
    /** ntfy priority per event kind (1–5). */
    priority: z.record(z.enum(['start', 'success', 'warning', 'failure']), z.number().int().min(1).max(5)).optional(),
    /** Send `start` events too. @default false */
    sendStart: z.boolean().optional(),
    /** Send `success` events. @default true */
    sendSuccess: z.boolean().optional(),
    timeoutMs: z.number().int().positive().optional(),
  })
  .strict();

/** Options of {@link NtfyNotifier}. */
export type NtfyOptions = z.input<typeof ntfyOptions>;

const NTFY_TAGS: Record<NotificationKind, string> = {
  start: 'hourglass_flowing_sand',
  success: 'white_check_mark',
  warning: 'warning',
  failure: 'rotating_light',
};
const NTFY_PRIORITY: Record<NotificationKind, number> = { start: 2, success: 3, warning: 4, failure: 5 };

/**
 * Push notifications through an [ntfy](https://ntfy.sh) topic.
 *
 * @example
 * ```ts
 * new NtfyNotifier({ url: 'https://ntfy.sh/homelab-backups', tokenFile: '/run/secrets/ntfy' });
 * ```
 */
export class NtfyNotifier implements Notifier {
  readonly name: string;
  readonly #o: z.output<typeof ntfyOptions>;
  readonly #token: string | undefined;
  constructor(options: NtfyOptions) {
    const parsed = ntfyOptions.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid ntfy options', parsed.error);
    this.#o = parsed.data;
    this.#token = secretFrom(parsed.data.token, parsed.data.tokenFile);
    this.name = parsed.data.name ?? 'ntfy';
  }
  async notify(event: NotificationEvent, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (event.kind === 'start' && !this.#o.sendStart) return;
    if (event.kind === 'success' && this.#o.sendSuccess === false) return;
    const headers: Record<string, string> = {
      'Content-Type': 'text/plain; charset=utf-8',
      // HTTP headers are Latin-1; ntfy decodes RFC 2047 encoded words for non-ASCII titles.
      Title: /^[\x20-\x7e]*$/.test(event.title)
        ? event.title
        : `=?UTF-8?B?${Buffer.from(event.title).toString('base64')}?=`,
      Priority: String(this.#o.priority?.[event.kind] ?? NTFY_PRIORITY[event.kind]),
      Tags: NTFY_TAGS[event.kind],
    };
    if (this.#token) headers.Authorization = `Bearer ${this.#token}`;
    const signal = withTimeout(options.signal, this.#o.timeoutMs ?? 10_000, 'ntfy notification');
    await send(
      this.name,
      this.#o.url,
      { method: 'POST', headers, body: event.message },
      signal,
      [this.#token],
      redactUrl(this.#o.url),
    );
  }
}

const hcOptions = z
  .object({
    name: z.string().min(1).optional(),
    /** Ping URL of the check: `https://hc-ping.com/<uuid>` or `https://hc-ping.com/<ping-key>/<slug>`. */
    pingUrl: z.string().url().optional(),
    /** File holding the ping URL (it is a secret: anyone with it can ping). */
    pingUrlFile: z.string().min(1).optional(),
    /** Send the log excerpt in the ping body. @default false */
    includeLog: z.boolean().optional(),
    timeoutMs: z.number().int().positive().optional(),
  })
  .strict()
  .refine((o) => (o.pingUrl === undefined) !== (o.pingUrlFile === undefined), {
    message: 'give exactly one of pingUrl or pingUrlFile',
    path: ['pingUrl'],
  });

/** Options of {@link HealthchecksNotifier}. */
export type HealthchecksOptions = z.input<typeof hcOptions>;

/** Healthchecks.io accepts ping bodies up to 100 kB; keep excerpts well under it. */
const HC_BODY_LIMIT = 10_000;

/**
 * Pings a [Healthchecks.io](https://healthchecks.io) check: `/start` before the run, the plain URL on
 * success, `/fail` on failure, each with a run id so Healthchecks measures the duration. Warnings
 * count as success (the backup exists) with the warning in the body. A missed run is what
 * Healthchecks itself alerts on.
 */
export class HealthchecksNotifier implements Notifier {
  readonly name: string;
  readonly #o: z.output<typeof hcOptions>;
  readonly #url: string;
  constructor(options: HealthchecksOptions) {
    const parsed = hcOptions.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid Healthchecks options', parsed.error);
    this.#o = parsed.data;
    this.#url = (secretFrom(parsed.data.pingUrl, parsed.data.pingUrlFile) ?? '').replace(/\/+$/, '');
    this.name = parsed.data.name ?? 'healthchecks';
  }
  async notify(event: NotificationEvent, options: { signal?: AbortSignal } = {}): Promise<void> {
    const suffix = event.kind === 'start' ? '/start' : event.kind === 'failure' ? '/fail' : '';
    const rid = event.runId ? `?rid=${encodeURIComponent(event.runId)}` : '';
    const lines = [event.title, event.message];
    if (event.durationMs !== undefined) lines.push(`duration: ${Math.round(event.durationMs / 1000)} s`);
    if (this.#o.includeLog && event.log) lines.push('', event.log);
    const body = event.kind === 'start' ? '' : lines.join('\n').slice(0, HC_BODY_LIMIT);
    const u = new URL(this.#url);
    const shown = `${u.protocol}//${u.host}/***`;
    const signal = withTimeout(options.signal, this.#o.timeoutMs ?? 10_000, 'Healthchecks ping');
    await send(
      this.name,
      `${this.#url}${suffix}${rid}`,
      { method: 'POST', headers: { 'Content-Type': 'text/plain; charset=utf-8' }, body },
      signal,
      [this.#url, u.pathname.slice(1)],
      shown,
    );
  }
}

const webhookOptions = z
  .object({
    name: z.string().min(1).optional(),
    url: z.string().url(),
    method: z.enum(['POST', 'PUT']).optional(),
    /** Extra headers; values may be secrets (they are never logged). */
    headers: z.record(z.string(), z.string()).optional(),
    /** Include the log excerpt in the JSON. @default false */
    includeLog: z.boolean().optional(),
    timeoutMs: z.number().int().positive().optional(),
  })
  .strict();

/** Options of {@link WebhookNotifier}. */
export type WebhookOptions = z.input<typeof webhookOptions>;

/**
 * POSTs the event as JSON: `{ kind, title, message, job, durationMs, runId, details, log?, time }`.
 */
export class WebhookNotifier implements Notifier {
  readonly name: string;
  readonly #o: z.output<typeof webhookOptions>;
  constructor(options: WebhookOptions) {
    const parsed = webhookOptions.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid webhook options', parsed.error);
    this.#o = parsed.data;
    this.name = parsed.data.name ?? 'webhook';
  }
  async notify(event: NotificationEvent, options: { signal?: AbortSignal } = {}): Promise<void> {
    const { log, ...rest } = event;
    const body = JSON.stringify({
      ...rest,
      ...(this.#o.includeLog && log ? { log } : {}),
      time: new Date().toISOString(),
    });
    const signal = withTimeout(options.signal, this.#o.timeoutMs ?? 10_000, 'webhook');
    await send(
      this.name,
      this.#o.url,
      { method: this.#o.method ?? 'POST', headers: { 'Content-Type': 'application/json', ...this.#o.headers }, body },
      signal,
      [...Object.values(this.#o.headers ?? {})],
      redactUrl(this.#o.url),
    );
  }
}

/** Outcome of one notifier in {@link notifyAll}. */
export interface NotifyResult {
  readonly notifier: string;
  readonly ok: boolean;
  readonly error?: Error;
}

/**
 * Send `event` to every notifier at once. Never throws for a notifier's failure: it is logged and
 * returned. Only the caller's own abort is rethrown.
 *
 * @example
 * ```ts
 * await notifyAll([ntfy, hc], { kind: 'failure', title: 'Immich backup failed', message: e.message, runId });
 * ```
 */
export async function notifyAll(
  notifiers: readonly Notifier[],
  event: NotificationEvent,
  options: { signal?: AbortSignal; logger?: Logger } = {},
): Promise<NotifyResult[]> {
  const logger = options.logger ?? silentLogger;
  return Promise.all(
    notifiers.map(async (n): Promise<NotifyResult> => {
      try {
        await n.notify(event, options.signal ? { signal: anySignal(options.signal) } : {});
        return { notifier: n.name, ok: true };
      } catch (e) {
        if (options.signal?.aborted) throw options.signal.reason;
        const error = e instanceof Error ? e : new Error(String(e));
        childLogger(logger, { notifier: n.name }).warn('notification failed', { error: error.message });
        return { notifier: n.name, ok: false, error };
      }
    }),
  );
}

/** A fresh id correlating a run's `start` and end notifications. */
export function newRunId(): string {
  return randomUUID();
}
