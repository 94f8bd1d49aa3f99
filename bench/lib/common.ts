/**
 * Small helpers shared by the benchmarks: argument parsing, medians, tables, child processes
 * that report their own time and peak RSS, and a fast generator of mixed test data.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** `key=value` arguments, falling back to `BENCH_<KEY>` env vars, then to the default. */
export function arg(name: string, fallback: number): number {
  const prefix = `${name}=`;
  const fromArgv = process.argv.find((a) => a.startsWith(prefix) || a.startsWith(`--${prefix}`));
  const raw = fromArgv?.slice(fromArgv.indexOf('=') + 1) ?? process.env[`BENCH_${name.toUpperCase()}`];
  const n = raw === undefined ? Number.NaN : Number(raw);
  return Number.isFinite(n) ? n : fallback;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export const MiB = 1024 * 1024;

export function fmtBytes(n: number): string {
  return n >= 1024 * MiB ? `${(n / 1024 / MiB).toFixed(2)} GiB` : `${(n / MiB).toFixed(1)} MiB`;
}

/** Print rows as an aligned table. */
export function table(rows: readonly (readonly (string | number)[])[]): void {
  const cells = rows.map((r) => r.map(String));
  const widths = cells[0]?.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length))) ?? [];
  for (const [n, r] of cells.entries()) {
    console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  '));
    if (n === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}

export function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/** Run a command; resolve with its wall time in ms. */
export function timeCommand(file: string, args: readonly string[]): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    execFile(file, args, { maxBuffer: 16 * MiB }, (err) => (err ? reject(err) : resolve(performance.now() - t0)));
  });
}

/** What a child benchmark script prints as its last stdout line. */
export interface ChildReport {
  readonly ms: number;
  readonly maxRssKb: number;
  readonly [key: string]: unknown;
}

const here = path.dirname(fileURLToPath(import.meta.url));

/** Run `bench/lib/<script>` under tsx in a fresh process and parse its JSON report. */
export function runChild(script: string, args: readonly string[]): Promise<ChildReport & { wallMs: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, script), ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${script} exited with ${code}`));
      const last = out.trim().split('\n').pop() ?? '{}';
      resolve({ ...(JSON.parse(last) as ChildReport), wallMs: performance.now() - t0 });
    });
  });
}

/**
 * A 4 MiB pool of mixed bytes: three quarters random (incompressible), one quarter repetitive
 * text (compresses ~4x), so gzip does real work at a realistic ratio. Slices are cheap to take.
 */
export function dataPool(): Buffer {
  const random = randomBytes(3 * MiB);
  const words = 'photo album family holiday backup restore server config jellyfin immich '.split(' ');
  let text = '';
  let i = 0;
  while (text.length < MiB) text += `${words[(i * 7919) % words.length]}-${(i++ * 31) % 1000} `;
  return Buffer.concat([random, Buffer.from(text.slice(0, MiB))]);
}
