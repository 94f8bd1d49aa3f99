/**
 * Parsers for the result file Duplicati hands an after-script (`DUPLICATI__RESULTFILE`), in both
 * formats of `--run-script-result-output-format`:
 *
 * - `Duplicati` (default): an optional exception block (`Failed: …` / `Details: …`), then one
 *   `Key: Value` line per property of the result (lists as `Key: [` … `]`, nested values
 *   indented by four spaces), then `Log data:` and the captured log lines.
 * - `Json`: `{"Data": {…}, "Extra": …, "LogLines": [...], "Exception": "…" | null}`.
 *
 * Both parsers keep every property they find, known or not, and never throw on an unfamiliar
 * shape: a result file is read after the operation, when cleanup and notifications must still run.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import type { JsonValue } from '../contracts/types.js';
import { HookEnvError } from './errors.js';
import { PARSED_RESULTS, type ParsedResult } from './protocol.js';

/** Format of a result file. `Template` files (newer servers) are kept as text only. */
export type ResultFileFormat = 'Duplicati' | 'Json' | 'Template';

/** One captured log line of the result file. */
export interface ResultLogLine {
  /** The whole entry as written, continuation lines (exception details) included. */
  readonly raw: string;
  /** `Warning`, `Error`, `Information`, … when the entry has Duplicati's log line shape. */
  readonly level: string | undefined;
  /** The filter tag after the level, e.g. `Duplicati.Library.Main.Operation.BackupHandler-FileAccessError`. */
  readonly tag: string | undefined;
  /** The message (first line after the tag, plus continuation lines). */
  readonly message: string;
  /** Timestamp text as written (local time with offset), when present. */
  readonly time: string | undefined;
}

/** The exception block of a failed operation. */
export interface ResultException {
  /** First line: the exception message. */
  readonly message: string;
  /** The full exception text (type, message, stack), as Duplicati wrote it. */
  readonly details: string;
}

/** A parsed result file. */
export interface DuplicatiResult {
  readonly format: ResultFileFormat;
  /** `ParsedResult` of the operation, when the file names one Duplicati knows. */
  readonly parsedResult: ParsedResult | undefined;
  /** `MainOperation`, e.g. `Backup`. */
  readonly mainOperation: string | undefined;
  readonly interrupted: boolean | undefined;
  readonly beginTime: Date | undefined;
  readonly endTime: Date | undefined;
  readonly durationMs: number | undefined;
  /** Duplicati version that wrote the result. */
  readonly version: string | undefined;
  /** `WarningsActualLength`: how many warnings the operation logged. */
  readonly warningCount: number | undefined;
  /** `ErrorsActualLength`: how many errors the operation logged. */
  readonly errorCount: number | undefined;
  readonly exception: ResultException | undefined;
  readonly logLines: readonly ResultLogLine[];
  /**
   * Every property of the result object as read, unknown ones included. Text-format values are
   * strings (`"True"`, `"1234"`), lists are arrays, nested objects are objects.
   */
  readonly data: Readonly<Record<string, JsonValue>>;
}

const LOG_ENTRY = /^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?: [+-]\d{1,2}(?::?\d{2})?)?) - \[([^\]]*)\]: ?(.*)$/;

function splitLines(text: string): string[] {
  return text.split(/\r\n|\r|\n/);
}

/** Group raw log text lines into entries: a line with a timestamp starts a new entry. */
function parseLogLines(lines: readonly string[]): ResultLogLine[] {
  const groups: string[][] = [];
  for (const line of lines) {
    const last = groups.at(-1);
    if (LOG_ENTRY.test(line) || last === undefined) groups.push([line]);
    else last.push(line);
  }
  return groups
    .map((g) => {
      while (g.length > 0 && (g.at(-1) as string).trim() === '') g.pop();
      return g;
    })
    .filter((g) => g.length > 0)
    .map((g) => parseLogEntry(g.join('\n')));
}

