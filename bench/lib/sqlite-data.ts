/**
 * Test databases for the SQLite / Jellyfin benchmarks, in two shapes:
 *
 * - `jellyfin`: Jellyfin's `library.db` layout (TypedBaseItems with short text columns and several
 *   indexes, UserDatas, ItemValues: many small rows), plus a small `jellyfin.db` with Users/ApiKeys;
 * - `blob`: few columns, large rows (3–12 KiB blobs), one index.
 *
 * Both are built in WAL mode, as the applications run them, and checkpointed.
 *
 *   npx tsx bench/lib/sqlite-data.ts <shape> <sizeMB> <file>
 */
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

export type Shape = 'jellyfin' | 'blob';

/** Approximate bytes each row adds to the file, to hit the size asked for. */
const BYTES_PER_ROW: Record<Shape, number> = { jellyfin: 1450, blob: 8200 };

/** Build `file` (removed first) with ~`sizeMb` MiB of rows of `shape`. */
export function buildDatabase(file: string, shape: Shape, sizeMb: number): void {
  for (const s of ['', '-wal', '-shm']) rmSync(`${file}${s}`, { force: true });
  mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -262144');
  const rows = Math.ceil((sizeMb * 1024 * 1024) / BYTES_PER_ROW[shape]);
  if (shape === 'jellyfin') jellyfinRows(db, rows);
  else blobRows(db, rows);
  // The writer of the benchmarks appends here (both shapes).
  db.exec('CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, at INTEGER, note TEXT)');
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
}

function jellyfinRows(db: Database.Database, rows: number): void {
  db.exec(`
    CREATE TABLE TypedBaseItems (guid GUID PRIMARY KEY NOT NULL, type TEXT NOT NULL, data BLOB, ParentId GUID,
      Path TEXT, StartDate DATETIME, EndDate DATETIME, ChannelId TEXT, IsMovie BIT, CommunityRating FLOAT,
      Name TEXT, SortName TEXT, ForcedSortName TEXT, OriginalTitle TEXT, PremiereDate DATETIME,
      ProductionYear INT, Genres TEXT, Overview TEXT, DateCreated DATETIME, DateModified DATETIME,
      PresentationUniqueKey TEXT, SeriesName TEXT, TopParentId TEXT, MediaType TEXT, Album TEXT);
    CREATE INDEX idx_PathTypedBaseItems ON TypedBaseItems(Path);
    CREATE INDEX idx_ParentIdTypedBaseItems ON TypedBaseItems(ParentId);
    CREATE INDEX idx_TypedBaseItems2 ON TypedBaseItems(type, guid);
    CREATE INDEX idx_TypeTopParentId ON TypedBaseItems(type, TopParentId, PresentationUniqueKey);
    CREATE INDEX idx_TypedBaseItemsSortName ON TypedBaseItems(SortName, DateCreated);
    CREATE TABLE UserDatas (key TEXT NOT NULL, userId INT NOT NULL, rating FLOAT, played BIT NOT NULL,
      playCount INT NOT NULL, isFavorite BIT NOT NULL, playbackPositionTicks BIGINT NOT NULL,
      lastPlayedDate DATETIME, AudioStreamIndex INT, SubtitleStreamIndex INT);
    CREATE UNIQUE INDEX UserDatasIndex1 ON UserDatas (key, userId);
    CREATE INDEX UserDatasIndex2 ON UserDatas (key, userId, played);
    CREATE TABLE ItemValues (ItemId GUID NOT NULL, Type INT NOT NULL, Value TEXT NOT NULL, CleanValue TEXT NOT NULL);
    CREATE INDEX idx_ItemValues6 ON ItemValues(ItemId, Type, CleanValue);
    CREATE INDEX idx_ItemValues7 ON ItemValues(Type, CleanValue, ItemId);
  `);
  const types = ['MediaBrowser.Controller.Entities.Movies.Movie', 'MediaBrowser.Controller.Entities.TV.Episode'];
  const words = 'the of night long river city house black winter summer story last first love war man'.split(' ');
  const title = (i: number) => `${words[i % 16]} ${words[(i >> 4) % 16]} ${words[(i >> 8) % 16]} ${i}`;
  // Jellyfin stores ids as 16-byte blobs.
  const guid = (i: number) => {
    const b = Buffer.alloc(16);
    b.writeUInt32BE((i * 2654435761) >>> 0, 0);
    b.writeUInt32BE(i >>> 0, 12);
    return b;
  };
  const item = db.prepare(`INSERT INTO TypedBaseItems (guid, type, data, ParentId, Path, Name, SortName, OriginalTitle,
      PremiereDate, ProductionYear, Genres, Overview, DateCreated, DateModified, PresentationUniqueKey, SeriesName,
      TopParentId, MediaType, CommunityRating, IsMovie)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'Video', ?, ?)`);
  const user = db.prepare(
    'INSERT INTO UserDatas (key, userId, played, playCount, isFavorite, playbackPositionTicks) VALUES (?, ?, ?, ?, 0, ?)',
  );
  const value = db.prepare('INSERT INTO ItemValues (ItemId, Type, Value, CleanValue) VALUES (?, ?, ?, ?)');
  const batch = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const g = guid(i);
      const name = title(i);
      const date = new Date(1_500_000_000_000 + i * 60_000).toISOString();
      const data = JSON.stringify({ Id: g, Name: name, Path: `/media/library/${i % 97}/${name}.mkv`, Tags: [] });
      item.run(
        g,
        types[i % 2],
        data,
        guid(i % 997),
        `/media/library/${i % 97}/${name}.mkv`,
        name,
        name.toLowerCase(),
        name,
        date,
        1950 + (i % 70),
        'Drama|Comedy',
        `Overview of ${name}: ${words.slice(0, 6 + (i % 10)).join(' ')}.`,
        date,
        date,
        `${g.toString('hex')}-key`,
        i % 2 ? `series ${i % 500}` : null,
        guid(i % 7),
        (i % 100) / 10,
        i % 2 ? 0 : 1,
      );
      user.run(`${g.toString('hex')}-key`, i % 3, i % 2, i % 4, i * 1000);
      value.run(g, 2, 'Drama', 'drama');
      value.run(g, 3, `Studio ${i % 40}`, `studio ${i % 40}`);
    }
  });
  for (let i = 0; i < rows; i += 10_000) batch(i, Math.min(rows, i + 10_000));
}

