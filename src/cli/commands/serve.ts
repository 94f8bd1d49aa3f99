/**
 * `duplicati-kit serve`, `report` and `metrics`: the dashboard, the same content as a static file,
 * and the Prometheus metrics for node_exporter's textfile collector. Read-only.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { DashboardConfig, DuplicatiServerConfig, LoadedConfig } from '../../app/config.js';
import { sourceCertificates } from '../../app/registry.js';
import { ConfigError } from '../../core/errors.js';
import { writeFileAtomic } from '../../core/fs.js';
import { DuplicatiClient } from '../../duplicati/client.js';
import { parseDuplicatiTimespan } from '../../hooks/protocol.js';
import type { CollectOptions, DashboardServer } from '../../serve/collect.js';
import { ExitCode } from '../exit-codes.js';
import type { CliCommand, CliContext } from '../types.js';
import { evidenceDirCandidates } from './drill.js';
import { contextConfig } from './plan.js';
import { defaultStateDir } from './restore.js';

const TOKEN_ENV = 'DUPLICATI_KIT_DASHBOARD_TOKEN';

const span = (t: string | undefined): number | undefined => (t === undefined ? undefined : parseDuplicatiTimespan(t));

function client(ctx: CliContext, s: DuplicatiServerConfig): DuplicatiClient {
  const file = s.passwordFile ? path.resolve(ctx.cwd, s.passwordFile) : undefined;
  const password = ctx.env[s.passwordEnv ?? 'DUPLICATI_PASSWORD'];
  const fileEnv = s.passwordEnv === undefined ? ctx.env.DUPLICATI_PASSWORD_FILE : undefined;
  const auth = file
    ? { type: 'password' as const, passwordFile: file }
    : password
      ? { type: 'password' as const, password }
      : fileEnv
        ? { type: 'password' as const, passwordFile: fileEnv }
        : undefined;
  if (!auth) {
    throw new ConfigError(`no password for the Duplicati server at ${s.url}`, [
      { path: 'dashboard.servers', message: `give passwordFile, or set $${s.passwordEnv ?? 'DUPLICATI_PASSWORD'}` },
    ]);
  }
  return new DuplicatiClient({ baseUrl: s.url, auth, logger: ctx.logger, timeout: 30_000 });
}

/** The servers to read: the dashboard's list, else the `duplicati` server, else `--url`/$DUPLICATI_URL. */
function servers(ctx: CliContext, cfg: LoadedConfig): DashboardServer[] {
  const d = cfg.config.dashboard;
  if (d?.servers?.length) return d.servers.map((s) => ({ name: s.name, client: client(ctx, s) }));
  const url = typeof ctx.flags.url === 'string' ? ctx.flags.url : (cfg.config.duplicati?.url ?? ctx.env.DUPLICATI_URL);
  if (!url) return [];
  const file =
    typeof ctx.flags['password-file'] === 'string' ? ctx.flags['password-file'] : cfg.config.duplicati?.passwordFile;
  const env = cfg.config.duplicati?.passwordEnv;
  return [
    {
      name: 'duplicati',
      client: client(ctx, { url, ...(file ? { passwordFile: file } : {}), ...(env ? { passwordEnv: env } : {}) }),
    },
  ];
}

/** What the dashboard reads, from the config (every default as `status --audit` and `drill` use them). */
export function collectOptions(ctx: CliContext, cfg: LoadedConfig): Omit<CollectOptions, 'signal'> {
  const c = cfg.config;
  const d: DashboardConfig = c.dashboard ?? {};
  const a = c.audit ?? {};
  return {
    servers: servers(ctx, cfg),
    sources: [...cfg.sources],
    workDir: c.workDir,
    ...(c.localCopies
      ? {
          localCopies: {
            dir: c.localCopies.dir,
            keep: c.localCopies.keep,
            verify: d.verifyLocalCopy ?? false,
            ...(a.localCopyMaxAge ? { maxAgeMs: span(a.localCopyMaxAge) ?? 0 } : {}),
          },
        }
      : {}),
    evidenceDirs: (d.evidenceDirs ?? evidenceDirCandidates(ctx.env)).map((x) => path.resolve(ctx.cwd, x)),
    restoreStateDir: c.restore?.stateDir ? path.resolve(ctx.cwd, c.restore.stateDir) : defaultStateDir(ctx.env),
    ...(a.jobs?.length ? { jobs: [...a.jobs] } : {}),
    ...(a.maxAge ? { maxAgeMs: span(a.maxAge) ?? 0 } : {}),
    ...(a.grace !== undefined ? { graceMs: span(a.grace) ?? 0 } : {}),
    ...(a.timeZone ? { timeZone: a.timeZone } : {}),
    ...(a.checkTimeout ? { checkTimeoutMs: span(a.checkTimeout) ?? 30_000 } : {}),
    historyDays: d.historyDays ?? 365,
    certificates: sourceCertificates,
    logger: ctx.logger,
  };
}

const serverFlags = {
  url: { type: 'string', valueName: 'URL', description: 'Duplicati server (default: the config, $DUPLICATI_URL)' },
  'password-file': { type: 'string', valueName: 'FILE', description: 'File holding the Duplicati UI password' },
} as const;

async function readToken(ctx: CliContext, d: DashboardConfig): Promise<string | undefined> {
  const file = typeof ctx.flags['token-file'] === 'string' ? ctx.flags['token-file'] : d.tokenFile;
  if (file) return (await fsp.readFile(path.resolve(ctx.cwd, file), 'utf8')).trim();
  return ctx.env[TOKEN_ENV]?.trim() || undefined;
}

