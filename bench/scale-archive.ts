/**
 * Benchmark: `ArchiveSource` (tar + gzip level 6) at scale, as the user runs it:
 * `node dist/cli/main.js prepare --config <cfg.json>` (the BUILT package, node start, config,
 * sha256, fsync and manifest included; `npm run build` first) against `tar czf` (GNU tar + gzip -6)
 * on the same tree, interleaved, median of `reps`, CPU use (user+sys per wall second of the whole
 * process tree) and peak RSS beside each figure.
 *
 * Shapes: `small` — `files` (200 k) files of 0.5–3.5 KB (a config / metadata tree: Jellyfin's
 * metadata, an app's cache of JSON), and the same at `files/10` for the memory check; `large` —
 * `largeFiles` (20 k) files of 10–90 KB. Contents: 3/4 random, 1/4 text (gzip works at a
 * realistic ratio).
 *
 *   npx tsx bench/scale-archive.ts [shape=small|large|all] [files=200000] [largeFiles=20000] [reps=3]
 *   npx tsx bench/scale-archive.ts quick        (files=20000 largeFiles=2000)
 *   phases: gen · measure · clean (default all three); trees in dir=/tmp/scale-archive
 *
 * Goals: ≤ 1.3× `tar czf` (issue #2's bar for ArchiveSource, kept at scale); peak RSS at 200 k
 * ≤ 1.2× peak RSS at 20 k (flat). Not part of `npm test`.
 */
