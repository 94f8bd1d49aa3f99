/**
 * The seed's plan as an acceptance test, driven through the built CLI as a user would (README
 * "Walk-through: the seed plan"):
 *
 * - three jobs as code: the Immich database (staged dump, local target, 14 days), the photos
 *   (the live library, an "off-site" second file:// target, 30 days), the configurations (nginx,
 *   TLS, Jellyfin, Immich; weekly on Sunday, 90 days), all encrypted (AES-256);
 * - `scheduler: systemd`: Duplicati holds no schedule, `systemd` writes the timers, and each
 *   timer's ExecStart runs under `env -i` (the config's duplicati: section is the only login);
 * - the hooks installed; a run of each; the database job's dump staged and uploaded; local
 *   copies kept 14 days; a drill of the database job that loads the dump into a throwaway
 *   database and checks every asset against the photo job's version; `status --audit`;
 * - gated restores of the Immich database and the configurations (real PostgreSQL, real
 *   `nginx -t`), and a rollback.
 *
 * Against FakeDuplicatiServer (2.0 wire) always; against a real server when DUPLICATI_LIVE_URL is
 * set (DUPLICATI_LIVE_PASSWORD, default dupl-test-pw). Both run the installed hook scripts around
 * each backup themselves (the fake after 2.0.7.3's RunScript.cs).
 */
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { ExitCode } from '../../src/cli/exit-codes.js';
import { DuplicatiClient } from '../../src/duplicati/client.js';
import { FakeDuplicatiServer } from '../../src/testing/index.js';
import { CLI, requireBuiltCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/context.js';
import { createImmichSchema, writeFakeDocker } from '../integration/apps/immich/fixture.js';
import {
  databasesLike,
  dropDatabases,
  PG,
  pgAvailable,
  sql,
  uniqueDb,
} from '../integration/engines/postgres/pg-helpers.js';

const pgUp = await pgAvailable();
const nginxUp = await new Promise<boolean>((resolve) =>
  execFile('nginx', ['-v'], (e) => resolve(!e || (e as NodeJS.ErrnoException).code !== 'ENOENT')),
);
const LIVE_URL = process.env.DUPLICATI_LIVE_URL;
/** The fake always; the real server too when one is given. */
const SERVERS: readonly { name: string; live: string | undefined; password: string }[] = [
  { name: 'fake', live: undefined, password: 'seed-plan-pw' },
  ...(LIVE_URL
    ? [{ name: 'real Duplicati', live: LIVE_URL, password: process.env.DUPLICATI_LIVE_PASSWORD ?? 'dupl-test-pw' }]
    : []),
];
if (!LIVE_URL) console.log('seed plan e2e: the fake only (DUPLICATI_LIVE_URL is not set)');
if (!pgUp || !nginxUp) console.log('seed plan e2e skipped: needs PostgreSQL on 127.0.0.1:5432 and nginx');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run an argv with exactly `env` (no inheritance): `env -i` when `env` is empty. */
function exec(argv: readonly string[], env: Record<string, string>, cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(argv[0] as string, argv.slice(1), { env, cwd, maxBuffer: 64 << 20 }, (e, stdout, stderr) => {
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout, stderr });
    });
  });
}

/** The argv of a systemd ExecStart line (double quotes with backslash escapes, as the units are written). */
function execStartArgv(unit: string): string[] {
  const line = unit.split('\n').find((l) => l.startsWith('ExecStart='));
  const text = (line ?? '').slice('ExecStart='.length);
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (const m of text.matchAll(re)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] as string));
  return out;
}

