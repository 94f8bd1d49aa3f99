/**
 * Where a Jellyfin server keeps its data, config, cache and logs, per install type, and which
 * database layout it uses (10.10: `jellyfin.db` + `library.db`; 10.11+: `jellyfin.db` only).
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { DuplicatiKitError, errorGuard } from '../../core/errors.js';
import { exists } from '../../core/fs.js';

/** How Jellyfin was installed; decides the default folders. */
export type JellyfinInstall = 'debian' | 'docker' | 'linuxserver' | 'custom';

/** Database layout: two databases up to 10.10, one `jellyfin.db` from 10.11 on. */
export type JellyfinDbLayout = '10.10' | '10.11';

/** Options that say where a Jellyfin server lives (shared by every Jellyfin source and target). */
export interface JellyfinLocationOptions {
  /**
   * `debian` (`/var/lib/jellyfin`, `/etc/jellyfin`, `/var/cache/jellyfin`, `/var/log/jellyfin`),
   * `docker` (official image: `/config` holds data, `/config/config` the config, `/cache` the cache),
   * `linuxserver` (`/config` holds config, `/config/data` the data), or `custom` (give `dataDir`).
   * Detected when omitted.
   */
  readonly install?: JellyfinInstall;
  /**
   * For `docker` and `linuxserver`: the host folder mounted at `/config`. For `debian`: a prefix
   * for the standard paths (default `/`).
   */
  readonly root?: string;
  /** For `docker`: the host folder mounted at `/cache`. */
  readonly cacheRoot?: string;
  /** The data folder (`JELLYFIN_DATA_DIR`, ProgramData); implies `custom` unless `install` is given. */
  readonly dataDir?: string;
  /** The config folder (`JELLYFIN_CONFIG_DIR`). @default `<data>/config` */
  readonly configDir?: string;
  /** The cache folder (`JELLYFIN_CACHE_DIR`). */
  readonly cacheDir?: string;
  /** The log folder (`JELLYFIN_LOG_DIR`). @default `<data>/log` */
  readonly logDir?: string;
  /** Explicit database files, overriding the ones found under `<data>/data`. */
  readonly databases?: { readonly jellyfin?: string; readonly library?: string };
}

const absolute = z
  .string()
  .min(1)
  .refine((p) => path.isAbsolute(p), 'must be an absolute path');

/** Zod shape of {@link JellyfinLocationOptions}, to spread into a class's `.strict()` schema. */
export const locationShape = {
  install: z.enum(['debian', 'docker', 'linuxserver', 'custom']).optional(),
  root: absolute.optional(),
  cacheRoot: absolute.optional(),
  dataDir: absolute.optional(),
  configDir: absolute.optional(),
  cacheDir: absolute.optional(),
  logDir: absolute.optional(),
  databases: z.object({ jellyfin: absolute.optional(), library: absolute.optional() }).strict().optional(),
};

/** The folders of one Jellyfin server, as seen from where the backup runs. */
export interface JellyfinPaths {
  readonly install: JellyfinInstall;
  /** ProgramData: `metadata/`, `plugins/`, `root/`, `data/`. */
  readonly dataDir: string;
  /** `<data>/data`: the databases, collections, playlists, `device.txt`. */
  readonly dbDir: string;
  readonly configDir: string;
  readonly cacheDir: string | undefined;
  readonly logDir: string;
  /** `system.xml` `MetadataPath`, or `<data>/metadata`. */
  readonly metadataDir: string;
  /** `encoding.xml` `TranscodingTempPath`, or `<cache>/transcodes`. */
  readonly transcodeDir: string | undefined;
}

/**
 * The standard folders of an install type (before reading `system.xml`).
 *
 * @example
 * ```ts
 * standardPaths('linuxserver', '/srv/jellyfin/config').dataDir; // '/srv/jellyfin/config/data'
 * ```
 */
