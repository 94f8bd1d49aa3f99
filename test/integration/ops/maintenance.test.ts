/**
 * The maintenance window with real child processes: commands run as argv without a shell, in
 * order, with a time limit and the caller's signal; a failed stop starts everything again; a
 * failed start is reported, never thrown; Immich's queues are always resumed.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MaintenanceError, openMaintenanceWindow, runCommand } from '../../../src/ops/maintenance.js';
import { tempDir } from '../../helpers/context.js';

let dir: string;
let cleanup: () => Promise<void>;
let log: string;
let script: string;
const cmd = (...args: string[]): [string, ...string[]] => [process.execPath, script, log, ...args];
const calls = async (): Promise<string[][]> =>
  (await readFile(log, 'utf8').catch(() => ''))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as string[]);

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('dk-maint-'));
  log = path.join(dir, 'calls.log');
  script = path.join(dir, 'svc.cjs');
  await writeFile(
    script,
    `const fs = require('node:fs');
fs.appendFileSync(process.argv[2], JSON.stringify(process.argv.slice(3)) + '\\n');
if (process.argv[3] === 'fail') { console.error('service refused'); process.exit(7); }
if (process.argv[3] === 'hang') setTimeout(() => {}, 60000);
`,
  );
});
afterEach(() => cleanup());

describe('runCommand', () => {
  it('passes arguments verbatim (no shell), keeps the output tail, and reports failures', async () => {
    const ok = await runCommand(cmd('x', '$(echo no) | cat > pwned'));
    expect(ok).toMatchObject({ ok: true, exitCode: 0 });
    expect(await calls()).toEqual([['x', '$(echo no) | cat > pwned']]);
    const bad = await runCommand(cmd('fail'));
    expect(bad).toMatchObject({ ok: false, exitCode: 7, error: 'exit code 7', output: 'service refused' });
    const missing = await runCommand(['/nonexistent/duplicati-kit-no-such-binary']);
    expect(missing.ok).toBe(false);
    expect(missing.error).toMatch(/ENOENT|not found|no such/i);
  });

  it('stops a command at its time limit and on the caller’s abort', async () => {
    const slow = await runCommand(cmd('hang'), { timeoutMs: 300 });
    expect(slow).toMatchObject({ ok: false, error: 'timed out after 300 ms' });
    const ctl = new AbortController();
    const running = runCommand(cmd('hang'), { signal: ctl.signal });
    ctl.abort(new Error('user stop'));
    expect(await running).toMatchObject({ ok: false, error: 'cancelled' });
  });
});

describe('openMaintenanceWindow', () => {
  it('pauses, stops in order; close starts in order and resumes, once', async () => {
    const queue: string[] = [];
    const win = await openMaintenanceWindow({
      immich: {
        pauseQueues: async () => {
          queue.push('pause');
          return { api: 'queues', names: ['smartSearch'] };
        },
        resumeQueues: async () => {
          queue.push('resume');
        },
      },
      jellyfin: { stop: cmd('stop', 'jellyfin'), start: cmd('start', 'jellyfin') },
      stop: [cmd('stop', 'a'), cmd('stop', 'b')],
      start: [cmd('start', 'b'), cmd('start', 'a')],
    });
    expect(win.log.pausedQueues).toEqual(['smartSearch']);
    const after = await win.close();
    await win.close();
    expect(await calls()).toEqual([
      ['stop', 'jellyfin'],
      ['stop', 'a'],
      ['stop', 'b'],
      ['start', 'b'],
      ['start', 'a'],
      ['start', 'jellyfin'],
    ]);
    expect(queue).toEqual(['pause', 'resume']);
    expect(after).toMatchObject({ queuesResumed: true, pausedQueues: ['smartSearch'] });
    expect(after.started.every((c) => c.ok)).toBe(true);
  });

  it('a failing stop command starts everything again and throws a MaintenanceError', async () => {
    const queue: string[] = [];
    const e = await openMaintenanceWindow({
      immich: {
        pauseQueues: async () => ({ api: 'jobs', names: ['library'] }),
        resumeQueues: async (p) => {
          queue.push(`resume ${p.api} ${p.names.join(',')}`);
        },
      },
      stop: [cmd('stop', 'a'), cmd('fail'), cmd('stop', 'never')],
      start: [cmd('start', 'a')],
    }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(MaintenanceError);
    expect((e as MaintenanceError).message).toMatch(/fail: exit code 7\nservice refused/);
    expect(await calls()).toEqual([['stop', 'a'], ['fail'], ['start', 'a']]);
    expect(queue).toEqual(['resume jobs library']);
    expect((e as MaintenanceError).log.queuesResumed).toBe(true);
  });

  it('close never throws: a failed start and a failed resume are in the log', async () => {
    const win = await openMaintenanceWindow({
      immich: {
        pauseQueues: async () => ({ api: 'queues', names: ['ocr'] }),
        resumeQueues: async () => {
          throw new Error('Immich is down');
        },
      },
      start: [cmd('fail'), cmd('start', 'b')],
    });
    const after = await win.close();
    expect(after.started.map((c) => c.ok)).toEqual([false, true]);
    expect(after.queuesResumed).toBe(false);
  });

  it('rejects a command given as a string', async () => {
    await expect(openMaintenanceWindow({ stop: ['systemctl stop x' as unknown as [string]] })).rejects.toThrow(
      /invalid maintenance options/,
    );
  });
});
