/** Shared helpers of the Duplicati client unit tests (nock-based, no real network). */
import { inspect } from 'node:util';
import { DuplicatiClient, type DuplicatiClientOptions } from '../../../src/duplicati/index.js';
import type { Logger } from '../../../src/core/logger.js';

export const BASE = 'http://duplicati.test:8200';

/** A JWT-shaped token whose payload carries `exp` (seconds). Signature is not checked by clients. */
export function jwt(name: string, expSeconds = Math.floor(Date.now() / 1000) + 900): string {
  const enc = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc({ sub: name, exp: expSeconds })}.c2lnLSR7bmFtZX0`;
}

/** A logger that keeps every line with its fields serialised. */
export function captureLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log =
    (level: string) =>
    (message: string, fields?: object): void => {
      lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
    };
  return { lines, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

/** A 2.1+ client with fast retries. */
export function client21(overrides: Partial<DuplicatiClientOptions> = {}): DuplicatiClient {
  return new DuplicatiClient({
    baseUrl: BASE,
    auth: { type: 'password', password: 'pw-0123456789' },
    generation: '2.1',
    retryMinDelayMs: 1,
    ...overrides,
  });
}

/** Everything an error can show: message, JSON, util.inspect with hidden fields and causes. */
export function dumpError(e: unknown): string {
  return [
    e instanceof Error ? e.message : String(e),
    e instanceof Error ? (e.stack ?? '') : '',
    JSON.stringify(e),
    inspect(e, { depth: Number.POSITIVE_INFINITY, showHidden: true }),
  ].join('\n');
}

/** The ServerStatusDto shape a 2.1+ server sends. */
export function serverState(lastEventId: number, active: { task: number; backup: string } | null = null): object {
  return {
    ProgramState: 'Running',
    ActiveTask: active ? { Item1: active.task, Item2: active.backup } : null,
    SchedulerQueueIds: [],
    ProposedSchedule: [],
    HasWarning: false,
    HasError: false,
    SuggestedStatusIcon: 'Ready',
    EstimatedPauseEnd: '0001-01-01T00:00:00',
    LastEventID: lastEventId,
    LastDataUpdateID: 1,
    LastNotificationUpdateID: 0,
    Type: 'legacystatus',
  };
}

/** A `Result` log row as the server stores it. */
export function resultRow(
  id: number,
  result: { ParsedResult: string; MainOperation: string; Interrupted?: boolean; Errors?: string[] },
  timestamp = Math.floor(Date.now() / 1000),
): object {
  return {
    ID: id,
    OperationID: id,
    Timestamp: timestamp,
    Type: 'Result',
    Message: JSON.stringify({
      Interrupted: false,
      BeginTime: '2026-11-29T06:59:16.05514Z',
      EndTime: '2026-11-29T06:59:17Z',
      Messages: [],
      Warnings: [],
      Errors: [],
      ...result,
    }),
    Exception: null,
  };
}
