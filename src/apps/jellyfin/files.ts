/**
 * `JellyfinFilesSource` and `JellyfinFilesTarget`: the folders Duplicati backs up directly
 * (config, metadata, plugins, libraries, collections, playlists), without the regenerable parts
 * and without the live database files the snapshots replace.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { SourceUnavailableError } from '../../core/errors.js';
import { exists, isInside } from '../../core/fs.js';
import { ARCHIVE_KIND, ArchiveSource } from '../../engines/archive/index.js';
import { DirectorySource, DirectoryTarget, walkTree } from '../../engines/directory/index.js';
import { configErrorFrom } from '../../core/validate.js';
import type {
  BackupSource,
  ManifestEntry,
  PreparedSource,
  RestoreInput,
  RestoreOutput,
  RestoreTarget,
  SourceContext,
  VerificationReport,
} from '../../contracts/types.js';
import { type JellyfinLocationOptions, type JellyfinPaths, locationShape, resolveJellyfinPaths } from './layout.js';

/** `kind` of the manifest entry a {@link JellyfinFilesSource} writes. */
export const JELLYFIN_FILES_KIND = 'jellyfin.files';

const filesSchema = z
  .object({
    name: z.string().min(1).optional(),
    ...locationShape,
    trickplay: z.boolean().optional(),
    subtitles: z.boolean().optional(),
    plugins: z.enum(['all', 'configurations', 'none']).optional(),
    libraryDbOld: z.boolean().optional(),
    exclude: z.array(z.string().min(1)).optional(),
  })
  .strict();

/** Options of {@link JellyfinFilesSource}. */
export interface JellyfinFilesSourceOptions extends JellyfinLocationOptions {
  /** @default 'jellyfin-files' */
  readonly name?: string;
  /** Back up `data/trickplay` (regenerable, slow to redo, large). @default false */
  readonly trickplay?: boolean;
  /** Back up extracted and downloaded subtitles and fonts (`data/subtitles`, `data/attachments`). @default true */
  readonly subtitles?: boolean;
  /** Installed plugins and their settings (`all`), only their settings (`configurations`), or `none`. @default 'all' */
  readonly plugins?: 'all' | 'configurations' | 'none';
  /** Keep `library.db.old`, the retry path of a failed 10.11 upgrade (large). @default false */
  readonly libraryDbOld?: boolean;
  /** More Duplicati exclude filters. */
  readonly exclude?: readonly string[];
}

/**
 * What to back up and what to leave out, for a server's folders.
 *
 * @example
 * ```ts
 * const { include, exclude } = jellyfinFileSet(await resolveJellyfinPaths({ install: 'debian' }));
 * ```
 */
export function jellyfinFileSet(
  p: JellyfinPaths,
  o: Pick<JellyfinFilesSourceOptions, 'trickplay' | 'subtitles' | 'plugins' | 'libraryDbOld' | 'exclude'> = {},
): { include: string[]; exclude: string[] } {
  const dir = (d: string) => `${d.replace(/\/+$/, '')}/`;
  const wanted = [p.configDir, p.metadataDir, path.join(p.dataDir, 'root'), p.dbDir];
  const plugins = o.plugins ?? 'all';
  if (plugins === 'all') wanted.push(path.join(p.dataDir, 'plugins'));
  if (plugins === 'configurations') wanted.push(path.join(p.dataDir, 'plugins', 'configurations'));
  // A folder inside another one is already covered (linuxserver: /config holds everything).
  const include = wanted.filter((w, i) => !wanted.some((o2, j) => j !== i && o2 !== w && isInside(o2, w)));
  const unique = [...new Set(include)];
  const exclude = [
    // The live databases: the snapshots replace them, and a copy of a live file is torn.
    path.join(p.dbDir, '*.db'),
    path.join(p.dbDir, '*.db-wal'),
    path.join(p.dbDir, '*.db-shm'),
    path.join(p.dbDir, '*.db-journal'),
    path.join(p.dbDir, '*.db.bak*'),
    // Safety copies and temp files of a database restore in progress.
    path.join(p.dbDir, '*.dk-safety-*'),
    path.join(p.dbDir, '.*.dk-restore-*'),
    dir(path.join(p.dbDir, 'SQLiteBackups')),
    dir(path.join(p.dbDir, 'backups')),
    dir(path.join(p.dbDir, 'keyframes')),
    path.join(p.dbDir, 'splashscreen.png'),
    dir(p.logDir),
  ];
  if (!o.libraryDbOld) exclude.push(path.join(p.dbDir, 'library.db.old'));
  if (!o.trickplay) exclude.push(dir(path.join(p.dbDir, 'trickplay')));
  if (o.subtitles === false) {
    exclude.push(dir(path.join(p.dbDir, 'subtitles')), dir(path.join(p.dbDir, 'attachments')));
  }
  if (p.cacheDir) exclude.push(dir(p.cacheDir));
  if (p.transcodeDir) exclude.push(dir(p.transcodeDir));
  exclude.push(...(o.exclude ?? []));
  return { include: unique, exclude };
}

