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
import { readLastDrill } from '../../../src/ops/drill-report.js';
import { WebhookNotifier } from '../../../src/ops/notify.js';
import { ArchiveSource, ArchiveTarget } from '../../../src/sources/archive.js';
import { createBackupPlan } from '../../../src/sources/plan.js';
import { SqliteSource, SqliteTarget } from '../../../src/sources/sqlite.js';
import { FakeDuplicatiServer, type FakeGeneration } from '../../../src/testing/index.js';
import { requireBuiltCli, runCli } from '../../helpers/cli.js';
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

  /** Stage the plan, optionally damage the staged dump, back the work folder up, clean up. */
  async function backup(damage?: (sqliteArtifact: string) => Promise<void>): Promise<void> {
    const p = plan();
    const prepared = await p.prepare();
    expect(prepared.ok).toBe(true);
    if (damage) {
      const art = prepared.manifest?.sources.find((s) => s.name === 'app')?.artifacts[0];
      expect(art).toBeDefined();
      await damage(path.join(workDir, ...(art?.path ?? '').split('/')));
    }
    offsetMs += 60_000;
    const outcome = await dup.backups.runAndWait(jobId);
    expect(outcome.result).toBe('Success');
    await p.cleanup();
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
    const cfgFile = path.join(dir, 'duplicati-kit.json');
    await writeFile(
      cfgFile,
      JSON.stringify({
        workDir,
        sources: [
          { type: 'sqlite', name: 'app', path: dbFile, counts: ['albums', 'photos'] },
          { type: 'archive', name: 'config', root: configDir },
        ],
        restore: {
          targets: [
            { type: 'sqlite', source: 'app', path: dbFile },
            { type: 'archive', source: 'config', dest: configDir },
          ],
        },
        notify: [{ type: 'webhook', url: `${cliHook.url}/cli` }],
      }),
    );
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
