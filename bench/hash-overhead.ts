/**
 * Benchmark: what computing sha256 in the write pass costs. The same ~1 GB stream goes through
 * ArtifactWriter.write (hash + count + fsync + rename) and through a plain fs.createWriteStream
 * followed by fsync (no hashing), alternating, in the same process. Prints the median ratio.
 *
 *   npx tsx bench/hash-overhead.ts [mb=1024] [reps=5] [chunkKb=1024]
 *   (or BENCH_MB, BENCH_REPS, BENCH_CHUNKKB). Quick run: npx tsx bench/hash-overhead.ts mb=100
 *
 * Target (issue #2): ArtifactWriter ≤ 1.10 × the plain write. Not part of `npm test`.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ArtifactWriter } from '../src/core/artifact-writer.js';
import { arg, dataPool, fmtBytes, load, MiB, median, table } from './lib/common.js';

const mb = arg('mb', 1024);
const reps = arg('reps', 5);
const chunk = arg('chunkKb', 1024) * 1024;
const total = mb * MiB;
const pool = dataPool();

/** The same bytes every time: `total` bytes in `chunk`-sized slices of the pool, fresh buffers. */
function source(): Readable {
  let sent = 0;
  let off = 0;
  return new Readable({
    highWaterMark: chunk,
    read() {
      if (sent >= total) {
        this.push(null);
        return;
      }
      const n = Math.min(chunk, total - sent);
      if (off + n > pool.length) off = 0;
      this.push(Buffer.from(pool.subarray(off, off + n)));
      off += n;
      sent += n;
    },
  });
}

/** Process CPU seconds (all threads) spent by the last measured run of each kind. */
const cpu: Record<'plain' | 'hashed' | 'hashOnly', number[]> = { plain: [], hashed: [], hashOnly: [] };

async function timed<T>(kind: keyof typeof cpu, fn: () => Promise<T>): Promise<T> {
  const c0 = process.cpuUsage();
  const out = await fn();
  const c = process.cpuUsage(c0);
  cpu[kind].push((c.user + c.system) / 1e6);
  return out;
}

async function plain(file: string): Promise<number> {
  const t0 = performance.now();
  await pipeline(source(), createWriteStream(file, { highWaterMark: MiB }));
  const fh = await fsp.open(file, 'r+');
  await fh.sync();
  await fh.close();
  return performance.now() - t0;
}

async function hashed(dir: string, i: number): Promise<{ ms: number; sha256: string }> {
  const t0 = performance.now();
  const ref = await new ArtifactWriter(dir, 'bench').write(`out-${i}.bin`, source(), { format: 'bin' });
  return { ms: performance.now() - t0, sha256: ref.sha256 };
}

/** sha256 alone on the main thread, no disk: the cost being hidden. */
async function hashOnly(): Promise<number> {
  const t0 = performance.now();
  const h = createHash('sha256');
  for await (const c of source()) h.update(c as Buffer);
  h.digest();
  return performance.now() - t0;
}

const dir = mkdtempSync(path.join(tmpdir(), 'dk-bench-hash-'));
try {
  console.error(`writing ${fmtBytes(total)} per run in ${chunk / 1024} KiB chunks, ${reps} reps; load ${load()}`);
  const plainMs: number[] = [];
  const hashedMs: number[] = [];
  const hashOnlyMs: number[] = [];
  for (let i = 0; i < reps; i++) {
    const p = path.join(dir, 'plain.bin');
    // Alternate which goes first so page-cache writeback of the previous run hits both alike.
    const order = i % 2 === 0 ? ['plain', 'hashed'] : ['hashed', 'plain'];
    for (const which of order) {
      // Flush other dirty pages first so neither run pays for the previous one's writeback.
      execFileSync('sync');
      if (which === 'plain') {
        plainMs.push(await timed('plain', () => plain(p)));
        rmSync(p);
      } else {
        hashedMs.push((await timed('hashed', () => hashed(dir, i))).ms);
        rmSync(path.join(dir, 'bench'), { recursive: true });
      }
    }
    hashOnlyMs.push(await timed('hashOnly', hashOnly));
    console.error(
      `rep ${i + 1}: plain ${(plainMs[i]! / 1000).toFixed(2)} s, ArtifactWriter ${(hashedMs[i]! / 1000).toFixed(2)} s, ` +
        `ratio ${(hashedMs[i]! / plainMs[i]!).toFixed(3)}, sha256 alone ${(hashOnlyMs[i]! / 1000).toFixed(2)} s (load ${load()})`,
    );
  }
  console.log(`\nsha256 in the write pass — ${fmtBytes(total)}, median of ${reps}, load ${load()}\n`);
  table([
    ['writer', 'median s', 'MB/s', 'per rep s', 'CPU s (median)'],
    ['createWriteStream + fsync', ...cols(plainMs), median(cpu.plain).toFixed(2)],
    ['ArtifactWriter (sha256 + fsync + rename)', ...cols(hashedMs), median(cpu.hashed).toFixed(2)],
    ['sha256 alone (no disk)', ...cols(hashOnlyMs), median(cpu.hashOnly).toFixed(2)],
  ]);
  console.log(`\nratio ArtifactWriter / plain: ${(median(hashedMs) / median(plainMs)).toFixed(3)} (target ≤ 1.10)`);
  const pairs = hashedMs.map((h, i) => h / plainMs[i]!);
  console.log(`ratios per rep: ${pairs.map((r) => r.toFixed(3)).join(' ')} (median ${median(pairs).toFixed(3)})`);
  console.log(
    'CPU s is process CPU time (all threads): when wall time far exceeds it, the run waited for a core or the disk.',
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}

function cols(ms: number[]): string[] {
  return [
    (median(ms) / 1000).toFixed(2),
    (total / MiB / (median(ms) / 1000)).toFixed(0),
    ms.map((m) => (m / 1000).toFixed(2)).join(' '),
  ];
}