function parseLogEntry(raw: string): ResultLogLine {
  const [first = '', ...rest] = raw.split('\n');
  const m = LOG_ENTRY.exec(first);
  if (!m) return { raw, level: undefined, tag: undefined, message: raw, time: undefined };
  const filterTag = m[2] as string;
  const dash = filterTag.indexOf('-');
  return {
    raw,
    time: m[1],
    level: dash > 0 ? filterTag.slice(0, dash) : filterTag,
    tag: dash > 0 ? filterTag.slice(dash + 1) : undefined,
    message: [m[3] as string, ...rest].join('\n'),
  };
}

const PROPERTY = /^( *)([A-Za-z_][A-Za-z0-9_.]*): ?(.*)$/;
const TOP_PROPERTY = /^[A-Z][A-Za-z0-9_]*: /;

function indentOf(line: string): number {
  return line.length - line.trimStart().length;
}

/**
 * Parse the lines of one object printed at `indent` into a record. Lines that fit no property
 * continue the previous value (multi-line strings).
 */
function parseBlock(lines: readonly string[], indent: number): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  let lastKey: string | undefined;
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] as string;
    const m = PROPERTY.exec(line);
    if (!m || (m[1] as string).length !== indent) {
      if (lastKey !== undefined && typeof out[lastKey] === 'string' && line.trim() !== '') {
        out[lastKey] = `${out[lastKey] as string}\n${line}`;
      }
      i++;
      continue;
    }
    const key = m[2] as string;
    const rest = (m[3] as string).trimEnd();
    lastKey = key;
    if (rest === '[]') {
      out[key] = [];
      i++;
    } else if (rest === '[') {
      let j = i + 1;
      while (j < lines.length && !((lines[j] as string).trimEnd() === `${' '.repeat(indent)}]`)) j++;
      out[key] = parseList(lines.slice(i + 1, j), indent + 4);
      i = j + 1;
    } else if (rest === '') {
      let j = i + 1;
      while (j < lines.length && ((lines[j] as string).trim() === '' || indentOf(lines[j] as string) > indent)) j++;
      const nested = lines.slice(i + 1, j);
      out[key] = nested.some((l) => l.trim() !== '') ? parseBlock(nested, indent + 4) : '';
      i = j;
    } else {
      out[key] = rest;
      i++;
    }
  }
  return out;
}

/** Items of a printed list, separated by a `,` at the end of an item's last line. */
function parseList(lines: readonly string[], indent: number): JsonValue[] {
  const items: string[][] = [];
  let current: string[] = [];
  // Continuation lines of a multi-line item are printed unindented, so an item ends at a `,`
  // only when the next line starts the next item at the list's own indentation.
  const startsItem = (line: string | undefined): boolean =>
    line === undefined || (indentOf(line) === indent && line.trim() !== '');
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '...' && current.length === 0) continue;
    const ends = line.endsWith(',') && startsItem(lines[i + 1]);
    current.push(ends ? line.slice(0, -1) : line);
    if (ends) {
      items.push(current);
      current = [];
    }
  }
  if (current.some((l) => l.trim() !== '')) items.push(current);
  return items.map((item) => {
    const first = item[0] ?? '';
    const m = PROPERTY.exec(first);
    if (m && (m[1] as string).length === indent && item.length >= 1 && /^[A-Z]/.test(m[2] as string)) {
      return parseBlock(item, indent);
    }
    return item.map((l) => l.slice(Math.min(indent, indentOf(l)))).join('\n');
  });
}

