/**
 * `ImmichLibraryCheck`: the drill consistency check that proves an Immich backup version is whole.
 * A drill restores the staged database dump but not the photo library (too big); this check reads
 * every asset's `originalPath` straight out of the dump's COPY data, maps the container path to
 * the folder Duplicati backed up, and looks each one up in the file listing of the SAME Duplicati
 * version — optionally also in the live library folder.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../../core/errors.js';
import { asFolderPath } from '../../core/fs.js';
import type { DrillCheckResult } from '../../contracts/drill.js';
import type { DrillCheckContext } from '../../contracts/drill.js';
import type { DrillCheck } from '../../contracts/drill.js';
import { expandEntry } from '../../plan/compose.js';
import { sourceContext } from '../../plan/backup-plan.js';
import { configErrorFrom } from '../../core/validate.js';
import { restoreInputOf } from '../../plan/restore-plan.js';
import { filesFromJobDatabase } from '../../duplicati/job-database.js';
import type {
  ManifestEntry,
  RestoreInput,
  RestoreTarget,
  SourceContext,
  VerificationReport,
} from '../../contracts/types.js';
import { IMMICH_LIBRARY_KIND } from './library-source.js';
import { IMMICH_CONTAINER_PREFIXES } from './schema.js';

/** One container prefix and the folder it is backed up from, as Duplicati shows paths. */
export interface ImmichPathMapping {
  /** A prefix of `originalPath`, e.g. `/data/`. */
  readonly from: string;
  /** What it becomes in Duplicati's listing, e.g. `/srv/immich/library/`. */
  readonly to: string;
}

/** Settings of {@link ImmichLibraryCheck} (also the `drillCheck` option of `ImmichDatabaseTarget`). */
export interface ImmichLibraryCheckSettings {
  /**
   * Container prefix → backed-up folder. @default `/data/` and `/usr/src/app/upload/` both to the
   * `uploadLocation` the version's `ImmichLibrarySource` entry recorded
   */
  readonly pathMap?: readonly ImmichPathMapping[];
  /** Also check every asset's file in this live UPLOAD_LOCATION (host path). */
  readonly liveLibrary?: string;
  /** Missing files tolerated (in the backup, and separately on disk) before the drill fails. @default 0 */
  readonly maxMissing?: number;
  /** How many missing paths the evidence names. @default 20 */
  readonly samples?: number;
  /**
   * The Duplicati job that backs up the photo library, when it is not the database's job (the
   * seed layout: database at 02:00, photos at 03:00). The check then looks each asset up in that
   * job's oldest version taken at or after the drilled database version — the first photo backup
   * that should hold every asset the dump names. Default: the drilled job's own version.
   */
  readonly libraryJob?: string;
}

/** Receives a batch of asset `originalPath`s read from a dump, in dump order. */
export type AssetPathConsumer = (paths: readonly string[]) => void | Promise<void>;

/**
 * What the check needs of its target: which manifest entry is the Immich database, and a reader of the
 * asset paths in that entry's dump. `ImmichDatabaseTarget` is one (declared here, not imported, so the
 * target and its check do not import each other).
 */
export interface ImmichAssetPathReader extends Pick<RestoreTarget, 'name' | 'accepts'> {
  readAssetPaths(input: RestoreInput, ctx: SourceContext, consume: AssetPathConsumer): Promise<VerificationReport>;
}

/** Options of {@link ImmichLibraryCheck}. */
export interface ImmichLibraryCheckOptions extends ImmichLibraryCheckSettings {
  /** The target whose dumps the check reads (`readAssetPaths`): an `ImmichDatabaseTarget`. */
  readonly target: ImmichAssetPathReader;
  /** @default 'immich-library-consistency' */
  readonly name?: string;
}

const absolute = (p: string) => path.posix.isAbsolute(p) || /^[A-Za-z]:[\\/]/.test(p);

/** zod schema of {@link ImmichLibraryCheckSettings}. */
export const immichLibraryCheckSchema = z
  .object({
    pathMap: z
      .array(
        z
          .object({
            from: z.string().refine(absolute, 'must be an absolute path'),
            to: z.string().refine(absolute, 'must be an absolute path'),
          })
          .strict(),
      )
      .min(1)
      .optional(),
    liveLibrary: z.string().refine(absolute, 'must be an absolute path').optional(),
    maxMissing: z.number().int().min(0).optional(),
    samples: z.number().int().min(0).max(10_000).optional(),
    libraryJob: z.string().min(1).optional(),
  })
  .strict();

/**
 * The default mapping: both container prefixes to the recorded UPLOAD_LOCATION.
 *
 * @example
 * ```ts
 * defaultImmichPathMap('/srv/immich/library'); // [{ from: '/data/', to: '/srv/immich/library/' }, …]
 * ```
 */
export function defaultImmichPathMap(uploadLocation: string): ImmichPathMapping[] {
  return IMMICH_CONTAINER_PREFIXES.map((from) => ({ from, to: asFolderPath(uploadLocation) }));
}

