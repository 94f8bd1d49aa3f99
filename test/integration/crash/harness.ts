/**
 * The kill harness for file targets: runs the built CLI's `restore --from` under a test-only
 * preload that SIGKILLs it before or after its Nth rename/link/unlink/rm/copy, then checks the live
 * data and that `restore-points` (or the next run) brings it back.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../../src/app/config.js';
import type { RestoreTarget } from '../../../src/contracts/types.js';
import { listRestorePoints, rollbackRestore } from '../../../src/ops/restore-points.js';
import { CLI } from '../../helpers/cli.js';

export const PRELOAD = path.join(import.meta.dirname, 'fixtures', 'kill-preload.cjs');
/** The CLI under test: the built one, or another build (DK_HARNESS_CLI) to show the defects before a fix. */
export const HARNESS_CLI = process.env.DK_HARNESS_CLI ?? CLI;

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI (with the kill preload when `killAt` is given). */
export function cli(
  args: readonly string[],
  opts: { cwd: string; killAt?: number; log?: string; root?: string },
): Promise<Run> {
  const pre = opts.killAt !== undefined ? ['--require', PRELOAD] : [];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...pre, HARNESS_CLI, ...args],
      {
        cwd: opts.cwd,
        env: {
          ...process.env,
          DUPLICATI_URL: '',
          DUPLICATI_PASSWORD: '',
          DUPLICATI_PASSWORD_FILE: '',
          STATE_DIRECTORY: '',
          DK_KILL_AT: String(opts.killAt ?? 0),
          DK_KILL_LOG: opts.log ?? '',
          DK_KILL_ROOT: opts.root ?? '',
        },
        maxBuffer: 16 * 1024 * 1024,
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

/** One kill point as the preload logs it. */
export interface KillPoint {
  readonly n: number;
  readonly op: string;
  readonly when: 'before' | 'after';
  readonly path: string;
  readonly to?: string;
}

export async function readPoints(log: string): Promise<KillPoint[]> {
  const text = await fsp.readFile(log, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as KillPoint);
}

/** A fingerprint of a folder tree (paths, link targets, file hashes) or 'missing'. */
export async function treeState(root: string): Promise<string> {
  const st = await fsp.lstat(root).catch(() => undefined);
  if (!st) return 'missing';
  const out: string[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const e of (await fsp.readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        out.push(`${r}/`);
        await walk(p, r);
      } else if (e.isSymbolicLink()) out.push(`${r} -> ${await fsp.readlink(p)}`);
      else
        out.push(
          `${r} ${createHash('sha256')
            .update(await fsp.readFile(p))
            .digest('hex')
            .slice(0, 12)}`,
        );
    }
  };
  await walk(root, '');
  return out.join('\n');
}

/** Names beside `live` that a restore leaves when killed (temp files, staging, safety copies). */
export async function leftovers(live: string): Promise<string[]> {
  const base = path.basename(live);
  const names = await fsp.readdir(path.dirname(live)).catch(() => [] as string[]);
  return names.filter((n) => n !== base && n.includes(base) && !n.endsWith('.dk-restore.lock'));
}

/** How one engine is set up and observed. */
export interface EngineCase {
  readonly name: string;
  /** The restore folder (manifest + artifacts) and config, set up once. */
  readonly config: string;
  readonly from: string;
  readonly cwd: string;
  /** Put the live data back to the old state (before every kill run). */
  reset(): Promise<void>;
  /** The live data's state: compared with `old` and `next`. */
  state(): Promise<string>;
  readonly old: string;
  readonly next: string;
  /** Paths whose leftovers are reported. */
  readonly live: readonly string[];
  /**
   * Kill points where the live path may be absent: a folder cannot be swapped in one rename, so
   * between `dest -> safety` and `staging -> dest` it is missing (both copies sit beside it, named
   * in the record written before). Recovery must still bring back the old state.
   */
  readonly window?: (point: KillPoint) => boolean;
}

