import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeManifest } from '../../src/core/manifest.js';
import { copyName } from '../../src/ops/retention.js';
import { writeDrillEvidence } from '../../src/ops/drill-report.js';
import type { DrillEvidence } from '../../src/ops/drill-report.js';
import { newRestoreId, writeRestoreRecord } from '../../src/ops/restore-points.js';
import { FakeDuplicatiServer, type FakeSeedRun } from '../../src/testing/index.js';

/** Secrets put into the seeded setup; none may appear in any dashboard response. */
export const SEEDED_SECRETS = {
  uiPassword: ['dash-ui-pw-SECRET-one', 'dash-ui-pw-SECRET-two'],
  passphrase: 'PASSPHRASE-SECRET-4242',
  targetPassword: 'TARGET-PW-SECRET-77',
  targetQuerySecret: 'TARGET-QUERY-SECRET-88',
  token: 'dashboard-token-SECRET-0123456789',
} as const;

const JOB_NAMES = ['Photos', 'Immich DB', 'Jellyfin', 'Nginx', 'Documents', 'Mail', 'Music', 'Notes', 'Git', 'Home'];
const DAY = 86_400_000;

/** What {@link seedDashboard} made. */
export interface SeededDashboard {
  readonly root: string;
  readonly servers: FakeDuplicatiServer[];
  readonly evidenceDir: string;
  readonly restoreDir: string;
  readonly copiesDir: string;
  readonly nginxDir: string;
  /** Expected verdicts: `<server>/<job>` → red/green. */
  readonly expected: Map<string, { freshness: 'red' | 'green'; lastResult: string; lastSuccessAt: Date | null }>;
  /** Number of successful seeded runs per job key (for charts). */
  readonly runs: Map<string, number>;
  readonly serverNames: string[];
  close(): Promise<void>;
}

/**
 * Two (or more) fake Duplicati servers with `jobs` jobs each and `days` days of daily history;
 * on server `a`, `Jellyfin` failed its last run; on server `b`, `Documents` stopped 10 days ago
 * (stale). Drill evidence, a restore record, local copies and an nginx certificate beside them.
 */
