/**
 * `duplicati-kit/jellyfin`: Jellyfin backup sources and restore targets.
 *
 * - {@link JellyfinDatabaseSource}: consistent online snapshots of `jellyfin.db` (and `library.db`
 *   up to 10.10), integrity-checked, with the version and the counts a restore is checked against.
 * - {@link JellyfinFilesSource}: config, metadata, plugins, libraries, collections, playlists for
 *   Duplicati to back up directly, without cache, transcodes, logs or live database files.
 * - {@link JellyfinConfigArchiveSource}: the config folder as one `tar.gz`, for the local copy.
 * - {@link jellyfinSource}: both as one source; {@link jellyfinTarget}: the matching restore side.
 * - {@link JellyfinDatabaseTarget}, {@link JellyfinFilesTarget}: verified restores with a way back.
 * - {@link JellyfinClient}: the bits of the Jellyfin API a backup needs.
 *
 * @module
 */
import { ARCHIVE_KIND, ArchiveTarget, type ArchiveTargetOptions } from '../../engines/archive/index.js';
import { composeSources, composeTargets } from '../../plan/compose.js';
import { JellyfinDatabaseSource, type JellyfinDatabaseSourceOptions } from './database-source.js';
import { JellyfinDatabaseTarget, type JellyfinDatabaseTargetOptions } from './database-target.js';
import {
  JellyfinConfigArchiveSource,
  JellyfinFilesSource,
  type JellyfinFilesSourceOptions,
  JellyfinFilesTarget,
  type JellyfinFilesTargetOptions,
} from './files.js';
import type { JellyfinLocationOptions } from './layout.js';
import * as databaseTarget from './database-target.js';
import * as layout from './layout.js';
import * as version from './version.js';
import type * as contracts from '../../contracts/types.js';

export {
  BUSY_TASK_KEYS,
  type CallOptions,
  isJellyfinApiError,
  JellyfinApiError,
  type JellyfinBackupManifest,
  JellyfinClient,
  type JellyfinClientOptions,
  type JellyfinPlayback,
  type JellyfinPublicInfo,
  type JellyfinSession,
  type JellyfinTask,
} from './api.js';
export {
  JELLYFIN_DATABASE_KIND,
  type JellyfinApiOption,
  type JellyfinApiOptions,
  JellyfinDatabaseSource,
  type JellyfinDatabaseSourceOptions,
} from './database-source.js';
export { JellyfinDatabaseTarget, type JellyfinDatabaseTargetOptions } from './database-target.js';
export {
  JELLYFIN_FILES_KIND,
  JellyfinConfigArchiveSource,
  type JellyfinConfigArchiveSourceOptions,
  JellyfinFilesSource,
  type JellyfinFilesSourceOptions,
  JellyfinFilesTarget,
  type JellyfinFilesTargetOptions,
  jellyfinFileSet,
} from './files.js';
export {
  detectInstall,
  isJellyfinLayoutError,
  type JellyfinDbLayout,
  type JellyfinInstall,
  JellyfinLayoutError,
  type JellyfinLocationOptions,
  type JellyfinPaths,
  resolveJellyfinPaths,
} from './layout.js';
export type { JellyfinCounts, JellyfinDbVersion } from './version.js';

/** Options of {@link jellyfinSource}. */
export interface JellyfinSourceOptions
  extends JellyfinLocationOptions,
    Pick<JellyfinDatabaseSourceOptions, 'api' | 'whilePlaying' | 'waitForTasks'> {
  /** Name of the composed source in the plan and manifest. @default 'jellyfin' */
  readonly name?: string;
  /** Options of the database part (snapshot method and tuning). */
  readonly database?: Omit<JellyfinDatabaseSourceOptions, keyof JellyfinLocationOptions | 'name' | 'api'>;
  /** Options of the files part. */
  readonly files?: Omit<JellyfinFilesSourceOptions, keyof JellyfinLocationOptions | 'name'>;
  /** Also pack the config folder into a `tar.gz` artifact (part `config`) for the local copy. @default false */
  readonly archiveConfig?: boolean;
}

function location(o: JellyfinLocationOptions): JellyfinLocationOptions {
  const keys = ['install', 'root', 'cacheRoot', 'dataDir', 'configDir', 'cacheDir', 'logDir', 'databases'] as const;
  const out: Record<string, unknown> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out as JellyfinLocationOptions;
}

/**
 * A whole Jellyfin server as one source: the database snapshots (part `database`) and the
 * folders (part `files`).
 *
 * @example
 * ```ts
 * import { createBackupPlan } from 'duplicati-kit';
 * import { jellyfinSource } from 'duplicati-kit/jellyfin';
 * const plan = createBackupPlan({
 *   workDir: '/srv/backup/staging',
 *   sources: [jellyfinSource({ install: 'debian', api: { baseUrl: 'http://127.0.0.1:8096', apiKey } })],
 * });
 * ```
 */
