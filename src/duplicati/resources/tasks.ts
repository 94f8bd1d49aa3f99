/**
 * `client.tasks`: the server's serial task queue.
 *
 * @module
 */
import { z } from 'zod';
import { sleep, withTimeout } from '../../core/abort.js';
import { isDuplicatiAPIError, isDuplicatiConnectionError, isDuplicatiNotFoundError } from '../../core/errors.js';
import type { RequestOptions } from '../http.js';
import { taskStateWire } from '../schemas.js';
import type { TaskState } from '../types.js';
import { API, type ClientContext, seg } from './context.js';
import type { ServerResource } from './server.js';

/** A queued or running task as `GET /tasks` lists it. */
export interface TaskListItem {
  readonly taskId: string | null;
  readonly backupId: string | null;
  readonly operation: string | null;
  readonly status: string | null;
}

const taskListWire = z.array(
  z
    .object({
      ID: z.union([z.string(), z.number()]).nullish(),
      TaskID: z.union([z.string(), z.number()]).nullish(),
      BackupID: z.union([z.string(), z.number()]).nullish(),
      Operation: z.string().nullish(),
      Status: z.string().nullish(),
    })
    .transform((t): TaskListItem => {
      const tid = t.ID ?? t.TaskID;
      return {
        taskId: tid === undefined || tid === null ? null : String(tid),
        backupId: t.BackupID === undefined || t.BackupID === null ? null : String(t.BackupID),
        operation: t.Operation ?? null,
        status: t.Status ?? null,
      };
    }),
);

/** Options of {@link TasksResource.wait}. */
export interface WaitOptions {
  readonly signal?: AbortSignal;
  /** Give up after this many ms (a `TimeoutError`). Default: no limit. */
  readonly totalTimeout?: number;
  /** Long-poll duration per request, seconds (11 … 3600). @default 60 */
  readonly longPollSeconds?: number;
  /** Poll interval when long-poll is unavailable, ms. @default 10000 */
  readonly pollIntervalMs?: number;
  /** Use long-poll (default) or plain polling. */
  readonly longPoll?: boolean;
  /** Called with every task state seen. */
  readonly onState?: (state: TaskState) => void;
}

const FINAL = new Set(['Completed', 'Failed']);

/** Task queue operations. */
export class TasksResource {
  readonly #ctx: ClientContext;
  readonly #server: ServerResource;
  /** Which stop/abort route set worked: 2.1.2+ (`stop`) or 2.0 / 2.1.0.x (`stopaftercurrentfile`). */
  #legacyStop: boolean | undefined;

  constructor(ctx: ClientContext, deps: { readonly server: ServerResource }) {
    this.#ctx = ctx;
    this.#server = deps.server;
  }

