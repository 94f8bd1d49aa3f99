import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createBackupPlan } from '../../../src/plan/backup-plan.js';
import type { BackupSource } from '../../../src/contracts/types.js';
import { tempDir } from '../../helpers/context.js';

const script = path.join(import.meta.dirname, 'fixtures', 'plan-child.ts');
let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fsp.readdir(root, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out.push(path.relative(root, path.join(e.parentPath, e.name)));
  }
  return out.sort();
}

/** Run the child plan, answering 'go' to every step until `killAt`, then SIGKILL it there. */
async function runAndKill(workDir: string, killAt: string | undefined): Promise<string[]> {
  const c: ChildProcess = fork(script, [workDir], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const seen: string[] = [];
  const exited = once(c, 'exit');
  c.on('message', (m: string) => {
    seen.push(m);
    if (m === killAt) c.kill('SIGKILL');
    else if (m !== 'done') c.send('go');
  });
  const [code, signal] = await exited;
  if (killAt) expect(signal).toBe('SIGKILL');
  else expect(code).toBe(0);
  return seen;
}

const killPoints = ['one:start', 'one:mid-write', 'one:written', 'two:mid-write', 'two:written'];

describe('crash safety of prepare', () => {
  it.each(killPoints)(
    'SIGKILL at %s leaves no manifest naming a partial or missing file; the next run succeeds',
    async (point) => {
      const workDir = path.join(dir, 'staging');
      // A complete earlier backup must never be mistaken for the interrupted one either.
      await runAndKill(workDir, undefined);
      const seen = await runAndKill(workDir, point);
      expect(seen.at(-1)).toBe(point);

      // Whatever the interrupted run left, no manifest names it: the earlier manifest was removed
      // before anything was written, and the new one is only written after every artifact.
      // The interrupted run removed the earlier manifest before writing anything.
      expect(existsSync(path.join(workDir, 'manifest.json'))).toBe(false);

      // The next run (a new process would do the same) takes over the dead lock, cleans and succeeds.
      const sources: BackupSource[] = ['one', 'two'].map((name) => ({
        name,
        kind: 'test',
        prepare: async (ctx) => ({
          artifacts: [await ctx.artifacts.write('data.bin', [Buffer.alloc(10)], { format: 'bin' })],
        }),
      }));
      const out = await createBackupPlan({ workDir, sources }).prepare();
      expect(out.ok).toBe(true);
      const after = await listFiles(workDir);
      expect(after.filter((f) => f.endsWith('.partial'))).toEqual([]);
      expect(after).toEqual(['.duplicati-kit-workdir', 'manifest.json', 'one/data.bin', 'two/data.bin']);
    },
  );
});