export async function seedDashboard(
  o: { servers?: number; jobs?: number; days?: number } = {},
): Promise<SeededDashboard> {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'dk-dash-'));
  const nServers = o.servers ?? 2;
  const nJobs = o.jobs ?? 5;
  const days = o.days ?? 365;
  const now = Date.now();
  // The newest scheduled run: the last full hour; one a day before it.
  const last = Math.floor(now / 3_600_000) * 3_600_000 - 3_600_000;
  const servers: FakeDuplicatiServer[] = [];
  const serverNames: string[] = [];
  const expected: SeededDashboard['expected'] = new Map();
  const runsBy = new Map<string, number>();
  for (let s = 0; s < nServers; s++) {
    const name = String.fromCharCode(97 + s);
    serverNames.push(name);
    const server = await FakeDuplicatiServer.start({
      generation: '2.0',
      password: SEEDED_SECRETS.uiPassword[s % 2] as string,
    });
    servers.push(server);
    for (let j = 0; j < nJobs; j++) {
      const job = JOB_NAMES[j % JOB_NAMES.length] + (j >= JOB_NAMES.length ? ` ${j}` : '');
      const id = server.createBackup({
        name: job,
        sources: [`/srv/${job.toLowerCase().replace(/\W/g, '-')}/`],
        targetUrl: `ssh://backup:${SEEDED_SECRETS.targetPassword}@offsite.example.org/srv/backup/${name}-${j}?auth-password=${SEEDED_SECRETS.targetQuerySecret}`,
        settings: {
          'no-encryption': 'false',
          passphrase: SEEDED_SECRETS.passphrase,
          ...(j % 2 ? { 'keep-versions': '30' } : { 'keep-time': '3M' }),
        },
      });
      const stale = name === 'b' && job === 'Documents';
      const failing = name === 'a' && job === 'Jellyfin';
      const stop = stale ? last - 10 * DAY : last;
      server.setSchedule(id, { time: new Date(last + DAY), repeat: '1D', lastRun: new Date(last) });
      const runs: FakeSeedRun[] = [];
      let lastSuccessAt: Date | null = null;
      for (let d = days - 1; d >= 0; d--) {
        const begin = new Date(last - d * DAY);
        if (begin.getTime() > stop) continue;
        const newest = d === 0;
        const result = failing && newest ? 'Error' : d % 97 === 13 ? 'Warning' : d % 61 === 7 ? 'Fatal' : 'Success';
        if (result === 'Success' || result === 'Warning') {
          lastSuccessAt = begin;
        }
        const growth = (days - d) * 1000;
        runs.push({
          begin,
          end: new Date(begin.getTime() + (60 + ((d * 7 + j * 13) % 240)) * 1000),
          result,
          message: result === 'Success' ? undefined : `disk full on ${job} (seeded)`,
          examinedFiles: 1000 + j * 100 + growth / 100,
          sizeOfExaminedFiles: 5e8 + j * 1e7 + growth * 1000,
          addedFiles: (d * 3) % 17,
          modifiedFiles: (d * 5) % 11,
          uploadedBytes: ((d * 7919) % 1000) * 10_000,
        } as FakeSeedRun);
      }
      server.seedRuns(id, runs);
      runsBy.set(`${name}/${id}`, runs.length);
      expected.set(`${name}/${job}`, {
        freshness: stale || failing ? 'red' : 'green',
        lastResult: runs.at(-1)?.result ?? 'none',
        lastSuccessAt,
      });
    }
  }
  const evidenceDir = path.join(root, 'drills');
  const drill = (job: string, ok: boolean, at: number): DrillEvidence => ({
    ok,
    verdict: ok ? 'pass' : 'fail',
    job: { id: '1', name: job },
    version: 0,
    versionTime: new Date(at - DAY).toISOString(),
    workDir: '/srv/backup/staging',
    mode: 'scratch-restore',
    duplicati: { result: 'Success', taskId: '7', warnings: [], errors: [] },
    restoredFiles: 12,
    restoredBytes: 123_456,
    manifest: null,
    checksums: [{ path: 'db/dump.sql.gz', ok, bytes: 1000 }],
    entries: [],
    consistency: [],
    durations: { restoreMs: 40_000, verifyMs: 5_000, checksMs: 0, totalMs: 45_000 },
    startedAt: new Date(at - 45_000).toISOString(),
    finishedAt: new Date(at).toISOString(),
    scratch: { dir: '/tmp/scratch', kept: false },
    errors: ok ? [] : ['checksum of db/dump.sql.gz differs from the manifest'],
  });
  await writeDrillEvidence(evidenceDir, drill('Immich DB', false, now - 2 * DAY));
  await writeDrillEvidence(evidenceDir, drill('Photos', true, now - 3 * DAY));
  const restoreDir = path.join(root, 'restores');
  await writeRestoreRecord(restoreDir, {
    format: 1,
    id: newRestoreId(new Date(now - 5 * DAY)),
    createdAt: new Date(now - 5 * DAY).toISOString(),
    updatedAt: new Date(now - 5 * DAY).toISOString(),
    status: 'applied',
    source: { type: 'duplicati', job: 'Immich DB', version: 2, time: new Date(now - 8 * DAY).toISOString() },
    manifest: { host: 'home', startedAt: new Date(now - 8 * DAY).toISOString() },
    targets: [
      {
        name: 'immich-db',
        kind: 'postgres',
        entry: 'immich-db',
        output: { restored: ['immich'], safetyCopy: 'immich_before_restore' },
        state: 'applied',
      },
    ],
    history: [{ at: new Date(now - 5 * DAY).toISOString(), action: 'applied' }],
  });
  const copiesDir = path.join(root, 'copies');
  for (let d = 0; d < 4; d++) {
    const dir = path.join(copiesDir, copyName(new Date(last - d * DAY)));
    await fsp.mkdir(path.join(dir, 'db'), { recursive: true });
    await fsp.writeFile(path.join(dir, 'db', 'dump.sql'), 'x'.repeat(1000 + d));
    const at = new Date(last - d * DAY).toISOString();
    await writeManifest(dir, {
      manifestVersion: 1,
      tool: { name: 'duplicati-kit', version: '0.1.0' },
      host: 'home',
      startedAt: at,
      finishedAt: at,
      sources: [
        {
          name: 'db',
          kind: 'postgres',
          artifacts: [{ path: 'db/dump.sql', bytes: 1000 + d, sha256: 'a'.repeat(64), format: 'sql' }],
          includePaths: [],
          excludePatterns: [],
          metadata: {},
          startedAt: at,
          finishedAt: at,
          durationMs: 1,
        },
      ],
      includePaths: [],
      excludePatterns: [],
    });
  }
  const nginxDir = path.join(root, 'nginx');
  await fsp.mkdir(path.join(nginxDir, 'ssl'), { recursive: true });
  await fsp.writeFile(path.join(nginxDir, 'nginx.conf'), 'events {}\nhttp {}\n');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '30',
      '-subj',
      '/CN=photos.example.org',
      '-keyout',
      path.join(nginxDir, 'ssl', 'key.pem'),
      '-out',
      path.join(nginxDir, 'ssl', 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  return {
    root,
    servers,
    evidenceDir,
    restoreDir,
    copiesDir,
    nginxDir,
    expected,
    runs: runsBy,
    serverNames,
    async close() {
      await Promise.all(servers.map((s) => s.close()));
      await fsp.rm(root, { recursive: true, force: true });
    },
  };
}

/** A YAML config naming the seeded servers (passwords from the environment). */
export function seededConfig(seed: SeededDashboard, extra = ''): string {
  return `workDir: ${path.join(seed.root, 'staging')}
sources:
  - type: nginx
    name: nginx
    configDir: ${seed.nginxDir}
    letsencryptDir: false
localCopies:
  dir: ${seed.copiesDir}
  keep: { keepLast: 3 }
restore:
  targets: []
  stateDir: ${seed.restoreDir}
dashboard:
  evidenceDirs: [${seed.evidenceDir}]
  servers:
${seed.servers.map((s, i) => `    - { name: ${seed.serverNames[i]}, url: '${s.url}', passwordEnv: DASH_PW_${i} }`).join('\n')}
${extra}`;
}

/** The environment with the servers' passwords. */
export function seededEnv(seed: SeededDashboard): Record<string, string> {
  return Object.fromEntries(seed.servers.map((_, i) => [`DASH_PW_${i}`, SEEDED_SECRETS.uiPassword[i % 2] as string]));
}

/** {@link seedDashboard}, with {@link seededConfig} written to `<root>/config.yaml`. */
export async function seedWithConfig(
  o: Parameters<typeof seedDashboard>[0] = {},
  extra = '',
): Promise<{ seed: SeededDashboard; config: string }> {
  const seed = await seedDashboard(o);
  const config = path.join(seed.root, 'config.yaml');
  await fsp.writeFile(config, seededConfig(seed, extra));
  return { seed, config };
}
