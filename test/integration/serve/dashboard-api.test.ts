import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SEEDED_SECRETS,
  type SeededDashboard,
  seedDashboard,
  seededConfig,
  seededEnv,
} from '../../helpers/dashboard-seed.js';
import { cli, type ServeRun, startServe, whenReady } from '../../helpers/serve-cli.js';

// The dashboard through the CLI (in-process, from the sources) against two fake Duplicati servers
// seeded with a year of history: the JSON API, the Prometheus metrics, report and textfile, and
// the security rules (loopback default, token, 401, no secret in any response).

let seed: SeededDashboard;
let config: string;
let env: Record<string, string>;
let serve: ServeRun;
const auth = { authorization: `Bearer ${SEEDED_SECRETS.token}` };

beforeAll(async () => {
  seed = await seedDashboard({ servers: 2, jobs: 5, days: 365 });
  config = path.join(seed.root, 'config.yaml');
  await fsp.writeFile(config, seededConfig(seed));
  env = { ...seededEnv(seed), DUPLICATI_KIT_DASHBOARD_TOKEN: SEEDED_SECRETS.token, XDG_STATE_HOME: seed.root };
  serve = await startServe(['--config', config], env, seed.root);
  await whenReady(serve.url, auth);
}, 120_000);

afterAll(async () => {
  await serve?.stop();
  await seed?.close();
});

