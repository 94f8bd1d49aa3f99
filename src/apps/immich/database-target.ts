/**
 * `ImmichDatabaseTarget`: restores an {@link ImmichDatabaseSource} dump the way Immich's manual
 * procedure does (`search_path` rewrite, single transaction, stop on first error), into a new
 * database that is swapped in only after its counts match the manifest.
 *
 * @module
 */
import { createReadStream } from 'node:fs';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import { z } from 'zod';
import type { DrillCheck } from '../../contracts/drill.js';
import { type PgConnectionOptions, pgConnectionSchema } from '../../engines/postgres/index.js';
import { type PgExecutorOptions, pgExecutorSchema } from '../../engines/postgres/index.js';
import { toolVersionCacheSchema } from '../../engines/postgres/index.js';
import type { ToolVersionCache } from '../../core/tool-versions.js';
import { readCopyRows } from '../../engines/postgres/index.js';
import { createReplaceStream } from '../../engines/postgres/index.js';
import type { SqlSession } from '../../engines/postgres/index.js';
import { configErrorFrom } from '../../core/validate.js';
import { PostgresTarget } from '../../engines/postgres/index.js';
import type {
  JsonValue,
  ManifestEntry,
  RecoveryContext,
  ResolvedArtifact,
  RestoreInput,
  RestoreOutput,
  RestoreTarget,
  SourceContext,
  StoredPathMapping,
  VerificationReport,
} from '../../contracts/types.js';
import { checkImmichRecovery, rewriteEvidence, rewriteImmichPaths } from './recovery.js';
import { type ImmichClient, type ImmichClientOptions, immichApiOptionSchema, toImmichClient } from './api.js';
import { IMMICH_DATABASE_KIND, IMMICH_DB_CONTAINER } from './database-source.js';
import {
  type AssetPathConsumer,
  ImmichLibraryCheck,
  type ImmichLibraryCheckSettings,
  immichLibraryCheckSchema,
} from './library-check.js';
import {
  compareImmichVersions,
  detectGeneration,
  IMMICH_CONTAINER_PREFIXES,
  IMMICH_TABLES,
  readImmichCounts,
  readImmichVersion,
  streamAssetPaths,
} from './schema.js';

/** The line pg_dump writes that hides extension functions from Immich's objects. */
export const SEARCH_PATH_LINE = "SELECT pg_catalog.set_config('search_path', '', false);";
/** What Immich's documentation replaces it with. */
export const SEARCH_PATH_FIX = "SELECT pg_catalog.set_config('search_path', 'public, pg_catalog', true);";

/** Options of {@link ImmichDatabaseTarget}. */
export interface ImmichDatabaseTargetOptions {
  /** @default 'immich-db' */
  readonly name?: string;
  readonly connection: PgConnectionOptions;
  /** Live database. @default the connection's database */
  readonly database?: string;
  /** @default { docker: { container: 'immich_postgres' } } */
  readonly executor?: PgExecutorOptions;
  readonly binDirs?: readonly string[];
  /** `--version` outputs remembered between runs (code only; the CLI passes its own). */
  readonly toolVersions?: ToolVersionCache;
  readonly maintenanceDatabase?: string;
  /** Restore into a throwaway database, check, drop it (restore drills). */
  readonly scratch?: boolean;
  /**
   * Keep the previous database `<db>_before_restore_<timestamp>` after a successful restore, as
   * plan B until you drop it. @default true
   */
  readonly keepSafetyCopy?: boolean;
  /**
   * The Immich version that will run on the restored database. A dump from a newer Immich is
   * refused (Immich has no down-migrations). @default from `api`, else the live database's
   * newest `version_history` row
   */
  readonly immichVersion?: string;
  readonly api?: ImmichClientOptions | ImmichClient;
  /**
   * Check every `asset.originalPath` of the restored database against the restored library,
   * translating the container prefix (`/data/` or `/usr/src/app/upload/`) to `uploadLocation`.
   */
  readonly library?: { readonly uploadLocation: string; readonly sample?: number | 'all' };
  /** Only accept manifest entries with this source name. */
  readonly source?: string;
  /**
   * The consistency check a restore drill runs with this target: the restored database's asset
   * paths against the same Duplicati version's files (and optionally the live library).
   * `false` turns it off. @default {} (on, mapping from the manifest's library entry)
   */
  readonly drillCheck?: ImmichLibraryCheckSettings | false;
}