/**
 * `originalPath` as Duplicati lists it, through the first mapping whose prefix matches.
 *
 * @example
 * ```ts
 * mapImmichPath('/data/upload/u1/a.jpg', [{ from: '/data/', to: '/srv/lib/' }]); // '/srv/lib/upload/u1/a.jpg'
 * ```
 */
export function mapImmichPath(originalPath: string, map: readonly ImmichPathMapping[]): string | undefined {
  for (const m of map) {
    const from = asFolderPath(m.from);
    if (originalPath.startsWith(from)) return asFolderPath(m.to) + originalPath.slice(from.length);
  }
  return undefined;
}

const allEntries = (sources: readonly ManifestEntry[]): ManifestEntry[] =>
  sources.flatMap((e) => [e, ...allEntries(expandEntry(e))]);

/**
 * Proves a drilled version's Immich database and library agree: every asset the restored database
 * references (status `deleted` left out) must be a file of the same Duplicati version. Evidence:
 * assets checked, missing count, the first missing paths. More than `maxMissing` missing fails
 * the drill. The dump is read as a file: nothing is loaded a second time.
 *
 * @example
 * ```ts
 * import { ImmichDatabaseTarget, ImmichLibraryCheck } from 'duplicati-kit/immich';
 * import { restoreDrill } from 'duplicati-kit/ops';
 * const target = new ImmichDatabaseTarget({ connection: pg, scratch: true, drillCheck: false });
 * await restoreDrill({ client, job: 'Immich', targets: [target], scratchDir: '/var/tmp',
 *   checks: [new ImmichLibraryCheck({ target, liveLibrary: '/srv/immich/library' })] });
 * ```
 */
export class ImmichLibraryCheck implements DrillCheck {
  readonly name: string;
  readonly #options: ImmichLibraryCheckOptions;

  constructor(options: ImmichLibraryCheckOptions) {
    const { target, name, ...settings } = options;
    const parsed = immichLibraryCheckSchema.safeParse(settings);
    if (!parsed.success) throw configErrorFrom('invalid ImmichLibraryCheck options', parsed.error);
    if (typeof target?.readAssetPaths !== 'function') {
      throw new ConfigError('invalid ImmichLibraryCheck options', [
        { path: 'target', message: 'must be an ImmichDatabaseTarget' },
      ]);
    }
    this.#options = options;
    this.name = name ?? 'immich-library-consistency';
  }

