/**
 * Benchmark: the restore drill's Immich library check at 100 k assets against a REAL Duplicati
 * 2.0.7.3 version listing, as the user runs it: `node dist/cli/main.js drill --job … --no-load
 * --json` (the BUILT package; `npm run build` first): restore the staged work folder of the
 * version, verify its checksums, read every asset's `originalPath` out of the staged Immich dump and
 * look each one up in the same version's file listing, which the server returns through its REST
 * search.
 *
 * Anchor, in the same run, interleaved: the same drill by hand with Duplicati's own command line
 * on the same job database: `Duplicati.CommandLine.exe restore` of the work folder, `sha256sum`
 * of the dump, the version's library files read with `sqlite3` from the job database (the `File`
 * view; with cliFind=1 `Duplicati.CommandLine.exe find` instead, which took minutes at 100 k),
 * the dump's asset paths (`zcat | awk` over the COPY block), `sort` both, `comm -23 | wc -l`. A
 * second anchor is only that listing, the floor of any check against the version.
 *
 * Setup (not timed, phase `setup`): a real Duplicati on a free port (scripts/live-duplicati.sh),
 * an Immich-shaped PostgreSQL database (`asset` with `assets` rows whose `originalPath` follow
 * the storage template under `/data/library/<user>/<year>/<date>/`), the library tree (tiny real
 * files, bench/lib/photo-tree.ts shape `immich`), `duplicati-kit prepare` (the Immich source: dump
 * + library), one Duplicati job backing up the work folder and the library, one backup run.
 *
 *   npx tsx bench/scale-drill.ts [assets=100000] [reps=3]        setup + measure + clean
 *   npx tsx bench/scale-drill.ts setup|measure|clean [assets=…]   one phase (state in dir=/tmp/scale-drill)
 *   npx tsx bench/scale-drill.ts quick                             assets=5000
 *
 * Goal (bar proposed here; issue #13 names the anchor): the whole drill ≤ 1.5× the hand-made drill;
 * peak RSS reported (the listing is held as a set: it grows with the library). Not part of `npm test`.
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { arg, median } from './lib/common.js';
import { generatePhotoTree, immichPath } from './lib/photo-tree.js';
import { loadNow, type Measured, measure } from './lib/proc.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const quick = process.argv.includes('quick') || process.env.BENCH_QUICK === '1';
const assets = arg('assets', quick ? 5000 : 100_000);
const reps = arg('reps', 3);
const cliFind = arg('cliFind', 0) === 1;
const base = process.argv.find((a) => a.startsWith('dir='))?.slice(4) ?? process.env.BENCH_DIR ?? '/tmp/scale-drill';
const phases = ['setup', 'measure', 'clean'].filter((p) => process.argv.includes(p));
const run = new Set(phases.length ? phases : ['setup', 'measure', 'clean']);
const CLI = path.join(repo, 'dist', 'cli', 'main.js');
const DIST = process.env.DUPLICATI_DIST ?? path.join(homedir(), '.cache/duplicati-kit/duplicati-2.0.7.3/dist');
const PASSPHRASE = 'scale bench passphrase';
const JOB = 'Scale Immich';
const db = `scale_immich_${assets}`;
const dirs = {
  upload: path.join(base, 'upload'),
  staging: path.join(base, 'staging'),
  offsite: path.join(base, 'offsite'),
  scratch: path.join(base, 'scratch'),
  evidence: path.join(base, 'evidence'),
  anchor: path.join(base, 'anchor'),
};
const stateFile = path.join(base, 'state.json');
const cfgFile = path.join(base, 'cfg.json');

interface State {
  url: string;
  dir: string;
  passwordFile: string;
  jobId: string;
  dbPath: string;
  assets: number;
}

const psql = (sql: string, database = 'postgres') =>
  execFileSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', database, '-v', 'ON_ERROR_STOP=1', '-qAtc', sql], {
    encoding: 'utf8',
  });

async function setup(): Promise<void> {
  if (existsSync(stateFile)) {
    const s = JSON.parse(readFileSync(stateFile, 'utf8')) as State;
    if (s.assets === assets) return console.error(`setup already done for ${assets} assets (${stateFile})`);
    await clean();
  }
  mkdirSync(base, { recursive: true });
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  const t0 = performance.now();
  generatePhotoTree(dirs.upload, 'immich', assets);
  console.error(`library: ${assets} files in ${((performance.now() - t0) / 1000).toFixed(0)} s`);

  // An Immich-shaped database (the columns the source, the dump reader and the counts use).
  psql(`DROP DATABASE IF EXISTS ${db}`);
  psql(`CREATE DATABASE ${db}`);
  psql(
    `CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
     CREATE TYPE asset_status_enum AS ENUM ('active', 'trashed', 'deleted');
     CREATE TABLE version_history (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), "createdAt" timestamptz NOT NULL DEFAULT now(), version varchar NOT NULL);
     INSERT INTO version_history (version) VALUES ('v1.140.0');
     CREATE TABLE "user" (id uuid PRIMARY KEY, email varchar NOT NULL UNIQUE, name varchar NOT NULL DEFAULT '', "deletedAt" timestamptz);
     INSERT INTO "user" (id, email) VALUES ('7f1a2c3e-0000-4000-8000-000000000001', 'a@example.org'), ('7f1a2c3e-0000-4000-8000-000000000002', 'b@example.org');
     CREATE TABLE asset (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), "ownerId" uuid NOT NULL REFERENCES "user"(id),
       "deviceAssetId" varchar NOT NULL, type varchar NOT NULL DEFAULT 'IMAGE', "originalPath" varchar NOT NULL,
       "originalFileName" varchar NOT NULL, checksum bytea NOT NULL, "fileCreatedAt" timestamptz NOT NULL DEFAULT now(),
       status asset_status_enum NOT NULL DEFAULT 'active', "deletedAt" timestamptz);`,
    db,
  );
  const tsv = path.join(base, 'assets.tsv');
  const out = createWriteStream(tsv);
  for (let i = 0; i < assets; i++) {
    const p = immichPath(i, assets);
    const owner = `7f1a2c3e-0000-4000-8000-00000000000${(i % 2) + 1}`;
    if (!out.write(`${owner}\tdev-${i}\t${p}\t${path.posix.basename(p)}\t\\\\x${i.toString(16).padStart(40, '0')}\n`)) {
      await once(out, 'drain');
    }
  }
  out.end();
  await once(out, 'finish');
  psql(`\\copy asset ("ownerId", "deviceAssetId", "originalPath", "originalFileName", checksum) FROM '${tsv}'`, db);
  rmSync(tsv);

  // The real Duplicati server, its password in a 0600 file.
  const started = execFileSync('bash', [path.join(repo, 'scripts/live-duplicati.sh'), 'start'], {
    encoding: 'utf8',
  });
  const env = Object.fromEntries(
    started
      .replace(/^export /, '')
      .trim()
      .split(' ')
      .map((kv) => kv.split('=') as [string, string]),
  );
  const passwordFile = path.join(base, 'duplicati-password');
  writeFileSync(passwordFile, env.DUPLICATI_LIVE_PASSWORD as string, { mode: 0o600 });
  // Written now so that `clean` stops this server even when the rest of the setup fails.
  const partial = { url: env.DUPLICATI_LIVE_URL, dir: env.DUPLICATI_LIVE_DIR, passwordFile, assets: -1 };
  writeFileSync(stateFile, JSON.stringify(partial));
  writeFileSync(
    cfgFile,
    JSON.stringify({
      workDir: dirs.staging,
      sources: [
        {
          type: 'immich',
          database: {
            connection: { host: '127.0.0.1', port: 5432, user: 'postgres', database: db },
            executor: 'local',
          },
          library: { uploadLocation: dirs.upload, folders: ['library'] },
        },
      ],
      restore: {
        targets: [
          {
            type: 'immich-database',
            connection: { host: '127.0.0.1', port: 5432, user: 'postgres', database: db },
            executor: 'local',
          },
        ],
      },
      duplicati: { url: env.DUPLICATI_LIVE_URL, passwordFile },
    }),
  );
  execFileSync(process.execPath, [CLI, 'prepare', '--config', cfgFile], { stdio: ['ignore', 'inherit', 'inherit'] });

  const { DuplicatiClient } = (await import(
    path.join(repo, 'dist/duplicati/index.js')
  )) as typeof import('../src/duplicati/index.js');
  const dup = new DuplicatiClient({
    baseUrl: env.DUPLICATI_LIVE_URL as string,
    auth: { type: 'password', password: env.DUPLICATI_LIVE_PASSWORD as string },
    timeout: 600_000,
  });
  const job = await dup.jobs.apply({
    name: JOB,
    sources: [`${dirs.staging}/`, `${dirs.upload}/`],
    target: `file://${dirs.offsite}`,
    passphrase: PASSPHRASE,
    schedule: null,
  });
  const t1 = performance.now();
  const result = await dup.backups.runAndWait(job.id as string);
  if (result.result !== 'Success' && result.result !== 'Warning') throw new Error(`backup run: ${result.result}`);
  console.error(
    `Duplicati backup of ${assets} files: ${result.result} in ${((performance.now() - t1) / 1000).toFixed(0)} s`,
  );
  const dbPath = (await dup.backups.get(job.id as string)).dbPath;
  if (!dbPath) throw new Error('the job has no local database path');
  const state: State = {
    url: env.DUPLICATI_LIVE_URL as string,
    dir: env.DUPLICATI_LIVE_DIR as string,
    passwordFile,
    jobId: job.id as string,
    dbPath,
    assets,
  };
  writeFileSync(stateFile, JSON.stringify(state));
}

/** The drill by hand: restore the work folder, check the dump's sum, list the version's library, compare. */
function anchorScript(s: State, listOnly: boolean): string {
  const exe = `mono '${DIST}/Duplicati.CommandLine.exe'`;
  const common = `'file://${dirs.offsite}' --passphrase='${PASSPHRASE}' --dbpath='${s.dbPath}' --no-local-blocks=false`;
  const lib = `${dirs.upload}/library/`;
  // The version's files straight from the job database Duplicati keeps (its `File` view): the
  // fastest listing there is. `Duplicati.CommandLine.exe find` of the same folder took over
  // 2 minutes of CPU at 100 k files here (see cliFind=1).
  const list = cliFind
    ? `${exe} find ${common} '${lib}*' --full-result | grep '^ *${dirs.upload}/' | sed -E 's/^ +//; s/ \\([^()]*\\)$//; s/ +$//' | grep -v '/$'`
    : `sqlite3 -readonly '${s.dbPath}' "SELECT f.Path FROM FilesetEntry e JOIN File f ON f.ID = e.FileID WHERE e.FilesetID = (SELECT max(ID) FROM Fileset) AND f.BlocksetID >= 0 AND f.Path LIKE '${lib}%'"`;
  if (listOnly) return `${list} | wc -l`;
  return [
    'set -e',
    `rm -rf '${dirs.anchor}' && mkdir -p '${dirs.anchor}'`,
    `${exe} restore ${common} '${dirs.staging}/*' --restore-path='${dirs.anchor}' >/dev/null`,
    `dump=$(find '${dirs.anchor}' -name '*.sql.gz' | head -1)`,
    `(cd "$(dirname "$dump")" && sha256sum "$(basename "$dump")" >/dev/null)`,
    `${list} | sort > '${dirs.anchor}/listed'`,
    // The COPY block of the asset table: originalPath is the 4th column of the dump's column list.
    `zcat "$dump" | awk -F'\\t' '/^COPY public.asset \\(/ { n = split($0, h, ", "); for (i = 1; i <= n; i++) if (h[i] ~ /originalPath/) c = i; on = 1; next } on && /^\\\\\\.$/ { on = 0 } on { print $c }' | sed 's#^/data/#${dirs.upload}/#' | sort > '${dirs.anchor}/referenced'`,
    `missing=$(comm -23 '${dirs.anchor}/referenced' '${dirs.anchor}/listed' | wc -l)`,
    `echo "referenced $(wc -l < '${dirs.anchor}/referenced') listed $(wc -l < '${dirs.anchor}/listed') missing $missing"`,
  ].join('\n');
}

