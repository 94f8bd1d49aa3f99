/**
 * How fast `duplicati-kit hook` answers an operation it ignores (the web UI's file listings start
 * every hook of the job), against a bare `node -e 0` in the same run. Also `--version`.
 *
 *   npm run build && npx tsx bench/hook-startup.ts [reps=31]
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { arg, load, median, table } from './lib/common.js';

const cli = path.resolve(import.meta.dirname, '..', 'dist', 'cli', 'main.js');
if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);
const reps = arg('reps', 31);

const listingEnv = {
  PATH: process.env.PATH ?? '',
  DUPLICATI__EVENTNAME: 'BEFORE',
  DUPLICATI__OPERATIONNAME: 'ListFilesets',
};
const cases: [string, string[], Record<string, string>][] = [
  ['node -e 0', ['-e', '0'], { PATH: process.env.PATH ?? '' }],
  ['duplicati-kit hook (listing)', [cli, 'hook'], listingEnv],
  ['duplicati-kit --version', [cli, '--version'], { PATH: process.env.PATH ?? '' }],
];
const times = new Map<string, number[]>(cases.map(([n]) => [n, []]));
console.log(`${reps} runs each, interleaved; load ${load()}`);
for (let i = 0; i < reps; i++) {
  for (const [name, args, env] of cases) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, args, { env, stdio: 'ignore' });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`${name} exited ${r.status}`);
    times.get(name)?.push(ms);
  }
}
const base = median(times.get('node -e 0') ?? []);
table([
  ['command', 'median ms', 'p90 ms', 'vs node -e 0'],
  ...cases.map(([name]) => {
    const xs = [...(times.get(name) ?? [])].sort((a, b) => a - b);
    const m = median(xs);
    return [name, m.toFixed(0), (xs[Math.floor(xs.length * 0.9)] ?? 0).toFixed(0), `${(m / base).toFixed(2)}x`];
  }),
]);
console.log(`load after: ${load()}`);
