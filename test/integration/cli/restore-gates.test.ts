/**
 * `duplicati-kit restore --job` and `restore-points` through the built CLI, against a
 * FakeDuplicatiServer job, a real PostgreSQL database and a real SQLite file: the dry run prints
 * all six gates and touches nothing; the restore stops and starts services with the config's
 * argv commands, keeps the plan-B database (even one configured with keepSafetyCopy) until
 * `restore-points drop`, and `restore-points rollback` puts the old database back.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../../src/cli/exit-codes.js';
import { DuplicatiClient } from '../../../src/duplicati/client.js';
import type { ChecklistReport } from '../../../src/ops/checklist-restore.js';
import type { RestoreRecord } from '../../../src/ops/restore-points.js';
import { loadConfig } from '../../../src/app/config.js';
import { FakeDuplicatiServer } from '../../../src/testing/index.js';
import { requireBuiltCli, runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/context.js';
import { startRecorder } from '../../helpers/http-recorder.js';
import { databasesLike, dropDatabases, PG, pgAvailable, sql, uniqueDb } from '../engines/postgres/pg-helpers.js';

const available = await pgAvailable();
const PASSWORD = 'restore-gates-cli-password';
const JOB = 'Home server';

beforeAll(() => requireBuiltCli());

describe.skipIf(!available)('duplicati-kit restore --job / restore-points (built CLI)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let server: FakeDuplicatiServer;
  let db: string;
  let dbFile: string;
  let cfgFile: string;
  let serviceLog: string;

  const pgCount = async (name = db): Promise<number> =>
    Number((await sql<{ n: string }>(name, 'SELECT count(*) AS n FROM notes'))[0]?.n);
  const sqliteCount = (): number => {
    const d = new Database(dbFile, { readonly: true });
    try {
      return (d.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n;
    } finally {
      d.close();
    }
  };
  const cli = (args: string[]) =>
    runCli(['--config', cfgFile, ...args], {
      cwd: dir,
      env: { DUPLICATI_URL: '', DUPLICATI_PASSWORD: '', DUPLICATI_PASSWORD_FILE: '', STATE_DIRECTORY: '' },
    });

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir('dk-restore-cli-'));
    db = uniqueDb('gatescli');
    dbFile = path.join(dir, 'live', 'app.db');
    serviceLog = path.join(dir, 'services.log');
    const script = path.join(dir, 'service.cjs');
    await writeFile(
      script,
      "require('node:fs').appendFileSync(process.argv[2], JSON.stringify(process.argv.slice(3)) + '\\n');\n",
    );
    await mkdir(path.dirname(dbFile), { recursive: true });
    await sql('postgres', `CREATE DATABASE ${db}`);
    await sql(
      db,
      "CREATE TABLE notes (id serial PRIMARY KEY, body text); INSERT INTO notes (body) VALUES ('a'), ('b');",
    );
    const s = new Database(dbFile);
    s.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a'), ('b'), ('c');");
    s.close();
    await writeFile(path.join(dir, 'pw'), `${PASSWORD}\n`);
    server = await FakeDuplicatiServer.start({ generation: '2.1', password: PASSWORD });
    const workDir = path.join(dir, 'staging');
    const jobId = server.createBackup({ name: JOB, sources: [`${workDir}/`] });
    const connection = { ...PG, database: db };
    cfgFile = path.join(dir, 'duplicati-kit.json');
    await writeFile(
      cfgFile,
      JSON.stringify({
        workDir,
        sources: [
          { type: 'postgres', name: 'app-db', connection },
          { type: 'sqlite', name: 'app', path: dbFile, counts: ['t'] },
        ],
        duplicati: { url: server.url, passwordFile: path.join(dir, 'pw') },
        restore: {
          targets: [
            { type: 'postgres', name: 'app-db', source: 'app-db', connection, keepSafetyCopy: true },
            { type: 'sqlite', name: 'app', source: 'app', path: dbFile },
          ],
          stateDir: 'state',
          stagingDir: 'tmp',
          maintenance: {
            stop: [[process.execPath, script, serviceLog, 'stop', 'app & echo $HOME']],
            start: [[process.execPath, script, serviceLog, 'start', 'app']],
          },
        },
      }),
    );
    // Back up through the library (what the hook does), then change the live data.
    const cfg = await loadConfig(cfgFile);
    const plan = cfg.backupPlan();
    expect((await plan.prepare()).ok).toBe(true);
    const dup = new DuplicatiClient({ baseUrl: server.url, auth: { type: 'password', password: PASSWORD } });
    expect((await dup.backups.runAndWait(jobId)).result).toBe('Success');
    await plan.cleanup();
    await sql(db, "INSERT INTO notes (body) VALUES ('after')");
    const s2 = new Database(dbFile);
    s2.exec("INSERT INTO t (v) VALUES ('d')");
    s2.close();
  });

  afterEach(async () => {
    await server.close();
    await dropDatabases(await databasesLike(db));
    await cleanup();
  });

  it('dry run, restore, restore-points list / drop / rollback', async () => {
    const dry = await cli(['restore', '--job', JOB, '--dry-run', '--json']);
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(ExitCode.Success);
    const dryReport = JSON.parse(dry.stdout) as ChecklistReport;
    expect(dryReport.gates.map((g) => `${g.number}:${g.status}`)).toEqual([
      '1:passed',
      '2:passed',
      '3:would-run',
      '4:would-run',
      '5:skipped',
      '6:would-run',
    ]);
    expect(await pgCount()).toBe(3);
    expect(sqliteCount()).toBe(4);
    expect(await readFile(serviceLog, 'utf8').catch(() => 'none')).toBe('none');

    const human = await cli(['restore', '--job', JOB, '--dry-run']);
    expect(human.code).toBe(ExitCode.Success);
    expect(human.stdout).toMatch(/ {2}4 {2}Record the current state \(a way back\) +would run/);
    expect(human.stdout).toContain('dry run passed');

    const done = await cli(['restore', '--job', JOB, '--version', '0']);
    expect(done.stderr).toBe('');
    expect(done.code).toBe(ExitCode.Success);
    expect(done.stdout).toMatch(/restored\s+app-db \[postgres\] -> app-db/);
    expect(done.stdout).toContain('services started again: yes');
    expect(done.stdout).toMatch(/ok {3}count:t: 3\n/);
    const id = /restore point: (\S+) \(applied\)/.exec(done.stdout)?.[1] as string;
    expect(id).toMatch(/^\d{8}T\d{9}Z-[0-9a-f]{6}$/);
    expect(await pgCount()).toBe(2);
    expect(sqliteCount()).toBe(3);
    const [planB] = await databasesLike(`${db}_before_restore_`);
    expect(await pgCount(planB)).toBe(3);
    // The commands ran in order, the shell syntax reached the program untouched.
    expect(await readFile(serviceLog, 'utf8')).toBe('["stop","app & echo $HOME"]\n["start","app"]\n');

    const listed = await cli(['restore-points', 'list', '--json']);
    expect(listed.code).toBe(ExitCode.Success);
    const points = (JSON.parse(listed.stdout) as { stateDir: string; restorePoints: RestoreRecord[] }).restorePoints;
    expect(points.map((p) => [p.id, p.status])).toEqual([[id, 'applied']]);
    expect(points[0]?.targets.find((t) => t.name === 'app-db')?.output.safetyCopy).toBe(planB);

    // Roll back by hand: the old database and file come back, the plan-B database is gone.
    const rolled = await cli(['restore-points', 'rollback', id]);
    expect(rolled.code).toBe(ExitCode.Success);
    expect(rolled.stdout).toContain(`rolled back ${id}: rolled-back`);
    expect(await pgCount()).toBe(3);
    expect(sqliteCount()).toBe(4);
    expect(await databasesLike(`${db}_`)).toEqual([]);
    // A second rollback of the same point is a no-op, not an error.
    const repeated = await cli(['restore-points', 'rollback', id]);
    expect(repeated.code).toBe(ExitCode.Success);
    expect(repeated.stdout).toContain('already rolled-back: nothing to do');

    // Restore again, then make it final: drop removes the plan-B database although the target
    // is configured with keepSafetyCopy (issue #5's command).
    const again = await cli(['restore', '--job', JOB, '--json']);
    expect(again.code).toBe(ExitCode.Success);
    const againId = (JSON.parse(again.stdout) as ChecklistReport).record?.id as string;
    expect(await databasesLike(`${db}_before_restore_`)).toHaveLength(1);
    const dropped = await cli(['restore-points', 'drop', againId, '--json']);
    expect(dropped.code).toBe(ExitCode.Success);
    expect((JSON.parse(dropped.stdout) as { record: RestoreRecord }).record.status).toBe('dropped');
    expect(await databasesLike(`${db}_`)).toEqual([]);
    expect(await pgCount()).toBe(2);
    expect(sqliteCount()).toBe(3);

    const bad = await cli(['restore', '--job', JOB, '--from', dir]);
    expect(bad.code).toBe(ExitCode.Usage);
  });
});

describe('duplicati-kit restore --from with the Immich and Jellyfin APIs (built CLI)', () => {
  it('pauses and resumes Immich queues, messages Jellyfin sessions, keys never in output', async () => {
    const { dir, cleanup } = await tempDir('dk-restore-apis-');
    const immich = await startRecorder((r) =>
      r.url === '/api/server/version'
        ? { status: 200, body: JSON.stringify({ major: 2, minor: 3, patch: 1 }) }
        : r.url === '/api/queues'
          ? { status: 200, body: JSON.stringify([{ name: 'smartSearch', isPaused: false }]) }
          : { status: 200, body: '{}' },
    );
    const jellyfin = await startRecorder((r) =>
      r.method === 'GET'
        ? { status: 200, body: JSON.stringify([{ Id: 's1', DeviceName: 'Phone', SupportsRemoteControl: true }]) }
        : { status: 204 },
    );
    try {
      const live = path.join(dir, 'app.db');
      const s = new Database(live);
      s.exec('CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t DEFAULT VALUES;');
      s.close();
      const cfgFile = path.join(dir, 'duplicati-kit.json');
      await writeFile(path.join(dir, 'immich.key'), 'immich-secret-key\n');
      await writeFile(
        cfgFile,
        JSON.stringify({
          workDir: path.join(dir, 'staging'),
          sources: [{ type: 'sqlite', name: 'app', path: live }],
          restore: {
            targets: [{ type: 'sqlite', source: 'app', path: live }],
            stateDir: 'state',
            maintenance: {
              immich: { url: immich.url, apiKeyFile: 'immich.key' },
              jellyfin: { url: jellyfin.url, apiKeyEnv: 'MY_JF_KEY' },
            },
          },
        }),
      );
      const env = { MY_JF_KEY: 'jellyfin-secret-key', STATE_DIRECTORY: '' };
      expect((await runCli(['--config', cfgFile, 'prepare'], { cwd: dir, env })).code).toBe(0);
      const r = await runCli(['--config', cfgFile, 'restore', '--from', 'staging', '--json'], { cwd: dir, env });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(ExitCode.Success);
      expect(r.stdout).not.toMatch(/secret-key/);
      const report = JSON.parse(r.stdout) as ChecklistReport;
      expect(report.gates.map((g) => g.status)).toEqual(['passed', 'passed', 'passed', 'passed', 'passed', 'passed']);
      expect(report.services).toMatchObject({ stopped: true, restarted: true });
      const puts = immich.requests.filter((q) => q.method === 'PUT');
      expect(puts.map((q) => [q.url, JSON.parse(q.body)])).toEqual([
        ['/api/queues/smartSearch', { isPaused: true }],
        ['/api/queues/smartSearch', { isPaused: false }],
      ]);
      expect(immich.requests.every((q) => q.headers['x-api-key'] === 'immich-secret-key')).toBe(true);
      const msg = jellyfin.requests.find((q) => q.method === 'POST');
      expect(msg?.url).toBe('/Sessions/s1/Message');
      expect(msg?.headers.authorization).toContain('jellyfin-secret-key');

      // Without the Jellyfin key the config is refused before anything runs (exit 2).
      const noKey = await runCli(['--config', cfgFile, 'restore', '--from', 'staging'], {
        cwd: dir,
        env: { STATE_DIRECTORY: '', MY_JF_KEY: '' },
      });
      expect(noKey.code).toBe(ExitCode.Usage);
      expect(noKey.stderr).toContain('MY_JF_KEY');
    } finally {
      await immich.close();
      await jellyfin.close();
      await cleanup();
    }
  });
});
