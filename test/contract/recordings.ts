/**
 * Reads the `.http` recordings of a real Duplicati 2.0.7.3 server and replays their exact
 * response bytes from a raw TCP server on 127.0.0.1 (reason phrases, empty `Content-Type:`
 * headers, BOMs and `Connection: close` without closing the socket included).
 */
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** `DUPLICATI_RECORDINGS_DIR`, else the copy kept in the repository, `test/fixtures/duplicati-2.0.7.3`. */
export const FIXTURES =
  process.env.DUPLICATI_RECORDINGS_DIR ??
  path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/duplicati-2.0.7.3');

export interface RecordedRequest {
  readonly method: string;
  /** Path with query, as sent. */
  readonly target: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer;
}

export interface RecordedResponse {
  /** Exact bytes of the response (status line, headers, body). */
  readonly raw: Buffer;
  readonly status: number;
  readonly statusText: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer;
}

export interface Exchange {
  readonly name: string;
  readonly request: RecordedRequest;
  readonly response: RecordedResponse;
}

const REQ = /^### REQUEST[^\n]*\n/;
const RESP = '\n\n### RESPONSE (exact bytes received)\n';

function splitHead(buf: Buffer): { head: string; rest: Buffer } {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) throw new Error('no header terminator');
  return { head: buf.subarray(0, end).toString('latin1'), rest: buf.subarray(end + 4) };
}

function parseHeaders(lines: string[]): [string, string][] {
  return lines.map((l) => {
    const i = l.indexOf(':');
    return [l.slice(0, i), l.slice(i + 1).trim()] as [string, string];
  });
}

function contentLength(headers: ReadonlyArray<readonly [string, string]>): number {
  const h = headers.find(([k]) => k.toLowerCase() === 'content-length');
  return h ? Number(h[1]) : 0;
}

/** Parse one `.http` file. */
export function parseRecording(file: string): Exchange {
  const data = readFileSync(file);
  const text = data.toString('latin1');
  const m = REQ.exec(text);
  if (!m) throw new Error(`${file}: no REQUEST marker`);
  const respAt = text.indexOf(RESP);
  if (respAt < 0) throw new Error(`${file}: no RESPONSE marker`);
  const reqBuf = data.subarray(m[0].length, respAt);
  const respBuf = data.subarray(respAt + RESP.length);

  const req = splitHead(reqBuf);
  const [reqLine = '', ...reqHeaderLines] = req.head.split('\r\n');
  const [method = '', target = ''] = reqLine.split(' ');
  const reqHeaders = parseHeaders(reqHeaderLines);
  const reqBody = req.rest.subarray(0, contentLength(reqHeaders));

  const res = splitHead(respBuf);
  const [statusLine = '', ...resHeaderLines] = res.head.split('\r\n');
  const sm = /^HTTP\/1\.1 (\d{3}) ?(.*)$/.exec(statusLine);
  if (!sm) throw new Error(`${file}: bad status line`);
  const resHeaders = parseHeaders(resHeaderLines);
  const body = res.rest.subarray(0, contentLength(resHeaders));
  const headEnd = respBuf.indexOf('\r\n\r\n') + 4;
  return {
    name: path.basename(file, '.http'),
    request: { method, target, headers: reqHeaders, body: reqBody },
    response: {
      raw: respBuf.subarray(0, headEnd + body.length),
      status: Number(sm[1]),
      statusText: sm[2] ?? '',
      headers: resHeaders,
      body,
    },
  };
}

/** Every recording, by name (`07-create-backup`) and by number (`07`). */
export function loadRecordings(dir = FIXTURES): Map<string, Exchange> {
  const out = new Map<string, Exchange>();
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith('.http'))
    .sort()) {
    const ex = parseRecording(path.join(dir, f));
    out.set(ex.name, ex);
    out.set(ex.name.slice(0, 2), ex);
  }
  return out;
}

/** A request as the replay server received it. */
export interface ReceivedRequest {
  readonly method: string;
  readonly target: string;
  /** Lower-cased names; repeated headers joined with `, `. */
  readonly headers: Readonly<Record<string, string>>;
  /** Raw header lines, to check that no header is sent with an empty value. */
  readonly rawHeaderLines: readonly string[];
  readonly body: string;
  /** The recording whose response was sent. */
  readonly answeredWith: string;
}

/**
 * A TCP server on 127.0.0.1 answering each request with the next queued recording's exact
 * response bytes. A request whose method or path differs from the recording is answered with
 * 599 and remembered as a mismatch.
 */
export class ReplayServer {
  readonly received: ReceivedRequest[] = [];
  readonly mismatches: string[] = [];
  #queue: { ex: Exchange; matchQuery: boolean; target?: string }[] = [];
  readonly #server = net.createServer((socket) => this.#onSocket(socket));
  readonly #sockets = new Set<net.Socket>();

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const { port } = this.#server.address() as net.AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  async stop(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** Queue responses, in order. `matchQuery` also compares the query string. */
  queue(exchanges: readonly Exchange[], matchQuery = false): void {
    for (const ex of exchanges) this.#queue.push({ ex, matchQuery });
  }

  /** Queue a recording as the answer to a request for another path (same shape, other id). */
  queueFor(target: string, ex: Exchange): void {
    this.#queue.push({ ex, matchQuery: true, target });
  }

  get pending(): number {
    return this.#queue.length;
  }

  #onSocket(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => {});
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        const [line = '', ...lines] = head.split('\r\n');
        const headers: Record<string, string> = {};
        for (const l of lines) {
          const i = l.indexOf(':');
          const k = l.slice(0, i).toLowerCase();
          const v = l.slice(i + 1).trim();
          headers[k] = headers[k] ? `${headers[k]}, ${v}` : v;
        }
        const len = Number(headers['content-length'] ?? 0);
        if (buf.length < end + 4 + len) return;
        const body = buf.subarray(end + 4, end + 4 + len).toString('utf8');
        buf = buf.subarray(end + 4 + len);
        const [method = '', target = ''] = line.split(' ');
        this.#answer(socket, { method, target, headers, rawHeaderLines: lines, body });
      }
    });
  }

  #answer(socket: net.Socket, req: Omit<ReceivedRequest, 'answeredWith'>): void {
    const next = this.#queue.shift();
    if (!next) {
      this.mismatches.push(`unexpected ${req.method} ${req.target}`);
      this.received.push({ ...req, answeredWith: '(none)' });
      socket.end('HTTP/1.1 599 No recording\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const want = { method: next.ex.request.method, target: next.target ?? next.ex.request.target };
    const strip = (t: string): string => (next.matchQuery ? t : (t.split('?')[0] ?? t));
    if (want.method !== req.method || strip(want.target) !== strip(req.target)) {
      this.mismatches.push(`${next.ex.name}: expected ${want.method} ${want.target}, got ${req.method} ${req.target}`);
    }
    this.received.push({ ...req, answeredWith: next.ex.name });
    // Like Tiny WebServer: `Connection: close` is sent, but the socket is left open.
    socket.write(next.ex.response.raw);
  }
}