export function standardPaths(
  install: Exclude<JellyfinInstall, 'custom'>,
  root?: string,
  cacheRoot?: string,
): { dataDir: string; configDir: string; cacheDir: string | undefined; logDir: string } {
  switch (install) {
    case 'debian': {
      const r = root ?? '/';
      return {
        dataDir: path.join(r, 'var/lib/jellyfin'),
        configDir: path.join(r, 'etc/jellyfin'),
        cacheDir: path.join(r, 'var/cache/jellyfin'),
        logDir: path.join(r, 'var/log/jellyfin'),
      };
    }
    case 'docker': {
      const r = root ?? '/config';
      return {
        dataDir: r,
        configDir: path.join(r, 'config'),
        cacheDir: cacheRoot ?? (root ? undefined : '/cache'),
        logDir: path.join(r, 'log'),
      };
    }
    case 'linuxserver': {
      const r = root ?? '/config';
      return {
        dataDir: path.join(r, 'data'),
        configDir: r,
        cacheDir: path.join(r, 'cache'),
        logDir: path.join(r, 'log'),
      };
    }
  }
}

/**
 * Guess the install type from what exists: LSIO keeps `data/data`, the official image `data` + `config`.
 *
 * @example
 * ```ts
 * await detectInstall('/srv/jellyfin/config'); // 'linuxserver' | 'docker' | 'debian' | undefined
 * ```
 */
export async function detectInstall(root?: string): Promise<Exclude<JellyfinInstall, 'custom'> | undefined> {
  if (root) {
    if (await exists(path.join(root, 'data', 'data'))) return 'linuxserver';
    if ((await exists(path.join(root, 'data'))) && (await exists(path.join(root, 'config')))) return 'docker';
    if (await exists(path.join(root, 'var/lib/jellyfin'))) return 'debian';
    return undefined;
  }
  if (await exists('/var/lib/jellyfin/data')) return 'debian';
  if (await exists('/config/data/data')) return 'linuxserver';
  if (await exists('/config/data')) return 'docker';
  return undefined;
}

/**
 * Read one element's text from a Jellyfin XML config file; undefined when absent or empty.
 *
 * @example
 * ```ts
 * await readXmlSetting('/etc/jellyfin/system.xml', 'MetadataPath');
 * ```
 */
export async function readXmlSetting(file: string, element: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const m = new RegExp(`<${element}>([^<]*)</${element}>`).exec(text);
  const value = m?.[1]?.trim();
  if (!value) return undefined;
  return value
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&quot;', '"')
    .replaceAll('&apos;', "'")
    .replaceAll('&amp;', '&');
}

/**
 * Map a path Jellyfin wrote in its XML (as the server sees it) to where it is seen from here:
 * inside a container `/config/…` and `/cache/…` live under the host mounts.
 */
function fromServerPath(p: string, install: JellyfinInstall, root?: string, cacheRoot?: string): string {
  if ((install === 'docker' || install === 'linuxserver') && root) {
    if (p === '/config' || p.startsWith('/config/')) return path.join(root, p.slice('/config'.length));
    if (cacheRoot && (p === '/cache' || p.startsWith('/cache/'))) return path.join(cacheRoot, p.slice('/cache'.length));
  }
  return p;
}

/**
 * Thrown when the folders cannot be worked out (`ERR_JELLYFIN_LAYOUT`); the message says which
 * option to give. The database source turns it into a SourceUnavailableError with the same code;
 * {@link resolveJellyfinPaths} and the files source and target let it through as it is.
 *
 * @example
 * ```ts
 * try { await resolveJellyfinPaths({}); } catch (e) { if (isJellyfinLayoutError(e)) console.error(e.message); }
 * ```
 */
export class JellyfinLayoutError extends DuplicatiKitError {
  static override readonly errorName: string = 'JellyfinLayoutError';
  static override readonly defaultCode: string = 'ERR_JELLYFIN_LAYOUT';
}

/**
 * True when `e` is a {@link JellyfinLayoutError}, from this copy of the package or another.
 *
 * @example
 * ```ts
 * if (isJellyfinLayoutError(e)) console.error('give install and root, or dataDir:', e.message);
 * ```
 */
