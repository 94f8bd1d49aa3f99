import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

/** The id of the placeholder item detached user data points at. */
export const PLACEHOLDER = '00000000-0000-0000-0000-000000000001';

const EF_1010 = [
  '20200514181226_AddActivityLog',
  '20221022080052_AddIndexActivityLogsDateCreated',
  '20230923170422_UserCastReceiver',
  '20240928082930_MarkSegmentProviderIdNonNullable',
];
const EF_1011 = [...EF_1010, '20250714044826_ResetJournalMode', '20250925203415_ExtendPeopleMapKey'];

/** Figures a fake server is built with; tests compare the manifest against them. */
export interface Figures {
  users: number;
  apiKeys: number;
  items: number;
  played: number;
  resume: number;
}

export const FIGURES: Figures = { users: 3, apiKeys: 2, items: 40, played: 7, resume: 5 };

function guid(n: number): string {
  return `A0000000-0000-4000-8000-${n.toString(16).padStart(12, '0').toUpperCase()}`;
}

function accountsSchema(db: Database.Database, migrations: readonly string[], productVersion: string): void {
  db.exec(`
    CREATE TABLE __EFMigrationsHistory (MigrationId TEXT NOT NULL PRIMARY KEY, ProductVersion TEXT NOT NULL);
    CREATE TABLE Users (Id TEXT NOT NULL PRIMARY KEY, Username TEXT NOT NULL, InternalId INTEGER NOT NULL,
      Password TEXT, MustUpdatePassword INTEGER NOT NULL DEFAULT 0, LastLoginDate TEXT);
    CREATE TABLE ApiKeys (Id INTEGER PRIMARY KEY AUTOINCREMENT, DateCreated TEXT NOT NULL, DateLastUsed TEXT,
      Name TEXT NOT NULL, AccessToken TEXT NOT NULL);
    CREATE TABLE ActivityLogs (Id INTEGER PRIMARY KEY AUTOINCREMENT, Name TEXT NOT NULL, DateCreated TEXT NOT NULL);
    CREATE INDEX IX_ActivityLogs_DateCreated ON ActivityLogs (DateCreated);
  `);
  const mig = db.prepare('INSERT INTO __EFMigrationsHistory VALUES (?, ?)');
  for (const m of migrations) mig.run(m, productVersion);
}

function fillAccounts(db: Database.Database, f: Figures): void {
  const user = db.prepare('INSERT INTO Users (Id, Username, InternalId) VALUES (?, ?, ?)');
  for (let i = 1; i <= f.users; i++) user.run(guid(i), `user${i}`, i);
  const key = db.prepare("INSERT INTO ApiKeys (DateCreated, Name, AccessToken) VALUES ('2026-01-01', ?, ?)");
  for (let i = 1; i <= f.apiKeys; i++) key.run(`app${i}`, `token${i}`);
}

/** A 10.11 `jellyfin.db` (one database) in WAL mode with `f` users, keys, items, played and resume rows. */
export function build1011Db(dbDir: string, f: Figures = FIGURES, options: { codeVersion?: string } = {}): string {
  mkdirSync(dbDir, { recursive: true });
  const file = path.join(dbDir, 'jellyfin.db');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.transaction(() => {
    accountsSchema(db, EF_1011, '9.0.9');
    db.prepare('INSERT INTO __EFMigrationsHistory VALUES (?, ?)').run(
      '20250420200000_MigrateLibraryDb',
      `${options.codeVersion ?? '10.11.11'}.0`,
    );
    db.exec(`
      CREATE TABLE BaseItems (Id TEXT NOT NULL PRIMARY KEY, Type TEXT NOT NULL, Name TEXT, Path TEXT,
        IsFolder INTEGER NOT NULL DEFAULT 0, IsVirtualItem INTEGER NOT NULL DEFAULT 0, ParentId TEXT, TopParentId TEXT);
      CREATE TABLE UserData (ItemId TEXT NOT NULL, UserId TEXT NOT NULL, CustomDataKey TEXT NOT NULL,
        Played INTEGER NOT NULL DEFAULT 0, PlayCount INTEGER NOT NULL DEFAULT 0, PlaybackPositionTicks INTEGER NOT NULL DEFAULT 0,
        IsFavorite INTEGER NOT NULL DEFAULT 0, LastPlayedDate TEXT, PRIMARY KEY (ItemId, UserId, CustomDataKey));
      CREATE INDEX IX_UserData_Played ON UserData (UserId, Played);
    `);
    fillAccounts(db, f);
    db.prepare("INSERT INTO BaseItems (Id, Type, Name) VALUES (?, 'PlaceholderItem', 'placeholder')").run(PLACEHOLDER);
    const item = db.prepare("INSERT INTO BaseItems (Id, Type, Name, Path) VALUES (?, 'Movie', ?, ?)");
    for (let i = 1; i <= f.items; i++) item.run(guid(1000 + i), `Movie ${i}`, `/media/movies/${i}.mkv`);
    const ud = db.prepare(
      'INSERT INTO UserData (ItemId, UserId, CustomDataKey, Played, PlaybackPositionTicks) VALUES (?, ?, ?, ?, ?)',
    );
    for (let i = 1; i <= f.played; i++) ud.run(guid(1000 + i), guid(1), `k${i}`, 1, 0);
    for (let i = 1; i <= f.resume; i++) ud.run(guid(1000 + f.played + i), guid(1), `r${i}`, 0, 123_000_000 * i);
    // Detached user data points at the placeholder; it is not an item.
    ud.run(PLACEHOLDER, guid(2), 'orphan', 1, 0);
  })();
  db.close();
  return file;
}

