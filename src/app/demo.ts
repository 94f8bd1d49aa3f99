/**
 * The demo: the whole job on an embedded home server, with no external service. It builds a small
 * server tree (a SQLite database held open by a live writer in WAL mode, a config folder, a photo
 * folder), backs it up with a plan into a local copy folder (standing in for Duplicati's upload),
 * restores it into a scratch folder, and verifies everything. It ends with a real restore drill:
 * a {@link FakeDuplicatiServer} started in-process on loopback backs up the staged plan and the
 * photos, and `restoreDrill` restores that version, verifies it, checks that every photo the
 * database references is in the same version, and writes its evidence.
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { throwIfAborted } from '../core/abort.js';
import { hashFile } from '../core/artifact-writer.js';
import { type Logger, silentLogger } from '../core/logger.js';
import { DuplicatiClient } from '../duplicati/client.js';
import { compileFilters } from '../core/filters.js';
import { createBackupPlan, type PrepareResult } from '../plan/backup-plan.js';
import type { RestoreReport } from '../contracts/restore-report.js';
import { createRestorePlan } from '../plan/restore-plan.js';
import { type DrillResult, restoreDrill } from '../ops/drill.js';
import type { DrillCheck } from '../contracts/drill.js';
import { buildSource, buildTarget, treeWalker } from './registry.js';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Folder to work in (created; must be empty). @default a new temp folder */
  readonly dir?: string;
  /** Keep the folder afterwards for inspection. @default false */
  readonly keep?: boolean;
  /** Photos to generate. @default 48 */
  readonly photos?: number;
  /** Where the closing drill writes its evidence. @default `drill-evidence` in the demo folder */
  readonly evidenceDir?: string;
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
  /** Called as each step finishes. */
  readonly onStep?: (step: DemoStep) => void;
}

/** One step of the demo and what it showed. */
export interface DemoStep {
  readonly name: string;
  readonly ok: boolean;
  readonly durationMs: number;
  readonly detail: string;
}

/** What {@link runDemo} returns. */
export interface DemoReport {
  readonly ok: boolean;
  readonly dir: string;
  readonly kept: boolean;
  readonly steps: readonly DemoStep[];
  readonly restore: RestoreReport;
  /** The closing restore drill against the in-process Duplicati stand-in. */
  readonly drill: DrillResult;
}

type Db = {
  prepare(sql: string): { run(...a: unknown[]): unknown; get(...a: unknown[]): unknown };
  exec(sql: string): void;
  pragma(sql: string, o?: { simple: boolean }): unknown;
  close(): void;
};

async function openDb(file: string, readonly = false): Promise<Db> {
  const { default: Database } = await import('better-sqlite3');
  return new Database(file, { readonly, fileMustExist: readonly }) as unknown as Db;
}

async function treeDigest(root: string, exclude: readonly string[] = []): Promise<{ files: number; digest: string }> {
  const entries: string[] = [];
  const filter = compileFilters(exclude);
  const walkTree = await treeWalker();
  await walkTree(root, {
    filter,
    onEntry: async (e) => {
      if (e.type === 'file') entries.push(`${e.path}\0${(await hashFile(path.join(root, e.path))).sha256}`);
      else if (e.type === 'symlink') entries.push(`${e.path}\0->${await fsp.readlink(path.join(root, e.path))}`);
    },
  });
  entries.sort();
  return { files: entries.length, digest: createHash('sha256').update(entries.join('\n')).digest('hex') };
}

/**
 * A consistency check in the spirit of Immich's: every photo the restored app database
 * references must be a file of the same Duplicati version.
 */