function parseTextFormat(text: string): {
  data: Record<string, JsonValue>;
  exception?: ResultException;
  log: string[];
} {
  const lines = splitLines(text);
  let i = 0;
  let exception: ResultException | undefined;
  if ((lines[0] ?? '').startsWith('Failed: ')) {
    const message: string[] = [(lines[0] as string).slice('Failed: '.length)];
    i = 1;
    while (i < lines.length && !(lines[i] as string).startsWith('Details: ')) message.push(lines[i++] as string);
    const details: string[] = [];
    if (i < lines.length) details.push((lines[i++] as string).slice('Details: '.length));
    while (i < lines.length) {
      const line = lines[i] as string;
      if (TOP_PROPERTY.test(line) || line === 'Log data:' || line === 'null?') break;
      details.push(line);
      i++;
    }
    while (details.length > 0 && (details.at(-1) as string).trim() === '') details.pop();
    exception = { message: message.join('\n').trim(), details: details.join('\n') };
  }
  let end = lines.indexOf('Log data:', i);
  if (end < 0) end = lines.length;
  const body = lines.slice(i, end).filter((l) => l !== 'null?');
  const data = parseBlock(body, 0);
  const log = end < lines.length ? lines.slice(end + 1) : [];
  return exception ? { data, exception, log } : { data, log };
}

function asRecord(v: unknown): Record<string, JsonValue> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, JsonValue>) : {};
}