const schema = z
  .object({
    name: z.string().min(1).optional(),
    connection: pgConnectionSchema,
    database: z.string().min(1).optional(),
    executor: pgExecutorSchema.optional(),
    binDirs: z.array(z.string()).optional(),
    toolVersions: toolVersionCacheSchema.optional(),
    maintenanceDatabase: z.string().min(1).optional(),
    scratch: z.boolean().optional(),
    keepSafetyCopy: z.boolean().optional(),
    immichVersion: z
      .string()
      .regex(/^v?\d+\.\d+\.\d+/, 'must look like v2.5.6')
      .optional(),
    api: immichApiOptionSchema.optional(),
    library: z
      .object({
        uploadLocation: z.string().refine((p) => path.isAbsolute(p), 'must be an absolute path'),
        sample: z.union([z.number().int().min(1), z.literal('all')]).optional(),
      })
      .strict()
      .optional(),
    source: z.string().min(1).optional(),
    drillCheck: z.union([z.literal(false), immichLibraryCheckSchema]).optional(),
  })
  .strict();

type Check = { name: string; ok: boolean; detail?: string };

/** Read the first `max` bytes of a dump (gunzipped when needed). */
async function dumpHead(file: string, gz: boolean, max = 256 * 1024): Promise<string> {
  const stream = gz ? createReadStream(file).pipe(createGunzip()) : createReadStream(file);
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of stream as AsyncIterable<Buffer>) {
      chunks.push(c);
      n += c.length;
      if (n >= max) break;
    }
  } catch (e) {
    if (n === 0) throw e;
  } finally {
    (stream as NodeJS.ReadableStream & { destroy(): void }).destroy();
  }
  return Buffer.concat(chunks).subarray(0, max).toString('utf8');
}

/** `pg_dump` or a `pg_dumpall` cluster dump (Immich ≤ v2.4 built-in backups). */
export function dumpKind(head: string): 'pg_dump' | 'pg_dumpall' | 'unknown' {
  if (/PostgreSQL database cluster dump/.test(head) || /^\\connect /m.test(head) || /^CREATE DATABASE /m.test(head)) {
    return 'pg_dumpall';
  }
  if (/PostgreSQL database dump/.test(head)) return 'pg_dump';
  return 'unknown';
}

/** The vector extensions an Immich dump may need, and what provides them. */
const VECTOR_EXTENSIONS: Readonly<Record<string, string>> = {
  vchord: 'VectorChord (extension vchord, Immich ≥ v1.133)',
  vectors: 'pgvecto.rs (extension vectors, Immich < v1.133; dropped in v3)',
  vector: 'pgvector (extension vector)',
};

/**
 * The vector extension the dump needs must be installable on the target server: a missing one is
 * refused with what to install (the generic `extensions` check only names it).
 */
async function vectorExtensionChecks(input: RestoreInput, admin: SqlSession): Promise<Check[]> {
  const ext = input.entry.metadata.extensions;
  if (!ext || typeof ext !== 'object' || Array.isArray(ext)) return [];
  const wanted = Object.keys(ext).filter((x) => x in VECTOR_EXTENSIONS);
  if (wanted.length === 0) return [];
  const rows = await admin.query<{ name: string }>('SELECT name FROM pg_available_extensions');
  const available = new Set(rows.map((r) => r.name));
  const missing = wanted.filter((x) => !available.has(x));
  const version = (x: string) => {
    const v = (ext as Record<string, JsonValue>)[x];
    return typeof v === 'string' ? ` ${v}` : '';
  };
  return [
    {
      name: 'vector-extension',
      ok: missing.length === 0,
      detail: missing.length
        ? `the dump needs ${missing.map((x) => `${VECTOR_EXTENSIONS[x]}${version(x)}`).join(' and ')}, which this PostgreSQL server cannot install: install it first — Immich's image ghcr.io/immich-app/postgres (the tag for this PostgreSQL major with that extension version) ships it, or the extension's package for this server`
        : `${wanted.join(', ')} available`,
    },
  ];
}

/** Map a path inside the server container to the host. */
export function hostPathOf(originalPath: string, uploadLocation: string): string | undefined {
  for (const prefix of IMMICH_CONTAINER_PREFIXES) {
    if (originalPath.startsWith(prefix)) return path.join(uploadLocation, originalPath.slice(prefix.length));
  }
  return undefined;
}

