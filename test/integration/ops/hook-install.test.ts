import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DuplicatiClient } from '../../../src/duplicati/client.js';
import { hookWrapperScript, installHook } from '../../../src/ops/hook-install.js';
import { FakeDuplicatiServer } from '../../../src/testing/index.js';
import { requireBuiltCli, runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/context.js';

let dir: string;
let cleanup: () => Promise<void>;
let server: FakeDuplicatiServer | undefined;
beforeAll(() => requireBuiltCli());
beforeEach(async () => ({ dir, cleanup } = await tempDir('dk-install-')));
afterEach(async () => {
  await server?.close();
  server = undefined;
  await cleanup();
});

describe.each(['2.0', '2.1'] as const)('hook install against a %s server', (generation) => {
  it('sets the run-script options and adds the work folder, idempotently, with a dry run first', async () => {
    server = await FakeDuplicatiServer.start({ generation, password: 'pw-install' });
    const id = server.createBackup({
      name: 'Immich database',
      sources: ['/srv/immich/library/'],
      settings: { 'keep-time': '14D' },
    });
    const client = new DuplicatiClient({ baseUrl: server.url, auth: { type: 'password', password: 'pw-install' } });
    const script = path.join(dir, 'bin', 'duplicati-kit-hook');
    const opts = {
      job: 'immich DATABASE',
      script,
      command: ['/usr/bin/node', '/opt/dk/main.js', 'hook', '--config', '/etc/dk.yaml'],
      workDir: '/srv/backup/staging',
      includePaths: ['/srv/immich/library', '/srv/other'],
    };

    const dry = await installHook(client, { ...opts, dryRun: true });
    expect(dry.changes.map((c) => `${c.what}:${c.name}`)).toEqual([
      `script:${script}`,
      'setting:--run-script-before-required',
      'setting:--run-script-after',
      'setting:--run-script-timeout',
      'source:/srv/backup/staging/',
    ]);
    expect(dry.missingIncludePaths).toEqual(['/srv/other']);
    await expect(fsp.access(script)).rejects.toThrow();
    expect(server.backups()[0]?.sources).toEqual(['/srv/immich/library/']);

    const done = await installHook(client, opts);
    expect(done.backupId).toBe(id);
    const b = server.backups()[0]!;
    expect(b.sources).toEqual(['/srv/immich/library/', '/srv/backup/staging/']);
    expect(b.settings).toMatchObject({
      '--run-script-before-required': script,
      '--run-script-after': script,
      '--run-script-timeout': '15m',
      'keep-time': '14D',
    });
    expect(await fsp.readFile(script, 'utf8')).toBe(hookWrapperScript(opts.command));
    expect((await fsp.stat(script)).mode & 0o777).toBe(0o755);

    const again = await installHook(client, opts);
    expect(again.changes).toEqual([]);
  });
});

describe('hook install CLI and wrapper', () => {
  it('the wrapper execs the command with shell-safe quoting', async () => {
    const out = path.join(dir, 'args.json');
    const script = path.join(dir, 'hook.sh');
    await fsp.writeFile(
      script,
      hookWrapperScript([
        process.execPath,
        '-e',
        `require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(process.argv.slice(1)))`,
        'it\'s a "job"',
        '$HOME',
      ]),
      { mode: 0o755 },
    );
    const { execFile } = await import('node:child_process');
    await new Promise<void>((resolve, reject) => execFile(script, [], (e) => (e ? reject(e) : resolve())));
    expect(JSON.parse(await fsp.readFile(out, 'utf8'))).toEqual(['it\'s a "job"', '$HOME']);
  });

  it('duplicati-kit hook install --dry-run shows the diff; then installs', async () => {
    server = await FakeDuplicatiServer.start({ generation: '2.1', password: 'pw-cli' });
    server.createBackup({ name: 'configs', sources: ['/etc/'] });
    const config = path.join(dir, 'duplicati-kit.yaml');
    await fsp.writeFile(
      config,
      `workDir: ${dir}/staging\nsources:\n  - { type: directory, name: etc, paths: [/etc] }\n`,
    );
    await fsp.writeFile(path.join(dir, 'pw'), 'pw-cli\n');
    const args = [
      'hook',
      'install',
      '--job',
      'configs',
      '--config',
      config,
      '--url',
      server.url,
      '--password-file',
      path.join(dir, 'pw'),
    ];
    const dry = await runCli([...args, '--dry-run', '--log-file', path.join(dir, 'hook.log')]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('would change job "configs"');
    // The script block ends with its last line; the settings follow on lines of their own.
    expect(dry.stdout).toMatch(
      / {4}\| exec .* --log-file \S*hook\.log\n {2}setting --run-script-before-required: \(none\) -> /,
    );
    expect(dry.stdout).toContain(`source ${dir}/staging/`);
    expect(dry.stdout).not.toContain('pw-cli');
    const real = await runCli([...args, '--json']);
    expect(real.code).toBe(0);
    expect(JSON.parse(real.stdout).changes.length).toBeGreaterThan(0);
    expect(server.backups()[0]?.settings['--run-script-after']).toBe(path.join(dir, 'duplicati-kit-hook'));
    expect(await fsp.readFile(path.join(dir, 'duplicati-kit-hook'), 'utf8')).toContain(`hook --config ${config}`);

    // Run by a person, not by Duplicati: no credentials is "unavailable" (6), not the hook's 5.
    const noAuth = await runCli(args.slice(0, -2), { env: { PATH: process.env.PATH ?? '' } });
    expect(noAuth.code).toBe(6);
    const help = await runCli(['hook', '--help']);
    // 2.0.x has no run-script-with-arguments: the help must not send anyone there.
    expect(help.stdout).not.toContain('run-script-with-arguments');
    expect(help.stdout).toContain('--log-file');
  });
});
