/**
 * `duplicati-kit serve`: a read-only local web server over a cached snapshot. Reads are refreshed
 * in the background (one at a time, each bounded by a timeout), so a page or a scrape never waits
 * on a slow Duplicati. Binds 127.0.0.1 unless told otherwise, and refuses any other address
 * without a token. Strict Content-Security-Policy; scripts and styles come from /assets only.
 *
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ConfigError } from '../core/errors.js';
import { type Logger, silentLogger } from '../core/logger.js';
import { type CollectOptions, collectSnapshot, createHistoryCache } from './collect.js';
import { renderMetrics } from './metrics.js';
import { PAGES, type PageId, renderPage } from './render.js';
import type { DashboardSnapshot } from './types.js';

/** Options of {@link startDashboard}. */
export interface DashboardOptions {
  /** What to read (without `signal`: the server owns the refresh's signal). */
  readonly collect: Omit<CollectOptions, 'signal' | 'now' | 'history'>;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** @default 8300; 0 picks a free port */
  readonly port?: number;
  /** Required for any address but loopback: `Authorization: Bearer <token>`, or basic auth with it as password. */
  readonly token?: string;
  /** How often the data is read again. @default 300000 (5 min) */
  readonly refreshMs?: number;
  /** Longest a refresh may take before it is abandoned (the old data stays). @default 120000 */
  readonly refreshTimeoutMs?: number;
  readonly logger?: Logger;
}

/** A running dashboard. */
export interface Dashboard {
  readonly url: string;
  /** The newest snapshot, or null before the first read finished. */
  snapshot(): DashboardSnapshot | null;
  /** Read now (joins a read already under way). */
  refresh(): Promise<void>;
  close(): Promise<void>;
}

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(host: string): boolean {
  return /^(localhost|127(\.\d{1,3}){3}|::1|\[::1\]|::ffff:127(\.\d{1,3}){3})$/i.test(host);
}

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

interface Asset {
  readonly body: Buffer;
  readonly type: string;
}

/** The dashboard's own assets and uPlot: `dist/assets` in the package, the sources and node_modules in a checkout. */
async function loadAssets(): Promise<Map<string, Asset>> {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const dirs = [path.join(here, 'assets'), path.join(here, '..', 'assets')];
  const dir = dirs.find((d) => existsSync(path.join(d, 'dashboard.js')));
  if (!dir) throw new Error(`the dashboard's assets are missing (looked in ${dirs.join(', ')})`);
  const find = (name: string, pkgPath: string): string => {
    const local = path.join(dir, name);
    if (existsSync(local)) return local;
    return createRequire(import.meta.url).resolve(pkgPath);
  };
  const files: [string, string, string][] = [
    ['dashboard.js', path.join(dir, 'dashboard.js'), 'text/javascript; charset=utf-8'],
    ['dashboard.css', path.join(dir, 'dashboard.css'), 'text/css; charset=utf-8'],
    ['uPlot.iife.min.js', find('uPlot.iife.min.js', 'uplot/dist/uPlot.iife.min.js'), 'text/javascript; charset=utf-8'],
    ['uPlot.min.css', find('uPlot.min.css', 'uplot/dist/uPlot.min.css'), 'text/css; charset=utf-8'],
  ];
  const out = new Map<string, Asset>();
  for (const [name, file, type] of files) out.set(name, { body: await fsp.readFile(file), type });
  return out;
}

/**
 * A full garbage collection, for the history reads of a long-running dashboard: without it V8 lets
 * ~64 MB of dead response Buffers (outside its heap) pile up, past the server's memory budget.
 * `gc` exists when node runs with --expose-gc; otherwise it is taken from a fresh context after
 * setting the flag (the flag only adds `gc` to new contexts). Undefined when neither works.
 */
