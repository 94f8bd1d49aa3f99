/**
 * Reading the true outcome of an operation from the backup's `Result` log rows. Task status is
 * not enough: on 2.0.x and 2.1.0.x a failed run still ends `Completed`, and a run aborted by a
 * hook ends `Completed` with a Success-looking result marked `Interrupted`.
 *
 * @module
 */
import { sleep } from '../core/abort.js';
import { isDuplicatiAPIError, isDuplicatiServerError } from '../core/errors.js';
import { resultMessageWire } from './schemas.js';
import type { LogEntry, OperationOutcome, OperationResult } from './types.js';

const RANK: Record<OperationResult, number> = { Success: 0, Warning: 1, Error: 2, Fatal: 3 };

/** The more severe of two results. */
export function worse(a: OperationResult, b: OperationResult): OperationResult {
  return RANK[a] >= RANK[b] ? a : b;
}

/** Parsed `Result` row. */
export interface ParsedResultRow {
  readonly row: LogEntry;
  readonly result: OperationResult;
  readonly interrupted: boolean;
  readonly operation: string | null;
  readonly beginTime: Date | null;
  readonly endTime: Date | null;
  readonly messages: string[];
  readonly warnings: string[];
  readonly errors: string[];
  readonly raw: Record<string, unknown>;
}

function date(v: string | null | undefined): Date | null {
  if (!v || v.startsWith('0001-')) return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** Parse a `Result` row's message; null when it is not a result row or not parseable. */
export function parseResultRow(row: LogEntry): ParsedResultRow | null {
  if (row.type !== 'Result' || !row.message) return null;
  let json: unknown;
  try {
    json = JSON.parse(row.message);
  } catch {
    return null;
  }
  const r = resultMessageWire.safeParse(json);
  if (!r.success) return null;
  const d = r.data;
  const interrupted = d.Interrupted === true;
  const base: OperationResult = d.ParsedResult === 'Unknown' ? 'Error' : d.ParsedResult;
  return {
    row,
    // An interrupted operation (hook exit 1/3/5, a stop) did not do its work: never a success.
    result: interrupted ? 'Fatal' : base,
    interrupted,
    operation: d.MainOperation ?? null,
    beginTime: date(d.BeginTime),
    endTime: date(d.EndTime),
    messages: d.Messages ?? [],
    warnings: d.Warnings ?? [],
    errors: d.Errors ?? [],
    raw: json as Record<string, unknown>,
  };
}

/** Where to look for the operation's Result row. */
export interface ResultQuery {
  /** Newest log row id before the operation started; rows above it are candidates. */
  readonly afterId: number | undefined;
  /** Used when `afterId` is unknown: rows at or after this time are candidates. */
  readonly notBefore: Date;
  /** `Backup`, `Restore`, `Test`, … */
  readonly operation: string;
}

/**
 * True for the answer 2.0.7.3 gives to the log of a job that never ran (it has no database yet):
 * HTTP 500 `SQLite error / no such table: LogData`. That log is empty, not unreadable.
 */
export function isNoLogYet(e: unknown): boolean {
  return isDuplicatiServerError(e) && /no such table:\s*"?LogData/i.test(`${e.message}\n${e.body ?? ''}`);
}

/** Newest log row id of a backup (0 for a job without a log yet), or undefined when unknown. */
export async function newestLogId(
  fetchPage: (offset: number | undefined, pageSize: number) => Promise<LogEntry[]>,
): Promise<number | undefined> {
  try {
    const rows = await fetchPage(undefined, 10);
    return rows.reduce<number | undefined>((m, r) => (m === undefined || r.id > m ? r.id : m), undefined) ?? 0;
  } catch (e) {
    // No database yet: every row the operation writes is new.
    if (isNoLogYet(e)) return 0;
    if (isDuplicatiAPIError(e)) return undefined;
    throw e;
  }
}

/**
 * Find the Result row of the operation. On 2.3.1+ the log answers 400 `DatabaseLocked` while
 * another task holds the database, so that case is retried for a short while.
 */
export async function findResultRow(
  fetchPage: (offset: number | undefined, pageSize: number) => Promise<LogEntry[]>,
  q: ResultQuery,
  signal?: AbortSignal,
): Promise<ParsedResultRow | null> {
  for (let attempt = 0; ; attempt++) {
    try {
      let offset: number | undefined;
      for (let page = 0; page < 10; page++) {
        const rows = await fetchPage(offset, 20);
        for (const row of rows) {
          const past =
            q.afterId !== undefined ? row.id <= q.afterId : row.timestamp.getTime() < q.notBefore.getTime() - 2000;
          if (past) return null;
          const parsed = parseResultRow(row);
          if (parsed && (parsed.operation === null || parsed.operation === q.operation)) return parsed;
        }
        const last = rows.at(-1);
        if (rows.length < 20 || !last) return null;
        offset = last.id;
      }
      return null;
    } catch (e) {
      // Still no database (a required script stopped the job's first run): no Result row.
      if (isNoLogYet(e)) return null;
      const locked = isDuplicatiAPIError(e) && e.status === 400 && /DatabaseLocked/i.test(e.body ?? '');
      if (!locked || attempt >= 10) throw e;
      await sleep(1000, signal);
    }
  }
}

/** Combine the task status and the Result row into the outcome. */
export function buildOutcome(args: {
  taskId: string | null;
  backupId: string;
  status: string;
  taskError?: string | null;
  taskStarted?: string | null;
  taskFinished?: string | null;
  row: ParsedResultRow | null;
}): OperationOutcome {
  const { row } = args;
  let result: OperationResult = row ? row.result : 'Fatal';
  if (args.status === 'Failed') result = worse(result, 'Fatal');
  const errors = [...(row?.errors ?? [])];
  if (args.taskError) errors.push(args.taskError);
  if (!row) errors.push('The server wrote no Result log row for this operation; its outcome is unknown.');
  return {
    taskId: args.taskId,
    backupId: args.backupId,
    status: args.status,
    result,
    interrupted: row?.interrupted ?? false,
    operation: row?.operation ?? null,
    startedAt: row?.beginTime ?? date(args.taskStarted),
    finishedAt: row?.endTime ?? date(args.taskFinished),
    messages: row?.messages ?? [],
    warnings: row?.warnings ?? [],
    errors,
    raw: row?.raw ?? null,
  };
}