describe.skipIf(!pgUp || !nginxUp).each(SERVERS)(
  'the seed plan end to end ($name)',
  ({ live: LIVE, password: PASSWORD }) => {
    const tag = Date.now().toString(36);
    const JOB_DB = `Immich database ${tag}`;
    const JOB_PHOTOS = `Immich photos ${tag}`;
    const JOB_CONFIGS = `Configurations ${tag}`;
    const db = uniqueDb('seedplan');
    let work: { dir: string; cleanup: () => Promise<void> };
    let dir: string;
    let server: FakeDuplicatiServer | undefined;
    let url: string;
    let dup: DuplicatiClient;
    let upload: string;
    let nginxConf: string;
    let live: string[];
    const baseEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' };
    const cli = (args: string[]) =>
      exec([process.execPath, CLI, ...args], { ...baseEnv, XDG_STATE_HOME: path.join(dir, 'state') }, dir);

    beforeAll(async () => {
      requireBuiltCli();
      work = await tempDir('dk-seed-');
      dir = work.dir;
      upload = path.join(dir, 'srv', 'immich', 'library');
      const staging = path.join(dir, 'srv', 'backup', 'staging');
      // Live data: an Immich database and its photos, nginx with TLS files, Jellyfin and Immich settings.
      await sql('postgres', `CREATE DATABASE ${db}`);
      await createImmichSchema(db, 'singular', { version: 'v2.5.6', seed: 5 });
      live = (await sql<{ p: string }>(db, `SELECT "originalPath" AS p FROM asset WHERE status <> 'deleted'`)).map(
        (r) => r.p,
      );
      for (const p of live) {
        const file = path.join(upload, p.slice('/data/'.length));
        await fsp.mkdir(path.dirname(file), { recursive: true });
        await fsp.writeFile(file, `jpeg ${p}`);
      }
      nginxConf = path.join(dir, 'etc', 'nginx');
      await fsp.mkdir(nginxConf, { recursive: true });
      await fsp.writeFile(
        path.join(nginxConf, 'nginx.conf'),
        `pid ${dir}/nginx.pid;\nerror_log ${dir}/nginx-error.log;\nevents {}\nhttp {\n  access_log off;\n  server { listen 127.0.0.1:18349; server_name photos.example.org; }\n}\n`,
      );
      for (const [folder, file, text] of [
        ['etc/ssl/home', 'photos.example.org.pem', 'certificate\n'],
        ['etc/jellyfin', 'system.xml', '<ServerConfiguration />\n'],
        ['opt/immich', '.env', 'UPLOAD_LOCATION=/srv/immich/library\n'],
      ] as const) {
        await fsp.mkdir(path.join(dir, folder), { recursive: true });
        await fsp.writeFile(path.join(dir, folder, file), text);
      }
      const docker = await writeFakeDocker(dir);
      await fsp.writeFile(path.join(dir, 'pw'), `${PASSWORD}\n`, { mode: 0o600 });
      await fsp.writeFile(path.join(dir, 'passphrase'), 'seed-plan-passphrase-0815\n', { mode: 0o600 });

      if (LIVE) url = LIVE;
      else {
        server = await FakeDuplicatiServer.start({ generation: '2.0', password: PASSWORD });
        url = server.url;
      }
      dup = new DuplicatiClient({ baseUrl: url, auth: { type: 'password', password: PASSWORD } });

      const connection = { ...PG, database: db };
      const executor = { docker: { container: 'immich_postgres', command: docker.command } };
      const duplicati = { url, passwordFile: path.join(dir, 'pw') };
      const schedules = [
        { name: 'immich-db', onCalendar: '*-*-* 02:00:00', args: ['run', JOB_DB, '--wait'] },
        { name: 'immich-photos', onCalendar: '*-*-* 03:00:00', args: ['run', JOB_PHOTOS, '--wait'] },
        { name: 'configurations', onCalendar: 'Sun *-*-* 04:00:00', args: ['run', JOB_CONFIGS, '--wait'] },
      ];
      await fsp.writeFile(
        path.join(dir, 'immich-db.yaml'),
        YAML.stringify({
          workDir: path.join(staging, 'immich-db'),
          sources: [{ type: 'immich-database', name: 'immich-db', connection, executor }],
          duplicati,
          scheduler: 'systemd',
          schedules,
          localCopies: { dir: path.join(dir, 'local', 'immich-db'), keep: { keepDays: 14 } },
          restore: {
            targets: [
              {
                type: 'immich-database',
                source: 'immich-db',
                connection,
                executor,
                drillCheck: { libraryJob: JOB_PHOTOS },
              },
            ],
            stateDir: path.join(dir, 'state', 'restores'),
            stagingDir: path.join(dir, 'tmp'),
          },
          drill: { evidenceDir: path.join(dir, 'drills') },
          audit: { jobs: [JOB_DB, JOB_PHOTOS, JOB_CONFIGS], verifyLocalCopy: true },
        }),
      );
      const archive = (name: string, root: string) => ({ type: 'archive', name, root: path.join(dir, root) });
      await fsp.writeFile(
        path.join(dir, 'configs.yaml'),
        YAML.stringify({
          workDir: path.join(staging, 'configs'),
          sources: [
            { type: 'nginx', name: 'nginx', configDir: nginxConf, letsencryptDir: false },
            archive('tls', 'etc/ssl/home'),
            archive('jellyfin-config', 'etc/jellyfin'),
            archive('immich-config', 'opt/immich'),
          ],
          duplicati,
          restore: {
            targets: [
              { type: 'nginx', source: 'nginx', configDir: nginxConf, overwrite: true },
              ...[
                ['tls', 'etc/ssl/home'],
                ['jellyfin-config', 'etc/jellyfin'],
                ['immich-config', 'opt/immich'],
              ].map(([n, d]) => ({ type: 'archive', source: n, dest: path.join(dir, d as string), overwrite: true })),
            ],
            stateDir: path.join(dir, 'state', 'restores'),
            stagingDir: path.join(dir, 'tmp'),
          },
        }),
      );
      const target = (name: string) => `file://${path.join(dir, 'targets', name)}`;
      await fsp.writeFile(
        path.join(dir, 'jobs.yaml'),
        YAML.stringify({
          jobs: [
            {
              name: JOB_DB,
              sources: [`${path.join(staging, 'immich-db')}/`],
              target: target('local-immich-db'),
              passphraseFile: 'passphrase',
              schedule: { time: '02:00', repeat: '1D' },
              retention: { keepTime: '14D' },
            },
            {
              name: JOB_PHOTOS,
              sources: [`${upload}/`],
              target: target('offsite-immich-photos'),
              passphraseFile: 'passphrase',
              schedule: { time: '03:00', repeat: '1D' },
              retention: { keepTime: '30D' },
              filters: [{ include: false, expression: '*/thumbs/*' }],
            },
            {
              name: JOB_CONFIGS,
              sources: [`${path.join(staging, 'configs')}/`],
              target: target('local-configs'),
              passphraseFile: 'passphrase',
              schedule: { time: '04:00', repeat: '1W', days: ['sun'] },
              retention: { keepTime: '90D' },
            },
          ],
        }),
      );
    }, 120_000);

    afterAll(async () => {
      if (LIVE && dup) {
        for (const j of await dup.backups.list().catch(() => [])) {
          if (j.name.endsWith(tag)) await dup.backups.delete(j.id).catch(() => undefined);
        }
      }
      await server?.close();
      await dropDatabases(await databasesLike(db));
      await work?.cleanup();
    });

    /** Duplicati's run of a job, through the timer's ExecStart under `env -i`; on the fake, with its hooks. */
    async function runJob(unit: string) {
      const argv = execStartArgv(unit);
      const run = await exec(argv, {}, dir);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(ExitCode.Success);
      expect(run.stdout).toContain('Success');
    }

    it('sets up, runs, drills, audits, restores and rolls back the seed plan', async () => {
      // 1. Jobs as code; the scheduler is systemd, so Duplicati gets no schedule.
      const applied = await cli(['jobs', 'apply', 'jobs.yaml', '--config', 'immich-db.yaml']);
      expect(applied.code).toBe(ExitCode.Success);
      expect(applied.stdout.match(/^create /gm)).toHaveLength(3);
      expect(applied.stdout).toContain('filters: ∅ → -*/thumbs/*');
      const again = await cli(['jobs', 'apply', 'jobs.yaml', '--config', 'immich-db.yaml', '--json']);
      expect((JSON.parse(again.stdout) as { action: string }[]).map((r) => r.action)).toEqual([
        'unchanged',
        'unchanged',
        'unchanged',
      ]);
      const jobs = (await dup.backups.list()).filter((j) => j.name.endsWith(tag));
      expect(jobs.map((j) => j.schedule)).toEqual([null, null, null]);
      for (const j of jobs) {
        const full = await dup.backups.get(j.id);
        expect(full.targetUrl).toMatch(/^file:\/\//);
        expect(full.settings.find((s) => s.name === 'passphrase')?.value).toBeTruthy();
        expect(full.settings.find((s) => s.name === 'encryption-module')?.value ?? 'aes').toBe('aes');
      }

      // 2. The hooks, and the systemd timers that start the jobs.
      const scripts = { db: path.join(dir, 'immich-db-hook'), configs: path.join(dir, 'configs-hook') };
      for (const [job, config, script] of [
        [JOB_DB, 'immich-db.yaml', scripts.db],
        [JOB_CONFIGS, 'configs.yaml', scripts.configs],
      ] as const) {
        const installed = await cli(['hook', 'install', '--job', job, '--config', config, '--script', script]);
        expect(installed.stderr).toBe('');
        expect(installed.code).toBe(ExitCode.Success);
      }
      const units = await cli(['systemd', '--config', 'immich-db.yaml', '--write', 'units']);
      expect(units.code).toBe(ExitCode.Success);
      const unitText = (name: string) => fsp.readFile(path.join(dir, 'units', `duplicati-kit-${name}.service`), 'utf8');
      expect(await fsp.readFile(path.join(dir, 'units', 'duplicati-kit-configurations.timer'), 'utf8')).toContain(
        'OnCalendar=Sun *-*-* 04:00:00',
      );

      // 3. A run of each job, started as its timer starts it.
      const staging = path.join(dir, 'srv', 'backup', 'staging');
      await runJob(await unitText('immich-db'));
      await runJob(await unitText('immich-photos'));
      await runJob(await unitText('configurations'));
      // The dump was staged and uploaded, then cleaned; a local copy is kept (14 days).
      const dbFiles = await cli(['files', JOB_DB, '--config', 'immich-db.yaml', '--search', '*.sql*']);
      expect(dbFiles.code).toBe(ExitCode.Success);
      expect(dbFiles.stdout).toMatch(/immich-db\/.*\.sql/);
      const left = await fsp.readdir(path.join(staging, 'immich-db')).catch(() => [] as string[]);
      expect(left.filter((n) => n !== '.duplicati-kit-workdir')).toEqual([]);
      expect(await fsp.readdir(path.join(dir, 'local', 'immich-db'))).toHaveLength(1);

      // 4. A drill of the database job: loaded into a throwaway database, every asset found in the
      //    photo job's version taken after it.
      const drill = await cli(['drill', '--job', JOB_DB, '--config', 'immich-db.yaml']);
      expect(drill.stdout).toContain('load drill');
      expect(drill.stdout).toContain(`${live.length} asset file(s) checked against`);
      expect(drill.stdout).toContain(`"${JOB_PHOTOS}" version 0`);
      expect(drill.code).toBe(ExitCode.Success);
      expect(await fsp.readFile(path.join(dir, 'drills', 'last-drill.json'), 'utf8')).toContain('"verdict": "pass"');

      // 5. The audit: the photo job backs up no staged folder, so it needs no hook.
      const audit = await cli(['status', '--audit', '--config', 'immich-db.yaml', '--json']);
      const rules = (
        JSON.parse(audit.stdout) as { audit: { rules: { id: string; subject: string; status: string }[] } }
      ).audit.rules;
      const rule = (id: string, subject: string) => rules.find((r) => r.id === id && r.subject === subject)?.status;
      expect(rule('job.hooks', JOB_DB)).toBe('pass');
      expect(rule('job.hooks', JOB_PHOTOS)).toBe('pass');
      expect(rule('job.encryption', JOB_PHOTOS)).toBe('pass');
      // With scheduler: systemd, Duplicati holds no schedule to judge the age by (warn, not fail).
      expect(rule('job.last-success', JOB_DB)).toMatch(/^(pass|warn)$/);

      // 6. Gated restores: the Immich database, then the configurations, and a rollback.
      await sql(db, `UPDATE asset SET "originalFileName" = 'changed' WHERE true`);
      const dbDry = await cli(['restore', '--job', JOB_DB, '--config', 'immich-db.yaml', '--dry-run']);
      expect(dbDry.code).toBe(ExitCode.Success);
      const dbRestore = await cli(['restore', '--job', JOB_DB, '--config', 'immich-db.yaml']);
      expect(dbRestore.code).toBe(ExitCode.Success);
      expect(dbRestore.stdout).not.toContain('dry run: not loaded');
      const changed = await sql<{ n: string }>(
        db,
        `SELECT count(*) AS n FROM asset WHERE "originalFileName" = 'changed'`,
      );
      expect(Number(changed[0]?.n)).toBe(0);

      const conf = path.join(nginxConf, 'nginx.conf');
      const before = await fsp.readFile(conf, 'utf8');
      await fsp.writeFile(conf, `${before}# edited after the backup\n`);
      const cfgRestore = await cli(['restore', '--job', JOB_CONFIGS, '--config', 'configs.yaml']);
      expect(cfgRestore.code).toBe(ExitCode.Success);
      expect(cfgRestore.stdout).toContain('keeps a safety copy of the files it replaces');
      expect(await fsp.readFile(conf, 'utf8')).toBe(before);
      const id = /restore point: (\S+)/.exec(cfgRestore.stdout)?.[1] as string;
      const rollback = await cli(['restore-points', 'rollback', id, '--config', 'configs.yaml']);
      expect(rollback.code).toBe(ExitCode.Success);
      expect(await fsp.readFile(conf, 'utf8')).toContain('# edited after the backup');
      const twice = await cli(['restore-points', 'rollback', id, '--config', 'configs.yaml']);
      expect(twice.code).toBe(ExitCode.Success);
      expect(twice.stdout).toContain('already rolled-back: nothing to do');
    }, 600_000);
  },
);
