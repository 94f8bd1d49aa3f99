import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SEEDED_SECRETS,
  type SeededDashboard,
  seedDashboard,
  seededConfig,
  seededEnv,
} from '../../helpers/dashboard-seed.js';
import { type ServeRun, startServe, whenReady } from '../../helpers/serve-cli.js';

// The dashboard in a real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core),
// served against two fake Duplicati servers with a year of history for 5 jobs each.
// DASHBOARD_SCREENSHOTS=1 also writes the README's screenshots into docs/img/.

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium)
  console.warn(`dashboard browser tests skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)`);

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const PAGES = ['/', '/plan', '/history', '/drills', '/restores', '/copies', '/certificates'];

let seed: SeededDashboard;
let serve: ServeRun;
let profile: string;
let context: BrowserContext;

beforeAll(async () => {
  if (!hasChromium) return;
  seed = await seedDashboard({ servers: 2, jobs: 5, days: 365 });
  const config = path.join(seed.root, 'config.yaml');
  await fsp.writeFile(config, seededConfig(seed));
  const env = { ...seededEnv(seed), DUPLICATI_KIT_DASHBOARD_TOKEN: SEEDED_SECRETS.token, XDG_STATE_HOME: seed.root };
  serve = await startServe(['--config', config], env, seed.root);
  await whenReady(serve.url, { authorization: `Bearer ${SEEDED_SECRETS.token}` });
  profile = await fsp.mkdtemp(path.join(os.tmpdir(), 'dk-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 900 },
    httpCredentials: { username: 'me', password: SEEDED_SECRETS.token },
  });
}, 180_000);

afterAll(async () => {
  await context?.close();
  await serve?.stop();
  await seed?.close();
  if (profile) await fsp.rm(profile, { recursive: true, force: true });
});

/** Open a page and collect console errors, page errors and failed requests. */
async function open(p: string): Promise<{ page: Page; problems: string[] }> {
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.url()}`);
  });
  await page.goto(`${serve.url}${p}`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
  return { page, problems };
}

describe.skipIf(!hasChromium)('the dashboard in headless Chromium', () => {
  it('every page loads without a console error, a failed request or a CSP violation', async () => {
    for (const p of PAGES) {
      const { page, problems } = await open(p);
      expect(problems, p).toEqual([]);
      expect(await page.locator('h1').textContent()).toBeTruthy();
      await page.close();
    }
  }, 180_000);

  it('the history charts render: non-empty canvases with the right number of series', async () => {
    const { page, problems } = await open('/history');
    const figures = page.locator('figure.chart');
    expect(await figures.count()).toBe(30);
    const charts = await figures.evaluateAll((els: any[]) =>
      els.map((f: any) => {
        const canvas = f.querySelector('canvas') as any;
        let painted = 0;
        if (canvas) {
          const d = canvas.getContext('2d')?.getImageData(0, 0, canvas.width, canvas.height).data ?? [];
          for (let i = 3; i < d.length; i += 4) if ((d[i] ?? 0) > 0) painted++;
        }
        return {
          metric: (f as any).dataset.metric,
          rendered: (f as any).dataset.rendered,
          series: Number((f as any).dataset.series),
          legend: f.querySelectorAll('.u-legend .u-series').length,
          painted,
        };
      }),
    );
    const want: Record<string, number> = { duration: 1, size: 2, files: 3 };
    for (const c of charts) {
      expect(c.rendered).toBe('true');
      expect(c.series).toBe(want[c.metric ?? '']);
      expect(c.legend).toBe(want[c.metric ?? '']);
      expect(c.painted).toBeGreaterThan(500);
    }
    // One bar per run in each job's result strip.
    const bars = await page.locator('svg.timeline').first().locator('rect').count();
    expect(bars).toBe(seed.runs.get('a/1'));
    expect(problems).toEqual([]);
    if (process.env.DASHBOARD_SCREENSHOTS) {
      await page.setViewportSize({ width: 1100, height: 700 });
      await page.reload();
      await page.waitForSelector('body[data-ready="true"]');
      await page.locator('section.job').first().scrollIntoViewIfNeeded();
      await page.screenshot({ path: path.resolve('docs/img/dashboard-history.png') });
    }
    await page.close();
  }, 180_000);

  it('the overview shows the seeded verdicts, a stale job in red', async () => {
    const { page } = await open('/');
    for (const [key, want] of seed.expected) {
      const [server, job] = key.split('/') as [string, string];
      const table = page.getByRole('table', { name: `Jobs on ${server}` });
      const row = table.getByRole('row').filter({ has: page.getByRole('cell', { name: job, exact: true }) });
      await expect(row.count()).resolves.toBe(1);
      const badge = row.locator('.badge').first();
      expect(await badge.textContent(), key).toBe(want.freshness === 'red' ? 'STALE' : 'OK');
      const color = await badge.evaluate((el) => (globalThis as any).getComputedStyle(el).backgroundColor);
      expect(color, key).toBe(want.freshness === 'red' ? 'rgb(198, 40, 40)' : 'rgb(46, 125, 50)');
    }
    const stale = page.getByRole('table', { name: 'Jobs on b' }).getByRole('row').filter({ hasText: 'Documents' });
    expect(
      await stale.evaluate((el: any) => (globalThis as any).getComputedStyle(el.querySelector('td')).backgroundColor),
    ).toBe('rgb(253, 236, 234)');
    expect(await page.getByRole('table', { name: '3-2-1: the three copies' }).getByRole('row').count()).toBe(4);
    if (process.env.DASHBOARD_SCREENSHOTS) {
      await page.setViewportSize({ width: 1100, height: 760 });
      await page.screenshot({ path: path.resolve('docs/img/dashboard-overview.png') });
    }
    await page.close();
  }, 180_000);

  it('works from the keyboard, with accessible names', async () => {
    const { page } = await open('/');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => (globalThis as any).document.activeElement?.textContent)).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => (globalThis as any).document.activeElement?.id)).toBe('main');
    // Back to the top: the navigation links come right after the skip link, in page order.
    await page.keyboard.press('Shift+Tab');
    const names: string[] = [];
    await page.focus('a.skip');
    for (let i = 0; i < 7; i++) {
      await page.keyboard.press('Tab');
      names.push(await page.evaluate(() => (globalThis as any).document.activeElement?.textContent ?? ''));
    }
    expect(names).toEqual([
      'Overview',
      'Backup plan',
      'Job history',
      'Drills',
      'Restore points',
      'Local copies',
      'Certificates',
    ]);
    await page.focus('nav a[href="/drills"]');
    await page.keyboard.press('Enter');
    await page.waitForURL(`${serve.url}/drills`);
    await expect(page.getByRole('link', { name: 'Drills' }).getAttribute('aria-current')).resolves.toBe('page');
    await expect(page.getByRole('navigation', { name: 'Pages' }).count()).resolves.toBe(1);
    await expect(page.getByRole('table', { name: 'Restore drills, newest first' }).count()).resolves.toBe(1);
    await expect(page.getByRole('link', { name: 'evidence of the drill of Photos' }).count()).resolves.toBe(1);
    await page.goto(`${serve.url}/history`);
    await page.waitForSelector('body[data-ready="true"]');
    await expect(page.getByRole('img', { name: 'Duration (s) of Photos' }).count()).resolves.toBe(2);
    await page.close();
  });
});