/** Parse the Prometheus text exposition format (0.0.4): HELP/TYPE lines and samples. */
function parseExposition(text: string): {
  samples: { name: string; labels: Record<string, string>; value: number }[];
  types: Map<string, string>;
} {
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const t = /^# TYPE (\w+) (gauge|counter|histogram|summary|untyped)$/.exec(line);
    if (t?.[1] && t[2]) {
      types.set(t[1], t[2]);
      continue;
    }
    if (/^# HELP \w+ .+$/.test(line)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/.exec(line);
    if (!m?.[1] || m[3] === undefined) throw new Error(`not exposition format: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, '$1');
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return { samples, types };
}

describe('duplicati-kit serve: API and metrics', () => {
  it('the overview API shows each job with the seeded verdicts, grouped by server', async () => {
    const r = await fetch(`${serve.url}/api/overview`, { headers: auth });
    expect(r.status).toBe(200);
    const body = (await r.json()) as {
      servers: {
        name: string;
        ok: boolean;
        jobs: {
          name: string;
          freshness: string;
          lastRun: { result: string } | null;
          lastSuccessAt: string | null;
          lastVerified: unknown;
          runs: number;
        }[];
      }[];
    };
    expect(body.servers.map((s) => s.name)).toEqual(['a', 'b']);
    for (const s of body.servers) {
      expect(s.ok).toBe(true);
      expect(s.jobs).toHaveLength(5);
      for (const j of s.jobs) {
        const want = seed.expected.get(`${s.name}/${j.name}`);
        expect(j.freshness, `${s.name}/${j.name}`).toBe(want?.freshness);
        expect(j.lastRun?.result).toBe(want?.lastResult);
        expect(j.lastSuccessAt).toBe(want?.lastSuccessAt?.toISOString() ?? null);
        expect(j.runs).toBeGreaterThan(300);
      }
    }
    const photos = body.servers[0]?.jobs.find((j) => j.name === 'Photos');
    expect(photos?.lastVerified).toMatchObject({ recoveryMs: 45_000, version: 0 });
  });

  it('the history API returns a year of runs per job', async () => {
    const list = (await (await fetch(`${serve.url}/api/history`, { headers: auth })).json()) as {
      servers: { jobs: { key: string; runs: number }[] }[];
    };
    const key = list.servers[0]?.jobs[0]?.key as string;
    const r = (await (
      await fetch(`${serve.url}/api/history?key=${encodeURIComponent(key)}`, { headers: auth })
    ).json()) as { runs: { t: number; result: string; durationS: number }[] };
    expect(r.runs.length).toBe(seed.runs.get(key));
    expect(r.runs.at(-1)?.t).toBeGreaterThan(r.runs[0]?.t ?? Number.POSITIVE_INFINITY);
    expect(r.runs.filter((x) => x.result === 'Fatal').length).toBeGreaterThan(0);
  });

  it('the plan, drills, restore points, local copies and certificates have their API', async () => {
    const get = async (p: string) =>
      (await (await fetch(`${serve.url}/api/${p}`, { headers: auth })).json()) as Record<string, unknown>;
    const plan = (await get('plan')).plan as { service: string; frequency: string; retention: string; where: string }[];
    expect(plan).toHaveLength(10);
    expect(plan[0]).toMatchObject({ service: 'Photos', frequency: 'daily', retention: 'keep 3M' });
    expect(plan[0]?.where).toBe('ssh://offsite.example.org/srv/backup/a-0 (remote)');
    const drills = (await get('drills')).drills as { job: string; verdict: string; evidence: string }[];
    expect(drills.map((d) => `${d.job}:${d.verdict}`)).toEqual(['Immich DB:fail', 'Photos:pass']);
    const md = await fetch(`${serve.url}${drills[0]?.evidence}`, { headers: auth });
    expect(md.status).toBe(200);
    expect(await md.text()).toContain('Immich DB');
    const rp = (await get('restores')).restorePoints as { status: string; rollback: string }[];
    expect(rp[0]).toMatchObject({
      status: 'applied',
      rollback: 'rollback puts back immich-db from immich_before_restore',
    });
    const copies = (await get('copies')).localCopies as { copies: { kept: boolean; bytes: number }[] };
    expect(copies.copies.map((c) => c.kept)).toEqual([true, true, true, false]);
    expect(copies.copies[0]?.bytes).toBe(1000);
    const certs = (await get('certificates')).certificates as { subject: string; daysLeft: number; light: string }[];
    expect(certs).toHaveLength(1);
    expect(certs[0]).toMatchObject({ subject: 'CN=photos.example.org', light: 'green' });
    expect(certs[0]?.daysLeft).toBeGreaterThanOrEqual(29);
  });

  it('/metrics is Prometheus exposition format and matches the seeded state', async () => {
    const r = await fetch(`${serve.url}/metrics`, { headers: auth });
    expect(r.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    const { samples, types } = parseExposition(await r.text());
    expect(types.get('duplicati_kit_job_last_success_timestamp_seconds')).toBe('gauge');
    const one = (name: string, labels: Record<string, string>) =>
      samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    for (const [key, want] of seed.expected) {
      const [server, job] = key.split('/') as [string, string];
      const ok = one('duplicati_kit_job_last_success_timestamp_seconds', { server, job });
      expect(ok.map((s) => s.value)).toEqual([(want.lastSuccessAt?.getTime() ?? 0) / 1000]);
      expect(one('duplicati_kit_job_stale', { server, job })[0]?.value).toBe(want.freshness === 'red' ? 1 : 0);
      expect(one('duplicati_kit_job_last_result', { server, job, result: want.lastResult })[0]?.value).toBe(1);
    }
    expect(one('duplicati_kit_server_up', {}).map((s) => s.value)).toEqual([1, 1]);
    expect(one('duplicati_kit_drill_last_recovery_seconds', { job: 'Photos' })[0]?.value).toBe(45);
    expect(one('duplicati_kit_local_copies', {})[0]?.value).toBe(4);
    expect(one('duplicati_kit_local_copy_bytes', {})).toHaveLength(4);
    expect(
      one('duplicati_kit_certificate_expiry_timestamp_seconds', { subject: 'CN=photos.example.org' }),
    ).toHaveLength(1);
    expect(
      one('duplicati_kit_audit_rule_ok', { server: 'b', rule: 'job.last-success', subject: 'Documents' })[0]?.value,
    ).toBe(0);
  });

  it('answers with a strict CSP and refuses anything but GET and HEAD', async () => {
    const r = await fetch(`${serve.url}/`, { headers: auth });
    const csp = r.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await r.text();
    expect(html).not.toMatch(/\son[a-z]+=/i);
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)/);
    const post = await fetch(`${serve.url}/api/overview`, { method: 'POST', headers: auth });
    expect(post.status).toBe(405);
  });
});

describe('duplicati-kit serve: security', () => {
  it('a wrong or missing token gets 401 on every route', async () => {
    for (const p of ['/', '/api/overview', '/metrics', '/assets/dashboard.js']) {
      const none = await fetch(`${serve.url}${p}`);
      expect(none.status, p).toBe(401);
      const wrong = await fetch(`${serve.url}${p}`, { headers: { authorization: 'Bearer wrong-token-0123456789' } });
      expect(wrong.status, p).toBe(401);
    }
    const basic = Buffer.from(`me:${SEEDED_SECRETS.token}`).toString('base64');
    expect((await fetch(`${serve.url}/metrics`, { headers: { authorization: `Basic ${basic}` } })).status).toBe(200);
  });

  it('no seeded secret appears in any page, API answer, metric or the log', async () => {
    const keys = [...seed.runs.keys()];
    const paths = [
      '/',
      '/plan',
      '/history',
      '/drills',
      '/restores',
      '/copies',
      '/certificates',
      '/metrics',
      ...['overview', 'plan', 'history', 'drills', 'restores', 'copies', 'certificates'].map((p) => `/api/${p}`),
      ...keys.map((k) => `/api/history?key=${encodeURIComponent(k)}`),
    ];
    const secrets = [
      ...SEEDED_SECRETS.uiPassword,
      SEEDED_SECRETS.passphrase,
      SEEDED_SECRETS.targetPassword,
      SEEDED_SECRETS.targetQuerySecret,
      SEEDED_SECRETS.token,
    ];
    for (const p of paths) {
      const text = await (await fetch(`${serve.url}${p}`, { headers: auth })).text();
      expect(text.length, p).toBeGreaterThan(0);
      for (const s of secrets) expect(text.includes(s), `${s} in ${p}`).toBe(false);
    }
    for (const s of secrets) expect(serve.stderr().includes(s)).toBe(false);
  });

  it('a non-loopback bind without a token refuses to start', async () => {
    const { DUPLICATI_KIT_DASHBOARD_TOKEN: _drop, ...noToken } = env;
    const r = await cli(['serve', '--config', config, '--host', '0.0.0.0', '--port', '0'], noToken, seed.root);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('refusing to serve on 0.0.0.0 without a token');
  });
});

describe('duplicati-kit report and metrics --textfile', () => {
  it('report writes one static HTML file without scripts, and Markdown', async () => {
    const out = path.join(seed.root, 'report.html');
    const r = await cli(['report', '--config', config, '--output', out], env, seed.root);
    expect(r.code).toBe(7); // the stale and failed jobs fail the audit
    const html = await fsp.readFile(out, 'utf8');
    expect(html).not.toContain('<script');
    expect(html).toContain('STALE');
    expect(html.match(/<svg class="timeline"/g)).toHaveLength(10);
    const md = await cli(['report', '--config', config, '--format', 'md'], env, seed.root);
    expect(md.stdout).toContain('| b | Documents | STALE |');
  });

  it('metrics --textfile writes duplicati_kit.prom atomically', async () => {
    const dir = path.join(seed.root, 'textfile');
    await fsp.mkdir(dir);
    await cli(['metrics', '--config', config, '--textfile', dir], env, seed.root);
    expect(await fsp.readdir(dir)).toEqual(['duplicati_kit.prom']);
    const { samples } = parseExposition(await fsp.readFile(path.join(dir, 'duplicati_kit.prom'), 'utf8'));
    expect(samples.filter((s) => s.name === 'duplicati_kit_job_last_success_timestamp_seconds')).toHaveLength(10);
  });
});