export const isJellyfinLayoutError = errorGuard<JellyfinLayoutError>('JellyfinLayoutError');

/**
 * Work out the folders of a Jellyfin server from the options, the install type's defaults, and
 * `system.xml` / `encoding.xml` (custom metadata and transcode folders).
 *
 * @example
 * ```ts
 * const p = await resolveJellyfinPaths({ install: 'docker', root: '/srv/jellyfin/config', cacheRoot: '/srv/jellyfin/cache' });
 * p.dbDir; // '/srv/jellyfin/config/data'
 * ```
 */
export async function resolveJellyfinPaths(options: JellyfinLocationOptions): Promise<JellyfinPaths> {
  let install = options.install ?? (options.dataDir ? 'custom' : await detectInstall(options.root));
  if (!install) {
    throw new JellyfinLayoutError(
      `cannot find a Jellyfin installation${options.root ? ` under ${options.root}` : ''}; pass install ('debian', 'docker', 'linuxserver') with root, or dataDir and configDir`,
    );
  }
  let base: { dataDir: string; configDir: string; cacheDir: string | undefined; logDir: string };
  if (install === 'custom') {
    if (!options.dataDir) throw new JellyfinLayoutError('install "custom" needs dataDir');
    base = {
      dataDir: options.dataDir,
      configDir: path.join(options.dataDir, 'config'),
      cacheDir: undefined,
      logDir: path.join(options.dataDir, 'log'),
    };
  } else {
    base = standardPaths(install, options.root, options.cacheRoot);
    if (options.dataDir) base.dataDir = options.dataDir;
  }
  const configDir = options.configDir ?? base.configDir;
  const cacheDir = options.cacheDir ?? base.cacheDir;
  const logDir = options.logDir ?? base.logDir;
  const dataDir = base.dataDir;
  install = install as JellyfinInstall;
  const metadataSetting = await readXmlSetting(path.join(configDir, 'system.xml'), 'MetadataPath');
  const transcodeSetting = await readXmlSetting(path.join(configDir, 'encoding.xml'), 'TranscodingTempPath');
  const map = (p: string) => fromServerPath(p, install, options.root, options.cacheRoot);
  return {
    install,
    dataDir,
    dbDir: path.join(dataDir, 'data'),
    configDir,
    cacheDir,
    logDir,
    metadataDir: metadataSetting ? map(metadataSetting) : path.join(dataDir, 'metadata'),
    transcodeDir: transcodeSetting ? map(transcodeSetting) : cacheDir ? path.join(cacheDir, 'transcodes') : undefined,
  };
}

/** The database files of a server and their layout. */
export interface JellyfinDatabases {
  readonly layout: JellyfinDbLayout;
  readonly jellyfin: string;
  /** `library.db`, only in the 10.10 layout. */
  readonly library: string | undefined;
}

/**
 * Which databases to snapshot: `library.db` beside `jellyfin.db` means the 10.10 layout, unless
 * `jellyfin.db` already has `BaseItems` (10.11 migrated it; a leftover `library.db` is ignored).
 * `hasBaseItems` reads that from the live file.
 */
export async function findDatabases(
  paths: JellyfinPaths,
  explicit: JellyfinLocationOptions['databases'],
  hasBaseItems: (jellyfinDb: string) => Promise<boolean>,
): Promise<JellyfinDatabases> {
  const jellyfin = explicit?.jellyfin ?? path.join(paths.dbDir, 'jellyfin.db');
  if (!(await exists(jellyfin))) {
    throw new JellyfinLayoutError(`no Jellyfin database at ${jellyfin}; check the install type and folders`);
  }
  const library = explicit?.library ?? path.join(paths.dbDir, 'library.db');
  if (!(await exists(library))) return { layout: '10.11', jellyfin, library: undefined };
  if (!explicit?.library && (await hasBaseItems(jellyfin))) return { layout: '10.11', jellyfin, library: undefined };
  return { layout: '10.10', jellyfin, library };
}