/**
 * Restore target for the Immich database.
 *
 * - verify: dump kind (a single-database pg_dump, not a v2.4-era cluster dump), gzip integrity,
 *   target PostgreSQL major and extensions, Immich version not newer than the one that will run,
 *   then a full load into a scratch database with the `search_path` rewrite, row counts (all
 *   tables and Immich's own), and optionally every asset's original file on disk.
 * - restore: the same load into a new database, then a swap: connections to the live database
 *   are terminated (stop `immich_server` first), live becomes `<db>_before_restore_<timestamp>`,
 *   which is kept by default as plan B.
 *
 * @example
 * ```ts
 * import { createRestorePlan } from 'duplicati-kit';
 * import { ImmichDatabaseTarget } from 'duplicati-kit/immich';
 * const plan = createRestorePlan({ targets: [new ImmichDatabaseTarget({ connection: pg, scratch: true })] });
 * ```
 */
export class ImmichDatabaseTarget implements RestoreTarget {
  readonly name: string;
  readonly kind = IMMICH_DATABASE_KIND;
  readonly #pg: PostgresTarget;
  readonly #options: ImmichDatabaseTargetOptions;
  readonly #api: ImmichClient | undefined;

  constructor(options: ImmichDatabaseTargetOptions) {
    const parsed = schema.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid ImmichDatabaseTarget options', parsed.error);
    this.#options = options;
    this.name = options.name ?? 'immich-db';
    this.#api = toImmichClient(options.api);
    this.#pg = new PostgresTarget(
      {
        name: this.name,
        connection: options.connection,
        ...(options.database ? { database: options.database } : {}),
        executor: options.executor ?? { docker: { container: IMMICH_DB_CONTAINER } },
        ...(options.binDirs ? { binDirs: options.binDirs } : {}),
        ...(options.toolVersions ? { toolVersions: options.toolVersions } : {}),
        ...(options.maintenanceDatabase ? { maintenanceDatabase: options.maintenanceDatabase } : {}),
        ...(options.scratch !== undefined ? { scratch: options.scratch } : {}),
        keepSafetyCopy: options.keepSafetyCopy ?? true,
        ...(options.source ? { source: options.source } : {}),
      },
      {
        transform: () => createReplaceStream(SEARCH_PATH_LINE, SEARCH_PATH_FIX),
        preflight: async (input, dump, admin, ctx, openLive) => [
          ...(await vectorExtensionChecks(input, admin)),
          ...(await this.#preflight(input, dump, ctx, openLive)),
        ],
        inspect: (input, loaded, ctx, counts) => this.#inspect(input, loaded, ctx, counts),
      },
      [IMMICH_DATABASE_KIND],
    );
  }

  accepts(entry: ManifestEntry): boolean {
    return this.#pg.accepts(entry);
  }

