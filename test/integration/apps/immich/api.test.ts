import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isDuplicatiKitError } from '../../../../src/core/errors.js';
import { IMMICH_UNPAUSABLE_QUEUES, ImmichApiClient, ImmichDatabaseSource } from '../../../../src/apps/immich/index.js';
import { makeContext, tempDir } from '../../../helpers/context.js';

interface Call {
  method: string;
  url: string;
  key: string | undefined;
  body: unknown;
}

/** A loopback Immich imitation: version, and either the v2.3+ queues API or the older jobs API. */
async function fakeImmich(version: [number, number, number], options: { failResumeOf?: string } = {}) {
  const calls: Call[] = [];
  const names = [
    'thumbnailGeneration',
    'metadataExtraction',
    'backgroundTask',
    'notifications',
    'backupDatabase',
    'smartSearch',
    'library',
  ];
  const paused = new Map(names.map((n) => [n, n === 'library']));
  const modern = version[0] > 2 || (version[0] === 2 && version[1] >= 3);
  const read = (req: IncomingMessage) =>
    new Promise<unknown>((resolve) => {
      let s = '';
      req.on('data', (d) => {
        s += d;
      });
      req.on('end', () => resolve(s ? JSON.parse(s) : undefined));
    });
  const server: Server = createServer(async (req, res) => {
    const body = await read(req);
    const key = req.headers['x-api-key'] as string | undefined;
    calls.push({ method: req.method ?? '', url: req.url ?? '', key, body });
    const send = (status: number, data: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(data));
    };
    if (key !== 'good-key-123') return send(401, { message: 'Invalid API key' });
    if (req.url === '/api/server/version')
      return send(200, { major: version[0], minor: version[1], patch: version[2] });
    const base = modern ? '/api/queues' : '/api/jobs';
    if (req.method === 'GET' && req.url === base) {
      return modern
        ? send(
            200,
            names.map((n) => ({ name: n, isPaused: paused.get(n), statistics: {} })),
          )
        : send(
            200,
            Object.fromEntries(
              names.map((n) => [n, { queueStatus: { isPaused: paused.get(n), isActive: false }, jobCounts: {} }]),
            ),
          );
    }
    const m = new RegExp(`^${base}/([A-Za-z]+)$`).exec(req.url ?? '');
    if (req.method === 'PUT' && m && paused.has(m[1] as string)) {
      const name = m[1] as string;
      const b = body as { isPaused?: boolean; command?: string };
      const pause = modern ? b.isPaused === true : b.command === 'pause';
      if (!pause && options.failResumeOf === name) return send(500, { message: 'boom' });
      paused.set(name, pause);
      return send(200, { name, isPaused: pause });
    }
    send(404, { message: 'Not Found' });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, calls, paused, modern, close: () => new Promise<void>((r) => server.close(() => r())) };
}

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

describe('Immich API client against a loopback server', () => {
  for (const version of [
    [2, 5, 6],
    [1, 140, 0],
  ] as [number, number, number][]) {
    it(`pauses and resumes the right queues on v${version.join('.')}`, async () => {
      const srv = await fakeImmich(version);
      cleanups.push(srv.close);
      const api = new ImmichApiClient({ baseUrl: srv.url, apiKey: 'good-key-123' });
      expect(await api.serverVersion()).toBe(`v${version.join('.')}`);
      const p = await api.pauseQueues();
      expect(p.api).toBe(srv.modern ? 'queues' : 'jobs');
      // Already-paused `library` is not ours to resume; the three protected queues are never touched.
      expect([...p.names].sort()).toEqual(['metadataExtraction', 'smartSearch', 'thumbnailGeneration']);
      for (const n of IMMICH_UNPAUSABLE_QUEUES) expect(srv.paused.get(n)).toBe(false);
      expect(srv.paused.get('thumbnailGeneration')).toBe(true);
      await api.resumeQueues(p);
      expect(srv.paused.get('thumbnailGeneration')).toBe(false);
      expect(srv.paused.get('library')).toBe(true);
      const puts = srv.calls.filter((c) => c.method === 'PUT');
      expect(puts.every((c) => c.url.startsWith(srv.modern ? '/api/queues/' : '/api/jobs/'))).toBe(true);
      expect(srv.calls.every((c) => c.key === 'good-key-123')).toBe(true);
    });
  }

  it('an API error names the status and never carries the key', async () => {
    const srv = await fakeImmich([2, 5, 6]);
    cleanups.push(srv.close);
    const api = new ImmichApiClient({ baseUrl: `${srv.url}/api`, apiKey: 'wrong-key-456' });
    const err = await api.serverVersion().catch((e: unknown) => e);
    expect(isDuplicatiKitError(err)).toBe(true);
    expect((err as { status?: number }).status).toBe(401);
    expect(JSON.stringify(err)).not.toContain('wrong-key-456');
    expect(String((err as Error).stack)).not.toContain('wrong-key-456');
  });

  it('ImmichDatabaseSource resumes the queues even when the dump fails', async () => {
    const srv = await fakeImmich([2, 5, 6]);
    cleanups.push(srv.close);
    const work = await tempDir();
    cleanups.push(work.cleanup);
    const source = new ImmichDatabaseSource({
      // Nothing listens on port 1: the dump fails after the queues were paused.
      connection: { host: '127.0.0.1', port: 1, user: 'postgres', database: 'immich' },
      executor: 'local',
      api: { baseUrl: srv.url, apiKey: 'good-key-123' },
    });
    const err = await source.prepare(makeContext(work.dir, source.name)).catch((e: unknown) => e);
    expect(isDuplicatiKitError(err)).toBe(true);
    const puts = srv.calls.filter((c) => c.method === 'PUT');
    expect(puts.some((c) => (c.body as { isPaused?: boolean }).isPaused === true)).toBe(true);
    expect([...srv.paused.entries()].filter(([, v]) => v).map(([k]) => k)).toEqual(['library']);
  });

  it('a failed resume is reported, not swallowed', async () => {
    const srv = await fakeImmich([2, 5, 6], { failResumeOf: 'smartSearch' });
    cleanups.push(srv.close);
    const api = new ImmichApiClient({ baseUrl: srv.url, apiKey: 'good-key-123' });
    const p = await api.pauseQueues();
    const err = await api.resumeQueues(p).catch((e: unknown) => e);
    expect((err as { status?: number }).status).toBe(500);
    // Every other queue was still resumed.
    expect(srv.paused.get('thumbnailGeneration')).toBe(false);
    expect(srv.paused.get('smartSearch')).toBe(true);
  });
});