/** The small tables the Jellyfin source counts in a 10.10 `jellyfin.db` (here in the same file). */
function jellyfinMain(db: Database.Database): void {
  db.exec(`CREATE TABLE Users (Id TEXT PRIMARY KEY, Username TEXT NOT NULL);
    CREATE TABLE ApiKeys (Id INTEGER PRIMARY KEY, AccessToken TEXT NOT NULL, Name TEXT);
    INSERT INTO Users VALUES ('u1', 'alice'), ('u2', 'bob');
    INSERT INTO ApiKeys (AccessToken, Name) VALUES ('k', 'bench');`);
}

function blobRows(db: Database.Database, rows: number): void {
  db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, data BLOB);
           CREATE INDEX items_name ON items (name);`);
  const ins = db.prepare('INSERT INTO items (name, data) VALUES (?, randomblob(?))');
  const batch = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) ins.run(`item-${(i * 7919) % rows}`, 3072 + ((i * 37) % 9216));
  });
  for (let i = 0; i < rows; i += 5_000) batch(i, Math.min(rows, i + 5_000));
}

/**
 * A Jellyfin 10.10 data folder (`install: custom`) around a built `library.db`: `data/jellyfin.db`
 * with users and API keys, `data/library.db`, and an empty config folder.
 */
export function jellyfinLayout(root: string, libraryDb: string): { dataDir: string; configDir: string } {
  const dataDir = path.join(root, 'data');
  const configDir = path.join(root, 'config');
  mkdirSync(path.join(dataDir, 'data'), { recursive: true });
  mkdirSync(configDir, { recursive: true });
  const main = path.join(dataDir, 'data', 'jellyfin.db');
  if (!existsSync(main)) {
    const db = new Database(main);
    db.pragma('journal_mode = WAL');
    jellyfinMain(db);
    db.close();
  }
  const lib = path.join(dataDir, 'data', 'library.db');
  if (path.resolve(lib) !== path.resolve(libraryDb)) throw new Error(`build library.db at ${lib}`);
  return { dataDir, configDir };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [shape, size, file] = process.argv.slice(2);
  if ((shape !== 'jellyfin' && shape !== 'blob') || !size || !file) {
    console.error('usage: sqlite-data.ts jellyfin|blob <sizeMB> <file>');
    process.exit(2);
  }
  const t = performance.now();
  buildDatabase(file, shape, Number(size));
  console.log(
    `${file}: ${(statSync(file).size / 1048576).toFixed(0)} MiB in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
}