function photoReferencesCheck(photosDir: string): DrillCheck {
  return {
    name: 'photo-references',
    async run(ctx) {
      const art = ctx.manifest.sources.find((s) => s.name === 'app-db')?.artifacts[0];
      if (!art) return { status: 'skipped', detail: 'no app database in this version' };
      const listed = new Set(await ctx.listVersionFiles(photosDir));
      const db = await openDb(path.join(ctx.from, ...art.path.split('/')), true);
      const missing: string[] = [];
      let checked = 0;
      try {
        const rows = db.prepare('SELECT path FROM photos ORDER BY id') as unknown as {
          iterate(): IterableIterator<{ path: string }>;
        };
        for (const r of rows.iterate()) {
          checked++;
          if (!listed.has(path.join(photosDir, r.path))) missing.push(r.path);
        }
      } finally {
        db.close();
      }
      return {
        status: missing.length ? 'fail' : 'pass',
        detail: `${checked} photo(s) the database references checked against ${listed.size} file(s) of version ${ctx.version}: ${missing.length} missing${missing.length ? `: ${missing.slice(0, 10).join(', ')}` : ''}`,
        figures: { checked, missing: missing.length, listedFiles: listed.size },
        ...(missing.length ? { samples: missing.slice(0, 10) } : {}),
      };
    },
  };
}

/** One demo run: where everything lives, and the steps so far. */
interface DemoRun {
  readonly options: DemoOptions;
  readonly signal: AbortSignal | undefined;
  readonly logger: Logger;
  readonly root: string;
  readonly steps: DemoStep[];
  /** The home server: its app database, config folder and photo library. */
  readonly live: string;
  readonly dbFile: string;
  readonly configDir: string;
  readonly photosDir: string;
  readonly photoFilters: readonly string[];
  /** The backup plan's staging folder. */
  readonly workDir: string;
  /** The local copy folder standing in for Duplicati's upload. */
  readonly copy: string;
  /** Where the restore plan restores to. */
  readonly scratch: string;
  readonly restored: string;
  /** The app's live writer, open until the demo ends. */
  writer: Db | undefined;
}

/** What a step returns: its value, the line it shows, and whether it passed (default true). */
type StepOutcome<T> = [T, string, boolean?];

/**
 * Run the demo. Resolves with a report; `ok` is false when any verification failed.
 *
 * @example
 * ```ts
 * const report = await runDemo({ onStep: (s) => console.error(s.name, s.detail) });
 * ```
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoReport> {
  const root = options.dir
    ? path.resolve(options.dir)
    : await fsp.mkdtemp(path.join(os.tmpdir(), 'duplicati-kit-demo-'));
  await fsp.mkdir(root, { recursive: true });
  if ((await fsp.readdir(root)).length > 0) throw new Error(`demo folder ${root} is not empty`);
  const live = path.join(root, 'server');
  const scratch = path.join(root, 'restore');
  const run: DemoRun = {
    options,
    signal: options.signal,
    logger: options.logger ?? silentLogger,
    root,
    steps: [],
    live,
    dbFile: path.join(live, 'app', 'app.db'),
    configDir: path.join(live, 'config'),
    photosDir: path.join(live, 'photos'),
    photoFilters: ['*/.thumbs/'],
    workDir: path.join(root, 'staging'),
    copy: path.join(root, 'backup-copy'),
    scratch,
    restored: path.join(scratch, 'server'),
    writer: undefined,
  };
  try {
    await step(run, 'create home server', () => createHomeServer(run));
    const prepared = await step(run, 'backup plan (prepare)', () => backupWithPlan(run));
    await step(run, 'why snapshots matter', () => naiveCopy(run, prepared));
    await step(run, 'copy to backup (stands in for Duplicati)', () => copyToBackup(run, prepared));
    const report = await step(run, 'restore plan (verify, restore)', () => restoreWithPlan(run));
    await step(run, 'compare restored with original', () => compareRestored(run));
    const drill = await step(run, 'restore drill (Duplicati on loopback)', () => drillOnLoopback(run, prepared));
    const ok = report.ok && drill.ok && run.steps.every((s) => s.ok);
    return { ok, dir: root, kept: options.keep === true, steps: run.steps, restore: report, drill };
  } finally {
    run.writer?.close();
    if (!options.keep) await fsp.rm(root, { recursive: true, force: true });
  }
}

