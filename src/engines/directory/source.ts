/**
 * Folders Duplicati backs up directly (photo libraries are never copied). The source records file
 * count and bytes per path so a restore can be checked; the target checks restored folders
 * against those figures.
 *
 * @module
 */
import { once } from 'node:events';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { throwIfAborted } from '../../core/abort.js';
import type { ArtifactRef } from '../../core/artifact-writer.js';
import { SourceUnavailableError, VerificationError } from '../../core/errors.js';
import { configErrorFrom } from '../../core/validate.js';
import { compileFilters, type PathFilter } from '../../core/filters.js';
import type {
  BackupSource,
  JsonValue,
  ManifestEntry,
  PreparedSource,
  RestoreInput,
  RestoreOutput,
  RestoreTarget,
  SourceContext,
  VerificationReport,
} from '../../contracts/types.js';

/** Figures of one folder tree. */
export interface TreeStats {
  files: number;
  bytes: number;
  dirs: number;
  symlinks: number;
}

/** One line of a listing artifact. */
export interface ListingEntry {
  readonly path: string;
  readonly type: 'file' | 'dir' | 'symlink';
  readonly size: number;
  readonly mtimeMs: number;
  readonly mode: number;
}

/**
 * Walk a tree without following links, skipping what `filter` excludes. Folders are read as
 * streams (`opendir`), so a folder of a million photos costs no more memory than one of ten.
 */
export async function walkTree(
  root: string,
  options: {
    filter?: PathFilter;
    signal?: AbortSignal;
    onEntry?: (entry: ListingEntry) => void | Promise<void>;
  } = {},
): Promise<TreeStats> {
  const stats: TreeStats = { files: 0, bytes: 0, dirs: 0, symlinks: 0 };
  const stack: string[] = [root];
  while (stack.length > 0) {
    throwIfAborted(options.signal);
    const dir = stack.pop() as string;
    const handle = await fsp.opendir(dir, { bufferSize: 256 });
    for await (const d of handle) {
      const abs = path.join(dir, d.name);
      const rel = path.relative(root, abs).split(path.sep).join('/');
      if (d.isDirectory()) {
        if (options.filter?.excludes(`${abs}/`)) continue;
        stats.dirs++;
        stack.push(abs);
        if (options.onEntry) {
          const st = await fsp.lstat(abs);
          await options.onEntry({ path: rel, type: 'dir', size: 0, mtimeMs: st.mtimeMs, mode: st.mode & 0o7777 });
        }
        continue;
      }
      if (options.filter?.excludes(abs)) continue;
      if (d.isSymbolicLink()) {
        stats.symlinks++;
        if (options.onEntry) {
          const st = await fsp.lstat(abs);
          await options.onEntry({ path: rel, type: 'symlink', size: 0, mtimeMs: st.mtimeMs, mode: st.mode & 0o7777 });
        }
        continue;
      }
      if (!d.isFile()) continue;
      const st = await fsp.lstat(abs);
      stats.files++;
      stats.bytes += st.size;
      if (options.onEntry) {
        await options.onEntry({ path: rel, type: 'file', size: st.size, mtimeMs: st.mtimeMs, mode: st.mode & 0o7777 });
      }
    }
  }
  return stats;
}

const sourceOptions = z
  .object({
    name: z.string().min(1),
    paths: z
      .array(
        z
          .string()
          .min(1)
          .refine((p) => path.isAbsolute(p), 'must be an absolute path'),
      )
      .min(1),
    exclude: z.array(z.string().min(1)).optional(),
    listing: z.boolean().optional(),
  })
  .strict();

/** Options of {@link DirectorySource}. */
export type DirectorySourceOptions = z.input<typeof sourceOptions>;

/**
 * Folders for Duplicati to back up directly. `prepare` counts files and bytes per path (what the
 * filters leave) into the manifest and, with `listing: true`, writes `listing.ndjson` (path, type,
 * size, mtime, mode of every entry) as an artifact.
 *
 * @example
 * ```ts
 * new DirectorySource({ name: 'photos', paths: ['/srv/photos'], exclude: ['*\/.thumbnails/'] });
 * ```
 */
export class DirectorySource implements BackupSource {
  readonly name: string;
  readonly kind = 'directory';
  readonly options: Readonly<z.output<typeof sourceOptions>>;

  constructor(options: DirectorySourceOptions) {
    const parsed = sourceOptions.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid DirectorySource options', parsed.error);
    compileFilters(parsed.data.exclude ?? []);
    this.options = parsed.data;
    this.name = parsed.data.name;
  }

