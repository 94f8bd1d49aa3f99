/**
 * The dashboard through the built package: `node dist/cli/main.js serve` against fake Duplicati
 * servers seeded with `servers` × `jobs` × `days` of daily history. Measures, in one run:
 * - the overview fully rendered in headless Chromium (navigation to `body[data-ready]`), against the
 *   same HTML loaded from a file (the anchor: the browser's own cost for that page);
 * - `GET /metrics` from the cache, against `GET /assets/dashboard.css` of the same server (the anchor);
 * - the server's RSS (VmRSS and peak VmHWM from /proc), against a bare node:http server;
 * - the background refresh (reading every server) as the server reports it.
 *
 *   npm run build && npx tsx bench/dashboard.ts [servers=2] [jobs=10] [days=365] [reps=7]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { SEEDED_SECRETS, seedDashboard, seededConfig, seededEnv } from '../test/helpers/dashboard-seed.js';
import { arg, load, median, table } from './lib/common.js';

const cli = path.resolve(import.meta.dirname, '..', 'dist', 'cli', 'main.js');
if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);
const servers = arg('servers', 2);
const jobs = arg('jobs', 10);
const days = arg('days', 365);
const reps = arg('reps', 7);
const auth = { authorization: `Bearer ${SEEDED_SECRETS.token}` };

const rss = async (pid: number): Promise<{ rss: number; hwm: number }> => {
  const s = await fsp.readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
};

/** user + sys CPU of a process so far, in ms (clock ticks of /proc/<pid>/stat at 100 Hz). */
const cpuMs = async (pid: number): Promise<number> => {
  const f = (await fsp.readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  return (Number(f[11]) + Number(f[12])) * 10;
};

function waitForLine(child: ChildProcess, re: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    child.stderr?.on('data', (c: Buffer) => {
      text += c.toString();
      const m = re.exec(text);
      if (m?.[1]) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${text}`)));
  });
}

async function timeGet(url: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = await fetch(url, { headers: auth });
    await r.arrayBuffer();
    out.push(performance.now() - t0);
  }
  return out;
}

console.log(`dashboard: ${servers} servers × ${jobs} jobs × ${days} days; load ${load()}`);
const seed = await seedDashboard({ servers, jobs, days });
const config = path.join(seed.root, 'config.yaml');
// A refresh every 5 s, so the incremental refreshes are sampled too.
await fsp.writeFile(config, seededConfig(seed, '  refresh: 5s\n'));
const env = {
  ...process.env,
  ...seededEnv(seed),
  DUPLICATI_KIT_DASHBOARD_TOKEN: SEEDED_SECRETS.token,
  XDG_STATE_HOME: seed.root,
};
const child = spawn(process.execPath, [cli, 'serve', '--config', config, '--port', '0', '--quiet'], {
  env,
  stdio: ['ignore', 'ignore', 'pipe'],
});
const bare = spawn(
  process.execPath,
  ['-e', "require('node:http').createServer((q,s)=>s.end('ok')).listen(0,'127.0.0.1')"],
  { stdio: 'ignore' },
);
const profile = await fsp.mkdtemp(path.join(os.tmpdir(), 'dk-bench-chromium-'));
try {
  const url = await waitForLine(child, /dashboard on (http:\/\/\S+?)\/? /);
  const t0 = performance.now();
  for (;;) {
    const r = await fetch(`${url}/api/overview`, { headers: auth });
    await r.arrayBuffer();
    if (r.status === 200) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  const firstRead = performance.now() - t0;
  const cpuAfterFirst = await cpuMs(child.pid as number);
  const hwmFirst = (await rss(child.pid as number)).hwm;
  // Steady RSS, then the RSS sampled every 20 ms over two background refreshes (12 s).
  const steady = (await rss(child.pid as number)).rss;
  let refreshPeak = 0;
  const cpu0 = await cpuMs(child.pid as number);
  for (const end = performance.now() + 12_000; performance.now() < end; ) {
    refreshPeak = Math.max(refreshPeak, (await rss(child.pid as number)).rss);
    await new Promise((res) => setTimeout(res, 20));
  }
  const idleCores = ((await cpuMs(child.pid as number)) - cpu0) / 12_000;
  const metricsText = await (await fetch(`${url}/metrics`, { headers: auth })).text();
  const refreshS = Number(/^duplicati_kit_refresh_duration_seconds (\S+)$/m.exec(metricsText)?.[1]);
  await timeGet(`${url}/metrics`, 5);
  const metrics = await timeGet(`${url}/metrics`, 101);
  const asset = await timeGet(`${url}/assets/dashboard.css`, 101);

  const html = await (await fetch(`${url}/`, { headers: auth })).text();
  const file = path.join(profile, 'overview.html');
  await fsp.writeFile(file, html.replace(/<script[^>]*><\/script>/g, '').replace('<body ', '<body data-ready="true" '));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    httpCredentials: { username: 'bench', password: SEEDED_SECRETS.token },
  });
  const page = await context.newPage();
  const overview: number[] = [];
  const anchor: number[] = [];
  const cpuPages0 = await cpuMs(child.pid as number);
  const tPages0 = performance.now();
  for (let i = 0; i < reps + 1; i++) {
    let t = performance.now();
    await page.goto(`${url}/`);
    await page.waitForSelector('body[data-ready="true"]');
    if (i > 0) overview.push(performance.now() - t);
    t = performance.now();
    await page.goto(`file://${file}`);
    await page.waitForSelector('body[data-ready="true"]');
    if (i > 0) anchor.push(performance.now() - t);
  }
  const history: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await page.goto(`${url}/history`);
    await page.waitForSelector('body[data-ready="true"]');
    history.push(performance.now() - t);
  }
  const pagesCores = ((await cpuMs(child.pid as number)) - cpuPages0) / (performance.now() - tPages0);
  await context.close();
  const mem = await rss(child.pid as number);
  const bareMem = await rss(bare.pid as number);
  const kib = Buffer.byteLength(html) / 1024;
  table([
    ['measure', 'median', 'anchor', 'ratio', 'target'],
    [
      `overview in Chromium (${kib.toFixed(0)} KiB HTML), ms`,
      median(overview).toFixed(0),
      median(anchor).toFixed(0),
      (median(overview) / median(anchor)).toFixed(2),
      '≤ 1000',
    ],
    [
      'GET /metrics from cache, ms (p95 ' + [...metrics].sort((a, b) => a - b)[95]?.toFixed(1) + ')',
      median(metrics).toFixed(2),
      median(asset).toFixed(2),
      (median(metrics) / median(asset)).toFixed(2),
      '≤ 100',
    ],
    [
      'server RSS now / peak, MiB',
      `${mem.rss.toFixed(0)} / ${mem.hwm.toFixed(0)}`,
      bareMem.rss.toFixed(0),
      (mem.hwm / bareMem.rss).toFixed(2),
      '≤ 120',
    ],
    [
      'RSS steady / peak over 2 incremental refreshes, MiB',
      `${steady.toFixed(0)} / ${refreshPeak.toFixed(0)}`,
      bareMem.rss.toFixed(0),
      (refreshPeak / bareMem.rss).toFixed(2),
      '≤ 120',
    ],
    ['peak RSS (VmHWM) by the end of the first full read, MiB', hwmFirst.toFixed(0), '', '', '≤ 120'],
    [
      `serve CPU: start + first read ${(cpuAfterFirst / firstRead).toFixed(2)} cores; idle+refreshes ${idleCores.toFixed(3)} cores; while pages load ${pagesCores.toFixed(2)} cores`,
      '',
      '',
      '',
      '',
    ],
    ['history page (all charts drawn), ms', median(history).toFixed(0), '', '', ''],
    ['background refresh (server-reported), ms', (refreshS * 1000).toFixed(0), '', '', ''],
    ['first data after start, ms', firstRead.toFixed(0), '', '', ''],
  ]);
  console.log(`metrics body ${Buffer.byteLength(metricsText)} bytes; load ${load()}`);
} finally {
  child.kill('SIGTERM');
  bare.kill('SIGTERM');
  await seed.close();
  await fsp.rm(profile, { recursive: true, force: true });
}
