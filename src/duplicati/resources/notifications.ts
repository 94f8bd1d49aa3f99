/**
 * `client.notifications`: list and dismiss server notifications.
 *
 * @module
 */
import { z } from 'zod';
import type { RequestOptions } from '../http.js';
import { notificationWire } from '../schemas.js';
import type { Notification } from '../types.js';
import { API, type ClientContext, seg } from './context.js';

/** Server notifications (warnings and errors of runs, update notices). */
export class NotificationsResource {
  readonly #ctx: ClientContext;
  constructor(ctx: ClientContext) {
    this.#ctx = ctx;
  }

  /**
   * All current notifications.
   *
   * @example
   * ```ts
   * for (const n of await dup.notifications.list()) console.error(n.type, n.title);
   * ```
   */
  list(options: RequestOptions = {}): Promise<Notification[]> {
    return this.#ctx.core.call(
      {
        method: 'GET',
        path: `${API}/notifications`,
        operation: 'notifications.list',
        schema: z.array(notificationWire),
      },
      options,
    );
  }

  /**
   * Dismiss one notification.
   *
   * @example
   * ```ts
   * await dup.notifications.dismiss('1');
   * ```
   */
  async dismiss(id: string, options: RequestOptions = {}): Promise<void> {
    await this.#ctx.core.call(
      { method: 'DELETE', path: `${API}/notification/${seg(id)}`, operation: 'notifications.dismiss' },
      options,
    );
  }
}
