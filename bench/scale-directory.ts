/**
 * Benchmark: `DirectorySource` on a photo library of up to a million files, as the user runs it:
 * `node dist/cli/main.js prepare --config <cfg.json>` (the BUILT package, node start included; run
 * `npm run build` first) against the shell anchors `find <root> -type f | wc -l` and `du -s <root>`,
 * the three interleaved in the same run (rotating who goes first), median of `reps`, CPU use
 * (user+sys per wall second of the whole process tree) and peak RSS beside each figure.
 *
 * Shapes (bench/lib/photo-tree.ts): `wide` (1,000-file folders) and `deep` (year/month/day, ~50
 * files a day); files are sparse (1–8 MB apparent, no data blocks). Memory flat: the same shape at
 * `small` files (100 k) and `files` (1 M); peak RSS of ours must not grow with the tree.
 *
 *   npx tsx bench/scale-directory.ts [shape=wide|deep|all] [files=1000000] [small=100000] [reps=3] [listing=0|1]
 *   npx tsx bench/scale-directory.ts quick          (files=100000 small=10000 reps=3)
 *   phases, to keep each measuring call short:  gen (build the trees, keep them) · measure (trees must
 *   exist) · clean; default: gen + measure + clean. Trees live in dir=/tmp/scale-dir (BENCH_DIR).
 *
 * Goals (issue #13, bars proposed here since the issue names the anchors, not ratios): ours ≤ 1.5×
 * `du -s` (du stats every file as we do; `find | wc -l` reads names only and is shown as the floor),
 * peak RSS at 1 M ≤ 1.2× peak RSS at 100 k (flat). Not part of `npm test`.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { arg, median } from './lib/common.js';
import { generatePhotoTree, type TreeShape } from './lib/photo-tree.js';
import { loadNow, type Measured, measure } from './lib/proc.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const quick = process.argv.includes('quick') || process.env.BENCH_QUICK === '1';
const files = arg('files', quick ? 100_000 : 1_000_000);
const small = arg('small', quick ? 10_000 : 100_000);
const reps = arg('reps', 3);
const listing = arg('listing', 0) === 1;
const shapeArg = process.argv.find((a) => a.startsWith('shape='))?.slice(6) ?? process.env.BENCH_SHAPE ?? 'all';
const shapes: TreeShape[] = shapeArg === 'all' ? ['wide', 'deep'] : [shapeArg as TreeShape];
const base = process.argv.find((a) => a.startsWith('dir='))?.slice(4) ?? process.env.BENCH_DIR ?? '/tmp/scale-dir';
const phases = ['gen', 'measure', 'clean'].filter((p) => process.argv.includes(p));
const run = new Set(phases.length ? phases : ['gen', 'measure', 'clean']);
const CLI = path.join(repo, 'dist', 'cli', 'main.js');

const treeOf = (shape: TreeShape, n: number) => path.join(base, `${shape}-${n}`);

function gen(shape: TreeShape, n: number): void {
  const root = treeOf(shape, n);
  if (existsSync(path.join(root, '.complete'))) return;
  rmSync(root, { recursive: true, force: true });
  const t0 = performance.now();
  const bytes = generatePhotoTree(path.join(root, 'photos'), shape, n);
  writeFileSync(path.join(root, '.complete'), '');
  console.error(
    `[${shape} ${n}] generated ${n} sparse files (${(bytes / 1e12).toFixed(2)} TB apparent) in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );
}

interface Row {
  readonly label: string;
  readonly ours: Measured[];
  readonly find: Measured[];
  readonly du: Measured[];
  readonly counted: number;
}

async function measureTree(shape: TreeShape, n: number): Promise<Row> {
  const root = treeOf(shape, n);
  const photos = path.join(root, 'photos');
  if (!existsSync(path.join(root, '.complete'))) throw new Error(`no tree at ${root}: run the gen phase first`);
  const cfg = path.join(root, 'cfg.json');
  const work = path.join(root, 'work');
  writeFileSync(
    cfg,
    JSON.stringify({
      workDir: work,
      sources: [{ type: 'directory', name: 'photos', paths: [photos], ...(listing ? { listing: true } : {}) }],
    }),
  );
  const sides: Record<'ours' | 'find' | 'du', { argv: string[]; before?: () => void }> = {
    ours: {
      argv: [process.execPath, CLI, 'prepare', '--config', cfg, '--json'],
      before: () => rmSync(work, { recursive: true, force: true }),
    },
    find: { argv: ['sh', '-c', `find '${photos}' -type f | wc -l`] },
    du: { argv: ['du', '-s', photos] },
  };
  const row: Row = { label: `${shape} ${n.toLocaleString('en')}`, ours: [], find: [], du: [], counted: 0 };
  // Warm the dentry/inode cache alike for all three.
  await measure(sides.du.argv);
  const order: ('ours' | 'find' | 'du')[] = ['ours', 'find', 'du'];
  let counted = 0;
  for (let i = 0; i < reps; i++) {
    for (let k = 0; k < order.length; k++) {
      const name = order[(i + k) % order.length] as 'ours' | 'find' | 'du';
      const side = sides[name];
      side.before?.();
      const m = await measure(side.argv);
      row[name].push(m);
      if (name === 'ours') {
        const out = JSON.parse(m.stdout) as { results: { metadata?: { files?: number } }[] };
        counted = Number(out.results[0]?.metadata?.files);
      }
    }
    console.error(
      `[${row.label}] rep ${i + 1}: ours ${(row.ours[i]!.wallMs / 1000).toFixed(2)} s, find ${(row.find[i]!.wallMs / 1000).toFixed(2)} s, du ${(row.du[i]!.wallMs / 1000).toFixed(2)} s (load ${loadNow()})`,
    );
  }
  rmSync(work, { recursive: true, force: true });
  if (counted !== n) throw new Error(`DirectorySource counted ${counted} files in ${photos}, expected ${n}`);
  return { ...row, counted };
}

const fig = (ms: readonly Measured[]) => {
  const wall = median(ms.map((m) => m.wallMs)) / 1000;
  const cores = median(ms.map((m) => m.cores));
  const rss = Math.max(...ms.map((m) => m.maxRssKb)) / 1024;
  return { wall, cores, rss, text: `${wall.toFixed(2)} s (${cores.toFixed(2)} cores, peak ${rss.toFixed(0)} MiB)` };
};

console.log(`uptime: ${loadNow()} (load average); 2-core host shared with other work`);
mkdirSync(base, { recursive: true });
if (run.has('gen')) for (const shape of shapes) for (const n of [small, files]) gen(shape, n);
if (run.has('measure')) {
  for (const shape of shapes) {
    const rows: Row[] = [];
    for (const n of [small, files]) rows.push(await measureTree(shape, n));
    for (const r of rows) {
      const o = fig(r.ours);
      const f = fig(r.find);
      const d = fig(r.du);
      const ratioDu = o.wall / d.wall;
      const perRep = r.ours.map((m, i) => (m.wallMs / r.du[i]!.wallMs).toFixed(2)).join(' ');
      console.log(
        `DirectorySource ${r.label} files${listing ? ' (+listing)' : ''}: ours ${o.text} vs du -s ${d.text} = ${ratioDu.toFixed(2)}× (per rep ${perRep}) goal ≤ 1.50×: ${ratioDu <= 1.5 ? 'met' : 'MISSED'}; vs find|wc -l ${f.text} = ${(o.wall / f.wall).toFixed(2)}×`,
      );
    }
    const [lo, hi] = rows.map((r) => fig(r.ours).rss) as [number, number];
    console.log(
      `DirectorySource ${shape} memory: peak RSS ${lo.toFixed(0)} MiB at ${small.toLocaleString('en')} files, ${hi.toFixed(0)} MiB at ${files.toLocaleString('en')} = ${(hi / lo).toFixed(2)}× goal ≤ 1.20× (flat): ${hi / lo <= 1.2 ? 'met' : 'MISSED'}`,
    );
  }
  console.log(`load after: ${loadNow()}`);
}
if (run.has('clean'))
  for (const shape of shapes)
    for (const n of [small, files]) rmSync(treeOf(shape, n), { recursive: true, force: true });
