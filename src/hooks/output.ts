/**
 * The hook's side of the Duplicati script protocol on stdout and stderr.
 *
 * Duplicati reads a script's stdout line by line: `--name=value` lines (BEFORE only) change the
 * operation's options, and, from 2.0.9.110 on (all of 2.1+), `LOG:INFO|WARN|ERROR message` lines
 * go to the job log; 2.0.x ignores `LOG:` lines. Anything on stderr turns the run into a Warning on
 * every server line (or is appended to the exit-code message). So warnings travel on stderr, and
 * a hook writes to stderr only what must count as a warning.
 *
 * @module
 */
import { EOL } from 'node:os';
import path from 'node:path';
import { childLogger, type LogFields, type Logger } from '../core/logger.js';
import { redactObject, redactText } from '../core/redact.js';
import { HookProtocolError } from './errors.js';
import type { DuplicatiFilter } from './options.js';

/** The part of a writable stream the writer needs (a `Writable`, `process.stdout`, a test double). */
export interface LineSink {
  write(chunk: string, callback?: (error?: Error | null) => void): boolean;
}

/** Level of a `LOG:` line. On 2.1+ WARN makes the job result a Warning, ERROR an Error; 2.0.x ignores them. */
export type ScriptLogLevel = 'INFO' | 'WARN' | 'ERROR';

/** Options of {@link HookOutput}. */
export interface HookOutputOptions {
  /** Where protocol lines go (Duplicati reads the script's stdout). */
  readonly stdout: LineSink;
  /** Where warnings for Duplicati go (Duplicati reads the script's stderr). */
  readonly stderr: LineSink;
  /**
   * Line ending. Duplicati splits option lines on the newline of the machine it runs on, so this
   * must be `\r\n` on Windows. @default os.EOL
   */
  readonly eol?: string;
  /** Values masked (`***`) in every LOG line and stderr text, e.g. the passphrase. */
  readonly secrets?: readonly (string | undefined)[];
  /**
   * False when Duplicati will ignore option lines (AFTER, POST-BACKUP): `option()` then throws
   * instead of writing a line nobody reads. @default true
   */
  readonly acceptOptions?: boolean;
  /** Path list separator of the Duplicati machine, for `localPaths` and `filter`. @default path.delimiter */
  readonly pathSeparator?: string;
}

/** Counts of what a {@link HookOutput} wrote. */
export interface HookOutputCounts {
  readonly options: number;
  readonly info: number;
  readonly warn: number;
  readonly error: number;
  readonly stderr: number;
}

// Duplicati drops these keys from option lines; writing them is always a mistake.
const IGNORED_KEYS = new Set(['eventname', 'operationname', 'main-action']);

