/**
 * The 3-2-1 audit end to end: a real backup plan (SQLite + folder) staged and kept as a local
 * copy, a FakeDuplicatiServer (2.0.x and 2.1+ wire) with a well-kept job (encrypted, off-site,
 * retention, hook installed by installHook, run on schedule) and a careless one (no encryption,
 * file:// target, no retention, no hooks, last success three days ago on a daily schedule), then
 * the audit through the library and the built CLI: the healthy setup passes every rule, each
 * fault fails with its reason, an unreachable server makes the job rules unknown, and the alert
 * reaches a real loopback webhook.
 */
import { promises as fsp } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../../src/cli/exit-codes.js';
import { DuplicatiClient } from '../../../src/duplicati/client.js';
import { type AuditReport, auditBackups } from '../../../src/ops/audit.js';
import type { AuditRule } from '../../../src/ops/audit-rules.js';
import { installHook } from '../../../src/ops/hook-install.js';
import { WebhookNotifier } from '../../../src/ops/notify.js';
import { keepLocalCopy } from '../../../src/ops/retention.js';
import { type LoadedConfig, loadConfig } from '../../../src/app/config.js';
import { PostgresSource } from '../../../src/engines/postgres/source.js';
import { SqliteSource } from '../../../src/engines/sqlite/source.js';
import { FakeDuplicatiServer, type FakeGeneration } from '../../../src/testing/index.js';
import { CLI, requireBuiltCli, runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/context.js';
import { startRecorder } from '../../helpers/http-recorder.js';

const PASSWORD = 'audit-test-password';
const PASSPHRASE = 'audit-passphrase-value';
const H = 3_600_000;
const D = 24 * H;

beforeAll(() => {
  requireBuiltCli();
});

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

const find = (r: AuditReport, id: string, subject: string): AuditRule => {
  const hit = r.rules.find((x) => x.id === id && x.subject === subject);
  if (!hit) throw new Error(`no rule ${id} for ${subject} in ${JSON.stringify(r.rules.map((x) => [x.id, x.subject]))}`);
  return hit;
};

describe.each(['2.0', '2.1'] as FakeGeneration[])('3-2-1 audit against the %s fake', (generation) => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let server: FakeDuplicatiServer;
  let dup: DuplicatiClient;
  let cfg: LoadedConfig;
  let configFile: string;
  let copiesDir: string;
  let copy: string;
  let webhook: Awaited<ReturnType<typeof startRecorder>>;
  let offsetMs = 0;
  const T = Date.now();

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir('dk-audit-'));
    webhook = await startRecorder();
    const live = path.join(dir, 'live');
    await fsp.mkdir(path.join(live, 'photos'), { recursive: true });
    await fsp.writeFile(path.join(live, 'photos', 'IMG_1.jpg'), 'jpeg-bytes');
    const db = new Database(path.join(live, 'app.db'));
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES (1), (2), (3);');
    db.close();
    copiesDir = path.join(dir, 'copies');
    offsetMs = -3 * D;
    server = await FakeDuplicatiServer.start({
      generation,
      password: PASSWORD,
      now: () => new Date(Date.now() + offsetMs),
      tokenLifetimeMs: 30 * D,
    });
    configFile = path.join(dir, 'duplicati-kit.yaml');
    // The hook Duplicati runs reads the server's jobs for the recovery kit: it needs the login from
    // the config, as a systemd unit or Duplicati's own environment would not carry it.
    await fsp.writeFile(path.join(dir, 'duplicati-password'), PASSWORD, { mode: 0o600 });
    await fsp.writeFile(
      configFile,
      `workDir: ${dir}/staging
sources:
  - type: sqlite
    name: app
    path: ${live}/app.db
    counts: [t]
  - type: directory
    name: photos
    paths: [${live}/photos]
localCopies:
  dir: ${copiesDir}
  keep: { keepLast: 3 }
duplicati:
  url: ${server.url}
  passwordFile: ${dir}/duplicati-password
notify:
  - type: webhook
    url: ${webhook.url}/alert
audit:
  grace: 1h
  timeZone: UTC
`,
    );
    cfg = await loadConfig(configFile);
    await cfg.backupPlan().prepare();
    copy = await keepLocalCopy(cfg.config.workDir, copiesDir);

    // The careless job last succeeded three days ago (the server's clock is set back for its run).
    const old = new DuplicatiClient({ baseUrl: server.url, auth: { type: 'password', password: PASSWORD } });
    const { id: careless } = await old.backups.create({
      name: 'Careless',
      targetUrl: `file://${path.join(dir, 'usb-target')}`,
      sources: [`${live}/photos/`],
      settings: [{ name: '--no-encryption', value: 'true' }],
    });
    expect((await old.backups.runAndWait(careless)).result).toBe('Success');
    offsetMs = 0;

    dup = new DuplicatiClient({ baseUrl: server.url, auth: { type: 'password', password: PASSWORD } });
    const { id: home } = await dup.backups.create({
      name: 'Home',
      targetUrl: 'b2://home-bucket/server?auth-username=keyid&auth-password=b2-secret-key',
      sources: [`${live}/photos/`],
      settings: [
        { name: 'encryption-module', value: 'aes' },
        { name: 'passphrase', value: PASSPHRASE },
        { name: 'keep-versions', value: '7' },
      ],
    });
    await installHook(dup, {
      job: 'Home',
      script: path.join(dir, 'bin', 'duplicati-kit-hook'),
      command: [process.execPath, CLI, 'hook', '--config', configFile],
      workDir: cfg.config.workDir,
    });
    expect((await dup.backups.runAndWait(home)).result).toBe('Success');
    // The fake runs the installed hook as Duplicati does: its AFTER kept a newer local copy and
    // notified the run. The tests judge that copy, and count only the audit's own alerts.
    copy = path.join(copiesDir, ((await fsp.readdir(copiesDir)).sort().at(-1) as string) ?? '');
    webhook.requests.length = 0;
    // What the scheduler leaves: daily runs, the next one a day after the last start.
    server.setSchedule(home, { time: new Date(T + D - 5 * 60_000), repeat: '1D', lastRun: new Date(T - 5 * 60_000) });
    server.setSchedule(careless, { time: new Date(T + D - 5 * 60_000), repeat: '1D', lastRun: new Date(T - 3 * D) });
  });

  afterEach(async () => {
    await server.close();
    await webhook.close();
    await cleanup();
  });

  const audit = (over: Parameters<typeof auditBackups>[0] = {}) =>
    auditBackups({
      sources: [...cfg.sources],
      localCopies: { dir: copiesDir },
      client: dup,
      timeZone: 'UTC',
      ...over,
    });

  it('a healthy setup passes every rule', async () => {
    const r = await audit({ jobs: ['Home'] });
    expect(r.rules.filter((x) => x.status !== 'pass')).toEqual([]);
    expect(r).toMatchObject({ ok: true, counts: { pass: 10, fail: 0, warn: 0, unknown: 0 }, missedRuns: [] });
    expect(r.rules.map((x) => `${x.id} ${x.subject}`)).toEqual([
      'live.data app',
      'live.data photos',
      `local.fresh ${copiesDir}`,
      `local.verified ${copiesDir}`,
      'job.last-success Home',
      'job.schedule Home',
      'job.encryption Home',
      'job.offsite Home',
      'job.retention Home',
      'job.hooks Home',
    ]);
    expect(find(r, 'local.verified', copiesDir).evidence).toMatchObject({ method: 'rehash', problems: [] });
    expect(find(r, 'job.hooks', 'Home').reason).toContain('(required)');
    expect(JSON.stringify(r)).not.toContain('b2-secret-key');
    expect(JSON.stringify(r)).not.toContain(PASSPHRASE);
  });

  it('each fault of the careless job fails with its reason, and the missed run is listed', async () => {
    const r = await audit({ jobs: ['Careless', 'No such job'] });
    expect(r.ok).toBe(false);
    const reasons: [string, string, RegExp][] = [
      ['job.encryption', 'Careless', /--no-encryption is set/],
      ['job.offsite', 'Careless', /^file:\/\/ target .* is a folder on this machine/],
      ['job.retention', 'Careless', /no keep-versions, keep-time or retention-policy/],
      ['job.hooks', 'Careless', /no run-script-before and no run-script-after/],
      ['job.schedule', 'Careless', /missed 2 scheduled runs: due .* \(every 1D\), last success/],
      ['job.last-success', 'Careless', /last success 3d ago .*older than 1d 1h/],
      ['job.present', 'No such job', /no Duplicati job "No such job" on the server \(it has: Careless, Home\)/],
    ];
    for (const [id, subject, why] of reasons) {
      expect(find(r, id, subject)).toMatchObject({ status: 'fail', reason: expect.stringMatching(why) });
    }
    expect(r.missedRuns).toEqual([
      {
        job: 'Careless',
        // The schedule's time goes over the wire in whole seconds. The run due 5 minutes ago is
        // still within the 1 h grace, so the newest missed one is a day earlier.
        dueAt: new Date(Math.floor((T + D - 5 * 60_000) / 1000) * 1000 - 2 * D).toISOString(),
        lastSuccessAt: expect.any(String),
        missed: 2,
      },
    ]);
  });

  it('server-wide default options count: a global --no-encryption or --keep-versions applies to every job', async () => {
    await dup.server.updateSettings({ '--no-encryption': 'true', '--keep-versions': '5' });
    const r = await audit();
    expect(find(r, 'job.encryption', 'Home')).toMatchObject({
      status: 'fail',
      reason: expect.stringContaining('--no-encryption is set'),
    });
    expect(find(r, 'job.retention', 'Careless')).toMatchObject({ status: 'pass', reason: 'keep-versions=5' });
  });

  it('a failed newest run is not a success', async () => {
    server.failNextRun('Fatal', 'target unreachable: connection refused');
    expect((await dup.backups.runAndWait((await dup.backups.findByName('Home'))?.id ?? '')).result).toBe('Fatal');
    const r = await audit({ jobs: ['Home'] });
    expect(find(r, 'job.last-success', 'Home')).toMatchObject({
      status: 'fail',
      reason: expect.stringMatching(/newest run .* ended Fatal/),
    });
  });

  it('unreachable live data and a tampered or stale local copy fail with the reason', async () => {
    await fsp.writeFile(path.join(copy, 'app', (await fsp.readdir(path.join(copy, 'app')))[0] as string), 'tampered');
    const r = await audit({
      sources: [
        ...cfg.sources,
        new SqliteSource({ name: 'gone', path: path.join(dir, 'no-such.db') }),
        new PostgresSource({
          name: 'pg',
          connection: { host: '127.0.0.1', port: await closedPort(), user: 'postgres', database: 'nope' },
        }),
      ],
      localCopies: { dir: copiesDir, maxAgeMs: 60_000 },
      now: new Date(Date.now() + 2 * 60_000),
      jobs: ['Home'],
    });
    expect(find(r, 'live.data', 'gone')).toMatchObject({
      status: 'fail',
      reason: expect.stringContaining('unreachable'),
    });
    expect(find(r, 'live.data', 'pg')).toMatchObject({
      status: 'fail',
      reason: expect.stringContaining('unreachable'),
    });
    expect(find(r, 'live.data', 'app').status).toBe('pass');
    expect(find(r, 'local.verified', copiesDir)).toMatchObject({
      status: 'fail',
      reason: expect.stringContaining('do not match the manifest'),
    });
    expect(find(r, 'local.fresh', copiesDir)).toMatchObject({
      status: 'fail',
      reason: expect.stringContaining('older than 1m'),
    });
  });

  it('an unreachable Duplicati makes the job rules unknown, with the reason', async () => {
    const down = new DuplicatiClient({
      baseUrl: `http://127.0.0.1:${await closedPort()}`,
      auth: { type: 'password', password: PASSWORD },
      maxRetries: 0,
    });
    const r = await audit({
      client: down,
      jobs: ['Home'],
      notify: true,
      notifiers: [new WebhookNotifier({ url: `${webhook.url}/alert` })],
    });
    const jobRules = r.rules.filter((x) => x.id.startsWith('job.'));
    expect(jobRules).toHaveLength(6);
    for (const x of jobRules) {
      expect(x).toMatchObject({ status: 'unknown', subject: 'Home', reason: expect.stringContaining('unreachable') });
    }
    expect(r.ok).toBe(true);
    expect(r.counts.unknown).toBe(6);
    // Nothing failed, but nothing could be checked either: a warning goes out.
    expect(r.notifications).toEqual([{ notifier: 'webhook', ok: true }]);
    const body = JSON.parse(webhook.requests[0]?.body ?? '{}');
    expect(body).toMatchObject({ kind: 'warning', title: 'Backup audit: 6 rule(s) could not be checked' });
    expect(body.message).toContain('? job.encryption Home: Duplicati at http://127.0.0.1:');
  });

  it('alerts once through a real webhook listing the missed run; a failing notifier is reported, not thrown', async () => {
    const broken = await startRecorder(() => ({ status: 500, body: 'down' }));
    try {
      const r = await audit({
        notify: true,
        notifiers: [
          new WebhookNotifier({ url: `${webhook.url}/alert` }),
          new WebhookNotifier({ name: 'broken', url: `${broken.url}/x` }),
        ],
      });
      expect(r.notifications).toEqual([
        { notifier: 'webhook', ok: true },
        { notifier: 'broken', ok: false, error: expect.stringContaining('500') },
      ]);
      expect(webhook.requests).toHaveLength(1);
      const body = JSON.parse(webhook.requests[0]?.body ?? '{}');
      expect(body).toMatchObject({ kind: 'failure', title: expect.stringContaining('1 job(s) missed runs') });
      expect(body.message).toMatch(/^missed: Careless — 2 scheduled run\(s\) without success/);
      expect(body.message).toContain('✗ job.encryption Careless');
      expect(body.details.missedRuns).toHaveLength(1);
      // All-pass audits send nothing.
      await audit({ jobs: ['Home'], notify: true, notifiers: [new WebhookNotifier({ url: `${webhook.url}/alert` })] });
      expect(webhook.requests).toHaveLength(1);
    } finally {
      await broken.close();
    }
  });

  it('the built CLI: status --audit prints a table, --json the report, and exits 0 / 7 / 6', async () => {
    const env = { AUDIT_TEST_DUP_PASSWORD: PASSWORD, DUPLICATI_KIT_SILENT: '1' };
    const healthy = await runCli(['status', '--audit', '--job', 'Home', '--json', '--config', configFile], { env });
    expect(healthy.stderr).toBe('');
    expect(healthy.code).toBe(ExitCode.Success);
    const json = JSON.parse(healthy.stdout);
    expect(json.workDir).toBe(cfg.config.workDir);
    expect(json.audit).toMatchObject({ ok: true, counts: { pass: 10, fail: 0 } });

    const all = await runCli(['status', '--audit', '--notify', '--config', configFile], { env });
    expect(all.code).toBe(ExitCode.AuditFailed);
    expect(all.stdout).toMatch(/STATUS\s+RULE\s+SUBJECT\s+REASON/);
    expect(all.stdout).toMatch(/FAIL\s+job\.encryption\s+Careless\s+--no-encryption is set/);
    expect(all.stdout).toMatch(/PASS\s+job\.offsite\s+Home\s+b2:\/\/ backend/);
    expect(all.stdout).toContain('alert webhook: sent');
    expect(all.stdout).not.toContain('b2-secret-key');
    expect(webhook.requests.map((q) => q.url)).toEqual(['/alert']);

    const port = await closedPort();
    const down = await runCli(
      ['status', '--audit', '--json', '--job', 'Home', '--url', `http://127.0.0.1:${port}`, '--config', configFile],
      {
        env: { ...env, DUPLICATI_TIMEOUT_MS: '2000' },
      },
    );
    expect(down.code).toBe(ExitCode.Unavailable);
    expect(JSON.parse(down.stdout).audit.counts).toMatchObject({ fail: 0, unknown: 6 });

    // A config without local copies or a Duplicati server: what cannot be audited is a warning.
    const bare = path.join(dir, 'bare.yaml');
    await fsp.writeFile(bare, (await fsp.readFile(configFile, 'utf8')).replace(/localCopies:[\s\S]*$/, ''));
    const partial = await runCli(['status', '--audit', '--json', '--config', bare], { env });
    expect(partial.code).toBe(ExitCode.Success);
    expect(JSON.parse(partial.stdout).audit.rules.map((x: AuditRule) => `${x.status} ${x.id} ${x.subject}`)).toEqual([
      'pass live.data app',
      'pass live.data photos',
      'warn local.fresh (not configured)',
      'warn job.present (all jobs)',
    ]);

    // Without --audit the status is what it was: no audit key, exit 0.
    const plain = await runCli(['status', '--json', '--config', configFile], { env });
    expect(plain.code).toBe(0);
    expect(JSON.parse(plain.stdout).audit).toBeUndefined();
  });
});