  async check(ctx: SourceContext): Promise<void> {
    for (const p of this.options.paths) {
      throwIfAborted(ctx.signal);
      try {
        const st = await fsp.stat(p);
        if (!st.isDirectory()) throw new Error('not a folder');
        const h = await fsp.opendir(p);
        await h.close();
      } catch (e) {
        throw new SourceUnavailableError(
          `cannot read folder ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
          { source: this.name, kind: this.kind, phase: 'check' },
          { cause: e },
        );
      }
    }
  }

  async prepare(ctx: SourceContext): Promise<PreparedSource> {
    const filter = compileFilters(this.options.exclude ?? []);
    const perPath: Record<string, JsonValue> = {};
    const artifacts: ArtifactRef[] = [];
    let totalFiles = 0;
    let totalBytes = 0;
    const sink = this.options.listing
      ? ctx.artifacts.open('listing.ndjson', { format: 'ndjson', signal: ctx.signal })
      : undefined;
    try {
      for (const p of this.options.paths) {
        const stats = await walkTree(p, {
          filter,
          signal: ctx.signal,
          ...(sink
            ? {
                onEntry: async (e: ListingEntry) => {
                  if (!sink.stream.write(`${JSON.stringify({ root: p, ...e })}\n`)) await once(sink.stream, 'drain');
                },
              }
            : {}),
        });
        totalFiles += stats.files;
        totalBytes += stats.bytes;
        perPath[p] = { ...stats };
        ctx.onProgress({ phase: 'prepare', completed: totalFiles, unit: 'files', description: p });
      }
      if (sink) artifacts.push(await sink.finish());
    } catch (e) {
      await sink?.abort(e);
      throw e;
    }
    return {
      artifacts,
      includePaths: [...this.options.paths],
      excludePatterns: [...(this.options.exclude ?? [])],
      metadata: { paths: perPath, files: totalFiles, bytes: totalBytes },
    };
  }
}

const targetOptions = z
  .object({
    name: z.string().min(1).optional(),
    source: z.string().min(1).optional(),
    restoredRoot: z
      .string()
      .refine((p) => path.isAbsolute(p), 'must be an absolute path')
      .optional(),
    map: z.record(z.string(), z.string()).optional(),
    allowExtra: z.boolean().optional(),
  })
  .strict();

/** Options of {@link DirectoryTarget}. */
export type DirectoryTargetOptions = z.input<typeof targetOptions>;

/**
 * Checks folders Duplicati restored against the manifest's file counts and bytes. Duplicati writes
 * the files itself; this target proves they are all there. Restored paths are found through `map`
 * (original path → restored path) or under `restoredRoot` (`<restoredRoot>/<original absolute
 * path>`, how Duplicati restores several roots to another folder); by default in place.
 *
 * @example
 * ```ts
 * new DirectoryTarget({ source: 'photos', restoredRoot: '/restore/files' });
 * ```
 */
export class DirectoryTarget implements RestoreTarget {
  readonly name: string;
  readonly kind = 'directory';
  readonly options: Readonly<z.output<typeof targetOptions>>;

  constructor(options: DirectoryTargetOptions = {}) {
    const parsed = targetOptions.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid DirectoryTarget options', parsed.error);
    this.options = parsed.data;
    this.name = parsed.data.name ?? `directory${parsed.data.source ? `:${parsed.data.source}` : ''}`;
  }

  accepts(entry: ManifestEntry): boolean {
    return (
      entry.kind === 'directory' &&
      (this.options.source === undefined ||
        entry.name === this.options.source ||
        entry.name.endsWith(`/${this.options.source}`))
    );
  }

  /** Where the folder originally at `original` was restored. */
  resolve(original: string): string {
    const mapped = this.options.map?.[original];
    if (mapped) return mapped;
    if (this.options.restoredRoot) return path.join(this.options.restoredRoot, original);
    return original;
  }

  async verify(input: RestoreInput, ctx: SourceContext): Promise<VerificationReport> {
    const filter = compileFilters(input.entry.excludePatterns);
    const paths = (input.entry.metadata.paths ?? {}) as Record<string, Partial<TreeStats>>;
    const checks: { name: string; ok: boolean; detail?: string }[] = [];
    for (const [original, expected] of Object.entries(paths)) {
      const where = this.resolve(original);
      let got: TreeStats;
      try {
        // Filters apply to original paths; a restored copy elsewhere has none of the excluded parts.
        got = await walkTree(where, { signal: ctx.signal, ...(where === original ? { filter } : {}) });
      } catch (e) {
        checks.push({
          name: `${original} exists`,
          ok: false,
          detail: `${where}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        });
        continue;
      }
      const cmp = (what: 'files' | 'bytes') => {
        const want = expected[what] ?? 0;
        const ok = this.options.allowExtra ? got[what] >= want : got[what] === want;
        checks.push({ name: `${original} ${what}`, ok, detail: `expected ${want}, found ${got[what]} in ${where}` });
      };
      cmp('files');
      cmp('bytes');
    }
    return { ok: checks.every((c) => c.ok), checks };
  }

  async restore(input: RestoreInput, ctx: SourceContext): Promise<RestoreOutput> {
    const report = await this.verify(input, ctx);
    if (!report.ok) {
      throw new VerificationError(
        'restored folders do not match the manifest',
        { source: input.entry.name, kind: this.kind, phase: 'restore' },
        report.checks.filter((c) => !c.ok).map((c) => ({ check: c.name, message: c.detail ?? 'failed' })),
      );
    }
    return { restored: Object.keys((input.entry.metadata.paths ?? {}) as object).map((p) => this.resolve(p)) };
  }
}