/** Fold line breaks so one message stays one protocol line. */
export function foldLines(text: string): string {
  return text
    .split(/\r\n|\r|\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join(' | ');
}

/**
 * Writes the lines Duplicati understands, one per call, and nothing else.
 *
 * @example
 * ```ts
 * const out = new HookOutput({ stdout: process.stdout, stderr: process.stderr });
 * out.option('dblock-size', '25mb');            // --dblock-size=25mb
 * out.info('dumped immich (1.2 GB) in 41 s');   // LOG:INFO dumped immich (1.2 GB) in 41 s
 * out.warn('free space is low');                // on stderr: the job ends as Warning on every server line
 * await out.flush();
 * ```
 */
export class HookOutput {
  readonly #stdout: LineSink;
  readonly #stderr: LineSink;
  readonly #eol: string;
  readonly #secrets: readonly (string | undefined)[];
  readonly #acceptOptions: boolean;
  readonly #sep: string;
  #counts = { options: 0, info: 0, warn: 0, error: 0, stderr: 0 };

  constructor(options: HookOutputOptions) {
    this.#stdout = options.stdout;
    this.#stderr = options.stderr;
    this.#eol = options.eol ?? EOL;
    this.#secrets = [...(options.secrets ?? [])];
    this.#acceptOptions = options.acceptOptions ?? true;
    this.#sep = options.pathSeparator ?? path.delimiter;
  }

  /** What was written so far. */
  get counts(): HookOutputCounts {
    return { ...this.#counts };
  }

  /** True once anything went to stderr (Duplicati then reports a warning). */
  get wroteStderr(): boolean {
    return this.#counts.stderr > 0;
  }

  /**
   * Set an option of the running operation (`--name=value`). Only a BEFORE script's lines are
   * read, and only options read after the script ran take effect (not the database path).
   * Values that Duplicati would trim or unquote are quoted so they arrive unchanged.
   *
   * @throws HookProtocolError for a name Duplicati would ignore or mangle, a line break in the
   *   value, or a call where Duplicati reads no options (AFTER, POST-BACKUP).
   */
  option(name: string, value = ''): void {
    if (!this.#acceptOptions) {
      throw new HookProtocolError(`--${name} not written: Duplicati reads option lines only from BEFORE scripts`);
    }
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || IGNORED_KEYS.has(name.toLowerCase())) {
      throw new HookProtocolError(`--${name} is not an option name Duplicati accepts from a script`);
    }
    if (/[\r\n]/.test(value)) {
      throw new HookProtocolError(`--${name}: option values cannot contain line breaks`);
    }
    const needsQuotes = value !== value.trim() || (value.length >= 2 && value.startsWith('"') && value.endsWith('"'));
    this.#counts.options++;
    this.#line(this.#stdout, `--${name}=${needsQuotes ? `"${value}"` : value}`);
  }

  /** Replace the operation's source paths (`--localpath`), joined with the OS path separator. */
  localPaths(paths: readonly string[]): void {
    for (const p of paths) {
      if (p.includes(this.#sep)) throw new HookProtocolError(`path ${p} contains the path separator ${this.#sep}`);
    }
    this.option('localpath', paths.join(this.#sep));
  }

  /** Replace the operation's filter (`--filter=+a:-b`). */
  filter(filters: readonly DuplicatiFilter[]): void {
    this.option('filter', filters.map((f) => `${f.include ? '+' : '-'}${f.pattern}`).join(this.#sep));
  }

  /**
   * Write a raw `LOG:<level>` line: on 2.1+ the message lands in the job log at that level; 2.0.x
   * ignores it. Use {@link warn} and {@link error} for what must change the result everywhere.
   */
  log(level: ScriptLogLevel, message: string): void {
    const text = foldLines(redactText(message, this.#secrets));
    const key = level === 'INFO' ? 'info' : level === 'WARN' ? 'warn' : 'error';
    this.#counts[key]++;
    this.#line(this.#stdout, text === '' ? `LOG:${level}` : `LOG:${level} ${text}`);
  }

  /** `LOG:INFO` line (shown in the job log on 2.1+; 2.0.x ignores it, which changes nothing). */
  info(message: string): void {
    this.log('INFO', message);
  }

  /**
   * A warning, on stderr: every server line logs a script's stderr as a warning
   * (`StdErrorNotEmpty`) or appends it to the exit-code message, so the job result becomes at
   * least Warning on 2.0.x too, where a `LOG:WARN` line is ignored.
   */
  warn(message: string): void {
    this.#counts.warn++;
    this.stderrWarning(`warning: ${message}`);
  }

  /**
   * An error: a `LOG:ERROR` line (2.1+: the job result becomes Error) and the text on stderr
   * (2.0.x reads no `LOG:` line; stderr makes it at least a Warning there, or joins the
   * exit-code message of a failing script).
   */
  error(message: string): void {
    this.log('ERROR', message);
    this.stderrWarning(`error: ${message}`);
  }

  /**
   * Write to stderr. Duplicati turns non-empty stderr into a warning (`StdErrorNotEmpty`) or, for
   * exit codes 2–5, appends it to the exit-code message; so use this only for what must be seen
   * as a warning or error.
   */
  stderrWarning(text: string): void {
    this.#counts.stderr++;
    this.#line(this.#stderr, foldLines(redactText(text, this.#secrets)));
  }

  /** Resolve once everything written so far has been handed to the OS. */
  flush(): Promise<void> {
    const drain = (s: LineSink): Promise<void> =>
      new Promise((resolve) => {
        try {
          s.write('', () => resolve());
        } catch {
          resolve();
        }
      });
    return Promise.all([drain(this.#stdout), drain(this.#stderr)]).then(() => undefined);
  }

  #line(sink: LineSink, line: string): void {
    try {
      sink.write(`${line}${this.#eol}`);
    } catch {
      // A closed pipe (Duplicati gave up waiting) must not turn into a crash of the hook.
    }
  }
}

function formatFields(fields: LogFields | undefined): string {
  if (!fields) return '';
  // Errors become their message first: redactObject would turn them into `{}`.
  const plain = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v instanceof Error ? v.message : v]));
  const parts = Object.entries(redactObject(plain)).map(
    ([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`,
  );
  return parts.length ? ` ${parts.join(' ')}` : '';
}

/**
 * A {@link Logger} whose lines reach the Duplicati job log: `info` → `LOG:INFO`, `warn` →
 * stderr (the job ends as Warning on every server line), `error` → `LOG:ERROR` and stderr (2.1+:
 * Error; 2.0.x: Warning); `debug` is dropped. Fields are appended as `key=value`, secrets masked.
 *
 * @example
 * ```ts
 * const logger = duplicatiScriptLogger(out);
 * const plan = createBackupPlan({ workDir, sources, logger }); // plan warnings show in the job log
 * ```
 */
export function duplicatiScriptLogger(output: HookOutput, bound: LogFields = {}): Logger {
  const line = (level: ScriptLogLevel, message: string, fields?: LogFields): void => {
    const text = `${message}${formatFields({ ...bound, ...fields })}`;
    if (level === 'INFO') output.info(text);
    else if (level === 'WARN') output.warn(text);
    else output.error(text);
  };
  return {
    debug: () => {},
    info: (m, f) => line('INFO', m, f),
    warn: (m, f) => line('WARN', m, f),
    error: (m, f) => line('ERROR', m, f),
    child: (fields) => duplicatiScriptLogger(output, { ...bound, ...fields }),
  };
}

/**
 * A logger that sends every line to each of `loggers` (e.g. the job log and a file).
 *
 * @example
 * ```ts
 * const logger = teeLogger(duplicatiScriptLogger(out), myFileLogger);
 * ```
 */
export function teeLogger(...loggers: Logger[]): Logger {
  const all = (fn: (l: Logger) => void): void => {
    for (const l of loggers) fn(l);
  };
  return {
    debug: (m, f) => all((l) => l.debug(m, f)),
    info: (m, f) => all((l) => l.info(m, f)),
    warn: (m, f) => all((l) => l.warn(m, f)),
    error: (m, f) => all((l) => l.error(m, f)),
    child: (fields) => teeLogger(...loggers.map((l) => childLogger(l, fields))),
  };
}