/** Run one step, time it, record it and tell `onStep`. */
async function step<T>(run: DemoRun, name: string, fn: () => Promise<StepOutcome<T>>): Promise<T> {
  throwIfAborted(run.signal);
  const t0 = performance.now();
  const [value, detail, ok = true] = await fn();
  const s = { name, ok, durationMs: performance.now() - t0, detail };
  run.steps.push(s);
  run.options.onStep?.(s);
  return value;
}

/** 1. A home server: an app database with a live writer, its config, a photo library. */
async function createHomeServer(run: DemoRun): Promise<StepOutcome<undefined>> {
  const { dbFile, configDir } = run;
  await fsp.mkdir(path.dirname(dbFile), { recursive: true });
  const writer = await openDb(dbFile);
  run.writer = writer;
  writer.pragma('journal_mode = WAL');
  // Keep committed rows in the -wal file: a plain copy of app.db would miss them.
  writer.pragma('wal_autocheckpoint = 0');
  writer.exec(
    'CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL); CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT NOT NULL, taken_at TEXT, bytes INTEGER);',
  );
  const addUser = writer.prepare('INSERT INTO users (name) VALUES (?)');
  for (const n of ['alice', 'bob', 'carol', 'dave']) addUser.run(n);
  await fsp.mkdir(path.join(configDir, 'sites'), { recursive: true });
  await fsp.writeFile(path.join(configDir, 'app.yaml'), 'listen: 127.0.0.1:8080\nlibrary: /srv/photos\n');
  await fsp.writeFile(
    path.join(configDir, 'sites', 'photos.conf'),
    'server { listen 443 ssl; server_name photos.home; }\n',
  );
  await fsp.writeFile(path.join(configDir, 'secret.env'), `API_KEY=${randomBytes(12).toString('hex')}\n`, {
    mode: 0o600,
  });
  await fsp.symlink('app.yaml', path.join(configDir, 'current.yaml'));
  const count = run.options.photos ?? 48;
  const bytes = await addPhotos(run, writer, count);
  return [undefined, `SQLite (WAL, live writer), 4 config files, ${count} photos (${bytes} bytes) in ${run.live}`];
}

/** Write `count` photos (with thumbnails the backup leaves out) and their rows; their bytes. */
async function addPhotos(run: DemoRun, writer: Db, count: number): Promise<number> {
  const { photosDir } = run;
  const addPhoto = writer.prepare('INSERT INTO photos (path, taken_at, bytes) VALUES (?, ?, ?)');
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const year = 2023 + (i % 3);
    const rel = path.join(String(year), `IMG_${String(i).padStart(4, '0')}.jpg`);
    const size = 2048 + ((i * 7919) % 60_000);
    await fsp.mkdir(path.join(photosDir, String(year), '.thumbs'), { recursive: true });
    await fsp.writeFile(path.join(photosDir, rel), randomBytes(size));
    await fsp.writeFile(path.join(photosDir, String(year), '.thumbs', `IMG_${i}.webp`), randomBytes(256));
    addPhoto.run(rel, `${year}-06-${String((i % 28) + 1).padStart(2, '0')}`, size);
    bytes += size;
  }
  return bytes;
}

/** 2. Back up with a plan while the writer keeps writing. */
async function backupWithPlan(run: DemoRun): Promise<StepOutcome<PrepareResult>> {
  const { signal } = run;
  const sqlite = { type: 'sqlite', name: 'app-db', path: run.dbFile, counts: ['users', 'photos'] };
  const archive = { type: 'archive', name: 'config', root: run.configDir, gzip: true };
  const photos = { type: 'directory', name: 'photos', paths: [run.photosDir], exclude: run.photoFilters };
  const plan = createBackupPlan({
    workDir: run.workDir,
    logger: run.logger,
    sources: [await buildSource(sqlite), await buildSource(archive), await buildSource(photos)],
  });
  const addUser = run.writer?.prepare('INSERT INTO users (name) VALUES (?)');
  let n = 0;
  const ticker = setInterval(() => addUser?.run(`late-${n++}`), 1);
  try {
    const out = await plan.prepare(signal ? { signal } : {});
    const artifacts = out.results.flatMap((r) => r.artifacts);
    return [
      out,
      `${artifacts.length} artifacts (${artifacts.map((a) => a.path).join(', ')}), manifest written, ${n} rows written during the backup`,
    ];
  } finally {
    clearInterval(ticker);
  }
}

