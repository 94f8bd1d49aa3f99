/**
 * Restore drills end to end: a real backup plan (SQLite + archive) staged into a work folder, a
 * FakeDuplicatiServer job backing it up (2.0.x and 2.1+ wire), then drills through the library
 * and the built CLI — a good version passes with evidence on disk, a version whose staged dump was
 * corrupted before upload fails, notifies a real loopback webhook and exits 4.
 */
import { appendFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../../src/cli/exit-codes.js';
import { DuplicatiClient } from '../../../src/duplicati/client.js';
import { restoreDrill } from '../../../src/ops/drill.js';
import { loadConfig } from '../../../src/app/config.js';
import { readLastDrill } from '../../../src/ops/drill-report.js';
import { WebhookNotifier } from '../../../src/ops/notify.js';
import { ArchiveSource } from '../../../src/engines/archive/source.js';
import { ArchiveTarget } from '../../../src/engines/archive/target.js';
import { createBackupPlan } from '../../../src/plan/backup-plan.js';
import { SqliteSource } from '../../../src/engines/sqlite/source.js';
import { SqliteTarget } from '../../../src/engines/sqlite/target.js';
import { FakeDuplicatiServer, type FakeGeneration } from '../../../src/testing/index.js';
import { CLI, requireBuiltCli, runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/context.js';
import { startRecorder } from '../../helpers/http-recorder.js';

const PASSWORD = 'drill-test-password';
const JOB = 'Home server';

beforeAll(() => {
  requireBuiltCli();
});

describe.each(['2.0', '2.1'] as FakeGeneration[])('restore drill against the %s fake', (generation) => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let server: FakeDuplicatiServer;
  let dup: DuplicatiClient;
  let workDir: string;
  let dbFile: string;
  let configDir: string;
  let jobId: string;
  const closers: (() => Promise<void>)[] = [];
  // Each run a minute after the last, so versions have distinct times even within one second.
  let offsetMs = 0;

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir('dk-drill-'));
    workDir = path.join(dir, 'staging');
    dbFile = path.join(dir, 'live', 'app.db');
    configDir = path.join(dir, 'live', 'config');
    await mkdir(path.join(configDir, 'sites'), { recursive: true });
    await writeFile(path.join(configDir, 'app.conf'), 'listen 8080\n');
    await writeFile(path.join(configDir, 'sites', 'photos.conf'), 'root /srv/photos\n');
    const db = new Database(dbFile);
    db.exec(
      'CREATE TABLE albums (id INTEGER PRIMARY KEY, title TEXT); CREATE TABLE photos (id INTEGER PRIMARY KEY, album INTEGER, name TEXT)',
    );
    const add = db.prepare('INSERT INTO photos (album, name) VALUES (?, ?)');
    db.transaction(() => {
      db.prepare("INSERT INTO albums (title) VALUES ('Summer'), ('Winter')").run();
      for (let i = 0; i < 250; i++) add.run((i % 2) + 1, `IMG_${i}.jpg`);
    })();
    db.close();
    await writeFile(path.join(dir, 'pw'), `${PASSWORD}\n`);
    offsetMs = 0;
    server = await FakeDuplicatiServer.start({
      generation,
      password: PASSWORD,
      now: () => new Date(Date.now() + offsetMs),
    });
    dup = new DuplicatiClient({ baseUrl: server.url, auth: { type: 'password', password: PASSWORD } });
    jobId = server.createBackup({ name: JOB, sources: [`${workDir}/`] });
  });

  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
    await server.close();
    await cleanup();
  });

  const plan = () =>
    createBackupPlan({
      workDir,
      sources: [
        new SqliteSource({ name: 'app', path: dbFile, counts: ['albums', 'photos'] }),
        new ArchiveSource({ name: 'config', root: configDir }),
      ],
    });

  /**
   * Stage the plan, optionally damage the staged dump, back the work folder up, clean up. Returns
   * the SQLite dump's manifest path and its path as Duplicati lists it.
   */
  async function backup(damage?: (sqliteArtifact: string) => Promise<void>): Promise<{ art: string; file: string }> {
    const p = plan();
    const prepared = await p.prepare();
    expect(prepared.ok).toBe(true);
    const art = prepared.manifest?.sources.find((s) => s.name === 'app')?.artifacts[0]?.path as string;
    expect(art).toBeDefined();
    const file = path.join(workDir, ...art.split('/'));
    if (damage) await damage(file);
    offsetMs += 60_000;
    const outcome = await dup.backups.runAndWait(jobId);
    expect(outcome.result).toBe('Success');
    await p.cleanup();
    return { art, file };
  }

  /** The config file of the CLI runs: the plan's two sources, plus `extra`. */
  async function writeConfig(extra: Record<string, unknown>): Promise<string> {
    const cfgFile = path.join(dir, 'duplicati-kit.json');
    await writeFile(
      cfgFile,
      JSON.stringify({
        workDir,
        sources: [
          { type: 'sqlite', name: 'app', path: dbFile, counts: ['albums', 'photos'] },
          { type: 'archive', name: 'config', root: configDir },
        ],
        ...extra,
      }),
    );
    return cfgFile;
  }

  const targets = (scratch: string) => [
    new SqliteTarget({ source: 'app', path: path.join(dir, 'nowhere', 'app.db'), scratch: true, scratchDir: scratch }),
    new ArchiveTarget({ source: 'config', dest: path.join(scratch, 'config-restored') }),
  ];

  it('passes on a good version, with JSON and Markdown evidence and last-drill.json', async () => {
    await backup();
    const scratch = path.join(dir, 'scratch');
    const evidenceDir = path.join(dir, 'evidence');
    const hook = await startRecorder();
    closers.push(hook.close);
    const drill = await restoreDrill({
      client: dup,
      job: JOB,
      targets: targets(scratch),
      scratchDir: scratch,
      evidenceDir,
      scratchRestore: generation === '2.1',
      notifiers: [new WebhookNotifier({ url: `${hook.url}/drill` })],
    });
    expect(drill.errors).toEqual([]);
    expect(drill).toMatchObject({ ok: true, verdict: 'pass', job: { id: jobId, name: JOB }, version: 0 });
    expect(drill.workDir).toBe(`${workDir}/`); // found among the job's sources by its manifest
    expect(drill.versionTime).toBe((await dup.backups.versions(jobId))[0]?.time);
    expect(drill.checksums.length).toBe(2);
    expect(drill.checksums.every((c) => c.ok)).toBe(true);
    // Everything of the work folder in that version: manifest, snapshot, archive, the plan's marker.
    expect(drill.restoredFiles).toBe(server.versions(jobId)[0]?.fileCount);
    expect(drill.restoredFiles).toBeGreaterThanOrEqual(3);
    const byName = Object.fromEntries(drill.entries.map((e) => [e.name, e]));
    expect(byName.app?.status).toBe(generation === '2.1' ? 'restored' : 'verified');
    expect(byName.app?.checks).toEqual(
      expect.arrayContaining([expect.objectContaining({ ok: true, detail: expect.stringContaining('250') })]),
    );
    expect(byName.config?.checks).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'files', ok: true, detail: '2' })]),
    );
    // Scratch cleaned; a scratch restore unpacked the archive into the scratch folder, nowhere live.
    expect(await readdir(scratch).then((l) => l.filter((n) => n.startsWith('drill-')))).toEqual([]);
    if (generation === '2.1') {
      expect(await readFile(path.join(scratch, 'config-restored', 'sites', 'photos.conf'), 'utf8')).toBe(
        'root /srv/photos\n',
      );
    }
    // Evidence on disk.
    expect(drill.files).toBeDefined();
    const json = JSON.parse(await readFile(drill.files?.json as string, 'utf8')) as { verdict: string };
    expect(json.verdict).toBe('pass');
    const md = await readFile(drill.files?.markdown as string, 'utf8');
    expect(md).toContain(`# Restore drill: PASS — ${JOB}`);
    expect(md).toContain('Checksums: 2/2 ok');
    expect((await readLastDrill(evidenceDir))?.startedAt).toBe(drill.startedAt);
    expect(hook.requests).toEqual([]); // a pass does not notify
    expect(drill.notified).toEqual([]);
  });

  it('fails on a version whose dump was damaged before upload, notifies, and exits 4 through the CLI', async () => {
    await backup();
    const goodTime = (await dup.backups.versions(jobId))[0]?.time as string;
    await backup(async (file) => {
      await appendFile(file, Buffer.from('bit rot'));
    });
    const hook = await startRecorder();
    closers.push(hook.close);
    const scratch = path.join(dir, 'scratch');
    const evidenceDir = path.join(dir, 'evidence');

    const bad = await restoreDrill({
      client: dup,
      job: jobId,
      workDir,
      targets: targets(scratch),
      scratchDir: scratch,
      evidenceDir,
      notifiers: [new WebhookNotifier({ url: `${hook.url}/drill` })],
    });
    expect(bad).toMatchObject({ ok: false, verdict: 'fail', version: 0 });
    expect(bad.checksums.find((c) => c.path.startsWith('app/'))?.ok).toBe(false);
    expect(bad.errors.join('\n')).toMatch(/checksum.*app\//);
    expect(hook.requests).toHaveLength(1);
    const sent = JSON.parse(hook.requests[0]?.body ?? '{}') as { kind: string; title: string; job: string };
    expect(sent).toMatchObject({ kind: 'failure', title: `Restore drill of ${JOB} failed`, job: JOB });
    expect(bad.notified).toEqual([{ notifier: 'webhook', ok: true }]);
    expect((await readLastDrill(evidenceDir))?.verdict).toBe('fail');

    // The newest version at or before the good run's time is the good one.
    const older = await restoreDrill({
      client: dup,
      job: JOB,
      time: goodTime,
      targets: targets(scratch),
      scratchDir: scratch,
    });
    expect(older).toMatchObject({ verdict: 'pass', version: 1, versionTime: goodTime });

    // The built CLI: the config's targets forced into scratch mode, its notifier told.
    const cliHook = await startRecorder();
    closers.push(cliHook.close);
    const cfgFile = await writeConfig({
      restore: {
        targets: [
          { type: 'sqlite', source: 'app', path: dbFile },
          { type: 'archive', source: 'config', dest: configDir },
        ],
      },
      notify: [{ type: 'webhook', url: `${cliHook.url}/cli` }],
    });
    const before = await stat(dbFile);
    const env = { DUPLICATI_URL: '', DUPLICATI_PASSWORD: '', DUPLICATI_PASSWORD_FILE: '' };
    const common = ['--config', cfgFile, '--url', server.url, '--password-file', 'pw', '--scratch', scratch];
    const failed = await runCli(['drill', '--job', JOB, ...common, '--evidence', 'ev', '--json'], { cwd: dir, env });
    expect(failed.stderr).not.toContain(PASSWORD);
    expect(failed.code).toBe(ExitCode.VerificationFailed);
    const out = JSON.parse(failed.stdout) as { verdict: string; mode: string; files: { json: string } };
    expect(out).toMatchObject({ verdict: 'fail', mode: 'scratch-restore' });
    expect(out.files.json.startsWith(path.join(dir, 'ev'))).toBe(true);
    expect(cliHook.requests).toHaveLength(1);

    const passed = await runCli(['drill', '--job', JOB, '--version', '1', ...common, '--evidence', 'ev'], {
      cwd: dir,
      env,
    });
    expect(passed.code).toBe(ExitCode.Success);
    expect(passed.stdout).toContain(`restore drill of ${JOB}: PASS`);
    expect(passed.stdout).toMatch(/restored\s+app \[sqlite\]/);
    expect(cliHook.requests).toHaveLength(1);
    // The live database and config folder were never touched.
    expect((await stat(dbFile)).mtimeMs).toBe(before.mtimeMs);
    expect(await readFile(path.join(configDir, 'app.conf'), 'utf8')).toBe('listen 8080\n');
    expect(await readdir(scratch).then((l) => l.filter((n) => n.startsWith('duplicati-kit-drill-')))).toEqual([]);
  });

  it('fails naming the file and the reason when the stored dump was corrupted after upload', async () => {
    const { art, file } = await backup();
    const scratch = path.join(dir, 'scratch');
    const evidenceDir = path.join(dir, 'evidence');
    const good = await restoreDrill({ client: dup, job: JOB, targets: targets(scratch), scratchDir: scratch });
    expect(good.verdict).toBe('pass');

    // Bit rot at the destination, after Duplicati uploaded a good dump: same size, bytes flipped.
    const stored = server.storedFile(jobId, file);
    const bytes = await readFile(stored);
    for (let i = 100; i < 110; i++) bytes[i] = (bytes[i] as number) ^ 0xff;
    await writeFile(stored, bytes);
    const flipped = await restoreDrill({
      client: dup,
      job: JOB,
      targets: targets(scratch),
      scratchDir: scratch,
      evidenceDir,
      scratchRestore: true,
    });
    expect(flipped).toMatchObject({ ok: false, verdict: 'fail', version: 0 });
    expect(flipped.checksums.find((c) => c.path === art)).toMatchObject({
      ok: false,
      problem: 'sha256 differs from the manifest',
    });
    expect(flipped.errors).toContain(`1 artifact(s) failed their checksum: ${art} (sha256 differs from the manifest)`);
    // Nothing damaged reached a target, and the evidence says which file and why.
    expect(flipped.entries.filter((e) => e.status === 'restored')).toEqual([]);
    const md = await readFile(flipped.files?.markdown as string, 'utf8');
    expect(md).toContain('# Restore drill: FAIL');
    expect(md).toContain(`- 1 artifact(s) failed their checksum: ${art} (sha256 differs from the manifest)`);
    expect((await readLastDrill(evidenceDir))?.checksums.find((c) => c.path === art)?.problem).toBe(
      'sha256 differs from the manifest',
    );

    // A truncated volume: the size already tells.
    await writeFile(stored, bytes.subarray(0, bytes.length - 1000));
    const truncated = await restoreDrill({ client: dup, job: JOB, targets: targets(scratch), scratchDir: scratch });
    expect(truncated.errors[0]).toBe(
      `1 artifact(s) failed their checksum: ${art} (size differs: ${bytes.length - 1000} bytes, manifest says ${bytes.length})`,
    );
  });

  it('a drill scheduled as a systemd unit keeps its evidence where status finds it', async () => {
    await backup();
    const scratch = path.join(dir, 'scratch');
    const cfgFile = await writeConfig({
      restore: { targets: [{ type: 'sqlite', source: 'app', path: dbFile }] },
      duplicati: { url: server.url, passwordFile: path.join(dir, 'pw') },
      schedules: [
        {
          name: 'weekly-drill',
          onCalendar: 'Sun *-*-* 05:00:00',
          args: ['drill', '--job', JOB, '--scratch', scratch],
        },
      ],
    });
    const units = await runCli(['systemd', '--json', '--config', cfgFile]);
    expect(units.code).toBe(0);
    const [unit] = JSON.parse(units.stdout) as { serviceName: string; service: string }[];
    expect(unit?.serviceName).toBe('duplicati-kit-weekly-drill.service');
    expect(unit?.service).toContain('StateDirectory=duplicati-kit');
    expect(unit?.service).toContain(`--config ${cfgFile} drill --job "${JOB}"`);

    // Run exactly what the timer runs, in the environment systemd gives a user unit with
    // StateDirectory=duplicati-kit ($STATE_DIRECTORY under $XDG_STATE_HOME).
    const xdg = path.join(dir, 'xdg-state');
    const [command] = (await loadConfig(cfgFile)).schedules([process.execPath, CLI]).map((x) => x.command);
    expect(command?.slice(0, 2)).toEqual([process.execPath, CLI]);
    const clean = { DUPLICATI_URL: '', DUPLICATI_PASSWORD: '', DUPLICATI_PASSWORD_FILE: '', HOME: dir };
    const timer = await runCli(command?.slice(2) ?? [], {
      cwd: dir,
      env: { ...clean, XDG_STATE_HOME: xdg, STATE_DIRECTORY: path.join(xdg, 'duplicati-kit') },
    });
    expect(timer.stderr).not.toContain(PASSWORD);
    expect(timer.code).toBe(ExitCode.Success);
    expect(timer.stdout).toContain(`evidence: ${path.join(xdg, 'duplicati-kit', 'drills')}`);

    // Later, from a shell: no --evidence, no STATE_DIRECTORY.
    const status = await runCli(['status', '--json', '--config', cfgFile], {
      cwd: dir,
      env: { ...clean, XDG_STATE_HOME: xdg, STATE_DIRECTORY: '' },
    });
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).lastDrill).toMatchObject({
      verdict: 'pass',
      job: JOB,
      version: 0,
      evidenceDir: path.join(xdg, 'duplicati-kit', 'drills'),
    });
  });

  it('fails without throwing when the job has no versions, and refuses targets that would write outside scratch', async () => {
    const scratch = path.join(dir, 'scratch');
    const none = await restoreDrill({ client: dup, job: JOB, workDir, targets: targets(scratch), scratchDir: scratch });
    expect(none).toMatchObject({ verdict: 'fail', version: null });
    expect(none.errors[0]).toMatch(/no backup versions/);
    await expect(
      restoreDrill({
        client: dup,
        job: JOB,
        scratchRestore: true,
        targets: [new ArchiveTarget({ source: 'config', dest: configDir, overwrite: true })],
        scratchDir: scratch,
      }),
    ).rejects.toMatchObject({ name: 'ConfigError', issues: [{ path: 'targets' }] });
  });
});