  /**
   * The running task and the queue.
   *
   * @example
   * ```ts
   * const queue = await dup.tasks.list();
   * ```
   */
  list(options: RequestOptions = {}): Promise<TaskListItem[]> {
    return this.#ctx.core.call(
      { method: 'GET', path: `${API}/tasks`, operation: 'tasks.list', schema: taskListWire },
      options,
    );
  }

  /**
   * One task's state. `Completed` does not mean success: see `backups.runAndWait`. The server
   * keeps the last ~100 results in memory only, so an old or pre-restart task is a 404
   * (`DuplicatiNotFoundError`).
   *
   * @example
   * ```ts
   * const t = await dup.tasks.get('7');
   * ```
   */
  async get(taskId: string, options: RequestOptions = {}): Promise<TaskState> {
    const t = await this.#ctx.core.call(
      { method: 'GET', path: `${API}/task/${seg(taskId)}`, operation: 'tasks.get', schema: taskStateWire },
      options,
    );
    const { wireId: _ignored, ...rest } = t;
    return { id: taskId, ...rest };
  }

  /**
   * Stop a task gracefully (the result is marked interrupted). Uses `task/{id}/stop` on 2.1.2+
   * and `stopaftercurrentfile` on 2.0.x / 2.1.0.x.
   *
   * @example
   * ```ts
   * await dup.tasks.stop('7');
   * ```
   */
  async stop(taskId: string, options: RequestOptions & { now?: boolean } = {}): Promise<void> {
    await this.#post(taskId, options.now ? 'stopnow' : 'stopaftercurrentfile', 'stop', options);
  }

  /**
   * Abort a task hard (2.1.2+: it ends `Failed`).
   *
   * @example
   * ```ts
   * await dup.tasks.abort('7');
   * ```
   */
  async abort(taskId: string, options: RequestOptions = {}): Promise<void> {
    await this.#ctx.core.call(
      { method: 'POST', path: `${API}/task/${seg(taskId)}/abort`, operation: 'tasks.abort', retry: true },
      options,
    );
  }

  async #post(taskId: string, legacy: string, modern: string, options: RequestOptions): Promise<void> {
    const call = (route: string): Promise<void> =>
      this.#ctx.core.call(
        { method: 'POST', path: `${API}/task/${seg(taskId)}/${route}`, operation: `tasks.${modern}`, retry: true },
        options,
      );
    if (this.#legacyStop === undefined && (await this.#ctx.generation(options.signal)) === '2.0') {
      this.#legacyStop = true;
    }
    if (this.#legacyStop) return call(legacy);
    try {
      await call(modern);
      this.#legacyStop = false;
    } catch (e) {
      // 2.1.0.4/2.1.0.5 went back to the old routes: a 404 on `stop` may just mean "no such route".
      if (this.#legacyStop === false || !isDuplicatiNotFoundError(e)) throw e;
      await call(legacy);
      this.#legacyStop = true;
    }
  }

  /**
   * Wait until a task is `Completed` or `Failed`. Uses the server-state long-poll (one request
   * per `longPollSeconds` while nothing happens, an immediate answer when something does), and
   * falls back to polling every `pollIntervalMs` when the server refuses long-poll. Survives
   * connection loss and 502/503/504 (a server or proxy restart) by retrying with back-off until `totalTimeout`.
   *
   * @example
   * ```ts
   * const { taskId } = await dup.backups.verify('1');
   * const final = await dup.tasks.wait(taskId!, { totalTimeout: 3_600_000 });
   * ```
   */
  async wait(taskId: string, options: WaitOptions = {}): Promise<TaskState> {
    const signal = withTimeout(options.signal, options.totalTimeout, `waiting for task ${taskId}`);
    const server = this.#server;
    let longPoll = options.longPoll !== false;
    let lastEventId: number | undefined;
    let backoff = 500;
    for (;;) {
      try {
        // Read the event counter before the task: an event after this read ends the next long-poll.
        if (longPoll && lastEventId === undefined) lastEventId = (await server.state({ signal })).lastEventId;
        const state = await this.get(taskId, { signal });
        options.onState?.(state);
        if (FINAL.has(state.status)) return state;
        if (longPoll && lastEventId !== undefined) {
          try {
            const s = await server.state({
              signal,
              longPoll: { lastEventId, durationSeconds: options.longPollSeconds ?? 60 },
            });
            lastEventId = s.lastEventId;
          } catch (e) {
            if (!isDuplicatiAPIError(e) || e.status !== 400) throw e;
            this.#ctx.core.logger.debug('duplicati long-poll refused, polling instead', { status: e.status });
            longPoll = false;
          }
        } else {
          await sleep(options.pollIntervalMs ?? 10_000, signal);
        }
        backoff = 500;
      } catch (e) {
        if (signal.aborted) throw signal.reason;
        const transient =
          isDuplicatiConnectionError(e) || (isDuplicatiAPIError(e) && [502, 503, 504].includes(e.status));
        if (!transient) throw e;
        // The server (or the proxy in front of it) may be restarting: keep waiting, but no faster than the back-off.
        this.#ctx.core.logger.debug('duplicati unreachable while waiting', { taskId, retryInMs: backoff });
        lastEventId = undefined;
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, 10_000);
      }
    }
  }
}
