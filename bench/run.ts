/**
 * The bench runner behind `npm run bench`: runs the named benchmarks (or every `bench/*.ts`) one
 * after another, each as its own child process (`node --import tsx bench/<name>.ts`), streams
 * their output, keeps each bench's summary lines (figures with `met` / `MISSED`, tables) and ends
 * with one table: bench, exit, wall time, goals met, goals missed.
 *
 *   npm run bench                      every bench in bench/*.ts (alphabetical)
 *   npm run bench -- sqlite immich     only these
 *   npm run bench -- quick             every bench, small data (passes `quick` through)
 *   npm run bench -- --list            list the benches and exit
 *
 * Any other `key=value` argument is passed through to every bench (`reps=5`). `quick` reaches a
 * bench twice: as the argument `quick` and as `BENCH_QUICK=1` in its environment.
 *
 * Exit code: 0 when every bench ran to its end, 1 when one crashed (non-zero exit or a signal),
 * 2 for an unknown bench name. A goal a bench reports as MISSED is printed, not a crash: the
 * figures are the result, whatever they are.
 *
 * Benchmarks measure; run them on a quiet machine (here: under /work/bin/bench-excl). Not part
 * of `npm test`.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Every runnable bench: `bench/<name>.ts` (the helpers live in bench/lib, this runner is not one). */
export function listBenches(dir: string = here): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isFile() && d.name.endsWith('.ts') && !d.name.endsWith('.d.ts') && d.name !== 'run.ts')
    .map((d) => d.name.slice(0, -'.ts'.length))
    .sort();
}

/** A summary line worth repeating at the end: a verdict, a ratio, a table row. */
export function isSummaryLine(line: string): boolean {
  return /\b(met|MISSED|goal|target)\b|×|ratio|median/i.test(line);
}

interface Outcome {
  readonly name: string;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly wallMs: number;
  readonly met: number;
  readonly missed: number;
  readonly summary: readonly string[];
}

function runBench(name: string, passArgs: readonly string[], quick: boolean, signal: AbortSignal): Promise<Outcome> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, `${name}.ts`), ...passArgs], {
      cwd: path.dirname(here),
      env: { ...process.env, ...(quick ? { BENCH_QUICK: '1' } : {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
      signal,
    });
    const summary: string[] = [];
    let met = 0;
    let missed = 0;
    const lineReader = (into: NodeJS.WriteStream) => {
      let rest = '';
      return (chunk: Buffer) => {
        into.write(chunk);
        rest += chunk.toString();
        const lines = rest.split('\n');
        rest = lines.pop() ?? '';
        for (const l of lines) {
          met += (l.match(/\bmet\b/g) ?? []).length;
          missed += (l.match(/\bMISSED\b/g) ?? []).length;
          if (isSummaryLine(l) && summary.length < 200) summary.push(l);
        }
      };
    };
    child.stdout.on('data', lineReader(process.stdout));
    child.stderr.on('data', lineReader(process.stderr));
    const finish = (code: number | null, sig: NodeJS.Signals | null) =>
      resolve({ name, code, signal: sig, wallMs: performance.now() - t0, met, missed, summary });
    child.on('error', (e) => {
      process.stderr.write(`bench ${name}: ${e.message}\n`);
      finish(127, null);
    });
    child.on('close', finish);
  });
}

async function main(argv: readonly string[]): Promise<number> {
  const all = listBenches();
  if (argv.includes('--list')) {
    console.log(all.join('\n'));
    return 0;
  }
  const quick = argv.includes('quick') || argv.includes('--quick');
  const passArgs = argv.filter((a) => a.includes('='));
  const named = argv.filter((a) => !a.includes('=') && !a.startsWith('-') && a !== 'quick');
  const unknown = named.filter((n) => !all.includes(n.replace(/\.ts$/, '')));
  if (unknown.length) {
    console.error(`unknown bench(es): ${unknown.join(', ')}; known: ${all.join(', ')}`);
    return 2;
  }
  const chosen = named.length ? named.map((n) => n.replace(/\.ts$/, '')) : all;
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  process.once('SIGTERM', () => ac.abort());
  const outcomes: Outcome[] = [];
  for (const name of chosen) {
    if (ac.signal.aborted) break;
    console.log(
      `\n=== bench ${name}${quick ? ' (quick)' : ''} — load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} ===`,
    );
    outcomes.push(await runBench(name, [...(quick ? ['quick'] : []), ...passArgs], quick, ac.signal));
  }

  console.log('\n=== summary ===');
  for (const o of outcomes) {
    if (!o.summary.length) continue;
    console.log(`\n[${o.name}]`);
    for (const l of o.summary) console.log(`  ${l}`);
  }
  const rows = [
    ['bench', 'result', 'wall s', 'goals met', 'goals MISSED'],
    ...outcomes.map((o) => [
      o.name,
      o.code === 0 ? 'ran' : o.signal ? `CRASHED (${o.signal})` : `CRASHED (exit ${o.code})`,
      (o.wallMs / 1000).toFixed(1),
      String(o.met),
      String(o.missed),
    ]),
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  console.log('');
  for (const [n, r] of rows.entries()) {
    console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  '));
    if (n === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
  const crashed = outcomes.filter((o) => o.code !== 0);
  if (ac.signal.aborted) console.log('\ninterrupted: the benches after the last one above did not run');
  if (crashed.length) console.log(`\n${crashed.length} bench(es) crashed: ${crashed.map((o) => o.name).join(', ')}`);
  return crashed.length || ac.signal.aborted ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
