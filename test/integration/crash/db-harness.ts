/**
 * The kill harness shared by the database engines: run the built CLI's `restore` under the kill
 * preload, first once to number every statement (SQL through the driver, each database client
 * started), then once per kill point and moment, and after each kill let the engine check that the
 * live database is exactly the old or the new content, accepts connections, and has a way back.
 */
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { CLI } from '../../helpers/cli.js';

export const PRELOAD = path.join(import.meta.dirname, 'kill-preload.cjs');

/** When the process dies around a point. */
export type KillWhen = 'before' | 'sent' | 'after';

/** One numbered point of a restore run. */
export interface KillPoint {
  readonly n: number;
  readonly kind: 'sql' | 'client';
  readonly text: string;
}

export interface HarnessRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run the CLI with the preload; `env` carries DK_KILL_* (read only by the preload). */
export function runKilled(args: readonly string[], cwd: string, env: Record<string, string>): Promise<HarnessRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--require', PRELOAD, CLI, ...args],
      {
        cwd,
        env: { ...process.env, STATE_DIRECTORY: '', DUPLICATI_URL: '', DUPLICATI_PASSWORD: '', ...env },
        maxBuffer: 64 << 20,
      },
      (error, stdout, stderr) => {
        const e = error as (Error & { code?: number | string; signal?: NodeJS.Signals }) | null;
        resolve({
          code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
          signal: e?.signal ?? null,
          stdout,
          stderr,
        });
      },
    );
  });
}

/** The counting pass: run once without killing and read back the numbered points. */
export async function countPoints(
  args: readonly string[],
  cwd: string,
): Promise<{ points: KillPoint[]; run: HarnessRun }> {
  const log = path.join(cwd, `points-${process.pid}.log`);
  await rm(log, { force: true });
  const run = await runKilled(args, cwd, { DK_KILL_LOG: log });
  const text = await readFile(log, 'utf8').catch(() => '');
  const points: KillPoint[] = [];
  const stdin = new Map<number, string>();
  for (const l of text.split('\n').filter(Boolean)) {
    const [n, kind, ...rest] = l.split('\t');
    if (kind === 'stdin') stdin.set(Number(n), rest.join('\t'));
    else points.push({ n: Number(n), kind: kind as KillPoint['kind'], text: rest.join('\t') });
  }
  // A client's statements came on its stdin: they describe its point.
  for (const [i, p] of points.entries()) {
    const sent = stdin.get(p.n);
    if (sent !== undefined) points[i] = { ...p, text: `${p.text} <<< ${sent}` };
  }
  return { points, run };
}

/**
 * The kill points a run tries: every point at every moment with `full` (DK_CRASH_FULL=1), else
 * every point of the swap (`isSwap`) at every moment and every fifth other point `before`, so CI
 * stays within its time.
 */
export function pointsToTry(
  points: readonly KillPoint[],
  full: boolean,
  isSwap: (p: KillPoint) => boolean,
): { n: number; when: KillWhen; text: string }[] {
  const out: { n: number; when: KillWhen; text: string }[] = [];
  // DK_CRASH_POINTS=19,20 narrows a run to some points (to re-check a fix quickly).
  const only = process.env.DK_CRASH_POINTS?.split(',').map(Number);
  for (const p of points) {
    if (only && !only.includes(p.n)) continue;
    const whens: KillWhen[] = full || isSwap(p) ? ['before', 'sent', 'after'] : p.n % 5 === 1 ? ['before'] : [];
    for (const when of whens) out.push({ n: p.n, when, text: p.text });
  }
  return out;
}