export function jellyfinSource(options: JellyfinSourceOptions = {}): contracts.BackupSource {
  const loc = location(options);
  const api = {
    ...(options.api ? { api: options.api } : {}),
    ...(options.whilePlaying ? { whilePlaying: options.whilePlaying } : {}),
    ...(options.waitForTasks !== undefined ? { waitForTasks: options.waitForTasks } : {}),
  };
  return composeSources(options.name ?? 'jellyfin', [
    new JellyfinDatabaseSource({ ...loc, ...api, ...options.database, name: 'database' }),
    new JellyfinFilesSource({ ...loc, ...options.files, name: 'files' }),
    ...(options.archiveConfig ? [new JellyfinConfigArchiveSource({ ...loc, name: 'config' })] : []),
  ]);
}

/** Options of {@link jellyfinTarget}. */
export interface JellyfinTargetOptions extends JellyfinLocationOptions {
  /** Only the composed entry of this name. @default 'jellyfin' */
  readonly source?: string;
  readonly database?: Omit<JellyfinDatabaseTargetOptions, keyof JellyfinLocationOptions | 'name' | 'source'>;
  readonly files?: Omit<JellyfinFilesTargetOptions, 'name' | 'source'>;
  /**
   * Where to unpack the config archive of `archiveConfig` backups. Without it that part is
   * verified by checksum only and not unpacked (Duplicati restores the config folder itself).
   */
  readonly config?: Omit<ArchiveTargetOptions, 'name' | 'source'>;
}

/** Accepts the `config` archive part and leaves it packed. */
function keepConfigArchivePacked(): contracts.RestoreTarget {
  return {
    name: 'jellyfin-config',
    kind: ARCHIVE_KIND,
    accepts: (entry) => entry.kind === ARCHIVE_KIND && entry.name.endsWith('/config'),
    verify: async () => ({
      ok: true,
      checks: [{ name: 'config archive', ok: true, detail: 'kept packed (pass config.dest to unpack it)' }],
    }),
    restore: async () => ({ restored: [] }),
  };
}

/**
 * The restore side of {@link jellyfinSource}: the database part to a {@link JellyfinDatabaseTarget},
 * the files part checked by a {@link JellyfinFilesTarget}.
 *
 * @example
 * ```ts
 * const plan = createRestorePlan({ targets: [jellyfinTarget({ install: 'debian', database: { installedVersion: '10.11.11' } })] });
 * ```
 */
export function jellyfinTarget(options: JellyfinTargetOptions = {}): contracts.RestoreTarget {
  const loc = location(options);
  return composeTargets(
    options.source ?? 'jellyfin',
    [
      new JellyfinDatabaseTarget({ ...loc, ...options.database, source: 'database' }),
      new JellyfinFilesTarget({ ...options.files, source: 'files' }),
      options.config
        ? new ArchiveTarget({ ...options.config, source: `${options.source ?? 'jellyfin'}/config` })
        : keepConfigArchivePacked(),
    ],
    { source: options.source ?? 'jellyfin' },
  );
}

// ---------------------------------------------------------------------------------------------
// Deprecated: kept for one minor version (see CHANGELOG.md). Declarations, not `export { … }`
// lists, so that the `@deprecated` tags survive into the bundled .d.ts files.
// ---------------------------------------------------------------------------------------------

/** @deprecated Internal; will be removed in 0.3. */
export const snapshotVersion = databaseTarget.snapshotVersion;

/** @deprecated Internal; will be removed in 0.3. Use `resolveJellyfinPaths`. */
export const standardPaths = layout.standardPaths;

/** @deprecated Internal; will be removed in 0.3. */
export const compareVersions = version.compareVersions;
/** @deprecated Internal; will be removed in 0.3. */
export const EF_FINGERPRINTS = version.EF_FINGERPRINTS;
/** @deprecated Internal; will be removed in 0.3. */
export const PLACEHOLDER_ITEM_ID = version.PLACEHOLDER_ITEM_ID;

/** @deprecated Import from 'duplicati-kit'; this re-export will be removed in 0.3. */
export type BackupSource = contracts.BackupSource;
/** @deprecated Import from 'duplicati-kit'; this re-export will be removed in 0.3. */
export type PreparedSource = contracts.PreparedSource;
/** @deprecated Import from 'duplicati-kit'; this re-export will be removed in 0.3. */
export type ProgressEvent = contracts.ProgressEvent;
/** @deprecated Import from 'duplicati-kit'; this re-export will be removed in 0.3. */
export type RestoreTarget = contracts.RestoreTarget;
/** @deprecated Import from 'duplicati-kit'; this re-export will be removed in 0.3. */
export type SourceContext = contracts.SourceContext;