/** The outcome at one kill point. */
export interface PointResult {
  readonly point: KillPoint;
  /** The live data right after the kill: old, new, or something else (a failure). */
  readonly afterKill: 'old' | 'new' | 'missing' | 'other';
  /** After `restore-points rollback` of every interrupted or applied record: old, or a failure. */
  readonly afterRecovery: 'old' | 'new' | 'missing' | 'other';
  readonly recovery: 'rollback' | 'next-run';
  readonly problems: string[];
}

const label = (c: EngineCase, s: string): PointResult['afterKill'] =>
  s === c.old ? 'old' : s === c.next ? 'new' : s === 'missing' ? 'missing' : 'other';

/** The targets of the config, as `restore-points` builds them. */
async function targetsOf(c: EngineCase): Promise<readonly RestoreTarget[]> {
  return (await loadConfig(c.config)).targets;
}

const stateDirOf = (c: EngineCase): string => path.join(c.cwd, 'state');

/** The counting pass: every kill point of an uninterrupted restore (which must succeed). */
export async function countPoints(c: EngineCase, log: string): Promise<KillPoint[]> {
  await c.reset();
  await fsp.rm(log, { force: true });
  const r = await cli(['--config', c.config, 'restore', '--from', c.from], {
    cwd: c.cwd,
    killAt: 0,
    log,
    root: c.cwd,
  });
  if (r.code !== 0) throw new Error(`the uninterrupted restore failed (${r.code}): ${r.stdout}\n${r.stderr}`);
  if ((await c.state()) !== c.next) throw new Error('the uninterrupted restore did not give the new state');
  return readPoints(log);
}

/**
 * Kill at `point`, look at the live data, then recover: `rollback` rolls back every pending or
 * applied record (`rollbackRestore`, what `restore-points rollback` runs, in this process to keep
 * the harness fast); `next-run` first runs the restore again through the CLI (which must roll the
 * interrupted one back itself and apply). Either way the live data must end old, no record open.
 */
export async function killAndRecover(
  c: EngineCase,
  point: KillPoint,
  recovery: 'rollback' | 'next-run',
): Promise<PointResult> {
  const problems: string[] = [];
  await c.reset();
  const killed = await cli(['--config', c.config, 'restore', '--from', c.from], {
    cwd: c.cwd,
    killAt: point.n,
    root: c.cwd,
  });
  if (killed.signal !== 'SIGKILL') problems.push(`not killed (exit ${killed.code}): ${killed.stderr.slice(0, 300)}`);
  const afterKill = label(c, await c.state());
  const inWindow = afterKill === 'missing' && c.window?.(point) === true;
  if (afterKill !== 'old' && afterKill !== 'new' && !inWindow) {
    problems.push(`live data ${afterKill} right after the kill`);
  }
  if (recovery === 'next-run') {
    const again = await cli(['--config', c.config, 'restore', '--from', c.from, '--json'], { cwd: c.cwd });
    if (again.code !== 0) problems.push(`the next run failed (${again.code}): ${again.stdout.slice(-400)}`);
    const now = label(c, await c.state());
    if (now !== 'new') problems.push(`live data ${now} after the next run`);
  }
  const stateDir = stateDirOf(c);
  const targets = await targetsOf(c);
  for (const r of await listRestorePoints({ stateDir })) {
    if (r.status !== 'pending' && r.status !== 'applied') continue;
    try {
      const out = await rollbackRestore({ stateDir, id: r.id, targets });
      if (!out.ok) problems.push(`rollback of ${r.id} (${r.status}): ${out.record.status}`);
    } catch (e) {
      problems.push(`rollback of ${r.id} (${r.status}) refused: ${(e as Error).message}`);
    }
  }
  const afterRecovery = label(c, await c.state());
  if (afterRecovery !== 'old') problems.push(`live data ${afterRecovery} after recovery`);
  const open = (await listRestorePoints({ stateDir })).filter((r) => r.status === 'pending' || r.status === 'applied');
  if (open.length) problems.push(`records still open: ${open.map((r) => `${r.id}:${r.status}`).join(', ')}`);
  return { point, afterKill, afterRecovery, recovery, problems };
}
