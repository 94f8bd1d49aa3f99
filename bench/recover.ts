/**
 * Benchmark: disaster recovery of a seed-shaped server on a new host, the WHOLE built CLI
 * (`node dist/cli/main.js recover`, a child process: node start, direct restore through a fresh
 * real Duplicati 2.0.7.3 server, checksums, preflight, the Immich database through its target, the
 * Jellyfin database through its target, the folders, path rewrite, app checks, the job
 * re-created) against the manual procedure in shell in the same run: `mono
 * Duplicati.CommandLine.exe restore` of the whole version (no local database) + `gunzip | psql`
 * of the Immich dump + `sqlite3 .restore` of the Jellyfin snapshot. Interleaved reps, medians,
 * CPU (cores busy) and peak RSS beside each figure (bench/lib/proc.ts). Goal ≤ 1.2×.
 *
 *   npm run build
 *   npx tsx bench/recover.ts generate DIR [dbMB=100] [photos=1000] [photoKB=100] [jellyfinMB=50]   # under /work/bin/heavy
 *   npx tsx bench/recover.ts measure DIR [reps=3]                                                 # under /work/bin/bench-excl
 *   npx tsx bench/recover.ts clean DIR
 *
 * The seed's shape is `generate DIR 1024 10000 250 500` (1 GB Immich database, 10 k photos,
 * Jellyfin 500 MB). Needs the Mono build at $HOME/.cache/duplicati-kit/duplicati-2.0.7.3/dist,
 * PostgreSQL at 127.0.0.1:5432, sqlite3. Not part of `npm test`.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { DuplicatiClient } from '../src/duplicati/index.js';
import { ImmichDatabaseSource } from '../src/apps/immich/database-source.js';
import { ImmichLibrarySource } from '../src/apps/immich/library-source.js';
import { JellyfinDatabaseSource } from '../src/apps/jellyfin/database-source.js';
import { JellyfinFilesSource } from '../src/apps/jellyfin/files.js';
import { DirectorySource } from '../src/engines/directory/source.js';
import { readRecoveryJobs, writeRecoveryKit } from '../src/ops/recovery/kit.js';
import { createBackupPlan } from '../src/plan/backup-plan.js';
import { realDuplicatiDist, startRealDuplicati } from '../test/helpers/real-duplicati.js';
import { compare, describe, loadNow } from './lib/proc.js';

const [mode, dirArg] = process.argv.slice(2);
if (!mode || !dirArg) throw new Error('usage: recover.ts generate|measure|clean DIR …');
const dir = path.resolve(dirArg);
const num = (i: number, d: number) => Number(process.argv[4 + i] ?? d);
const dist = realDuplicatiDist();
if (!dist) throw new Error('real Duplicati 2.0.7.3 not installed');
const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' };
const psql = (db: string, sql: string) =>
  execFileSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', db, '-qAt', '-v', 'ON_ERROR_STOP=1', '-c', sql])
    .toString()
    .trim();
const PW = 'bench-pw';
const PASSPHRASE = 'bench passphrase';
const IMMICH_VERSION = 'v2.5.6';
const PORT_A = 18366;
const PORT_B = 18367;
interface Shape {
  dbMB: number;
  photos: number;
  photoKB: number;
  jellyfinMB: number;
  oldDb: string;
  oldRoot: string;
  target: string;
}
const shapeFile = path.join(dir, 'shape.json');

async function generate(): Promise<void> {
  const shape: Shape = {
    dbMB: num(0, 100),
    photos: num(1, 1000),
    photoKB: num(2, 100),
    jellyfinMB: num(3, 50),
    oldDb: `bench_rec_old_${process.pid}`,
    oldRoot: path.join(dir, 'old'),
    target: `file://${path.join(dir, 'offsite')}`,
  };
  mkdirSync(path.join(dir, 'offsite'), { recursive: true });
  const immich = path.join(shape.oldRoot, 'immich');
  // Immich (bare-metal paths), its size mostly in a search-like table of random hex.
  psql('postgres', `CREATE DATABASE ${shape.oldDb}`);
  const users = 3;
  psql(
    shape.oldDb,
    `CREATE TABLE "user" (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), email text NOT NULL, "profileImagePath" text NOT NULL DEFAULT '');
     CREATE TABLE asset (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "ownerId" uuid NOT NULL REFERENCES "user"(id),
       "originalPath" text NOT NULL, "originalFileName" text NOT NULL, status text NOT NULL DEFAULT 'active', "encodedVideoPath" text);
     CREATE TABLE asset_file (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "assetId" uuid REFERENCES asset(id), path text NOT NULL);
     CREATE TABLE asset_exif ("assetId" uuid PRIMARY KEY REFERENCES asset(id), city text);
     CREATE TABLE album (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "albumName" text);
     CREATE TABLE album_asset ("albumId" uuid, "assetId" uuid);
     CREATE TABLE person (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "thumbnailPath" text NOT NULL DEFAULT '');
     CREATE TABLE asset_face (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "assetId" uuid, "personId" uuid);
     CREATE TABLE smart_search ("assetId" uuid, chunk int, embedding text);
     CREATE TABLE version_history (id serial PRIMARY KEY, "createdAt" timestamptz NOT NULL DEFAULT now(), version text NOT NULL);
     CREATE TABLE system_metadata (key text PRIMARY KEY, value jsonb NOT NULL);
     INSERT INTO version_history (version) VALUES ('${IMMICH_VERSION}');
     INSERT INTO system_metadata VALUES ('MediaLocation', '{"location": "${immich}"}');
     INSERT INTO "user" (email, "profileImagePath") SELECT 'u' || g || '@x.test', '${immich}/profile/u' || g || '.jpg' FROM generate_series(1, ${users}) g;
     INSERT INTO asset ("ownerId", "originalPath", "originalFileName")
       SELECT u.id, '${immich}/upload/' || u.email || '/IMG_' || g || '.jpg', 'IMG_' || g || '.jpg'
         FROM generate_series(1, ${shape.photos}) g JOIN LATERAL (SELECT id, email FROM "user" ORDER BY email OFFSET g % ${users} LIMIT 1) u ON true;
     INSERT INTO asset_exif SELECT id, 'Paris' FROM asset;
     INSERT INTO asset_file ("assetId", path) SELECT id, replace("originalPath", '/upload/', '/thumbs/') FROM asset;`,
  );
  // ~200 bytes of random hex per row until the database reaches its size.
  const rows = Math.round((shape.dbMB * 1024 * 1024) / 260);
  psql(
    shape.oldDb,
    `INSERT INTO smart_search SELECT NULL, g, md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text) FROM generate_series(1, ${rows}) g`,
  );
  const paths = psql(shape.oldDb, 'SELECT "originalPath" FROM asset').split('\n');
  for (const p of paths) {
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, randomBytes(shape.photoKB * 1024));
  }
  for (const f of ['library', 'upload', 'profile', 'thumbs', 'encoded-video', 'backups']) {
    mkdirSync(path.join(immich, f), { recursive: true });
    writeFileSync(path.join(immich, f, '.immich'), '1700000000000');
  }
  // Jellyfin 10.11: items pointing at the media folder, its size in item images and activity.
  const jfData = path.join(shape.oldRoot, 'jellyfin', 'data');
  const jfConfig = path.join(shape.oldRoot, 'jellyfin', 'config');
  const media = path.join(shape.oldRoot, 'media', 'movies');
  mkdirSync(path.join(jfData, 'data'), { recursive: true });
  mkdirSync(jfConfig, { recursive: true });
  mkdirSync(media, { recursive: true });
  writeFileSync(path.join(jfConfig, 'system.xml'), '<?xml version="1.0"?>\n<ServerConfiguration />\n');
  mkdirSync(path.join(jfData, 'root', 'default', 'Movies'), { recursive: true });
  writeFileSync(
    path.join(jfData, 'root', 'default', 'Movies', 'options.xml'),
    `<?xml version="1.0"?>\n<LibraryOptions>\n  <PathInfos>\n    <MediaPathInfo>\n      <Path>${media}</Path>\n    </MediaPathInfo>\n  </PathInfos>\n</LibraryOptions>\n`,
  );
  const jf = new Database(path.join(jfData, 'data', 'jellyfin.db'));
  jf.pragma('journal_mode = WAL');
  jf.exec(`
    CREATE TABLE __EFMigrationsHistory (MigrationId TEXT NOT NULL PRIMARY KEY, ProductVersion TEXT NOT NULL);
    INSERT INTO __EFMigrationsHistory VALUES ('20250925203415_ExtendPeopleMapKey', '9.0.9'), ('20250420200000_MigrateLibraryDb', '10.11.0.0');
    CREATE TABLE Users (Id TEXT NOT NULL PRIMARY KEY, Username TEXT NOT NULL, InternalId INTEGER NOT NULL);
    CREATE TABLE ApiKeys (Id INTEGER PRIMARY KEY AUTOINCREMENT, DateCreated TEXT NOT NULL, Name TEXT NOT NULL, AccessToken TEXT NOT NULL);
    CREATE TABLE BaseItems (Id TEXT NOT NULL PRIMARY KEY, Type TEXT NOT NULL, Name TEXT, Path TEXT, Data TEXT,
      IsFolder INTEGER NOT NULL DEFAULT 0, IsVirtualItem INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE UserData (ItemId TEXT NOT NULL, UserId TEXT NOT NULL, CustomDataKey TEXT NOT NULL, Played INTEGER NOT NULL DEFAULT 0,
      PlaybackPositionTicks INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (ItemId, UserId, CustomDataKey));
    CREATE TABLE BaseItemImageInfos (Id TEXT PRIMARY KEY, ItemId TEXT NOT NULL, Path TEXT NOT NULL, Blurhash BLOB);
    INSERT INTO Users VALUES ('A1', 'admin', 1), ('A2', 'kid', 2);
  `);
  const items = Math.max(100, Math.round((shape.jellyfinMB * 1024 * 1024) / 4200));
  const item = jf.prepare("INSERT INTO BaseItems (Id, Type, Name, Path, Data) VALUES (?, 'Movie', ?, ?, ?)");
  const img = jf.prepare('INSERT INTO BaseItemImageInfos VALUES (?, ?, ?, ?)');
  jf.transaction(() => {
    for (let i = 0; i < items; i++) {
      const id = `I${i.toString().padStart(8, '0')}`;
      item.run(id, `Movie ${i}`, `${media}/${i % 20}.mkv`, randomBytes(1000).toString('hex'));
      img.run(`G${i}`, id, `${media}/${i % 20}.jpg`, randomBytes(2000));
    }
  })();
  jf.close();
  for (let i = 0; i < 20; i++) writeFileSync(path.join(media, `${i}.mkv`), randomBytes(64 * 1024));

  const a = await startRealDuplicati(dist as string, PORT_A, path.join(dir, 'server-a'), PW);
  try {
    const dupA = new DuplicatiClient({ baseUrl: a.url, auth: { type: 'password', password: PW }, timeout: 600_000 });
    const workDir = path.join(shape.oldRoot, 'staging');
    const loc = { dataDir: jfData, configDir: jfConfig, logDir: path.join(shape.oldRoot, 'jellyfin', 'log') };
    const plan = createBackupPlan({
      workDir,
      sources: [
        new ImmichDatabaseSource({
          name: 'immich-db',
          connection: { ...PG, database: shape.oldDb },
          executor: 'local',
        }),
        new ImmichLibrarySource({ name: 'immich-library', uploadLocation: immich }),
        new JellyfinDatabaseSource({ name: 'jellyfin-db', ...loc }),
        new JellyfinFilesSource({ name: 'jellyfin-files', ...loc }),
        new DirectorySource({ name: 'media', paths: [path.join(shape.oldRoot, 'media')] }),
      ],
    });
    const prepared = await plan.prepare();
    if (!prepared.ok) throw new Error(`prepare failed: ${JSON.stringify(prepared.results)}`);
    const job = await dupA.jobs.apply({
      name: 'Home server',
      sources: [`${workDir}/`, ...prepared.includePaths],
      filters: prepared.excludePatterns.map((expression) => ({ include: false, expression })),
      target: shape.target,
      passphrase: PASSPHRASE,
      schedule: { time: '02:00', repeat: '1D' },
      retention: { keepVersions: 14 },
    });
    await writeRecoveryKit({ workDir, config: { workDir }, jobs: (await readRecoveryJobs(dupA)).jobs });
    const run = await dupA.backups.runAndWait(job.id as string, { totalTimeout: 7_200_000 });
    if (run.result !== 'Success' && run.result !== 'Warning') throw new Error(`backup ${run.result}`);
    await plan.cleanup();
  } finally {
    await a.stop();
  }
  writeFileSync(shapeFile, JSON.stringify(shape, null, 2));
  console.log(JSON.stringify({ generated: shape, du: execFileSync('du', ['-sh', dir]).toString().trim() }));
}

async function measureAll(): Promise<void> {
  const shape = JSON.parse(readFileSync(shapeFile, 'utf8')) as Shape;
  const reps = num(0, 3);
  const repo = path.resolve(import.meta.dirname, '..');
  const cli = path.join(repo, 'dist', 'cli', 'main.js');
  if (!existsSync(cli)) throw new Error('npm run build first');
  const newRoot = path.join(dir, 'new');
  const manualRoot = path.join(dir, 'manual');
  const newDb = `bench_rec_new_${process.pid}`;
  const manualDb = `bench_rec_man_${process.pid}`;
  const secrets = path.join(dir, 'secrets');
  mkdirSync(secrets, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(secrets, 'url'), `${shape.target}\n`, { mode: 0o600 });
  writeFileSync(path.join(secrets, 'passphrase'), `${PASSPHRASE}\n`, { mode: 0o600 });
  writeFileSync(path.join(secrets, 'ui'), `${PW}\n`, { mode: 0o600 });
  // The new host's config: an .mjs module on the built package, as a user would write it.
  const config = path.join(dir, 'newhost.mjs');
  writeFileSync(
    config,
    `import { ImmichDatabaseTarget } from ${JSON.stringify(path.join(repo, 'dist', 'immich', 'index.js'))};
import { JellyfinDatabaseTarget } from ${JSON.stringify(path.join(repo, 'dist', 'jellyfin', 'index.js'))};
export default {
  workDir: ${JSON.stringify(path.join(newRoot, 'staging'))},
  sources: [{ type: 'directory', name: 'media', paths: [${JSON.stringify(path.join(newRoot, 'media'))}] }],
  restore: { targets: [
    new ImmichDatabaseTarget({ name: 'immich-db', source: 'immich-db', connection: { host: '127.0.0.1', port: 5432, user: 'postgres', database: ${JSON.stringify(newDb)} },
      executor: 'local', immichVersion: ${JSON.stringify(IMMICH_VERSION)}, keepSafetyCopy: false, library: { uploadLocation: ${JSON.stringify(path.join(newRoot, 'immich'))} } }),
    new JellyfinDatabaseTarget({ name: 'jellyfin-db', source: 'jellyfin-db', dataDir: ${JSON.stringify(path.join(newRoot, 'jellyfin', 'data'))},
      configDir: ${JSON.stringify(path.join(newRoot, 'jellyfin', 'config'))}, logDir: ${JSON.stringify(path.join(newRoot, 'jellyfin', 'log'))} }),
  ] },
};
`,
  );
  rmSync(path.join(dir, 'server-b'), { recursive: true, force: true });
  const b = await startRealDuplicati(dist as string, PORT_B, path.join(dir, 'server-b'), PW);
  const dupB = new DuplicatiClient({ baseUrl: b.url, auth: { type: 'password', password: PW }, timeout: 600_000 });
  try {
    const dropDb = (d: string) => psql('postgres', `DROP DATABASE IF EXISTS ${d} WITH (FORCE)`);
    const staged = path.join(manualRoot, 'staging');
    const c = await compare(
      `recover ${shape.dbMB} MB Immich db, ${shape.photos} photos × ${shape.photoKB} KB, Jellyfin ${shape.jellyfinMB} MB`,
      {
        argv: [
          'node',
          cli,
          'recover',
          '--target-url-file',
          path.join(secrets, 'url'),
          '--passphrase-file',
          path.join(secrets, 'passphrase'),
          '--work-dir',
          path.join(dir, 'work'),
          '--config',
          config,
          '--map',
          `${shape.oldRoot}=${newRoot}`,
          '--url',
          b.url,
          '--password-file',
          path.join(secrets, 'ui'),
        ],
        before: async () => {
          for (const d of [newRoot, path.join(dir, 'work')]) rmSync(d, { recursive: true, force: true });
          dropDb(newDb);
          for (const j of await dupB.backups.list()) await dupB.backups.delete(j.id);
        },
        after: () => {
          const n = psql(newDb, 'SELECT count(*) FROM asset WHERE "originalPath" LIKE \'' + newRoot + "/%'");
          if (Number(n) !== shape.photos) throw new Error(`recovered ${n} rewritten assets, expected ${shape.photos}`);
        },
      },
      {
        // The manual procedure (PASSPHRASE from the environment, as Duplicati.CommandLine reads it).
        argv: [
          'sh',
          '-c',
          `set -e
mono "${path.join(dist as string, 'Duplicati.CommandLine.exe')}" restore "$URL" "*" --restore-path="${manualRoot}" --no-local-db=true >/dev/null || [ $? -le 2 ]  # 2: finished with warnings
createdb -h 127.0.0.1 -U postgres ${manualDb}
gunzip -c "${staged}"/immich-db/*.sql.gz | psql -h 127.0.0.1 -U postgres -d ${manualDb} -q -v ON_ERROR_STOP=1 >/dev/null
mkdir -p "${path.join(dir, 'manual-jf')}"
sqlite3 "${path.join(dir, 'manual-jf', 'jellyfin.db')}" ".restore '$(ls "${staged}"/jellyfin-db/*jellyfin.db* | head -1)'"`,
        ],
        env: { ...process.env, URL: shape.target, PASSPHRASE },
        before: () => {
          for (const d of [manualRoot, path.join(dir, 'manual-jf')]) rmSync(d, { recursive: true, force: true });
          dropDb(manualDb);
        },
      },
      reps,
    );
    console.log(describe(c, 1.2));
    console.log(
      JSON.stringify({ load: loadNow(), ours: c.ours.map((m) => m.wallMs), anchor: c.anchor.map((m) => m.wallMs) }),
    );
    const report = JSON.parse(readFileSync(path.join(dir, 'work', 'recover-report.json'), 'utf8')) as {
      steps: { step: string; durationMs: number }[];
    };
    console.log(
      `last rep's steps: ${report.steps.map((s) => `${s.step} ${(s.durationMs / 1000).toFixed(1)} s`).join(', ')}`,
    );
    dropDb(newDb);
    dropDb(manualDb);
  } finally {
    await b.stop();
  }
}

if (mode === 'generate') await generate();
else if (mode === 'measure') await measureAll();
else if (mode === 'clean') {
  if (existsSync(shapeFile)) {
    const shape = JSON.parse(readFileSync(shapeFile, 'utf8')) as Shape;
    psql('postgres', `DROP DATABASE IF EXISTS ${shape.oldDb} WITH (FORCE)`);
  }
  rmSync(dir, { recursive: true, force: true });
} else throw new Error(`unknown mode ${mode}`);