  async run(ctx: DrillCheckContext): Promise<DrillCheckResult> {
    const o = this.#options;
    const entries = allEntries(ctx.manifest.sources);
    const dbEntry = entries.find((e) => o.target.accepts(e));
    if (!dbEntry) return { status: 'skipped', detail: 'this version holds no Immich database dump' };
    const library = entries.find((e) => e.kind === IMMICH_LIBRARY_KIND);
    const listing = o.libraryJob ? await libraryJobListing(ctx, o.libraryJob) : undefined;
    if (listing && 'error' in listing) return { status: 'fail', detail: listing.error };
    const uploadLocation = library?.metadata.uploadLocation ?? listing?.uploadLocation;
    const map = o.pathMap ?? (typeof uploadLocation === 'string' ? defaultImmichPathMap(uploadLocation) : undefined);
    if (!map) {
      return {
        status: 'fail',
        detail: `the version has no Immich library entry saying where UPLOAD_LOCATION was; give pathMap (e.g. [{ from: '/data/', to: '/srv/immich/library/' }])`,
      };
    }

    // The files of the same version (or of the photo job's matching version) under every mapped folder.
    const roots = [...new Set(map.map((m) => asFolderPath(m.to)))];
    const listed = new Set<string>();
    const list = listing ? listing.list : (root: string) => ctx.listVersionFiles(root);
    for (const root of roots) for (const f of await list(root)) listed.add(f);

    const limit = o.samples ?? 20;
    const maxMissing = o.maxMissing ?? 0;
    const missing: string[] = [];
    const liveMissing: string[] = [];
    const unmapped: string[] = [];
    let total = 0;
    let checked = 0;
    let missingCount = 0;
    let liveMissingCount = 0;
    const seen = new Set<string>();
    const consume = async (paths: readonly string[]): Promise<void> => {
      for (const p of paths) {
        // An asset path named twice (a duplicate row) is one file: checked, counted and named once.
        if (seen.has(p)) continue;
        seen.add(p);
        total++;
        const backed = mapImmichPath(p, map);
        if (backed === undefined) {
          if (unmapped.length < limit) unmapped.push(p);
          continue;
        }
        checked++;
        if (!listed.has(backed)) {
          missingCount++;
          if (missing.length < limit) missing.push(p);
        }
        if (o.liveLibrary) {
          const live = mapImmichPath(p, defaultImmichPathMap(o.liveLibrary)) ?? backed;
          if (!(await fsp.lstat(live).catch(() => undefined))) {
            liveMissingCount++;
            if (liveMissing.length < limit) liveMissing.push(p);
          }
        }
      }
    };
    const workDir = path.join(ctx.scratchDir, this.name);
    const sctx = sourceContext(o.target, { workDir, signal: ctx.signal, logger: ctx.logger, dryRun: false });
    const loaded = await o.target.readAssetPaths(restoreInputOf(ctx.from, ctx.manifest, dbEntry), sctx, consume);
    const figures = {
      assets: total,
      checked,
      missing: missingCount,
      unmapped: total - checked,
      listedFiles: listed.size,
      ...(o.liveLibrary ? { liveMissing: liveMissingCount } : {}),
    };
    if (!loaded.ok) {
      const bad = loaded.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail ?? 'failed'}`);
      return { status: 'fail', detail: `the Immich dump could not be checked: ${bad.join('; ')}`, figures };
    }
    if (total > 0 && checked === 0) {
      return {
        status: 'fail',
        detail: `none of ${total} asset paths starts with a mapped prefix (${map.map((m) => m.from).join(', ')}), e.g. ${unmapped[0]}; fix pathMap`,
        figures,
        samples: unmapped,
      };
    }
    const where = `${listed.size} file(s) of ${listing ? listing.describe : `version ${ctx.version}`} under ${roots.join(', ')}`;
    const problems: string[] = [];
    if (missingCount > maxMissing) {
      problems.push(
        `${missingCount} of ${checked} asset file(s) the database references are not in the backup${
          listed.size === 0 ? ` (the version holds no file under ${roots.join(', ')})` : ''
        }: ${missing.join(', ')}${missingCount > missing.length ? ', …' : ''}`,
      );
    }
    if (o.liveLibrary && liveMissingCount > maxMissing) {
      problems.push(
        `${liveMissingCount} asset file(s) missing from the live library ${o.liveLibrary}: ${liveMissing.join(', ')}${
          liveMissingCount > liveMissing.length ? ', …' : ''
        }`,
      );
    }
    const skipped = total - checked ? `; ${total - checked} outside the mapping (external libraries) not checked` : '';
    if (problems.length) {
      return {
        status: 'fail',
        detail: `${problems.join('; ')} (checked against ${where}${skipped})`,
        figures,
        samples: [...missing, ...liveMissing.filter((p) => !missing.includes(p))],
      };
    }
    return {
      status: 'pass',
      detail: `${checked} asset file(s) checked against ${where}: ${missingCount} missing${
        o.liveLibrary ? `, ${liveMissingCount} missing on disk` : ''
      }${skipped}`,
      figures,
      ...(missing.length ? { samples: missing } : {}),
    };
  }
}

/** The photo job's version to check against, and a lister of its files; or why there is none. */
async function libraryJobListing(
  ctx: DrillCheckContext,
  jobRef: string,
): Promise<
  | { list: (folder: string) => Promise<string[]>; describe: string; uploadLocation: string | undefined }
  | { error: string }
> {
  const { client, signal } = ctx;
  const jobs = await client.backups.list({ signal });
  const job = jobs.find((j) => j.id === jobRef) ?? jobs.find((j) => j.name.toLowerCase() === jobRef.toLowerCase());
  if (!job) return { error: `the photo job "${jobRef}" (drillCheck.libraryJob) is not on the server` };
  const dbTime = Date.parse(ctx.versionTime);
  const after = (await client.backups.versions(job.id, { signal }))
    .filter((v) => Date.parse(v.time) >= dbTime)
    .sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
  const chosen = after[0];
  if (!chosen) {
    return {
      error: `the photo job "${job.name}" has no version taken at or after the database version (${ctx.versionTime}): run it after the database job, then drill again`,
    };
  }
  // With one source folder, that folder is UPLOAD_LOCATION (a library-only job).
  const full = await client.backups.get(job.id, { signal });
  const sources = full.sources;
  const only = sources.length === 1 ? sources[0] : undefined;
  return {
    describe: `"${job.name}" version ${chosen.version} (${chosen.time})`,
    uploadLocation: only,
    list: async (folder) => {
      const root = asFolderPath(folder);
      // On the Duplicati host the job database answers in a fraction of a second.
      const local = full.dbPath ? await filesFromJobDatabase(full.dbPath, chosen.time, root, signal) : undefined;
      if (local) return local;
      // Imported here: the Immich app is loaded by every Immich command, and this module brings the
      // REST client's schemas with it, which only a drill away from the Duplicati host needs.
      const { restoreFilters } = await import('../../duplicati/resources/backups.js');
      const [filter] = restoreFilters([root]);
      // Duplicati 2.0.7.3 answers a search in ~14 ms per file: an hour, and no retry of a long answer.
      const { files } = await client.backups.files(job.id, {
        time: chosen.time,
        search: filter as string,
        signal,
        timeout: 60 * 60_000,
        maxRetries: 0,
      });
      return files.filter((f) => !f.isFolder && f.path.startsWith(root)).map((f) => f.path);
    },
  };
}
