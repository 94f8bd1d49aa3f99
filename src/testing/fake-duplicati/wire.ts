/**
 * Request parsing and response writing in the dialect of each server generation: the 2.0.x mono
 * "Tiny WebServer" (BOM-prefixed indented JSON, reason phrases carrying the error, empty
 * `Content-Type:` headers, `Connection: close`) and the 2.1+ Kestrel server.
 *
 * @module
 */
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import { httpDate } from './format.js';

/** Server generations the fake speaks. */
export type FakeGeneration = '2.0' | '2.1';

/** A parsed request as route handlers see it. */
export interface Exchange {
  readonly req: IncomingMessage;
  readonly method: string;
  /** Path without the query, still percent-encoded. */
  readonly path: string;
  /** Query parameters in request order. */
  readonly queryList: readonly (readonly [string, string])[];
  /** Query (and for 2.0 also form) parameters by lower-cased name. */
  readonly params: ReadonlyMap<string, string>;
  readonly body: Buffer;
  /** The body parsed as JSON when it is JSON, else undefined. */
  readonly json: unknown;
  readonly cookies: ReadonlyMap<string, string>;
  /** `Set-Cookie` values to send with the response. */
  readonly setCookies: string[];
  /** Aborts when the client goes away or the server closes. */
  readonly signal: AbortSignal;
  /**
   * The one instant the request is handled at: token and cookie lifetimes and the reply's `Date`
   * header are all read from it, so a cookie's lifetime measured against `Date` is exact even when
   * a second ticks over while the route runs.
   */
  readonly now: Date;
}

/** What a handler answers; the generation's writer turns it into bytes. */
export interface Reply {
  readonly status: number;
  /** 2.0: the reason phrase (the real server puts error messages there). */
  readonly reason?: string;
  /** A JSON body (serialised per generation). */
  readonly json?: unknown;
  /** A raw body instead of JSON. */
  readonly text?: string;
  /** Content-Type override; `''` writes the empty header the 2.0 server sends. */
  readonly contentType?: string;
  /** Extra headers written first (Location, WWW-Authenticate). */
  readonly headers?: readonly (readonly [string, string])[];
  /** 2.0: send `Cache-Control` (default: when there is a JSON body). */
  readonly noCache?: boolean;
}

/** Parse a `Cookie` header; values are URL-decoded as the servers do. */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    const name = part.slice(0, i).trim();
    const raw = part.slice(i + 1).trim();
    let value = raw;
    try {
      value = decodeURIComponent(raw);
    } catch {
      // keep the raw value, as a lenient server would
    }
    if (!out.has(name)) out.set(name, value);
  }
  return out;
}

/** A 2.0 `Set-Cookie` value, byte for byte as Tiny WebServer writes it. */
export function cookie20(name: string, value: string, expires: Date): string {
  return `${name}=${encodeURIComponent(value)}; expires=${httpDate(expires)};path=/; `;
}

const CACHE_CONTROL = 'no-cache, no-store, must-revalidate, max-age=0';

function flat(headers: (readonly [string, string])[]): string[] {
  return headers.flat();
}

/** Write a reply as the 2.0.x mono server does. */
export function write20(res: ServerResponse, x: Pick<Exchange, 'setCookies'>, reply: Reply, now: Date): void {
  const body =
    reply.json !== undefined
      ? Buffer.from(`\uFEFF${JSON.stringify(reply.json, null, 2)}`, 'utf8')
      : Buffer.from(reply.text ?? '', 'utf8');
  const headers: (readonly [string, string])[] = [...(reply.headers ?? [])];
  if (reply.noCache ?? reply.json !== undefined) headers.push(['Cache-Control', CACHE_CONTROL]);
  headers.push(['Date', httpDate(now)]);
  headers.push(['Content-Length', String(body.length)]);
  headers.push(['Content-Type', reply.contentType ?? (reply.json !== undefined ? 'application/json' : '')]);
  headers.push(['Server', 'Tiny WebServer']);
  headers.push(['Connection', 'close']);
  for (const c of x.setCookies) headers.push(['Set-Cookie', c]);
  res.sendDate = false;
  res.writeHead(reply.status, reply.reason ?? STATUS_CODES[reply.status] ?? 'Unknown', flat(headers));
  res.end(body);
}

/** Write a reply as Kestrel (2.1+) does. */
export function write21(res: ServerResponse, x: Pick<Exchange, 'setCookies'>, reply: Reply, now: Date): void {
  const body =
    reply.json !== undefined ? Buffer.from(JSON.stringify(reply.json), 'utf8') : Buffer.from(reply.text ?? '', 'utf8');
  const headers: (readonly [string, string])[] = [['Content-Length', String(body.length)]];
  const type = reply.contentType ?? (reply.json !== undefined ? 'application/json; charset=utf-8' : undefined);
  if (type) headers.push(['Content-Type', type]);
  headers.push(['Date', httpDate(now)], ['Server', 'Kestrel'], ...(reply.headers ?? []));
  for (const c of x.setCookies) headers.push(['Set-Cookie', c]);
  res.sendDate = false;
  res.writeHead(reply.status, STATUS_CODES[reply.status] ?? 'Unknown', flat(headers));
  res.end(body);
}

/** Read a request body (bounded, so a runaway client cannot exhaust memory). */
export async function readBody(req: IncomingMessage, limit = 16 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Case-insensitive property read, as both servers bind JSON input. */
export function prop(obj: unknown, name: string): unknown {
  if (typeof obj !== 'object' || obj === null) return undefined;
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(obj)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

/** A boolean query/form value (`true`/`1`); undefined when absent. */
export function boolParam(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  return v.toLowerCase() === 'true' || v === '1';
}
