/**
 * The logger contract. The library logs through an injected {@link Logger} and is silent by
 * default; it never writes to stdout (Duplicati parses a hook's stdout).
 *
 * @module
 */
import type { Writable } from 'node:stream';
import { redactObject } from './redact.js';

/** Structured fields attached to a log line. */
export type LogFields = Readonly<Record<string, unknown>>;

/**
 * A structural logger: anything with these four methods. `console` fits; a pino logger fits
 * through {@link fromPino} (pino takes the fields first).
 */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** Optional: a logger that adds `fields` to every line. */
  child?(fields: LogFields): Logger;
}

const noop = (): void => {};

/** The default logger: drops everything. */
export const silentLogger: Logger = Object.freeze({ debug: noop, info: noop, warn: noop, error: noop });

/**
 * A logger that adds `fields` to every line of `logger`, using its own `child` when it has one.
 */
export function childLogger(logger: Logger, fields: LogFields): Logger {
  if (logger === silentLogger) return silentLogger;
  if (typeof logger.child === 'function') return logger.child(fields);
  const merge = (f?: LogFields): LogFields => ({ ...fields, ...f });
  return {
    debug: (m, f) => logger.debug(m, merge(f)),
    info: (m, f) => logger.info(m, merge(f)),
    warn: (m, f) => logger.warn(m, merge(f)),
    error: (m, f) => logger.error(m, merge(f)),
    child: (more) => childLogger(logger, { ...fields, ...more }),
  };
}

/** The subset of pino's API {@link fromPino} needs. */
export interface PinoLike {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: object): PinoLike;
}

/**
 * Adapt a pino logger (fields first, message second) to {@link Logger}.
 *
 * @example
 * ```ts
 * import pino from 'pino';
 * const plan = createBackupPlan({ workDir, sources, logger: fromPino(pino()) });
 * ```
 */
export function fromPino(p: PinoLike): Logger {
  return {
    debug: (m, f) => p.debug(f ?? {}, m),
    info: (m, f) => p.info(f ?? {}, m),
    warn: (m, f) => p.warn(f ?? {}, m),
    error: (m, f) => p.error(f ?? {}, m),
    child: (fields) => fromPino(p.child(fields)),
  };
}

/** Log levels in increasing severity. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Options of {@link streamLogger}. */
export interface StreamLoggerOptions {
  /** Where lines go. @default process.stderr */
  readonly stream?: Writable;
  /** Lowest level written. @default 'info' */
  readonly level?: LogLevel;
  /** `json` writes one JSON object a line; `text` a human line. @default 'text' */
  readonly format?: 'json' | 'text';
}

/**
 * A small logger writing to a stream (stderr by default), with secret-named fields masked.
 * The CLI uses it; libraries embedding duplicati-kit usually pass their own.
 */
export function streamLogger(options: StreamLoggerOptions = {}, bound: LogFields = {}): Logger {
  const stream = options.stream ?? process.stderr;
  const min = LEVELS[options.level ?? 'info'];
  const format = options.format ?? 'text';
  const write = (level: LogLevel, message: string, fields?: LogFields): void => {
    if (LEVELS[level] < min) return;
    const all = redactObject({ ...bound, ...fields });
    if (format === 'json') {
      stream.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...all })}\n`);
    } else {
      const extra = Object.entries(all)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      stream.write(`${level.toUpperCase().padEnd(5)} ${message}${extra ? ` ${extra}` : ''}\n`);
    }
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => streamLogger(options, { ...bound, ...fields }),
  };
}
