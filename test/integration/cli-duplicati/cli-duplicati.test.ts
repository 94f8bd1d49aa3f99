/**
 * The Duplicati CLI commands end to end against FakeDuplicatiServer (a real HTTP server on
 * 127.0.0.1), for the 2.0.x and the 2.1+ wire protocol: jobs apply/list/show, run --wait with
 * exit codes from the true outcome, versions, files, restore-files with files equal to the source.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { duplicatiCommands } from '../../../src/cli/commands/duplicati.js';
import { ExitCode } from '../../../src/cli/exit-codes.js';
import { runCli } from '../../../src/cli/run.js';
import { FakeDuplicatiServer, type FakeGeneration } from '../../../src/testing/index.js';
import { tempDir } from '../../helpers/context.js';

const PASSWORD = 'cli-test-password';
const PASSPHRASE = 'cli-test-passphrase-0815';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe.each(['2.0', '2.1'] as FakeGeneration[])('duplicati CLI against the %s fake', (generation) => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let server: FakeDuplicatiServer;
  let src: string;

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir('dk-cli-dup-'));
    src = path.join(dir, 'photos');
    await mkdir(path.join(src, 'album'), { recursive: true });
    await writeFile(path.join(src, 'readme.txt'), 'family photos\n');
    await writeFile(path.join(src, 'album', 'beach.jpg'), Buffer.alloc(32 * 1024, 7));
    await writeFile(path.join(dir, 'pw'), `${PASSWORD}\n`);
    await writeFile(path.join(dir, 'passphrase'), `${PASSPHRASE}\n`);
    server = await FakeDuplicatiServer.start({ generation, password: PASSWORD });
  });

  afterEach(async () => {
    await server.close();
    await cleanup();
  });

  async function cli(...argv: string[]): Promise<Run> {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    stdout.on('data', (c: Buffer) => out.push(c));
    stderr.on('data', (c: Buffer) => err.push(c));
    const code = await runCli([...argv, '--url', server.url, '--password-file', 'pw'], duplicatiCommands, {
      stdout,
      stderr,
      env: {},
      cwd: dir,
      signal: new AbortController().signal,
      interactive: false,
    });
    return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
  }

  async function applyJob(): Promise<void> {
    const spec = {
      jobs: [
        {
          name: 'Family photos',
          sources: [`${src}/`],
          target: `file://${path.join(dir, 'target')}`,
          passphraseFile: 'passphrase',
          schedule: { time: '03:00', repeat: '1D' },
          retention: { keepTime: '30D' },
        },
      ],
    };
    await writeFile(path.join(dir, 'jobs.json'), JSON.stringify(spec));
    const dry = await cli('jobs', 'apply', 'jobs.json', '--dry-run', '--json');
    expect(dry.code).toBe(ExitCode.Success);
    expect(JSON.parse(dry.stdout)).toMatchObject([{ action: 'create', id: null, dryRun: true }]);
    const applied = await cli('jobs', 'apply', 'jobs.json', '--json');
    expect(applied.code).toBe(ExitCode.Success);
    expect(JSON.parse(applied.stdout)).toMatchObject([{ action: 'create', name: 'Family photos' }]);
    const again = await cli('jobs', 'apply', 'jobs.json', '--json');
    expect(JSON.parse(again.stdout)).toMatchObject([{ action: 'unchanged', changes: [] }]);
  }

  it('applies, runs, lists and restores; exit codes follow the outcome; no secret printed', async () => {
    await applyJob();

    const list = await cli('jobs', 'list', '--json');
    expect(JSON.parse(list.stdout)).toMatchObject([{ name: 'Family photos' }]);
    const show = await cli('jobs', 'show', 'family photos', '--json');
    expect(show.code).toBe(ExitCode.Success);
    expect(show.stdout).not.toContain(PASSPHRASE);
    expect(JSON.parse(show.stdout).sources).toEqual([`${src}/`]);

    const run = await cli('run', 'Family photos', '--wait', '--json');
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: true, result: 'Success', operation: 'Backup' });
    expect(run.code).toBe(ExitCode.Success);

    const versions = await cli('versions', 'Family photos', '--json');
    expect(JSON.parse(versions.stdout)).toHaveLength(1);

    const files = await cli('files', 'Family photos', '--version', '0', `${src}/`, '--json');
    const paths = (JSON.parse(files.stdout) as { path: string }[]).map((f) => f.path);
    expect(paths).toEqual(expect.arrayContaining([`${src}/album/`, `${src}/readme.txt`]));

    const restored = await cli(
      'restore-files',
      'Family photos',
      '--version',
      '0',
      '--to',
      'restored',
      `${src}/readme.txt`,
      `${src}/album/`,
      '--json',
    );
    expect(restored.code).toBe(ExitCode.Success);
    expect(JSON.parse(restored.stdout)).toMatchObject({ operation: 'Restore' });
    const restoredRoot = path.join(dir, 'restored');
    const readme = await findFile(restoredRoot, 'readme.txt');
    expect(await readFile(readme, 'utf8')).toBe('family photos\n');
    const beach = await findFile(restoredRoot, 'beach.jpg');
    expect((await readFile(beach)).equals(Buffer.alloc(32 * 1024, 7))).toBe(true);

    for (const r of [list, show, run, versions, files, restored]) {
      expect(r.stdout + r.stderr).not.toContain(PASSWORD);
      expect(r.stdout + r.stderr).not.toContain(PASSPHRASE);
    }
  });

  it.each([
    ['Warning', ExitCode.DuplicatiWarning],
    ['Error', ExitCode.DuplicatiError],
    ['Fatal', ExitCode.DuplicatiFatal],
  ] as const)('run --wait exits with the code of a %s outcome', async (result, code) => {
    await applyJob();
    server.failNextRun(result, `simulated ${result.toLowerCase()}`);
    const run = await cli('run', 'Family photos', '--wait');
    expect(run.code).toBe(code);
    expect(run.stdout).toContain(result);
  });

  it('usage errors and a wrong password have their own exit codes', async () => {
    expect((await cli('restore-files', 'x', '--to', 'out')).code).toBe(ExitCode.Usage);
    await writeFile(path.join(dir, 'pw'), 'wrong-password\n');
    const denied = await cli('jobs', 'list');
    expect(denied.code).toBe(ExitCode.Unavailable);
    expect(denied.stderr).not.toContain('wrong-password');
  });
});

async function findFile(root: string, name: string): Promise<string> {
  const { readdir } = await import('node:fs/promises');
  const walk = async (d: string): Promise<string | undefined> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) {
        const hit = await walk(full);
        if (hit) return hit;
      } else if (e.name === name) return full;
    }
    return undefined;
  };
  const hit = await walk(root);
  if (!hit) throw new Error(`${name} not restored under ${root}`);
  return hit;
}