/**
 * The folders of a Jellyfin server for Duplicati to back up directly: config, metadata (also a
 * custom `MetadataPath`), plugins and their configurations, `root/` (library definitions),
 * `data/` (collections, playlists, `device.txt`, subtitles). Excludes cache, transcodes, logs,
 * built-in backup archives and the live database files with `-wal`/`-shm`. File counts and bytes
 * per folder go into the manifest.
 *
 * @example
 * ```ts
 * import { JellyfinFilesSource } from 'duplicati-kit/jellyfin';
 * new JellyfinFilesSource({ install: 'linuxserver', root: '/srv/jellyfin/config' });
 * ```
 */
export class JellyfinFilesSource implements BackupSource {
  readonly name: string;
  readonly kind = JELLYFIN_FILES_KIND;
  readonly #o: JellyfinFilesSourceOptions;

  constructor(options: JellyfinFilesSourceOptions = {}) {
    const parsed = filesSchema.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid JellyfinFilesSource options', parsed.error);
    this.#o = parsed.data as JellyfinFilesSourceOptions;
    this.name = this.#o.name ?? 'jellyfin-files';
  }

  async #directory(): Promise<{ paths: JellyfinPaths; dir: DirectorySource | undefined; exclude: string[] }> {
    const paths = await resolveJellyfinPaths(this.#o);
    const set = jellyfinFileSet(paths, this.#o);
    const present: string[] = [];
    for (const p of set.include) if (await exists(p)) present.push(p);
    const dir = present.length
      ? new DirectorySource({ name: this.name, paths: present, exclude: set.exclude })
      : undefined;
    return { paths, dir, exclude: set.exclude };
  }

  async check(ctx: SourceContext): Promise<void> {
    const { dir, paths } = await this.#directory();
    if (!dir || !(await exists(paths.configDir))) {
      throw new SourceUnavailableError(
        `no Jellyfin config folder at ${paths.configDir}; check the install type and folders`,
        { source: this.name, kind: this.kind, phase: 'check' },
        { code: 'ERR_JELLYFIN_LAYOUT' },
      );
    }
    await dir.check(ctx);
  }

  async prepare(ctx: SourceContext): Promise<PreparedSource> {
    const { dir, paths, exclude } = await this.#directory();
    const prepared = dir ? await dir.prepare(ctx) : { artifacts: [], includePaths: [], metadata: {} };
    return {
      artifacts: prepared.artifacts,
      includePaths: prepared.includePaths ?? [],
      excludePatterns: exclude,
      metadata: {
        ...(prepared.metadata ?? {}),
        install: paths.install,
        roots: { dataDir: paths.dataDir, configDir: paths.configDir, metadataDir: paths.metadataDir },
      },
    };
  }
}

const filesTargetSchema = z
  .object({
    name: z.string().min(1).optional(),
    source: z.string().min(1).optional(),
    restoredRoot: z.string().min(1).optional(),
    map: z.record(z.string(), z.string()).optional(),
    allowExtra: z.boolean().optional(),
    install: z.enum(['debian', 'docker', 'linuxserver', 'custom']).optional(),
  })
  .strict();

/** Options of {@link JellyfinFilesTarget}. */
export interface JellyfinFilesTargetOptions {
  readonly name?: string;
  /** Only the entry of this source (or `<composite>/<source>`). */
  readonly source?: string;
  /** Where Duplicati restored the folders (`<restoredRoot>/<original path>`), if not in place. */
  readonly restoredRoot?: string;
  /** Original folder → restored folder. */
  readonly map?: Readonly<Record<string, string>>;
  /** Accept more files than the manifest counted. */
  readonly allowExtra?: boolean;
  /**
   * The install type the folders were restored into. When it differs from the backup's, the
   * `.jellyfin-*` marker files are removed from the restored folders on restore: Jellyfin 10.11
   * refuses to start when a folder holds another kind's marker, and recreates its own.
   */
  readonly install?: JellyfinLocationOptions['install'];
}

/**
 * Checks the Jellyfin folders Duplicati restored against the manifest's file counts and bytes,
 * and never carries `.jellyfin-*` marker files into another layout.
 *
 * @example
 * ```ts
 * new JellyfinFilesTarget({ source: 'files', restoredRoot: '/restore/files', install: 'docker' });
 * ```
 */
export class JellyfinFilesTarget implements RestoreTarget {
  readonly name: string;
  readonly kind = JELLYFIN_FILES_KIND;
  readonly #o: JellyfinFilesTargetOptions;
  readonly #dir: DirectoryTarget;