function fullGc(): (() => void) | undefined {
  const own = (globalThis as { gc?: unknown }).gc;
  if (typeof own === 'function') return own as () => void;
  try {
    setFlagsFromString('--expose-gc');
    const fn: unknown = runInNewContext('gc');
    return typeof fn === 'function' ? (fn as () => void) : undefined;
  } catch {
    return undefined;
  }
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Does the request carry the token (Bearer, or basic auth with the token as password)? */
function authorized(req: IncomingMessage, token: Buffer | undefined): boolean {
  if (!token) return true;
  const h = req.headers.authorization ?? '';
  let given: string | undefined;
  const bearer = /^Bearer\s+(.+)$/i.exec(h);
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(h);
  if (bearer?.[1]) given = bearer[1].trim();
  else if (basic?.[1]) {
    const text = Buffer.from(basic[1], 'base64').toString('utf8');
    given = text.slice(text.indexOf(':') + 1);
  }
  return given !== undefined && timingSafeEqual(digest(given), token);
}

/** The JSON twin of a page: what the page shows, as data. */
function apiBody(id: string, s: DashboardSnapshot, query: URLSearchParams): unknown {
  const head = { generatedAt: s.generatedAt };
  switch (id) {
    case 'overview':
      return { ...head, localAudit: s.localAudit, servers: s.servers };
    case 'plan':
      return { ...head, plan: s.plan };
    case 'history': {
      const key = query.get('key');
      if (key !== null) return { ...head, key, runs: s.history[key] ?? null };
      return {
        ...head,
        servers: s.servers.map((v) => ({
          name: v.name,
          jobs: v.jobs.map((j) => ({ id: j.id, name: j.name, key: `${v.name}/${j.id}`, runs: j.runs })),
        })),
      };
    }
    case 'drills':
      return { ...head, drills: s.drills };
    case 'restores':
      return { ...head, restorePoints: s.restorePoints };
    case 'copies':
      return { ...head, localCopies: s.localCopies };
    case 'certificates':
      return { ...head, certificates: s.certificates };
    default:
      return undefined;
  }
}

/**
 * Start the dashboard. Resolves once it listens; the first read runs in the background.
 *
 * @throws {ConfigError} when asked to bind a non-loopback address without a token.
 * @example
 * ```ts
 * const d = await startDashboard({ collect: { servers: [{ name: 'home', client }] }, port: 8300 });
 * ```
 */
export async function startDashboard(o: DashboardOptions): Promise<Dashboard> {
  const host = o.host ?? '127.0.0.1';
  if (!isLoopback(host) && !o.token) {
    throw new ConfigError(`refusing to serve on ${host} without a token`, [
      {
        path: 'host',
        message: 'a non-loopback address needs a token (--token-file or $DUPLICATI_KIT_DASHBOARD_TOKEN)',
      },
    ]);
  }
  if (o.token !== undefined && o.token.length < 16) {
    throw new ConfigError('the dashboard token is too short', [{ path: 'token', message: 'at least 16 characters' }]);
  }
  const logger = o.logger ?? silentLogger;
  const token = o.token ? digest(o.token) : undefined;
  const assets = await loadAssets();
  const refreshMs = o.refreshMs ?? 300_000;
  const closing = new AbortController();
  let snapshot: DashboardSnapshot | null = null;
  let metrics = '# no data yet\n';
  // Rendered pages and API bodies of the current snapshot, made on first request, dropped on refresh.
  let pages = new Map<string, string>();
  // The job logs kept between refreshes: a refresh reads only the rows written since the last one.
  const history = createHistoryCache({ reclaim: fullGc() });
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;

  const readOnce = async (): Promise<void> => {
    const t0 = performance.now();
    const signal = AbortSignal.any([closing.signal, AbortSignal.timeout(o.refreshTimeoutMs ?? 120_000)]);
    try {
      const next = await collectSnapshot({ ...o.collect, history, signal, logger }, snapshot ?? undefined);
      snapshot = { ...next, refreshMs: Math.round(performance.now() - t0) };
      metrics = await renderMetrics(snapshot);
      pages = new Map();
      history.reclaim?.();
    } catch (e) {
      if (closing.signal.aborted) return;
      logger.warn('dashboard refresh failed; keeping the previous data', {
        error: (e instanceof Error ? e.message : String(e)).split('\n')[0],
      });
    }
  };
  const refresh = (): Promise<void> => {
    running ??= readOnce().finally(() => {
      running = undefined;
      if (!closing.signal.aborted) {
        clearTimeout(timer);
        timer = setTimeout(() => void refresh(), refreshMs);
        timer.unref();
      }
    });
    return running;
  };

  const send = (
    res: ServerResponse,
    status: number,
    type: string,
    body: string | Buffer,
    extra: Record<string, string> = {},
  ) => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'cache-control': 'no-store', ...extra });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'text/plain; charset=utf-8', 'read-only: GET and HEAD only\n', { allow: 'GET, HEAD' });
      return;
    }
    if (!authorized(req, token)) {
      send(res, 401, 'text/plain; charset=utf-8', 'unauthorized\n', {
        'www-authenticate': 'Basic realm="duplicati-kit", charset="UTF-8"',
      });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    const p = url.pathname;
    if (p === '/metrics') return send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', metrics);
    if (p.startsWith('/assets/')) {
      const a = assets.get(p.slice('/assets/'.length));
      if (a) return send(res, 200, a.type, a.body, { 'cache-control': 'public, max-age=3600' });
    }
    const page = PAGES.find((x) => x.path === p);
    if (page) {
      let html = pages.get(page.id);
      if (html === undefined) {
        html = renderPage(page.id as PageId, snapshot);
        if (snapshot) pages.set(page.id, html);
      }
      return send(res, 200, 'text/html; charset=utf-8', html);
    }
    const api = /^\/api\/([a-z]+)$/.exec(p);
    if (api?.[1]) {
      if (!snapshot) return send(res, 503, 'application/json', '{"error":"no data yet"}\n', { 'retry-after': '5' });
      const key = `api:${api[1]}${api[1] === 'history' ? `?${url.searchParams.get('key') ?? ''}` : ''}`;
      let json = pages.get(key);
      if (json === undefined) {
        const body = apiBody(api[1], snapshot, url.searchParams);
        if (body !== undefined) {
          json = JSON.stringify(body);
          // Only answers about jobs that exist are kept: a scan of made-up keys cannot grow the cache.
          if (
            api[1] !== 'history' ||
            url.searchParams.get('key') === null ||
            snapshot.history[url.searchParams.get('key') ?? '']
          )
            pages.set(key, json);
        }
      }
      if (json !== undefined) return send(res, 200, 'application/json; charset=utf-8', json);
    }
    const ev = /^\/evidence\/(\d+)\/(drill-[\w-]+\.md)$/.exec(p);
    const dir = ev ? o.collect.evidenceDirs?.[Number(ev[1])] : undefined;
    if (ev?.[2] && dir) {
      const text = await fsp.readFile(path.join(dir, ev[2]), 'utf8').catch(() => undefined);
      if (text !== undefined) return send(res, 200, 'text/plain; charset=utf-8', text);
    }
    send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      logger.warn('dashboard request failed', { error: (e instanceof Error ? e.message : String(e)).split('\n')[0] });
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 8300, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  void refresh();
  return {
    url: `http://${shown}:${addr.port}`,
    snapshot: () => snapshot,
    refresh,
    async close() {
      closing.abort();
      clearTimeout(timer);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await running?.catch(() => undefined);
    },
  };
}