/** A plain copy of the database file alone, as many tools take it, misses the WAL. */
async function naiveCopy(run: DemoRun, prepared: PrepareResult): Promise<StepOutcome<undefined>> {
  const naive = path.join(run.root, 'naive-copy.db');
  await fsp.copyFile(run.dbFile, naive);
  const db = await openDb(naive, true);
  let rows: string;
  try {
    rows = `${(db.prepare('SELECT count(*) AS n FROM photos').get() as { n: number }).n} photo rows`;
  } catch {
    rows = 'no photos table at all (even the schema is still in the WAL)';
  } finally {
    db.close();
  }
  const entry = prepared.manifest?.sources.find((s) => s.name === 'app-db');
  const counts = (entry?.metadata.counts ?? {}) as Record<string, number>;
  return [
    undefined,
    `copying app.db without its -wal file gives ${rows}; the online snapshot has ${counts.photos} photo rows and ${counts.users} users`,
  ];
}

/** 3. "Duplicati": copy the work folder and the live photo folder into a local copy folder. */
async function copyToBackup(run: DemoRun, prepared: PrepareResult): Promise<StepOutcome<undefined>> {
  const { copy } = run;
  await fsp.cp(run.workDir, path.join(copy, 'staging'), { recursive: true, verbatimSymlinks: true });
  const excl = compileFilters(prepared.excludePatterns);
  for (const p of prepared.includePaths) {
    await fsp.cp(p, path.join(copy, 'files', p), {
      recursive: true,
      verbatimSymlinks: true,
      filter: async (src) => {
        const st = await fsp.lstat(src);
        return !excl.excludes(st.isDirectory() ? `${src}/` : src);
      },
    });
  }
  const walkTree = await treeWalker();
  const stats = await walkTree(copy);
  return [undefined, `${stats.files} files, ${stats.bytes} bytes in ${copy}`];
}

/** 4. Restore into a scratch folder, through the restore plan. */
async function restoreWithPlan(run: DemoRun): Promise<StepOutcome<RestoreReport>> {
  const { copy, scratch, restored, signal } = run;
  await fsp.cp(path.join(copy, 'staging'), path.join(scratch, 'staging'), {
    recursive: true,
    verbatimSymlinks: true,
  });
  await fsp.cp(path.join(copy, 'files'), path.join(scratch, 'files'), { recursive: true, verbatimSymlinks: true });
  await fsp.mkdir(path.join(restored, 'app'), { recursive: true });
  const sqlite = { type: 'sqlite', source: 'app-db', path: path.join(restored, 'app', 'app.db') };
  const archive = { type: 'archive', source: 'config', dest: path.join(restored, 'config') };
  const photos = { type: 'directory', source: 'photos', restoredRoot: path.join(scratch, 'files') };
  const plan = createRestorePlan({
    logger: run.logger,
    requireAllEntries: true,
    targets: [await buildTarget(sqlite), await buildTarget(archive), await buildTarget(photos)],
  });
  const r = await plan.run({ from: path.join(scratch, 'staging'), reject: false, ...(signal ? { signal } : {}) });
  const checks = r.entries.flatMap((e) => e.verification?.checks ?? []);
  return [
    r,
    `${r.checksums.filter((c) => c.ok).length}/${r.checksums.length} checksums ok; ${checks.filter((c) => c.ok).length}/${checks.length} target checks ok; ${r.entries.map((e) => `${e.name}: ${e.status}`).join(', ')}`,
    r.ok,
  ];
}