export const serveCommand: CliCommand = {
  name: 'serve',
  summary: 'Serve the read-only dashboard (overview, plan, history, drills, metrics) on 127.0.0.1',
  usage: 'serve [--config FILE] [--host ADDR] [--port N] [--token-file FILE] [--refresh SPAN]',
  options: {
    host: {
      type: 'string',
      valueName: 'ADDR',
      description: 'Address to bind (default 127.0.0.1; others need a token)',
    },
    port: { type: 'string', valueName: 'N', description: 'Port (default 8300; 0 picks a free one)' },
    'token-file': {
      type: 'string',
      valueName: 'FILE',
      description: `File holding the access token (default $${TOKEN_ENV})`,
    },
    refresh: { type: 'string', valueName: 'SPAN', description: 'How often to read the servers again (default 5m)' },
    ...serverFlags,
  },
  help: `Pages: / (overview and 3-2-1 audit), /plan, /history, /drills, /restores, /copies, /certificates;
each has a JSON twin under /api/<page>; /metrics is the Prometheus text format. Data is read in the
background and cached: a page or a scrape never waits on Duplicati. A token is required for any
address other than loopback; send it as "Authorization: Bearer <token>" or as the basic-auth password.
Stops on SIGINT/SIGTERM.`,
  async run(ctx) {
    const cfg = await contextConfig(ctx);
    const d = cfg.config.dashboard ?? {};
    const { startDashboard } = await import('../../serve/server.js');
    const port = typeof ctx.flags.port === 'string' ? Number(ctx.flags.port) : (d.port ?? 8300);
    if (!Number.isInteger(port) || port < 0 || port > 65_535) {
      throw new ConfigError('bad --port', [{ path: '--port', message: 'a port number, 0 to 65535' }]);
    }
    const refreshText = typeof ctx.flags.refresh === 'string' ? ctx.flags.refresh : (d.refresh ?? '5m');
    const refreshMs = parseDuplicatiTimespan(refreshText);
    if (!refreshMs || refreshMs < 1000) {
      throw new ConfigError('bad --refresh', [
        { path: '--refresh', message: 'a Duplicati timespan of 1s or more, e.g. 5m' },
      ]);
    }
    const token = await readToken(ctx, d);
    const host = typeof ctx.flags.host === 'string' ? ctx.flags.host : (d.host ?? '127.0.0.1');
    const dash = await startDashboard({
      collect: collectOptions(ctx, cfg),
      host,
      port,
      refreshMs,
      ...(token ? { token } : {}),
      logger: ctx.logger,
    });
    ctx.stderr.write(`duplicati-kit dashboard on ${dash.url}/ (read-only${token ? ', token required' : ''})\n`);
    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) resolve();
      else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await dash.close();
    return ExitCode.Success;
  },
};

async function snapshotOnce(ctx: CliContext) {
  const cfg = await contextConfig(ctx);
  const { collectSnapshot } = await import('../../serve/collect.js');
  const t0 = performance.now();
  const s = await collectSnapshot({ ...collectOptions(ctx, cfg), signal: ctx.signal });
  return { ...s, refreshMs: Math.round(performance.now() - t0) };
}

async function emit(ctx: CliContext, text: string, file: string | undefined): Promise<void> {
  if (file) await writeFileAtomic(path.resolve(ctx.cwd, file), text, { signal: ctx.signal });
  else ctx.stdout.write(text);
}

export const reportCommand: CliCommand = {
  name: 'report',
  summary: "Write the dashboard's content as one static HTML file (no scripts) or Markdown",
  usage: 'report [--config FILE] [--format html|md] [--output FILE]',
  options: {
    format: { type: 'string', valueName: 'FMT', description: 'html (default) or md' },
    output: { type: 'string', short: 'o', valueName: 'FILE', description: 'Write here (atomically) instead of stdout' },
    ...serverFlags,
  },
  help: 'For a cron e-mail or a docs site. Exit 7 when a rule of the audit fails, 6 when a server could not be read.',
  async run(ctx) {
    const format = ctx.flags.format ?? 'html';
    if (format !== 'html' && format !== 'md') {
      throw new ConfigError('bad --format', [{ path: '--format', message: 'html or md' }]);
    }
    const s = await snapshotOnce(ctx);
    const { renderMarkdown, renderReport } = await import('../../serve/render.js');
    await emit(
      ctx,
      format === 'md' ? renderMarkdown(s) : renderReport(s),
      typeof ctx.flags.output === 'string' ? ctx.flags.output : undefined,
    );
    return exitFor(s);
  },
};

export const metricsCommand: CliCommand = {
  name: 'metrics',
  summary: 'Print the Prometheus metrics once, or write them for node_exporter (--textfile DIR)',
  usage: 'metrics [--config FILE] [--textfile DIR]',
  options: {
    textfile: {
      type: 'string',
      valueName: 'DIR',
      description: "Write DIR/duplicati_kit.prom atomically (node_exporter's textfile collector)",
    },
    ...serverFlags,
  },
  help: 'Run it from a timer; the file is replaced atomically, so the collector never reads half of it.',
  async run(ctx) {
    const s = await snapshotOnce(ctx);
    const { renderMetrics } = await import('../../serve/metrics.js');
    const text = await renderMetrics(s);
    const dir = typeof ctx.flags.textfile === 'string' ? ctx.flags.textfile : undefined;
    await emit(ctx, text, dir ? path.join(dir, 'duplicati_kit.prom') : undefined);
    return exitFor(s);
  },
};

function exitFor(s: Awaited<ReturnType<typeof snapshotOnce>>): number {
  const audits = [s.localAudit, ...s.servers.map((v) => v.audit)];
  if (audits.some((a) => a && a.counts.fail > 0)) return ExitCode.AuditFailed;
  return s.servers.some((v) => !v.ok) ? ExitCode.Unavailable : ExitCode.Success;
}
