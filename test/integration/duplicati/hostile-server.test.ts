/**
 * A real local HTTP server that misbehaves: a body that never ends, a huge body, a redirect to
 * another origin. The client must stop at the route's limit with a typed error, and name the
 * redirect instead of reporting an "unexpected shape" — without ever sending the token elsewhere.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DuplicatiClient,
  isDuplicatiRedirectError,
  isDuplicatiResponseTooLargeError,
} from '../../../src/duplicati/index.js';
import { MAX_RESPONSE_BYTES } from '../../../src/duplicati/http.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const s = createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

function client(baseUrl: string): DuplicatiClient {
  return new DuplicatiClient({
    baseUrl,
    auth: { type: 'token', token: 'tok-SECRET-123456' },
    generation: '2.1',
    maxRetries: 2,
    retryMinDelayMs: 1,
    timeout: 60_000,
  });
}

describe('Duplicati client against a hostile server', () => {
  it('a body that never ends is cut off at the route limit with a typed error, not retried', async () => {
    let requests = 0;
    let sent = 0;
    const url = await serve((_req, res) => {
      requests++;
      res.writeHead(200, { 'Content-Type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk)) sent += chunk.length;
        if (!res.destroyed) res.once('drain', pump);
      };
      res.write('{"a":"');
      pump();
    });
    const rssBefore = process.memoryUsage().rss;
    const err = await client(url)
      .server.state()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(isDuplicatiResponseTooLargeError(err), String(err)).toBe(true);
    expect((err as Error).message).toMatch(/grew past 8388608 bytes/);
    expect(requests).toBe(1);
    // The download stopped near the limit instead of running on (the socket buffers add a little).
    expect(sent).toBeLessThan(MAX_RESPONSE_BYTES * 4);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(512 << 20);
  });

  it('a gzip body that inflates past the limit stops too', async () => {
    const { gzipSync } = await import('node:zlib');
    const bomb = gzipSync(Buffer.alloc(64 << 20, 0x20));
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
      res.end(bomb);
    });
    const err = await client(url)
      .server.state()
      .catch((e: unknown) => e);
    expect(isDuplicatiResponseTooLargeError(err), String(err)).toBe(true);
  });

  it('a redirect to another origin is named, not followed, and the token never goes there', async () => {
    const elsewhere: IncomingMessage[] = [];
    const other = await serve((req, res) => {
      elsewhere.push(req);
      res.end('{}');
    });
    const url = await serve((_req, res) => {
      res.writeHead(302, { Location: `${other}/login?token=tok-SECRET-123456` });
      res.end();
    });
    const err = await client(url)
      .server.state()
      .catch((e: unknown) => e);
    expect(isDuplicatiRedirectError(err), String(err)).toBe(true);
    expect((err as Error).message).toContain(
      `Duplicati answered GET /api/v1/serverstate with a redirect (HTTP 302) to ${other}/login`,
    );
    expect((err as Error).message).toMatch(/is the URL right\?/);
    expect((err as Error).message).not.toContain('tok-SECRET-123456');
    expect(elsewhere).toHaveLength(0);
  });
});
