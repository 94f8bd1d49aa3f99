/**
 * Issue 12's CLI defects that need no database: commands find Duplicati through the config's
 * duplicati: section alone (defect 4), the scheduler choice (defect 8), `prepare --dry-run`
 * names its folders, and a reader that leaves early (`| head -1`) causes no EPIPE stack (11).
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { applyScheduler } from '../../../src/cli/commands/duplicati.js';
import { loadCommands } from '../../../src/cli/commands/index.js';
import { ExitCode } from '../../../src/cli/exit-codes.js';
import { runCli } from '../../../src/cli/run.js';
import { FakeDuplicatiServer } from '../../../src/testing/index.js';
import { CLI, requireBuiltCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/context.js';

const PASSWORD = 'config-server-pw';

describe('commands read the config (no environment)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let server: FakeDuplicatiServer;

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir('dk-cfg-server-'));
    server = await FakeDuplicatiServer.start({ generation: '2.0', password: PASSWORD });
    await writeFile(path.join(dir, 'pw'), `${PASSWORD}\n`);
    await mkdir(path.join(dir, 'photos'), { recursive: true });
    await writeFile(path.join(dir, 'photos', 'a.jpg'), 'jpeg');
    await writeFile(
      path.join(dir, 'duplicati-kit.yaml'),
      YAML.stringify({
        workDir: path.join(dir, 'staging'),
        sources: [{ type: 'directory', name: 'photos', paths: [path.join(dir, 'photos')] }],
        duplicati: { url: server.url, passwordFile: 'pw' },
        scheduler: 'systemd',
        schedules: [{ name: 'photos', onCalendar: '*-*-* 03:00:00', args: ['run', 'Photos', '--wait'] }],
      }),
    );
  });

  afterEach(async () => {
    await server.close();
    await cleanup();
  });

  async function cli(...argv: string[]) {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    stdout.on('data', (c: Buffer) => out.push(c));
    stderr.on('data', (c: Buffer) => err.push(c));
    const code = await runCli(argv, loadCommands, {
      stdout,
      stderr,
      env: {},
      cwd: dir,
      signal: new AbortController().signal,
      interactive: false,
      program: [process.execPath, CLI],
    });
    return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
  }

  it('jobs, run, versions and files log in with the config alone; apply writes no schedule under systemd', async () => {
    const spec = {
      name: 'Photos',
      sources: [`${path.join(dir, 'photos')}/`],
      target: `file://${path.join(dir, 'target')}`,
      passphrase: null,
      schedule: { time: '03:00', repeat: '1D' },
    };
    await writeFile(path.join(dir, 'jobs.json'), JSON.stringify({ jobs: [spec] }));
    const applied = await cli('jobs', 'apply', 'jobs.json');
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(ExitCode.Success);
    expect(applied.stdout).not.toContain('schedule');
    expect((await cli('run', 'Photos', '--wait')).code).toBe(ExitCode.Success);
    const versions = await cli('versions', 'Photos');
    expect(versions.code).toBe(ExitCode.Success);
    expect(versions.stdout).toMatch(/^ {2}0 {2}/m);
    expect((await cli('files', 'Photos', '--search', '*.jpg')).stdout).toContain('a.jpg');
    const list = await cli('jobs', 'list');
    expect(list.stdout).toContain('no schedule');
  });

  it('says where a login may come from when there is none', async () => {
    await writeFile(path.join(dir, 'duplicati-kit.yaml'), YAML.stringify({ workDir: dir, sources: [] }));
    const r = await cli('versions', 'Photos');
    // Missing credentials are "could not log in" (6), as for hook install (#12).
    expect(r.code).toBe(ExitCode.Unavailable);
    expect(r.stderr).toContain('duplicati.passwordFile');
  });

  it('prepare --dry-run names the folders Duplicati backs up and no undefined manifest', async () => {
    const r = await cli('prepare', '--dry-run');
    expect(r.code).toBe(ExitCode.Success);
    expect(r.stdout).not.toContain('undefined');
    expect(r.stdout).toContain(`  ${path.join(dir, 'photos')}`);
    expect(r.stdout).toContain('none written (dry run');
  });

  it('systemd leaves run timers out under scheduler: duplicati and warns when no scheduler is chosen', async () => {
    const base = YAML.parse(
      await import('node:fs/promises').then((f) => f.readFile(path.join(dir, 'duplicati-kit.yaml'), 'utf8')),
    );
    const drill = { name: 'drill', onCalendar: 'Sun *-*-* 06:00:00', args: ['drill', '--job', 'Photos'] };
    await writeFile(
      path.join(dir, 'duplicati-kit.yaml'),
      YAML.stringify({ ...base, scheduler: 'duplicati', schedules: [...base.schedules, drill] }),
    );
    const d = await cli('systemd', '--json');
    expect(d.code).toBe(ExitCode.Success);
    expect((JSON.parse(d.stdout) as { serviceName: string }[]).map((u) => u.serviceName)).toEqual([
      'duplicati-kit-drill.service',
    ]);
    const { scheduler: _s, ...unset } = base;
    await writeFile(path.join(dir, 'duplicati-kit.yaml'), YAML.stringify(unset));
    const u = await cli('systemd');
    expect(u.stderr).toContain('set scheduler: systemd');
  });
});

describe('applyScheduler', () => {
  const spec = { name: 'Photos', sources: ['/srv/photos/'], target: 'file:///mnt/b', schedule: { time: '03:00' } };
  const timed = [{ schedule: 'photos', job: 'photos' }];
  it('drops the Duplicati schedule under systemd, warns on a double schedule, keeps it under duplicati', () => {
    expect(
      applyScheduler([spec], { duplicati: undefined, scheduler: 'systemd', timedRuns: timed }).specs[0]?.schedule,
    ).toBeNull();
    const both = applyScheduler([spec], { duplicati: undefined, scheduler: undefined, timedRuns: timed });
    expect(both.warnings[0]).toMatch(/scheduled twice/);
    expect(both.specs[0]?.schedule).toEqual({ time: '03:00' });
    const none = applyScheduler([spec], { duplicati: undefined, scheduler: 'systemd', timedRuns: [] });
    expect(none.warnings[0]).toMatch(/no schedules: entry runs it/);
  });
});

describe('a reader that leaves early', () => {
  it('ends quietly instead of an EPIPE stack', async () => {
    requireBuiltCli();
    const child = spawn(process.execPath, [CLI, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).not.toContain('EPIPE');
    expect(stderr).not.toContain('unexpected');
    expect(code).toBe(0);
  });
});
