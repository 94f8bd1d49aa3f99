/**
 * `client.logs`: the server-wide error log, paged newest first.
 *
 * @module
 */
import { z } from 'zod';
import type { RequestOptions } from '../http.js';
import { serverLogWire } from '../schemas.js';
import { API, type ClientContext } from './context.js';

/** One row of the server's own log. */
export interface ServerLogEntry {
  readonly backupId: string | null;
  readonly message: string | null;
  readonly exception: string | null;
  readonly timestamp: Date;
}

/** Server-wide logs. */
export class LogsResource {
  readonly #ctx: ClientContext;
  constructor(ctx: ClientContext) {
    this.#ctx = ctx;
  }

  /**
   * Iterate the server log (`GET /logdata/log`), newest first, one page at a time.
   *
   * @example
   * ```ts
   * for await (const row of dup.logs.list({ pageSize: 50 })) console.error(row.timestamp, row.message);
   * ```
   */
  async *list(options: RequestOptions & { pageSize?: number } = {}): AsyncGenerator<ServerLogEntry> {
    const pageSize = Math.min(500, Math.max(10, options.pageSize ?? 100));
    let offset: number | undefined;
    for (;;) {
      const rows = await this.#ctx.core.call(
        {
          method: 'GET',
          path: `${API}/logdata/log`,
          operation: 'logs.list',
          query: { pagesize: pageSize, offset },
          schema: z.array(serverLogWire),
        },
        options,
      );
      for (const r of rows) yield r;
      const last = rows.at(-1);
      if (rows.length < pageSize || !last) return;
      const next = Math.floor(last.timestamp.getTime() / 1000);
      if (offset !== undefined && next >= offset) return;
      offset = next;
    }
  }
}
