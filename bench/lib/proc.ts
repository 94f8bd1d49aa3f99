/**
 * Whole-process measurement for the benchmarks: run a command (ours: `node dist/cli/main.js …` or a
 * script on the built package; the anchor: the shell tools) as its own process tree and report wall
 * time, CPU (user + sys of the whole tree, children included) and the peak RSS of its largest
 * process. A small python3 wrapper reads `getrusage(RUSAGE_CHILDREN)` after the tree exits, which
 * Node cannot do for grandchildren (pg_dump under node, gzip under sh).
 *
 *   const r = await measure(['node', 'dist/cli/main.js', 'prepare', '--config', cfg]);
 *   const s = await measure(['sh', '-c', 'pg_dump db | gzip -6 > out.sql.gz']);
 *
 * `compare()` interleaves ours and the anchor for `reps` rounds and prints medians with CPU use
 * beside each figure, so a run on a busy machine shows it (load average printed too).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { median } from './common.js';

export interface Measured {
  /** Wall time of the whole process tree, from spawn to exit, in ms. */
  readonly wallMs: number;
  /** user + sys CPU of every process in the tree, in ms. */
  readonly cpuMs: number;
  /** CPU use: cores busy on average over the wall time (cpuMs / wallMs). */
  readonly cores: number;
  /** Peak resident set of the largest process in the tree, in KiB. */
  readonly maxRssKb: number;
  /** What the command wrote on stdout (bounded to 1 MiB). */
  readonly stdout: string;
}

const WRAPPER = `
import json, os, resource, subprocess, sys, time
t = time.monotonic()
r = subprocess.run(sys.argv[2:], stdin=subprocess.DEVNULL)
wall = time.monotonic() - t
u = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as f:
    json.dump({"rc": r.returncode, "wall": wall, "user": u.ru_utime, "sys": u.ru_stime, "maxrss": u.ru_maxrss}, f)
sys.exit(0)
`;

export interface MeasureOptions {
  readonly cwd?: string | undefined;
  readonly env?: NodeJS.ProcessEnv | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** Run `argv` as a whole process tree and measure it. Rejects when it exits non-zero. */
export function measure(argv: readonly string[], options: MeasureOptions = {}): Promise<Measured> {
  const dir = mkdtempSync(path.join(tmpdir(), 'dk-measure-'));
  const out = path.join(dir, 'rusage.json');
  return new Promise<Measured>((resolve, reject) => {
    const child = spawn('python3', ['-c', WRAPPER, out, ...argv], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'inherit'],
      signal: options.signal,
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      if (stdout.length < 1024 * 1024) stdout += d.toString();
    });
    child.on('error', reject);
    child.on('close', () => {
      try {
        const r = JSON.parse(readFileSync(out, 'utf8')) as {
          rc: number;
          wall: number;
          user: number;
          sys: number;
          maxrss: number;
        };
        if (r.rc !== 0) throw new Error(`${argv.join(' ')} exited with ${r.rc}`);
        const wallMs = r.wall * 1000;
        const cpuMs = (r.user + r.sys) * 1000;
        resolve({ wallMs, cpuMs, cores: cpuMs / wallMs, maxRssKb: r.maxrss, stdout });
      } catch (err) {
        reject(err);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

export interface Side {
  /** The command line, run as a whole process. */
  readonly argv: readonly string[];
  /** Runs before each rep of this side (remove the previous output, drop a scratch database…); not timed. */
  readonly before?: () => Promise<void> | void;
  /** Runs after each rep with its measurement (read the output's size…); not timed. */
  readonly after?: (m: Measured) => Promise<void> | void;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export interface Comparison {
  readonly name: string;
  readonly ours: readonly Measured[];
  readonly anchor: readonly Measured[];
  readonly oursMs: number;
  readonly anchorMs: number;
  /** Median of ours over median of the anchor. */
  readonly ratio: number;
  /** Ratio of each round, ours/anchor in the same round. */
  readonly perRep: readonly number[];
  readonly load: string;
}

export function loadNow(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/** ours and anchor alternating for `reps` rounds (the first side alternates too), medians compared. */
export async function compare(
  name: string,
  ours: Side,
  anchor: Side,
  reps: number,
  signal?: AbortSignal,
): Promise<Comparison> {
  const o: Measured[] = [];
  const a: Measured[] = [];
  const loads: string[] = [loadNow()];
  const one = async (side: Side, into: Measured[]) => {
    await side.before?.();
    const m = await measure(side.argv, { cwd: side.cwd, env: side.env, signal });
    into.push(m);
    await side.after?.(m);
  };
  for (let i = 0; i < reps; i++) {
    if (i % 2 === 0) {
      await one(ours, o);
      await one(anchor, a);
    } else {
      await one(anchor, a);
      await one(ours, o);
    }
    loads.push(loadNow());
  }
  const oursMs = median(o.map((m) => m.wallMs));
  const anchorMs = median(a.map((m) => m.wallMs));
  return {
    name,
    ours: o,
    anchor: a,
    oursMs,
    anchorMs,
    ratio: oursMs / anchorMs,
    perRep: o.map((m, i) => m.wallMs / (a[i]?.wallMs ?? Number.NaN)),
    load: loads.join(' | '),
  };
}

/** One line: `name: ours 12.4 s (1.9 cores, 140 MB) vs anchor 20.3 s (1.0 cores) = 0.61× (per rep …) goal ≤ 0.50×: MISSED`. */
export function describe(c: Comparison, goal?: number): string {
  const cores = (ms: readonly Measured[]) => median(ms.map((m) => m.cores)).toFixed(2);
  const rss = (ms: readonly Measured[]) => `${Math.round(Math.max(...ms.map((m) => m.maxRssKb)) / 1024)} MiB`;
  const verdict = goal === undefined ? '' : ` goal ≤ ${goal.toFixed(2)}×: ${c.ratio <= goal ? 'met' : 'MISSED'}`;
  return (
    `${c.name}: ours ${(c.oursMs / 1000).toFixed(2)} s (${cores(c.ours)} cores, peak ${rss(c.ours)})` +
    ` vs anchor ${(c.anchorMs / 1000).toFixed(2)} s (${cores(c.anchor)} cores, peak ${rss(c.anchor)})` +
    ` = ${c.ratio.toFixed(2)}× (per rep ${c.perRep.map((r) => r.toFixed(2)).join(' ')})${verdict}; load ${c.load}`
  );
}
