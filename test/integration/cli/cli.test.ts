import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { acquireLock } from '../../../src/core/lock.js';
import { CLI, requireBuiltCli, runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/context.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(() => requireBuiltCli());
beforeEach(async () => ({ dir, cleanup } = await tempDir('dk-cli-')));
afterEach(() => cleanup());

async function serverTree() {
  const live = path.join(dir, 'live');
  await fsp.mkdir(path.join(live, 'photos', 'a'), { recursive: true });
  await fsp.mkdir(path.join(live, 'conf'), { recursive: true });
  await fsp.writeFile(path.join(live, 'photos', 'a', '1.jpg'), 'jpeg-bytes');
  await fsp.writeFile(path.join(live, 'conf', 'app.ini'), '[app]\nport=1\n');
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(path.join(live, 'app.db'));
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES (1), (2), (3);');
  db.close();
  const config = path.join(dir, 'duplicati-kit.yaml');
  await fsp.writeFile(
    config,
    `workDir: ${dir}/staging
sources:
  - type: sqlite
    name: app
    path: ${live}/app.db
    counts: [t]
  - type: archive
    name: conf
    root: ${live}/conf
  - type: directory
    name: photos
    paths: [${live}/photos]
restore:
  targets:
    - type: sqlite
      source: app
      path: ${dir}/restored/app.db
    - type: archive
      source: conf
      dest: ${dir}/restored/conf
    - type: directory
      source: photos
`,
  );
  return { live, config };
}

describe('duplicati-kit CLI (built, as a child process)', () => {
  it('prints help and version; unknown commands and flags exit 2', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: duplicati-kit');
    expect(help.stdout).toContain('Exit codes:');
    const version = await runCli(['--version']);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect((await runCli(['explode'])).code).toBe(2);
    const badFlag = await runCli(['prepare', '--nope']);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toContain('--nope');
    expect((await runCli(['verify', '--help'])).stdout).toContain('--from DIR');
  });

  it('prepare → verify → restore round trip with --json and exit codes', async () => {
    const { config } = await serverTree();
    const prepared = await runCli(['prepare', '--json', '--config', config]);
    expect(prepared.stderr).toBe('');
    expect(prepared.code).toBe(0);
    const out = JSON.parse(prepared.stdout) as {
      ok: boolean;
      backupPaths: string[];
      manifest: { sources: { name: string }[] };
    };
    expect(out.ok).toBe(true);
    expect(out.manifest.sources.map((s) => s.name)).toEqual(['app', 'conf', 'photos']);
    expect(out.backupPaths).toEqual([path.join(dir, 'staging'), path.join(dir, 'live', 'photos')]);

    const checksumsOnly = await runCli(['verify', '--from', path.join(dir, 'staging')], {
      cwd: dir,
      env: { DUPLICATI_KIT_CONFIG: '' },
    });
    expect(checksumsOnly.code).toBe(0);
    expect(checksumsOnly.stdout).toContain('checksums: 2/2 ok');

    const restored = await runCli(['restore', '--from', path.join(dir, 'staging'), '--config', config], {
      env: { XDG_STATE_HOME: path.join(dir, 'state'), STATE_DIRECTORY: '' },
    });
    expect(restored.code).toBe(0);
    expect(restored.stdout).toMatch(/restored\s+app/);
    expect(await fsp.readFile(path.join(dir, 'restored', 'conf', 'app.ini'), 'utf8')).toBe('[app]\nport=1\n');

    await fsp.appendFile(path.join(dir, 'staging', 'app', 'app.db'), 'bitrot');
    const damaged = await runCli(['verify', '--json', '--from', path.join(dir, 'staging')], { cwd: dir });
    expect(damaged.code).toBe(4);
    expect(JSON.parse(damaged.stdout).checksums.length).toBe(2);

    const cleaned = await runCli(['cleanup', '--config', config]);
    expect(cleaned.code).toBe(0);
    expect(await fsp.readdir(path.join(dir, 'staging'))).toEqual(['.duplicati-kit-workdir']);
  });

  it('a failing source exits 5 and writes no manifest', async () => {
    const { config } = await serverTree();
    await fsp.rm(path.join(dir, 'live', 'app.db'));
    const r = await runCli(['prepare', '--config', config]);
    expect(r.code).toBe(5);
    expect(r.stdout).toMatch(/FAIL app \[sqlite\]/);
    await expect(fsp.access(path.join(dir, 'staging', 'manifest.json'))).rejects.toThrow();
  });

  it('reports every bad config field with its path and exits 2', async () => {
    const config = path.join(dir, 'bad.yaml');
    await fsp.writeFile(
      config,
      'workDir: relative/path\nsources:\n  - type: directory\n    name: x\n    paths: [not-absolute]\n  - type: nosuch\n    name: y\nsurprise: 1\n',
    );
    const r = await runCli(['prepare', '--config', config]);
    expect(r.code).toBe(2);
    for (const field of ['workDir', 'sources.1.type', 'surprise']) expect(r.stderr).toContain(field);
    const r2 = await runCli(['prepare', '--config', path.join(dir, 'missing.yaml')]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('does not exist');
  });

  it('a second run while the work folder is locked exits 3', async () => {
    const { config } = await serverTree();
    await fsp.mkdir(path.join(dir, 'staging'));
    const lock = await acquireLock(path.join(dir, 'staging'));
    try {
      const r = await runCli(['prepare', '--config', config]);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain(`pid ${process.pid}`);
    } finally {
      await lock.release();
    }
  });

  it('systemd prints and writes units that run this CLI with the config', async () => {
    const { config } = await serverTree();
    await fsp.appendFile(
      config,
      `schedules:\n  - name: nightly\n    onCalendar: '*-*-* 02:00:00'\n    args: [prepare]\n`,
    );
    const printed = await runCli(['systemd', '--config', config]);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toContain(`ExecStart=${process.execPath} ${CLI} --config ${config} prepare`);
    expect(printed.stdout).toContain('OnCalendar=*-*-* 02:00:00');
    const written = await runCli(['systemd', '--json', '--config', config, '--write', path.join(dir, 'units')]);
    expect(JSON.parse(written.stdout).files).toHaveLength(2);
  });

  it('a hook that cannot start stops the Duplicati operation (exit 5), never 1 or 2', async () => {
    const env = { DUPLICATI__EVENTNAME: 'BEFORE', DUPLICATI__OPERATIONNAME: 'Backup' };
    const badFlag = await runCli(['hook', '--no-such-flag'], { env });
    expect(badFlag.code).toBe(5);
    expect(badFlag.stderr).toContain('--no-such-flag');
    const noConfig = await runCli(['hook', '--config', path.join(dir, 'missing.yaml')], { env });
    expect(noConfig.code).toBe(5);
    const listing = await runCli(['hook', '--config', path.join(dir, 'missing.yaml')], {
      env: { DUPLICATI__EVENTNAME: 'BEFORE', DUPLICATI__OPERATIONNAME: 'List' },
    });
    expect(listing.code).toBe(0);
  });

  it('status shows the lock, the staged backup, local copies and the last drill', async () => {
    const { config } = await serverTree();
    await fsp.appendFile(config, `localCopies:\n  dir: ${dir}/copies\n  keep: { keepLast: 3 }\n`);
    const evidence = path.join(dir, 'evidence');
    const empty = await runCli(['status', '--json', '--config', config, '--evidence', evidence]);
    expect(empty.code).toBe(0);
    expect(JSON.parse(empty.stdout)).toEqual({
      workDir: path.join(dir, 'staging'),
      lock: null,
      staged: null,
      localCopies: { dir: path.join(dir, 'copies'), count: 0, newest: null },
      lastDrill: null,
    });
    expect((await runCli(['prepare', '--config', config])).code).toBe(0);
    await fsp.mkdir(path.join(dir, 'copies', '20260101T020000Z'), { recursive: true });
    await fsp.mkdir(evidence);
    await fsp.writeFile(
      path.join(evidence, 'last-drill.json'),
      JSON.stringify({
        verdict: 'fail',
        ok: false,
        job: { id: '1', name: 'Home' },
        version: 0,
        finishedAt: '2026-11-01T03:00:00Z',
      }),
    );
    const lock = await acquireLock(path.join(dir, 'staging'));
    try {
      const full = JSON.parse((await runCli(['status', '--json', '--config', config, '--evidence', evidence])).stdout);
      expect(full.lock).toMatchObject({ pid: process.pid, stale: false });
      expect(full.staged.sources).toEqual(['app', 'conf', 'photos']);
      expect(full.localCopies).toMatchObject({ count: 1, newest: '20260101T020000Z' });
      expect(full.lastDrill).toMatchObject({ verdict: 'fail', job: 'Home' });
      const text = await runCli(['status', '--config', config, '--evidence', evidence]);
      expect(text.stdout).toContain('last drill   FAIL for Home');
    } finally {
      await lock.release();
    }
  });

  it('runs the demo end to end, ending with a real drill against Duplicati on loopback', async () => {
    const evidence = path.join(dir, 'evidence');
    const r = await runCli(['demo', '--json', '--evidence', evidence]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as {
      ok: boolean;
      kept: boolean;
      dir: string;
      steps: { name: string; ok: boolean; detail: string }[];
      drill: {
        verdict: string;
        version: number;
        mode: string;
        duplicati: { result: string };
        restoredFiles: number;
        checksums: { ok: boolean }[];
        entries: { name: string; status: string }[];
        consistency: { name: string; status: string; figures: Record<string, number> }[];
        files: { json: string; markdown: string; last: string };
      };
    };
    expect(report.ok).toBe(true);
    expect(report.steps.every((s) => s.ok)).toBe(true);
    expect(CLI.endsWith('main.js')).toBe(true);
    // The drill: the in-process Duplicati stand-in backed up the staged plan and the photos.
    expect(report.steps.at(-1)?.name).toBe('restore drill (Duplicati on loopback)');
    expect(report.drill).toMatchObject({ verdict: 'pass', version: 0, mode: 'scratch-restore' });
    expect(report.drill.duplicati.result).toMatch(/^(Success|Warning)$/);
    expect(report.drill.checksums).toHaveLength(2);
    expect(report.drill.checksums.every((c) => c.ok)).toBe(true);
    expect(Object.fromEntries(report.drill.entries.map((e) => [e.name, e.status]))).toEqual({
      'app-db': 'restored',
      config: 'restored',
      photos: 'skipped',
    });
    // Every photo row of the restored database is a file of the same version (thumbs excluded).
    expect(report.drill.consistency).toEqual([
      expect.objectContaining({
        name: 'photo-references',
        status: 'pass',
        figures: { checked: 48, missing: 0, listedFiles: 48 },
      }),
    ]);
    // The evidence outlives the demo folder, where --evidence put it.
    await expect(fsp.stat(report.dir)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(report.drill.files.markdown.startsWith(evidence)).toBe(true);
    expect(await fsp.readFile(report.drill.files.markdown, 'utf8')).toContain(
      '# Restore drill: PASS — Demo home server',
    );
    expect(JSON.parse(await fsp.readFile(report.drill.files.last, 'utf8'))).toMatchObject({ verdict: 'pass' });

    // The human output names the verdict and where the evidence went.
    const text = await runCli(['demo']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/✔ restore drill \(Duplicati on loopback\)/);
    expect(text.stdout).toMatch(/restore drill: PASS, evidence in \S+drill-evidence\/drill-\S+\.md/);
    expect(text.stdout).toContain('removed with the demo folder');
  });
});