function parseJsonFormat(
  text: string,
  file: string | undefined,
): {
  data: Record<string, JsonValue>;
  exception?: ResultException;
  log: string[];
} {
  let doc: unknown;
  try {
    doc = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (cause) {
    throw new HookEnvError(
      `The result file ${file ?? ''} is not valid JSON`.replace('  ', ' '),
      'DUPLICATI__RESULTFILE',
      {
        cause,
      },
    );
  }
  const root = asRecord(doc);
  const log = Array.isArray(root['LogLines']) ? root['LogLines'].filter((l): l is string => typeof l === 'string') : [];
  const ex = root['Exception'];
  const data = asRecord(root['Data']);
  if (typeof ex === 'string' && ex.trim() !== '') {
    const firstLine = ex.split(/\r?\n/)[0] as string;
    // .NET's Exception.ToString() starts with "<Type>: <message>".
    const message = firstLine.replace(/^[A-Za-z_][\w.`+]*(?:Exception|Error): /, '');
    return { data, exception: { message, details: ex }, log };
  }
  return { data, log };
}

function str(v: JsonValue | undefined): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

function toBool(v: JsonValue | undefined): boolean | undefined {
  if (typeof v === 'boolean') return v;
  const s = str(v)?.toLowerCase();
  return s === 'true' ? true : s === 'false' ? false : undefined;
}

function toInt(v: JsonValue | undefined): number | undefined {
  const s = str(v);
  return s !== undefined && /^-?\d+$/.test(s.trim()) ? Number(s) : undefined;
}

/**
 * Read a .NET DateTime as Duplicati prints it: text format `<local time> (<unix seconds>)`, or
 * JSON ISO-8601 (7 fraction digits, zone optional). The unset value (year 1) gives `undefined`.
 */
function toDate(v: JsonValue | undefined): Date | undefined {
  const s = str(v)?.trim();
  if (!s) return undefined;
  const unix = /\((-?\d+)\)$/.exec(s);
  if (unix) {
    const secs = Number(unix[1]);
    return secs <= 0 ? undefined : new Date(secs * 1000);
  }
  const iso = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?$/.exec(s);
  if (!iso) return undefined;
  if (Number(iso[1]) <= 1) return undefined;
  const ms = (iso[7] ?? '0').padEnd(3, '0').slice(0, 3);
  const d = new Date(`${iso[1]}-${iso[2]}-${iso[3]}T${iso[4]}:${iso[5]}:${iso[6]}.${ms}${iso[8] ?? 'Z'}`);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** A .NET TimeSpan (`[-][d.]hh:mm:ss[.fffffff]`) in milliseconds. */
export function parseDotNetTimeSpan(text: string | undefined): number | undefined {
  const m = /^(-)?(?:(\d+)\.)?(\d+):(\d{2}):(\d{2})(?:\.(\d+))?$/.exec(text?.trim() ?? '');
  if (!m) return undefined;
  const frac = Number(`0.${m[6] ?? '0'}`);
  const ms =
    ((Number(m[2] ?? '0') * 24 + Number(m[3])) * 3600 + Number(m[4]) * 60 + Number(m[5])) * 1000 +
    Math.round(frac * 1000);
  return m[1] ? -ms : ms;
}

function summarise(
  format: ResultFileFormat,
  parts: { data: Record<string, JsonValue>; exception?: ResultException; log: string[] },
  groupLog: boolean,
): DuplicatiResult {
  const d = parts.data;
  const parsed = str(d['ParsedResult']);
  const duration = d['Duration'];
  return Object.freeze({
    format,
    parsedResult: PARSED_RESULTS.find((p) => p === parsed),
    mainOperation: str(d['MainOperation']),
    interrupted: toBool(d['Interrupted']),
    beginTime: toDate(d['BeginTime']),
    endTime: toDate(d['EndTime']),
    durationMs: typeof duration === 'number' ? duration : parseDotNetTimeSpan(str(duration)),
    version: str(d['Version']),
    warningCount: toInt(d['WarningsActualLength']),
    errorCount: toInt(d['ErrorsActualLength']),
    exception: parts.exception,
    logLines: Object.freeze(groupLog ? parseLogLines(parts.log) : parts.log.map((l) => parseLogEntry(l))),
    data: d,
  });
}

/**
 * Parse a result file written in the `Duplicati` text format.
 *
 * @example
 * ```ts
 * const r = parseDuplicatiResultText('ParsedResult: Warning\nMainOperation: Backup\n');
 * r.parsedResult; // 'Warning'
 * ```
 */
export function parseDuplicatiResultText(text: string): DuplicatiResult {
  return summarise('Duplicati', parseTextFormat(text.replace(/^\uFEFF/, '')), true);
}

/**
 * Parse a result file written in the `Json` format.
 *
 * @throws HookEnvError when the text is not JSON.
 * @example
 * ```ts
 * const r = parseDuplicatiResultJson('{"Data":{"ParsedResult":"Success"},"LogLines":[],"Exception":null}');
 * r.parsedResult; // 'Success'
 * ```
 */
export function parseDuplicatiResultJson(text: string, file?: string): DuplicatiResult {
  return summarise('Json', parseJsonFormat(text, file), false);
}

/**
 * Parse result file text. The format is taken from the content (a JSON object is the `Json`
 * format whatever `format` says, since servers differ in how they apply the option), then from
 * `format`.
 *
 * @example
 * ```ts
 * const r = parseResultFile(text, env.resultFormat);
 * if (r.parsedResult !== 'Success') notify(r.logLines.map((l) => l.message));
 * ```
 */
export function parseResultFile(text: string, format: ResultFileFormat = 'Duplicati', file?: string): DuplicatiResult {
  const trimmed = text.replace(/^\uFEFF/, '').trimStart();
  if (trimmed.startsWith('{') && format !== 'Template') return parseDuplicatiResultJson(trimmed, file);
  if (format === 'Json') return parseDuplicatiResultJson(trimmed, file);
  const r = parseDuplicatiResultText(text);
  return format === 'Template' ? Object.freeze({ ...r, format }) : r;
}

/** Largest result file read; beyond it only the start is parsed (log lines are the bulk). */
export const MAX_RESULT_FILE_BYTES = 16 * 1024 * 1024;

/**
 * Read and parse a result file. Synchronous on purpose: Duplicati deletes the file as soon as
 * the script exits or times out, so a hook reads it first, before any other work.
 *
 * @throws HookEnvError when the file cannot be read or its JSON is broken.
 * @example
 * ```ts
 * const result = readResultFile(env.resultFile!, env.resultFormat);
 * ```
 */
export function readResultFile(file: string, format: ResultFileFormat = 'Duplicati'): DuplicatiResult {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (cause) {
    throw new HookEnvError(
      `Cannot read the result file ${file}: ${(cause as Error).message}`,
      'DUPLICATI__RESULTFILE',
      {
        cause,
      },
    );
  }
  const text = (buf.length > MAX_RESULT_FILE_BYTES ? buf.subarray(0, MAX_RESULT_FILE_BYTES) : buf).toString('utf8');
  return parseResultFile(text, format, file);
}