async function measureDrill(): Promise<void> {
  const s = JSON.parse(readFileSync(stateFile, 'utf8')) as State;
  const sides = {
    ours: [
      process.execPath,
      CLI,
      'drill',
      '--config',
      cfgFile,
      '--job',
      JOB,
      '--no-load',
      '--json',
      '--scratch',
      dirs.scratch,
      '--evidence',
      dirs.evidence,
    ],
    byHand: ['bash', '-c', anchorScript(s, false)],
    listing: ['bash', '-c', anchorScript(s, true)],
  } as const;
  const got: Record<keyof typeof sides, Measured[]> = { ours: [], byHand: [], listing: [] };
  const checkMs: number[] = [];
  const order = Object.keys(sides) as (keyof typeof sides)[];
  // One unmeasured round of the listing warms the job database's pages for both.
  await measure(sides.listing);
  for (let i = 0; i < reps; i++) {
    for (let k = 0; k < order.length; k++) {
      const name = order[(i + k) % order.length] as keyof typeof sides;
      const m = await measure(sides[name]);
      got[name].push(m);
      if (name === 'ours') {
        const d = JSON.parse(m.stdout) as {
          verdict: string;
          consistency: { name: string; status: string; durationMs: number; figures?: Record<string, number> }[];
        };
        const c = d.consistency.find((x) => x.name === 'immich-library-consistency');
        if (d.verdict !== 'pass' || c?.status !== 'pass' || c.figures?.checked !== assets) {
          throw new Error(`drill did not pass with ${assets} checked: ${JSON.stringify(d.consistency)}`);
        }
        checkMs.push(c.durationMs);
      } else if (name === 'byHand' && !m.stdout.includes(`referenced ${assets} listed ${assets} missing 0`)) {
        throw new Error(`the drill by hand disagrees: ${m.stdout.trim()}`);
      } else if (name === 'listing' && Number(m.stdout.trim()) !== assets) {
        throw new Error(`the listing anchor found ${m.stdout.trim()} files, expected ${assets}`);
      }
    }
    console.error(
      `rep ${i + 1}: drill ${(got.ours[i]!.wallMs / 1000).toFixed(2)} s (check ${checkMs[i]} ms), by hand ${(got.byHand[i]!.wallMs / 1000).toFixed(2)} s, listing ${(got.listing[i]!.wallMs / 1000).toFixed(2)} s (load ${loadNow()})`,
    );
  }
  const fig = (ms: readonly Measured[]) =>
    `${(median(ms.map((m) => m.wallMs)) / 1000).toFixed(2)} s (${median(ms.map((m) => m.cores)).toFixed(2)} cores, peak ${Math.round(Math.max(...ms.map((m) => m.maxRssKb)) / 1024)} MiB)`;
  const ratio = median(got.ours.map((m) => m.wallMs)) / median(got.byHand.map((m) => m.wallMs));
  const perRep = got.ours.map((m, i) => (m.wallMs / got.byHand[i]!.wallMs).toFixed(2)).join(' ');
  console.log(
    `drill + Immich library check, ${assets.toLocaleString('en')} assets vs real Duplicati 2.0.7.3: ours ${fig(got.ours)}, of which the check ${median(checkMs)} ms, vs the drill by hand (Duplicati.CommandLine restore, sha256sum, ${cliFind ? 'Duplicati.CommandLine find' : 'sqlite3 on the job database'}, zcat|awk, sort, comm) ${fig(got.byHand)} = ${ratio.toFixed(2)}× (per rep ${perRep}) goal ≤ 1.50×: ${ratio <= 1.5 ? 'met' : 'MISSED'}; the version listing alone (${cliFind ? 'Duplicati.CommandLine find' : 'sqlite3 on the job database'}) ${fig(got.listing)}`,
  );
}

async function clean(): Promise<void> {
  if (existsSync(stateFile)) {
    const s = JSON.parse(readFileSync(stateFile, 'utf8')) as State;
    execFileSync('bash', [path.join(repo, 'scripts/live-duplicati.sh'), 'stop', s.dir], { stdio: 'ignore' });
    if (s.assets > 0) psql(`DROP DATABASE IF EXISTS scale_immich_${s.assets}`);
  }
  psql(`DROP DATABASE IF EXISTS ${db}`);
  rmSync(base, { recursive: true, force: true });
}

console.log(`uptime: ${loadNow()} (load average); 2-core host shared with other work`);
if (run.has('setup')) {
  try {
    await setup();
  } catch (e) {
    await clean().catch(() => {});
    throw e;
  }
}
if (run.has('measure')) await measureDrill();
if (run.has('clean')) await clean();
console.log(`load after: ${loadNow()}`);