import { closeSync, existsSync, mkdirSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { arg, dataPool, median } from './lib/common.js';
import { loadNow, type Measured, measure } from './lib/proc.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const quick = process.argv.includes('quick') || process.env.BENCH_QUICK === '1';
const files = arg('files', quick ? 20_000 : 200_000);
const largeFiles = arg('largeFiles', quick ? 2000 : 20_000);
const reps = arg('reps', 3);
const shapeArg = process.argv.find((a) => a.startsWith('shape='))?.slice(6) ?? process.env.BENCH_SHAPE ?? 'all';
const base = process.argv.find((a) => a.startsWith('dir='))?.slice(4) ?? process.env.BENCH_DIR ?? '/tmp/scale-archive';
const phases = ['gen', 'measure', 'clean'].filter((p) => process.argv.includes(p));
const run = new Set(phases.length ? phases : ['gen', 'measure', 'clean']);
const CLI = path.join(repo, 'dist', 'cli', 'main.js');

interface Tree {
  readonly label: string;
  readonly files: number;
  readonly min: number;
  readonly max: number;
}
const smallTree = (n: number): Tree => ({ label: `small-${n}`, files: n, min: 512, max: 3584 });
const trees: Tree[] = [];
if (shapeArg === 'all' || shapeArg === 'small') trees.push(smallTree(Math.round(files / 10)), smallTree(files));
if (shapeArg === 'all' || shapeArg === 'large')
  trees.push({ label: `large-${largeFiles}`, files: largeFiles, min: 10_240, max: 92_160 });

function gen(t: Tree): void {
  const root = path.join(base, t.label);
  if (existsSync(path.join(root, '.complete'))) return;
  rmSync(root, { recursive: true, force: true });
  const pool = dataPool();
  let x = 42;
  const rand = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
  const t0 = performance.now();
  let bytes = 0;
  for (let i = 0; i < t.files; i++) {
    const dir = path.join(root, 'tree', `d${Math.floor(i / 10_000)}`, `e${Math.floor(i / 100) % 100}`);
    if (i % 100 === 0) mkdirSync(dir, { recursive: true });
    const size = t.min + Math.floor(rand() * (t.max - t.min));
    const off = Math.floor(rand() * (pool.length - size));
    const fd = openSync(path.join(dir, `item-${i}.json`), 'w');
    writeSync(fd, pool, off, size);
    closeSync(fd);
    bytes += size;
  }
  writeFileSync(path.join(root, '.complete'), String(bytes));
  console.error(
    `[${t.label}] ${t.files} files, ${(bytes / 2 ** 20).toFixed(0)} MiB in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );
}

interface Row {
  readonly tree: Tree;
  readonly ours: Measured[];
  readonly tar: Measured[];
  oursBytes: number;
  tarBytes: number;
}

async function measureTree(t: Tree): Promise<Row> {
  const root = path.join(base, t.label);
  if (!existsSync(path.join(root, '.complete'))) throw new Error(`no tree at ${root}: run the gen phase first`);
  const src = path.join(root, 'tree');
  const work = path.join(root, 'work');
  const out = path.join(root, 'gnu.tar.gz');
  const cfg = path.join(root, 'cfg.json');
  writeFileSync(
    cfg,
    JSON.stringify({ workDir: work, sources: [{ type: 'archive', name: 'tree', root: src, gzip: true }] }),
  );
  const row: Row = { tree: t, ours: [], tar: [], oursBytes: 0, tarBytes: 0 };
  const sides = {
    ours: {
      argv: [process.execPath, CLI, 'prepare', '--config', cfg, '--json'],
      before: () => rmSync(work, { recursive: true, force: true }),
      after: (m: Measured) => {
        const o = JSON.parse(m.stdout) as {
          results: { metadata?: { files?: number }; artifacts: { bytes: number }[] }[];
        };
        const r = o.results[0];
        if (Number(r?.metadata?.files) !== t.files)
          throw new Error(`ArchiveSource archived ${r?.metadata?.files} files, expected ${t.files}`);
        row.oursBytes = r?.artifacts[0]?.bytes ?? 0;
      },
    },
    tar: {
      argv: ['tar', '-czf', out, '-C', src, '.'],
      before: () => rmSync(out, { force: true }),
      after: () => {
        row.tarBytes = statSync(out).size;
      },
    },
  };
  // Warm the page cache for both alike (through a pipe: GNU tar reads no file data for -f /dev/null).
  await measure(['sh', '-c', `tar -cf - -C '${src}' . | cat > /dev/null`]);
  for (let i = 0; i < reps; i++) {
    for (const name of i % 2 === 0 ? (['ours', 'tar'] as const) : (['tar', 'ours'] as const)) {
      sides[name].before();
      const m = await measure(sides[name].argv);
      row[name].push(m);
      sides[name].after(m);
    }
    console.error(
      `[${t.label}] rep ${i + 1}: ours ${(row.ours[i]!.wallMs / 1000).toFixed(2)} s, tar czf ${(row.tar[i]!.wallMs / 1000).toFixed(2)} s (load ${loadNow()})`,
    );
  }
  rmSync(work, { recursive: true, force: true });
  rmSync(out, { force: true });
  return row;
}

const fig = (ms: readonly Measured[]) => {
  const wall = median(ms.map((m) => m.wallMs)) / 1000;
  const rss = Math.max(...ms.map((m) => m.maxRssKb)) / 1024;
  return {
    wall,
    rss,
    text: `${wall.toFixed(2)} s (${median(ms.map((m) => m.cores)).toFixed(2)} cores, peak ${rss.toFixed(0)} MiB)`,
  };
};

console.log(`uptime: ${loadNow()} (load average); 2-core host shared with other work`);
mkdirSync(base, { recursive: true });
if (run.has('gen')) for (const t of trees) gen(t);
if (run.has('measure')) {
  const rows: Row[] = [];
  for (const t of trees) rows.push(await measureTree(t));
  for (const r of rows) {
    const o = fig(r.ours);
    const a = fig(r.tar);
    const ratio = o.wall / a.wall;
    console.log(
      `ArchiveSource tar.gz ${r.tree.files.toLocaleString('en')} files (${r.tree.min}–${r.tree.max} B): ours ${o.text} vs tar czf ${a.text} = ${ratio.toFixed(2)}× (per rep ${r.ours.map((m, i) => (m.wallMs / r.tar[i]!.wallMs).toFixed(2)).join(' ')}) goal ≤ 1.30×: ${ratio <= 1.3 ? 'met' : 'MISSED'}; size ${(r.oursBytes / r.tarBytes).toFixed(3)}× tar's`,
    );
  }
  const small = rows.filter((r) => r.tree.label.startsWith('small-'));
  if (small.length === 2) {
    const [lo, hi] = small.map((r) => fig(r.ours).rss) as [number, number];
    console.log(
      `ArchiveSource memory: peak RSS ${lo.toFixed(0)} MiB at ${small[0]!.tree.files.toLocaleString('en')} files, ${hi.toFixed(0)} MiB at ${small[1]!.tree.files.toLocaleString('en')} = ${(hi / lo).toFixed(2)}× goal ≤ 1.20× (flat): ${hi / lo <= 1.2 ? 'met' : 'MISSED'}`,
    );
  }
  console.log(`load after: ${loadNow()}`);
}
if (run.has('clean')) for (const t of trees) rmSync(path.join(base, t.label), { recursive: true, force: true });
