/**
 * Benchmark: ArchiveSource tar+gzip against `tar czf` (GNU tar + gzip, both at gzip's default
 * level 6) on the same generated tree, in the same run, alternating. Ours runs in a child process
 * so its peak RSS is its own. A second, smaller tree shows that RSS does not grow with the tree.
 *
 *   npx tsx bench/archive.ts [files=20000] [mb=1024] [scaleMb=200] [reps=3] [level=6]
 *   (or BENCH_FILES, BENCH_MB, … in the environment). Quick run: npx tsx bench/archive.ts files=2000 mb=100 scaleMb=20
 *
 * Targets (issue #2): wall time ≤ 1.3 × `tar czf`; peak RSS < 150 MB whatever the tree size.
 * Not part of `npm test`.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { arg, fmtBytes, load, MiB, median, runChild, table, timeCommand } from './lib/common.js';
import { generateTree } from './lib/tree.js';

const TAR = '/usr/bin/tar';
const files = arg('files', 20_000);
const mb = arg('mb', 1024);
const scaleMb = arg('scaleMb', 200);
const reps = arg('reps', 3);
const level = arg('level', 6);

interface Row {
  label: string;
  tarMs: number[];
  oursMs: number[];
  rssKb: number[];
  baseKb: number[];
  ourBytes: number;
  tarBytes: number;
}

async function measure(label: string, nFiles: number, bytes: number): Promise<Row> {
  const dir = mkdtempSync(path.join(tmpdir(), 'dk-bench-archive-'));
  try {
    const root = path.join(dir, 'tree');
    const t0 = performance.now();
    const written = generateTree(root, nFiles, bytes);
    console.error(
      `[${label}] generated ${nFiles} files, ${fmtBytes(written)} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    const row: Row = { label, tarMs: [], oursMs: [], rssKb: [], baseKb: [], ourBytes: 0, tarBytes: 0 };
    // Warm the page cache for both contenders alike.
    await timeCommand(TAR, ['-cf', '/dev/null', '-C', root, '.']);
    for (let i = 0; i < reps; i++) {
      const out = path.join(dir, 'gnu.tar.gz');
      const env = level === 6 ? [] : [`--use-compress-program=gzip -${level}`];
      const tarMs = await timeCommand(TAR, [...env, ...(env.length ? ['-cf'] : ['-czf']), out, '-C', root, '.']);
      row.tarBytes = statSync(out).size;
      rmSync(out);
      const work = path.join(dir, `work-${i}`);
      const ours = await runChild('archive-child.ts', [root, work, String(level)]);
      row.ourBytes = Number(ours.bytes);
      rmSync(work, { recursive: true, force: true });
      row.tarMs.push(tarMs);
      row.oursMs.push(ours.ms);
      row.rssKb.push(ours.maxRssKb);
      row.baseKb.push(Number(ours.baseRssKb));
      console.error(
        `[${label}] rep ${i + 1}: tar czf ${(tarMs / 1000).toFixed(2)} s, ArchiveSource ${(ours.ms / 1000).toFixed(2)} s, ` +
          `ratio ${(ours.ms / tarMs).toFixed(2)}, RSS ${(ours.maxRssKb / 1024).toFixed(0)} MB (load ${load()})`,
      );
    }
    return row;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

console.error(`load average before: ${load()} (2 cores; other work on the machine skews absolute times)`);
const rows = [
  await measure(`${files} files / ${mb} MiB`, files, mb * MiB),
  await measure(
    `${Math.round((files * scaleMb) / mb)} files / ${scaleMb} MiB`,
    Math.round((files * scaleMb) / mb),
    scaleMb * MiB,
  ),
];
console.log(
  `\nArchiveSource (tar + gzip level ${level}, sha256, fsync) vs tar czf — median of ${reps}, load ${load()}\n`,
);
table([
  ['tree', 'tar czf s', 'ours s', 'ratio', 'ratios per rep', 'peak RSS MB', 'RSS before work MB', 'out (ours / tar)'],
  ...rows.map((r) => [
    r.label,
    (median(r.tarMs) / 1000).toFixed(2),
    (median(r.oursMs) / 1000).toFixed(2),
    (median(r.oursMs) / median(r.tarMs)).toFixed(2),
    r.oursMs.map((o, i) => (o / (r.tarMs[i] as number)).toFixed(2)).join(' '),
    (Math.max(...r.rssKb) / 1024).toFixed(0),
    (median(r.baseKb) / 1024).toFixed(0),
    `${fmtBytes(r.ourBytes)} / ${fmtBytes(r.tarBytes)}`,
  ]),
]);
console.log(
  '\ntargets: ratio ≤ 1.30, peak RSS < 150 MB and flat across tree sizes. RSS before work = node + tsx + modules loaded.',
);
