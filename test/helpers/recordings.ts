import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Parser for the `.http` recordings of a live Duplicati 2.0.7.3 server
 * (`test/fixtures/duplicati-2.0.7.3/NN-name.http`, copied from `../shared/fixtures`): exact request bytes under
 * `### REQUEST …`, exact response bytes under `### RESPONSE …`.
 */

/** One HTTP message of a recording. */
export interface RecordedMessage {
  readonly startLine: string;
  /** Header fields in order, names as sent. */
  readonly headers: readonly (readonly [string, string])[];
  /** Body bytes (cut at Content-Length). */
  readonly body: Buffer;
}

/** A recorded exchange. */
export interface Recording {
  /** File name without `.http`, e.g. `03-login-password`. */
  readonly name: string;
  readonly request: RecordedMessage & { readonly method: string; readonly target: string };
  readonly response: RecordedMessage & { readonly status: number; readonly reason: string };
}

const here = path.dirname(fileURLToPath(import.meta.url));

/** Where the recordings live: `DUPLICATI_RECORDINGS_DIR`, else the repository's `test/fixtures/duplicati-2.0.7.3`. */
export const RECORDINGS_DIR =
  process.env.DUPLICATI_RECORDINGS_DIR ?? path.resolve(here, '../fixtures/duplicati-2.0.7.3');

/** True when the recordings folder exists. */
export function recordingsAvailable(dir = RECORDINGS_DIR): boolean {
  return existsSync(dir);
}

function parseMessage(bytes: Buffer): RecordedMessage {
  const end = bytes.indexOf('\r\n\r\n');
  const head = bytes.subarray(0, end < 0 ? bytes.length : end).toString('latin1');
  const [startLine = '', ...lines] = head.split('\r\n');
  const headers = lines.map((l) => {
    const i = l.indexOf(':');
    return [l.slice(0, i), l.slice(i + 1).trim()] as const;
  });
  const rest = end < 0 ? Buffer.alloc(0) : bytes.subarray(end + 4);
  const length = headers.find(([k]) => k.toLowerCase() === 'content-length');
  const body = length ? rest.subarray(0, Number(length[1])) : Buffer.alloc(0);
  return { startLine, headers, body };
}

/** Parse one recording file. */
export function parseRecording(file: string): Recording {
  const bytes = readFileSync(file);
  const reqMarker = bytes.indexOf('### REQUEST');
  const resMarker = bytes.indexOf('### RESPONSE');
  const afterLine = (at: number): number => bytes.indexOf('\n', at) + 1;
  const request = parseMessage(bytes.subarray(afterLine(reqMarker), resMarker));
  const response = parseMessage(bytes.subarray(afterLine(resMarker)));
  const [method = '', target = ''] = request.startLine.split(' ');
  const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(response.startLine);
  return {
    name: path.basename(file, '.http'),
    request: { ...request, method, target },
    response: { ...response, status: Number(m?.[1] ?? 0), reason: m?.[2] ?? '' },
  };
}

/** All recordings of a folder by name, in file order. */
export function loadRecordings(dir = RECORDINGS_DIR): Map<string, Recording> {
  const out = new Map<string, Recording>();
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith('.http'))
    .sort()) {
    const r = parseRecording(path.join(dir, f));
    out.set(r.name, r);
  }
  return out;
}

/** First value of a header (case-insensitive name). */
export function headerOf(msg: RecordedMessage, name: string): string | undefined {
  return msg.headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
}

/** All values of a header (case-insensitive name), e.g. every `Set-Cookie`. */
export function headersOf(msg: RecordedMessage, name: string): string[] {
  return msg.headers.filter(([k]) => k.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
}

/** Does the body start with a UTF-8 BOM? */
export function hasBom(body: Buffer): boolean {
  return body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf;
}

/** The body as JSON (BOM stripped), or undefined when empty. */
export function bodyJson(body: Buffer): unknown {
  const text = body.toString('utf8').replace(/^\uFEFF/, '');
  return text === '' ? undefined : JSON.parse(text);
}

/** Form fields of a recorded `application/x-www-form-urlencoded` request body. */
export function formOf(msg: RecordedMessage): URLSearchParams {
  return new URLSearchParams(msg.body.toString('utf8'));
}