  constructor(options: JellyfinFilesTargetOptions = {}) {
    const parsed = filesTargetSchema.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid JellyfinFilesTarget options', parsed.error);
    this.#o = parsed.data as JellyfinFilesTargetOptions;
    this.name = this.#o.name ?? 'jellyfin-files';
    const { install: _install, name: _name, ...dirOptions } = this.#o;
    this.#dir = new DirectoryTarget({ ...dirOptions, name: this.name });
  }

  accepts(entry: ManifestEntry): boolean {
    const s = this.#o.source;
    return entry.kind === JELLYFIN_FILES_KIND && (s === undefined || entry.name === s || entry.name.endsWith(`/${s}`));
  }

  verify(input: RestoreInput, ctx: SourceContext): Promise<VerificationReport> {
    return this.#dir.verify(input, ctx);
  }

  /** Verify the restored folders, then drop marker files of another layout. */
  async restore(input: RestoreInput, ctx: SourceContext): Promise<RestoreOutput> {
    const out = await this.#dir.restore(input, ctx);
    const backedUp = input.entry.metadata.install;
    const markers: string[] = [];
    if (this.#o.install && typeof backedUp === 'string' && backedUp !== this.#o.install) {
      for (const original of Object.keys((input.entry.metadata.paths ?? {}) as object)) {
        const where = this.#dir.resolve(original);
        await walkTree(where, {
          signal: ctx.signal,
          onEntry: (e) => {
            if (e.type === 'file' && path.posix.basename(e.path).startsWith('.jellyfin-')) {
              markers.push(path.join(where, ...e.path.split('/')));
            }
          },
        });
      }
      if (!ctx.dryRun) for (const m of markers) await fsp.rm(m, { force: true });
      ctx.logger.info('removed Jellyfin marker files of the other layout', { count: markers.length });
    }
    return { ...out, metadata: { markersRemoved: ctx.dryRun ? 0 : markers.length } };
  }
}

const configArchiveSchema = z
  .object({
    name: z.string().min(1).optional(),
    ...locationShape,
    gzip: z.boolean().optional(),
  })
  .strict();

/** Options of {@link JellyfinConfigArchiveSource}. */
export interface JellyfinConfigArchiveSourceOptions extends JellyfinLocationOptions {
  /** @default 'jellyfin-config' */
  readonly name?: string;
  /** @default true */
  readonly gzip?: boolean;
}

/**
 * The config folder packed into one `tar.gz` artifact, for the local copy (restore it with an
 * `ArchiveTarget`). Where the config folder also holds data, cache and logs (linuxserver's
 * `/config`), only the config entries are packed.
 *
 * @example
 * ```ts
 * new JellyfinConfigArchiveSource({ install: 'linuxserver', root: '/srv/jellyfin/config' });
 * ```
 */
export class JellyfinConfigArchiveSource implements BackupSource {
  readonly name: string;
  readonly kind = ARCHIVE_KIND;
  readonly #o: JellyfinConfigArchiveSourceOptions;

  constructor(options: JellyfinConfigArchiveSourceOptions = {}) {
    const parsed = configArchiveSchema.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid JellyfinConfigArchiveSource options', parsed.error);
    this.#o = parsed.data as JellyfinConfigArchiveSourceOptions;
    this.name = this.#o.name ?? 'jellyfin-config';
  }

  async #archive(): Promise<ArchiveSource> {
    const p = await resolveJellyfinPaths(this.#o);
    const others = [p.dataDir, p.cacheDir, p.logDir, p.metadataDir, p.transcodeDir].filter(
      (d): d is string => d !== undefined && d !== p.configDir && isInside(p.configDir, d),
    );
    let include: string[] | undefined;
    if (others.length > 0) {
      const entries = await fsp.readdir(p.configDir);
      include = entries.filter((e) => !others.some((o) => isInside(path.join(p.configDir, e), o)));
    }
    return new ArchiveSource({
      name: this.name,
      root: p.configDir,
      artifactName: 'jellyfin-config',
      gzip: this.#o.gzip ?? true,
      ...(include ? { include } : {}),
    });
  }

  async check(ctx: SourceContext): Promise<void> {
    await (await this.#archive()).check(ctx);
  }

  async prepare(ctx: SourceContext): Promise<PreparedSource> {
    return (await this.#archive()).prepare(ctx);
  }
}
