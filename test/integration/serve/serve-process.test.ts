import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, requireBuiltCli, runCli } from '../../helpers/cli.js';
import * as dash from '../../helpers/dashboard-seed.js';

// `duplicati-kit serve` as a user starts it: the built CLI in its own process. The dashboard runs
// on a worker thread with a capped young generation (src/cli/main.ts); the main thread forwards
// SIGTERM and the exit code. What a user sees must be the same as with no worker at all.

let fixture: Awaited<ReturnType<typeof dash.seedWithConfig>>;
const auth = { authorization: `Bearer ${dash.SEEDED_SECRETS.token}` };

beforeAll(async () => {
  requireBuiltCli();
  fixture = await dash.seedWithConfig({ servers: 1, jobs: 2, days: 30 });
});
afterAll(() => fixture.seed.close());

describe('serve as a process', () => {
  it('serves the seeded data, stops on SIGTERM with exit 0 and closes its port', async () => {
    const child = spawn(
      process.execPath,
      [CLI, '--config', fixture.config, 'serve', '--port', '0', '--refresh', '2s'],
      {
        env: {
          ...process.env,
          ...dash.seededEnv(fixture.seed),
          DUPLICATI_KIT_DASHBOARD_TOKEN: dash.SEEDED_SECRETS.token,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
        const m = /dashboard on (http:\/\/\S+?)\/? /.exec(stderr);
        if (m?.[1]) resolve(m[1]);
      });
      void exited.then((code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
    });
    let overview: { servers?: { name: string; ok: boolean }[] } = {};
    for (let i = 0; i < 300; i++) {
      const r = await fetch(`${url}/api/overview`, { headers: auth });
      if (r.status === 200) {
        overview = (await r.json()) as typeof overview;
        break;
      }
      await r.arrayBuffer();
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(overview.servers?.map((s) => [s.name, s.ok])).toEqual([['a', true]]);
    const unauthorized = await fetch(`${url}/api/overview`);
    expect(unauthorized.status).toBe(401);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).not.toMatch(/unexpected failure|Error:/);
    await expect(fetch(`${url}/api/overview`, { headers: auth })).rejects.toThrow();
  });

  it("a bad config is reported with the CLI's exit code and message, from the worker", async () => {
    const bad = path.join(fixture.seed.root, 'bad.yaml');
    await fsp.writeFile(bad, 'workDir: 7\nsources: nope\n');
    const r = await runCli(['serve', '--config', bad, '--port', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/invalid config/);
    expect(r.stderr).not.toMatch(/unexpected failure/);
  });

  it('serve --help prints the help on the main thread and exits 0', async () => {
    const r = await runCli(['serve', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: duplicati-kit serve/);
  });
});