/** 5. Compare what came back with what was there. */
async function compareRestored(run: DemoRun): Promise<StepOutcome<undefined>> {
  const { configDir, photosDir, restored, scratch } = run;
  const problems: string[] = [];
  const [a, b] = await Promise.all([treeDigest(configDir), treeDigest(path.join(restored, 'config'))]);
  if (a.digest !== b.digest) problems.push('config tree differs');
  const [p, q] = await Promise.all([
    treeDigest(photosDir, run.photoFilters),
    treeDigest(path.join(scratch, 'files', photosDir)),
  ]);
  if (p.digest !== q.digest) problems.push('photos differ');
  const db = await openDb(path.join(restored, 'app', 'app.db'), true);
  const integrity = db.pragma('integrity_check', { simple: true });
  const photos = (db.prepare('SELECT count(*) AS n FROM photos').get() as { n: number }).n;
  db.close();
  if (integrity !== 'ok') problems.push(`restored database integrity: ${String(integrity)}`);
  if (problems.length) return [undefined, problems.join('; '), false];
  return [
    undefined,
    `config ${a.files} files identical, photos ${p.files} files identical, database integrity ok with ${photos} photo rows`,
  ];
}

/**
 * 6. A real restore drill: Duplicati (the in-process stand-in, loopback only) backs up the
 * staged plan and the photos; the drill restores that version and proves it.
 */
async function drillOnLoopback(run: DemoRun, prepared: PrepareResult): Promise<StepOutcome<DrillResult>> {
  const { root, logger, signal } = run;
  const { FakeDuplicatiServer } = await import('../testing/fake-duplicati/server.js');
  const password = randomBytes(18).toString('base64url');
  const server = await FakeDuplicatiServer.start({
    generation: '2.1',
    password,
    host: '127.0.0.1',
    dataDir: path.join(root, 'duplicati'),
    logger,
  });
  try {
    const client = new DuplicatiClient({ baseUrl: server.url, auth: { type: 'password', password }, logger });
    const job = 'Demo home server';
    const id = server.createBackup({
      name: job,
      sources: [`${run.workDir}/`, ...prepared.includePaths],
      exclude: prepared.excludePatterns,
    });
    const backup = await client.backups.runAndWait(id, signal ? { signal } : {});
    if (backup.result !== 'Success') throw new Error(`the Duplicati run ended with ${backup.result}`);
    const d = await drillJob(run, client, job);
    return [d, drillLine(run, d), d.ok];
  } finally {
    await server.close();
  }
}

/** The drill of the demo's job: scratch targets, and the photo-references consistency check. */
async function drillJob(run: DemoRun, client: DuplicatiClient, job: string): Promise<DrillResult> {
  const { options, root, signal } = run;
  const drillScratch = path.join(root, 'drill-scratch');
  const sqlite = {
    type: 'sqlite',
    source: 'app-db',
    path: path.join(drillScratch, 'live', 'app.db'),
    scratch: true,
    scratchDir: drillScratch,
  };
  const archive = { type: 'archive', source: 'config', dest: path.join(drillScratch, 'config') };
  return restoreDrill({
    client,
    job,
    scratchDir: drillScratch,
    scratchRestore: true,
    targets: [await buildTarget(sqlite), await buildTarget(archive)],
    checks: [photoReferencesCheck(run.photosDir)],
    evidenceDir: options.evidenceDir ? path.resolve(options.evidenceDir) : path.join(root, 'drill-evidence'),
    logger: run.logger,
    ...(signal ? { signal } : {}),
  });
}

/** The drill step's line: verdict, what was restored and checked, and where the evidence went. */
function drillLine(run: DemoRun, d: DrillResult): string {
  const { options } = run;
  const where = d.files
    ? `evidence: ${d.files.markdown}${!options.keep && !options.evidenceDir ? ' (removed with the demo folder; use --keep or --evidence DIR)' : ''}`
    : 'no evidence written';
  const entries = d.entries.map((e) => `${e.name}: ${e.status}`).join(', ');
  const checks = d.consistency.map((c) => `${c.name}: ${c.detail}`).join('; ');
  return `${d.verdict.toUpperCase()}: version ${d.version} restored by Duplicati (${d.restoredFiles} files), ${d.checksums.filter((c) => c.ok).length}/${d.checksums.length} checksums ok; ${entries}; ${checks}${d.errors.length ? `; problems: ${d.errors.join('; ')}` : ''}; ${where}`;
}
