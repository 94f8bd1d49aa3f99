/**
 * The notification contract: what a notifier is given and what it must do. ntfy, Healthchecks.io
 * and webhook notifiers live in `duplicati-kit/ops`; implement {@link Notifier} for another channel.
 *
 * @module
 */
import type { JsonValue } from '../core/json.js';

/** What happened. `start` is sent before work begins (Healthchecks measures duration from it). */
export type NotificationKind = 'start' | 'success' | 'warning' | 'failure';

/** One notification. */
export interface NotificationEvent {
  readonly kind: NotificationKind;
  /** Short title, e.g. `Backup of Immich failed`. */
  readonly title: string;
  /** One or a few lines for a human. */
  readonly message: string;
  /** Job or plan name. */
  readonly job?: string;
  readonly durationMs?: number;
  /** Correlates the `start` and the end of one run (Healthchecks `rid`). */
  readonly runId?: string;
  /** Structured details for webhooks (result, counts…). */
  readonly details?: Readonly<Record<string, JsonValue>>;
  /** Log excerpt; sent only by notifiers configured to include logs. */
  readonly log?: string;
}

/** Something that delivers notifications. Implement it to add your own channel. */
export interface Notifier {
  readonly name: string;
  notify(event: NotificationEvent, options?: { signal?: AbortSignal }): Promise<void>;
}