  async #installedVersion(
    ctx: SourceContext,
    openLive: () => Promise<SqlSession | undefined>,
  ): Promise<string | undefined> {
    if (this.#options.immichVersion) return this.#options.immichVersion;
    if (this.#api) return this.#api.serverVersion({ signal: ctx.signal });
    // The live database's last version is the Immich that will run on the restored one.
    const live = await openLive();
    if (!live) return undefined;
    try {
      return await readImmichVersion(live);
    } finally {
      await live.close(true);
    }
  }

  async #preflight(
    input: RestoreInput,
    dump: ResolvedArtifact,
    ctx: SourceContext,
    openLive: () => Promise<SqlSession | undefined>,
  ): Promise<Check[]> {
    const checks: Check[] = [];
    let head = '';
    try {
      head = await dumpHead(dump.file, dump.format === 'sql.gz');
      checks.push({ name: 'gzip', ok: true, detail: dump.format === 'sql.gz' ? 'header readable' : 'not compressed' });
    } catch (e) {
      checks.push({ name: 'gzip', ok: false, detail: `cannot read the dump: ${(e as Error).message}` });
      return checks;
    }
    const kind = dumpKind(head);
    checks.push({
      name: 'dump-kind',
      ok: kind === 'pg_dump',
      detail:
        kind === 'pg_dumpall'
          ? 'a pg_dumpall cluster dump (Immich ≤ v2.4); restore it with psql --dbname=postgres as Immich documents'
          : kind,
    });
    const dumped =
      typeof input.entry.metadata.immichVersion === 'string' ? input.entry.metadata.immichVersion : undefined;
    const installed = await this.#installedVersion(ctx, openLive);
    checks.push({
      name: 'immich-version',
      ok: dumped === undefined || installed === undefined || compareImmichVersions(dumped, installed) <= 0,
      detail: `dump from Immich ${dumped ?? 'unknown'}, server ${installed ?? 'unknown'}${
        dumped && installed && compareImmichVersions(dumped, installed) > 0
          ? ': a newer dump cannot run on an older Immich; upgrade Immich first'
          : ''
      }`,
    });
    return checks;
  }

  async #inspect(
    input: RestoreInput,
    loaded: SqlSession,
    ctx: SourceContext,
    counts: Promise<Readonly<Record<string, number>>>,
  ): Promise<Check[]> {
    const checks: Check[] = [];
    const generation = await detectGeneration(loaded);
    checks.push({ name: 'immich-schema', ok: generation !== undefined, detail: generation ?? 'no Immich tables' });
    if (!generation) return checks;
    const restoredVersion = await readImmichVersion(loaded);
    const dumped = input.entry.metadata.immichVersion;
    checks.push({
      name: 'immich-version-in-db',
      ok: typeof dumped !== 'string' || restoredVersion === dumped,
      detail: `version_history says ${restoredVersion ?? 'nothing'}`,
    });
    const expected = input.entry.metadata.immich;
    if (expected && typeof expected === 'object' && !Array.isArray(expected)) {
      // The whole-table counts come from the per-table check counting beside this: not counted twice.
      const actual = await readImmichCounts(loaded, generation, { known: counts });
      const same = JSON.stringify(sortKeys(actual)) === JSON.stringify(sortKeys(expected));
      checks.push({
        name: 'immich-counts',
        ok: same,
        detail: same
          ? JSON.stringify(actual)
          : `restored ${JSON.stringify(actual)}, manifest ${JSON.stringify(expected)}`,
      });
    }
    if (this.#options.library) checks.push(await this.#checkFiles(loaded, generation, ctx));
    return checks;
  }

  async #checkFiles(loaded: SqlSession, generation: 'plural' | 'singular', ctx: SourceContext): Promise<Check> {
    const lib = this.#options.library as NonNullable<ImmichDatabaseTargetOptions['library']>;
    const missing: string[] = [];
    let checked = 0;
    for await (const batch of streamAssetPaths(loaded, generation, {
      ...(typeof lib.sample === 'number' ? { limit: lib.sample } : {}),
    })) {
      for (const p of batch) {
        const host = hostPathOf(p, lib.uploadLocation) ?? p;
        if (!(await fsp.lstat(host).catch(() => undefined))) missing.push(p);
      }
      checked += batch.length;
      ctx.onProgress({ phase: 'verify', unit: 'files', completed: checked, description: 'checking asset files' });
    }
    return {
      name: 'asset-files',
      ok: missing.length === 0,
      detail: missing.length
        ? `${missing.length} of ${checked} asset files missing: ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ', …' : ''}`
        : `${checked} asset files present`,
    };
  }

  /**
   * Hand every asset's `originalPath` (status `deleted` left out) to `consume`, batch by batch,
   * read straight out of the asset table's `COPY` data in the entry's plain or gzipped SQL dump
   * (the formats `ImmichDatabaseSource` writes): no database is loaded. Drill consistency checks
   * use it.
   *
   * @example
   * ```ts
   * const report = await target.readAssetPaths(input, ctx, (paths) => { for (const p of paths) seen.add(p); });
   * ```
   */
  readAssetPaths(input: RestoreInput, ctx: SourceContext, consume: AssetPathConsumer): Promise<VerificationReport> {
    const plain = input.artifacts.find((a) => a.format === 'sql' || a.format === 'sql.gz');
    if (!plain) {
      const detail = 'the entry holds no plain or gzipped SQL dump to read the asset paths from';
      return Promise.resolve({ ok: false, checks: [{ name: 'asset-paths', ok: false, detail }] });
    }
    return assetPathsFromDump(plain.file, plain.format === 'sql.gz', consume, ctx);
  }

  /**
   * The drill consistency check of this target (see {@link ImmichLibraryCheck}): a restore drill
   * runs it after the targets, unless the `drillCheck` option is `false`.
   */
  drillChecks(): DrillCheck[] {
    const opts = this.#options.drillCheck;
    if (opts === false) return [];
    return [new ImmichLibraryCheck({ ...(opts ?? {}), target: this })];
  }

  verify(input: RestoreInput, ctx: SourceContext): Promise<VerificationReport> {
    return this.#pg.verify(input, ctx);
  }

  restore(input: RestoreInput, ctx: SourceContext): Promise<RestoreOutput> {
    return this.#pg.restore(input, ctx);
  }

  rollback(output: RestoreOutput, ctx: SourceContext): Promise<void> {
    return this.#pg.rollback(output, ctx);
  }

  finalize(output: RestoreOutput, ctx: SourceContext): Promise<void> {
    return this.#pg.finalize(output, ctx);
  }

  discard(report: VerificationReport, ctx: SourceContext): Promise<void> {
    return this.#pg.discard(report, ctx);
  }

  /**
   * Recovery on a new host: rewrite the paths the restored database stores under the map, in one
   * transaction (see `rewriteImmichPaths`). A scratch target has no live database: nothing to do.
   */
  async rewriteStoredPaths(map: readonly StoredPathMapping[], ctx: RecoveryContext): Promise<JsonValue> {
    if (this.#options.scratch) return { skipped: 'scratch target' };
    const session = await this.#pg.openDatabase(ctx.signal);
    try {
      return rewriteEvidence(await rewriteImmichPaths(session, map));
    } finally {
      await session.close();
    }
  }

  /**
   * Recovery on a new host: every asset's original in the restored database exists in the
   * restored library (`library.uploadLocation` maps container paths).
   */
  async recoveryCheck(ctx: RecoveryContext): Promise<VerificationReport> {
    if (this.#options.scratch)
      return { ok: true, checks: [{ name: 'immich-recovery', ok: true, detail: 'scratch target' }] };
    const session = await this.#pg.openDatabase(ctx.signal);
    try {
      return await checkImmichRecovery(session, {
        ...(this.#options.library ? { uploadLocation: this.#options.library.uploadLocation } : {}),
        signal: ctx.signal,
      });
    } finally {
      await session.close();
    }
  }
}

/** The asset tables of both schema generations, as COPY names them. */
const ASSET_TABLES = [`public.${IMMICH_TABLES.singular.assets}`, `public.${IMMICH_TABLES.plural.assets}`];

/** Read the asset paths out of a plain-SQL Immich dump's COPY data (see `readAssetPaths`). */
async function assetPathsFromDump(
  file: string,
  gz: boolean,
  consume: AssetPathConsumer,
  ctx: SourceContext,
): Promise<VerificationReport> {
  const name = 'asset-paths';
  const raw = createReadStream(file, { highWaterMark: 1 << 20 });
  const gunzip = gz ? createGunzip() : undefined;
  if (gunzip) raw.on('error', (e) => gunzip.destroy(e)).pipe(gunzip);
  let read = 0;
  try {
    const found = await readCopyRows(
      gunzip ?? raw,
      ASSET_TABLES,
      ['originalPath', 'status'],
      async (rows) => {
        const paths: string[] = [];
        for (const [p, status] of rows) if (typeof p === 'string' && status !== 'deleted') paths.push(p);
        read += paths.length;
        await consume(paths);
        ctx.onProgress({ phase: 'verify', unit: 'items', completed: read, description: 'reading asset paths' });
      },
      { signal: ctx.signal },
    );
    if (!found.table) {
      return {
        ok: false,
        checks: [{ name, ok: false, detail: 'the dump holds no data of an Immich asset table (asset or assets)' }],
      };
    }
    return {
      ok: true,
      checks: [{ name, ok: true, detail: `${read} asset paths read from the dump's ${found.table} data` }],
    };
  } catch (e) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    return { ok: false, checks: [{ name, ok: false, detail: `reading the dump failed: ${(e as Error).message}` }] };
  } finally {
    raw.destroy();
    gunzip?.destroy();
  }
}

function sortKeys(v: unknown): unknown {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return v;
  return Object.fromEntries(
    Object.entries(v as Record<string, unknown>)
      // Code-unit order: any fixed order will do, and `localeCompare` loads ICU's collator
      // (~6 ms of a restore's main thread) for keys that are plain ASCII.
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, x]) => [k, sortKeys(x)]),
  );
}