/** A 10.10 layout: `jellyfin.db` (accounts) + `library.db` (items, user data), both WAL. */
export function build1010Dbs(dbDir: string, f: Figures = FIGURES): { jellyfin: string; library: string } {
  mkdirSync(dbDir, { recursive: true });
  const jellyfin = path.join(dbDir, 'jellyfin.db');
  const library = path.join(dbDir, 'library.db');
  const jf = new Database(jellyfin);
  jf.pragma('journal_mode = WAL');
  jf.transaction(() => {
    accountsSchema(jf, EF_1010, '8.0.11');
    fillAccounts(jf, f);
  })();
  jf.close();
  const lib = new Database(library);
  lib.pragma('journal_mode = WAL');
  lib.transaction(() => {
    lib.exec(`
      CREATE TABLE TypedBaseItems (guid GUID PRIMARY KEY NOT NULL, type TEXT NOT NULL, data BLOB, ParentId GUID,
        Path TEXT, TopParentId GUID, IsVirtualItem BIT);
      CREATE TABLE UserDatas (key nvarchar NOT NULL, userId INT NOT NULL, rating float NULL, played bit NOT NULL,
        playCount INT NOT NULL, isFavorite bit NOT NULL, playbackPositionTicks BIGINT NOT NULL, lastPlayedDate DATETIME NULL);
      CREATE UNIQUE INDEX UserDatasIndex1 ON UserDatas (key, userId);
    `);
    const item = lib.prepare(
      "INSERT INTO TypedBaseItems (guid, type, Path, IsVirtualItem) VALUES (?, 'MediaBrowser.Controller.Entities.Movies.Movie', ?, 0)",
    );
    for (let i = 1; i <= f.items; i++) item.run(Buffer.from(guid(i).replaceAll('-', ''), 'hex'), `/media/${i}.mkv`);
    const ud = lib.prepare(
      'INSERT INTO UserDatas (key, userId, played, playCount, isFavorite, playbackPositionTicks) VALUES (?, 1, ?, 0, 0, ?)',
    );
    for (let i = 1; i <= f.played; i++) ud.run(`k${i}`, 1, 0);
    for (let i = 1; i <= f.resume; i++) ud.run(`r${i}`, 0, 1000 * i);
  })();
  lib.close();
  return { jellyfin, library };
}

function write(file: string, text = 'x'): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
}

/** The folders of a server: config with system.xml, metadata, plugins, root, collections, cache, logs, markers. */
export function buildTree(p: {
  dataDir: string;
  configDir: string;
  cacheDir?: string;
  logDir: string;
  metadataPath?: string;
}): void {
  write(
    path.join(p.configDir, 'system.xml'),
    `<?xml version="1.0"?>\n<ServerConfiguration>\n  <MetadataPath>${p.metadataPath ?? ''}</MetadataPath>\n  <IsStartupWizardCompleted>true</IsStartupWizardCompleted>\n</ServerConfiguration>\n`,
  );
  write(path.join(p.configDir, 'network.xml'), '<NetworkConfiguration />');
  write(path.join(p.configDir, '.jellyfin-config'), '');
  write(path.join(p.dataDir, 'metadata', 'library', 'ab', 'poster.jpg'), 'poster-bytes');
  write(path.join(p.dataDir, 'plugins', 'LDAP_19.0.0.0', 'plugin.dll'), 'dll');
  write(path.join(p.dataDir, 'plugins', 'configurations', 'LDAP-Auth.xml'), '<x/>');
  write(path.join(p.dataDir, 'root', 'default', 'Movies', 'options.xml'), '<LibraryOptions />');
  write(path.join(p.dataDir, 'data', 'collections', 'Set [boxset]', 'collection.xml'), '<c/>');
  write(path.join(p.dataDir, 'data', 'playlists', 'Mix [playlist]', 'playlist.xml'), '<p/>');
  write(path.join(p.dataDir, 'data', 'device.txt'), '0123456789abcdef');
  write(path.join(p.dataDir, 'data', 'backups', 'jellyfin-backup-20260101.zip'), 'zip');
  write(path.join(p.dataDir, 'data', 'trickplay', 'x.jpg'), 'tile');
  write(path.join(p.dataDir, 'data', '.jellyfin-data'), '');
  write(path.join(p.logDir, 'log_20260101.log'), 'log line');
  if (p.cacheDir) {
    write(path.join(p.cacheDir, 'images', 'resized.jpg'), 'img');
    write(path.join(p.cacheDir, 'transcodes', 'seg.ts'), 'ts');
  }
}