describe('3-2-1 audit against a 2.3 fake (secrets masked in GET backup)', () => {
  it('a masked passphrase counts as set, a masked target URL is still classified, nothing leaks', async () => {
    const server = await FakeDuplicatiServer.start({ generation: '2.1', version: '2.3.0.4', password: PASSWORD });
    const { dir, cleanup } = await tempDir('dk-audit-23-');
    try {
      await fsp.mkdir(path.join(dir, 'src'));
      await fsp.writeFile(path.join(dir, 'src', 'a.txt'), 'a');
      const dup = new DuplicatiClient({ baseUrl: server.url, auth: { type: 'password', password: PASSWORD } });
      const { id } = await dup.backups.create({
        name: 'Masked',
        targetUrl: 'ssh://backup.example.org/srv/dup?auth-username=me&auth-password=ssh-secret-pw',
        sources: [`${dir}/src/`],
        settings: [
          { name: 'passphrase', value: PASSPHRASE },
          { name: 'keep-time', value: '6M' },
        ],
      });
      expect((await dup.backups.runAndWait(id)).result).toBe('Success');
      // What the audit sees: the server masks both secrets.
      const seen = await dup.backups.get(id);
      expect(seen.settings.find((x) => x.name === 'passphrase')?.value).toMatch(/^\*{15}$/);
      expect(seen.targetUrl).not.toContain('ssh-secret-pw');
      const r = await auditBackups({ client: dup, timeZone: 'UTC' });
      expect(find(r, 'job.encryption', 'Masked')).toMatchObject({
        status: 'pass',
        evidence: { passphraseSet: true },
      });
      expect(find(r, 'job.offsite', 'Masked')).toMatchObject({
        status: 'pass',
        reason: 'ssh:// backend at backup.example.org: off-site',
      });
      expect(find(r, 'job.retention', 'Masked').reason).toBe('keep-time=6M');
      expect(find(r, 'job.last-success', 'Masked').status).toBe('warn'); // no schedule, no maxAge
      expect(find(r, 'job.schedule', 'Masked').status).toBe('warn');
      expect(JSON.stringify(r)).not.toMatch(/ssh-secret-pw|audit-passphrase-value/);
    } finally {
      await server.close();
      await cleanup();
    }
  });
});
