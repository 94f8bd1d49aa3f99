/**
 * `ArchiveSource` and `ArchiveTarget`: a folder packed into a tar (optionally gzip) artifact, and
 * restored with the hostile-input-safe extraction of {@link extractArchive}.
 *
 * @module
 */
import { constants, promises as fsp } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { z } from 'zod';
import { throwIfAborted } from '../../core/abort.js';
import {
  ArchiveError,
  DumpError,
  isDuplicatiKitError,
  RestoreError,
  SourceUnavailableError,
} from '../../core/errors.js';
import { exists as lexists, safeRelativePath } from '../../core/fs.js';
import {
  type ArchiveStats,
  extractToStaging,
  removeTree,
  scanArchive,
  siblingPath,
  swapIntoPlace,
} from '../_shared/extract-archive.js';
import { configErrorFrom } from '../../core/validate.js';
import { type ChangedFilePolicy, FileChangedError, packTree } from '../_shared/tar-pack.js';
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

/** `kind` of archive sources and the manifest entries they write. */
export const ARCHIVE_KIND = 'archive';

const relPath = z.string().refine((p) => safeRelativePath(p) !== undefined, {
  message: 'must be a relative path inside root (no "..", no leading "/")',
});

const sourceSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'must be a simple name (letters, digits, . _ -)'),
    root: z.string().min(1),
    include: z.array(relPath).min(1).optional(),
    exclude: z.array(z.string().min(1)).optional(),
    gzip: z.union([z.boolean(), z.object({ level: z.number().int().min(0).max(9) }).strict()]).optional(),
    artifactName: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'must be a simple file name without extension')
      .optional(),
    owner: z.boolean().optional(),
    hardlinks: z.boolean().optional(),
    onChangedFile: z.enum(['warn', 'fail']).optional(),
  })
  .strict();

/** Options of {@link ArchiveSource}. */
export interface ArchiveSourceOptions {
  /** Source name: the manifest key and the folder in the work directory. */
  readonly name: string;
  /** The folder to archive. A symlink here is followed; none below it is. */
  readonly root: string;
  /** Relative paths under `root` to archive instead of all of it. */
  readonly include?: readonly string[];
  /**
   * Globs on paths relative to `root`: `*` and `?` within a segment, `**` across segments. A
   * pattern without `/` matches any segment's name (`*.tmp`, `cache`), one with `/` the whole path.
   */
  readonly exclude?: readonly string[];
  /** Compress with gzip; `true` is level 6 (gzip's default). @default false */
  readonly gzip?: boolean | { readonly level: number };
  /** Base name of the artifact (`<artifactName>.tar[.gz]`). @default name */
  readonly artifactName?: string;
  /** Record uid/gid in the archive. @default true */
  readonly owner?: boolean;
  /** Store hardlinked files once. @default true */
  readonly hardlinks?: boolean;
  /**
   * A file that changes while it is read is padded or cut to the size in its header (the archive
   * stays valid) and counted in the metadata as `changed` (`warn`), or fails the source (`fail`).
   * @default 'warn'
   */
  readonly onChangedFile?: ChangedFilePolicy;
}

function sourceWhere(s: { name: string; kind: string }, phase: 'check' | 'prepare') {
  return { source: s.name, kind: s.kind, phase };
}

/**
 * A folder packed into one tar or tar.gz artifact, streamed through `ctx.artifacts` (sha256 and
 * size computed in the same pass). Mode, mtime, uid/gid, symlinks (never followed) and hardlinks
 * are kept; sockets, FIFOs and devices are skipped with a warning. Memory stays flat whatever the
 * size of the tree. Use it for small, changing folders (configs, app data); let Duplicati back up
 * large libraries directly with a `DirectorySource`.
 *
 * Manifest metadata: `root`, `format`, `files`, `directories`, `symlinks`, `hardlinks`, `bytes`,
 * `skipped`, `changed`.
 *
 * @throws {ConfigError} from the constructor when the options are invalid.
 * @example
 * ```ts
 * const source = new ArchiveSource({ name: 'jellyfin-config', root: '/etc/jellyfin', gzip: true, exclude: ['*.log'] });
 * const plan = createBackupPlan({ workDir: '/srv/backup/staging', sources: [source] });
 * ```
 */
export class ArchiveSource implements BackupSource {
  readonly name: string;
  readonly kind = ARCHIVE_KIND;
  readonly options: Readonly<ArchiveSourceOptions> & { readonly root: string };
  readonly #level: number | undefined;

  constructor(options: ArchiveSourceOptions) {
    const parsed = sourceSchema.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid ArchiveSource options', parsed.error);
    this.name = options.name;
    this.options = { ...options, root: path.resolve(options.root) };
    const gz = options.gzip;
    this.#level = gz === undefined || gz === false ? undefined : gz === true ? 6 : gz.level;
  }

  /** The artifact's format: `tar` or `tar.gz`. */
  get format(): 'tar' | 'tar.gz' {
    return this.#level === undefined ? 'tar' : 'tar.gz';
  }

  /** Verify that `root` (and each include path) exists, is a folder and is readable. */
  async check(ctx: SourceContext): Promise<void> {
    throwIfAborted(ctx.signal);
    const root = this.options.root;
    try {
      const st = await fsp.stat(root);
      if (!st.isDirectory()) {
        throw new SourceUnavailableError(`${root} is not a folder`, sourceWhere(this, 'check'));
      }
      await fsp.access(root, constants.R_OK | constants.X_OK);
      for (const rel of this.options.include ?? []) {
        await fsp.lstat(path.join(root, rel));
      }
    } catch (e) {
      if (isDuplicatiKitError(e)) throw e;
      throw new SourceUnavailableError(`cannot read ${root}: ${(e as Error).message}`, sourceWhere(this, 'check'), {
        cause: e,
      });
    }
  }

  /** Write `<artifactName>.tar` or `.tar.gz` through `ctx.artifacts`. */
  async prepare(ctx: SourceContext): Promise<PreparedSource> {
    throwIfAborted(ctx.signal);
    const file = `${this.options.artifactName ?? this.name}.${this.format}`;
    const progressEvery = 8 << 20;
    let nextProgress = progressEvery;
    const { stream, done } = packTree(this.options.root, {
      signal: ctx.signal,
      logger: ctx.logger,
      ...(this.options.include ? { include: this.options.include } : {}),
      ...(this.options.exclude ? { exclude: this.options.exclude } : {}),
      ...(this.options.owner !== undefined ? { owner: this.options.owner } : {}),
      ...(this.options.hardlinks !== undefined ? { hardlinks: this.options.hardlinks } : {}),
      ...(this.options.onChangedFile ? { onChangedFile: this.options.onChangedFile } : {}),
      onProgress: (s) => {
        if (s.bytes < nextProgress) return;
        nextProgress = s.bytes + progressEvery;
        ctx.onProgress({ phase: 'prepare', completed: s.bytes, unit: 'bytes', description: `${s.files} files` });
      },
    });
    try {
      // zlib runs on the thread pool, so compression overlaps the walk and the hashing.
      const body =
        this.#level === undefined
          ? new PassThrough({ highWaterMark: 1 << 20 })
          : createGzip({ level: this.#level, chunkSize: 128 * 1024 });
      const [written, piped] = await Promise.allSettled([
        ctx.artifacts.write(file, body, { format: this.format, signal: ctx.signal }),
        pipeline(stream, body),
      ]);
      if (written.status === 'rejected') throw written.reason;
      if (piped.status === 'rejected') throw piped.reason;
      const ref = written.value;
      const stats = await done;
      ctx.onProgress({ phase: 'prepare', completed: stats.bytes, total: stats.bytes, unit: 'bytes' });
      const metadata: Record<string, JsonValue> = {
        root: this.options.root,
        format: this.format,
        files: stats.files,
        directories: stats.directories,
        symlinks: stats.symlinks,
        hardlinks: stats.hardlinks,
        bytes: stats.bytes,
        skipped: stats.skipped,
        changed: stats.changed,
      };
      if (stats.changedPaths.length) metadata.changedPaths = stats.changedPaths;
      if (this.#level !== undefined) metadata.gzipLevel = this.#level;
      return { artifacts: [ref], metadata };
    } catch (e) {
      await done.catch(() => {});
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const walkErr = await done.then(
        () => undefined,
        (w: unknown) => w,
      );
      const cause = walkErr ?? e;
      if (isDuplicatiKitError(cause)) throw cause;
      const message =
        cause instanceof FileChangedError
          ? `${cause.path} changed while it was archived (onChangedFile: 'fail')`
          : `archiving ${this.options.root} failed: ${(cause as Error)?.message ?? String(cause)}`;
      throw new DumpError(message, sourceWhere(this, 'prepare'), { cause });
    }
  }

  /** Nothing to do: the plan owns the work directory and removes the artifact. */
  async cleanup(_ctx: SourceContext): Promise<void> {}
}

const targetSchema = z
  .object({
    name: z.string().min(1).optional(),
    source: z.string().min(1).optional(),
    dest: z.string().min(1),
    overwrite: z.boolean().optional(),
    keepSafetyCopy: z.boolean().optional(),
    preserveSpecialBits: z.boolean().optional(),
  })
  .strict();

/** Options of {@link ArchiveTarget}. */
export interface ArchiveTargetOptions {
  /** Target name in reports. @default `archive:<source or dest>` */
  readonly name?: string;
  /** Only accept the manifest source of this name. @default any `archive` entry */
  readonly source?: string;
  /** The folder to restore into. */
  readonly dest: string;
  /**
   * Replace an existing `dest` (kept as a safety copy until the plan succeeds). Without it, an
   * existing `dest` fails verification. @default false
   */
  readonly overwrite?: boolean;
  /** Keep the safety copy of the previous `dest` after success (`<dest>.safety-<random>`). @default false */
  readonly keepSafetyCopy?: boolean;
  /** Keep setuid/setgid bits. @default false */
  readonly preserveSpecialBits?: boolean;
}

const COUNTS = ['files', 'directories', 'symlinks', 'hardlinks', 'bytes'] as const;

/**
 * Restores an {@link ArchiveSource} artifact into a folder. `verify` reads the whole archive
 * through every safety rule without writing and compares its counts with the manifest; `restore`
 * extracts into a staging folder beside `dest`, moves the current `dest` aside as a safety copy
 * and renames the staging folder into place; `rollback` puts the safety copy back; `finalize`
 * removes it (unless `keepSafetyCopy`).
 *
 * @throws {ConfigError} from the constructor when the options are invalid.
 * @example
 * ```ts
 * const restore = createRestorePlan({
 *   targets: [new ArchiveTarget({ source: 'jellyfin-config', dest: '/etc/jellyfin', overwrite: true })],
 * });
 * await restore.run({ from: '/restore/staging', signal });
 * ```
 */
export class ArchiveTarget implements RestoreTarget {
  readonly name: string;
  readonly kind = ARCHIVE_KIND;
  readonly options: Readonly<ArchiveTargetOptions>;
  readonly #dest: string;

  constructor(options: ArchiveTargetOptions) {
    const parsed = targetSchema.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid ArchiveTarget options', parsed.error);
    this.options = options;
    this.#dest = path.resolve(options.dest);
    this.name = options.name ?? `archive:${options.source ?? this.#dest}`;
  }

  /** Accepts `archive` entries (of the configured source name, when one is set). */
  accepts(entry: ManifestEntry): boolean {
    return entry.kind === ARCHIVE_KIND && (this.options.source === undefined || entry.name === this.options.source);
  }

  #where(entry: ManifestEntry, phase: 'verify' | 'restore' | 'rollback' | 'finalize') {
    return { source: entry.name, kind: entry.kind, phase };
  }

  #artifact(input: RestoreInput): { file: string; format: string } {
    const list = input.artifacts.filter((a) => a.format === 'tar' || a.format === 'tar.gz');
    if (list.length !== 1) {
      throw new RestoreError(
        `expected one tar or tar.gz artifact, found ${list.length}`,
        this.#where(input.entry, 'verify'),
      );
    }
    return list[0] as { file: string; format: string };
  }

  /** Scan the archive through every safety rule (no writes) and compare counts with the manifest. */
  async verify(input: RestoreInput, ctx: SourceContext): Promise<VerificationReport> {
    const checks: { name: string; ok: boolean; detail?: string }[] = [];
    let artifact: { file: string; format: string };
    try {
      artifact = this.#artifact(input);
    } catch (e) {
      return { ok: false, checks: [{ name: 'artifact', ok: false, detail: (e as Error).message }] };
    }
    let stats: ArchiveStats | undefined;
    try {
      stats = await scanArchive(artifact.file, {
        signal: ctx.signal,
        logger: ctx.logger,
        ...this.#limits(input.entry),
        onProgress: (p) =>
          ctx.onProgress({ phase: 'verify', completed: p.bytes, unit: 'bytes', ...this.#total(input.entry) }),
      });
      checks.push({ name: 'archive_safe', ok: true, detail: `${stats.entries} entries` });
    } catch (e) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const entry = e instanceof ArchiveError && e.entry ? ` (entry ${JSON.stringify(e.entry)})` : '';
      checks.push({ name: 'archive_safe', ok: false, detail: `${(e as Error).message}${entry}` });
    }
    if (stats) {
      if (stats.format !== artifact.format) {
        checks.push({ name: 'format', ok: false, detail: `manifest says ${artifact.format}, file is ${stats.format}` });
      }
      for (const key of COUNTS) {
        const expected = input.entry.metadata[key];
        if (typeof expected !== 'number') continue;
        const ok = expected === stats[key];
        checks.push({
          name: key,
          ok,
          detail: ok ? String(expected) : `expected ${expected}, archive holds ${stats[key]}`,
        });
      }
    }
    const exists = await lexists(this.#dest);
    if (exists && !this.options.overwrite) {
      checks.push({ name: 'dest', ok: false, detail: `${this.#dest} exists; set overwrite: true to replace it` });
    } else {
      checks.push({ name: 'dest', ok: true, detail: exists ? 'will be replaced (safety copy kept)' : 'new folder' });
    }
    return { ok: checks.every((c) => c.ok), checks };
  }

  #limits(entry: ManifestEntry): { maxTotalSize?: number; preserveSpecialBits?: boolean } {
    const bytes = entry.metadata.bytes;
    return {
      ...(typeof bytes === 'number' ? { maxTotalSize: bytes } : {}),
      ...(this.options.preserveSpecialBits ? { preserveSpecialBits: true } : {}),
    };
  }

  #total(entry: ManifestEntry): { total?: number } {
    const bytes = entry.metadata.bytes;
    return typeof bytes === 'number' ? { total: bytes } : {};
  }

  /** Extract to staging, move the current `dest` aside as a safety copy, rename staging into place. */
  async restore(input: RestoreInput, ctx: SourceContext): Promise<RestoreOutput> {
    const dest = this.#dest;
    if (ctx.dryRun) return { restored: [], state: { dest, dryRun: true } };
    const { file } = this.#artifact(input);
    if (!this.options.overwrite && (await lexists(dest))) {
      throw new RestoreError(`${dest} exists; set overwrite: true to replace it`, this.#where(input.entry, 'restore'));
    }
    let staging: string;
    let stats: ArchiveStats;
    try {
      ({ staging, stats } = await extractToStaging(file, dest, {
        signal: ctx.signal,
        logger: ctx.logger,
        ...this.#limits(input.entry),
        onProgress: (p) =>
          ctx.onProgress({ phase: 'restore', completed: p.bytes, unit: 'bytes', ...this.#total(input.entry) }),
      }));
    } catch (e) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      throw new RestoreError(
        `extracting into ${dest} failed: ${(e as Error).message}`,
        this.#where(input.entry, 'restore'),
        {
          cause: e,
        },
      );
    }
    const safety = siblingPath(dest, 'safety');
    let moved: boolean;
    try {
      ({ moved } = await swapIntoPlace(staging, dest, this.options.overwrite ? safety : undefined));
    } catch (e) {
      await removeTree(staging).catch(() => {});
      throw new RestoreError(
        `moving the restored folder into ${dest} failed: ${(e as Error).message}`,
        this.#where(input.entry, 'restore'),
        {
          cause: e,
        },
      );
    }
    ctx.logger.info('archive restored', {
      dest,
      files: stats.files,
      bytes: stats.bytes,
      safetyCopy: moved ? safety : null,
    });
    const metadata: Record<string, JsonValue> = {
      files: stats.files,
      directories: stats.directories,
      symlinks: stats.symlinks,
      hardlinks: stats.hardlinks,
      bytes: stats.bytes,
    };
    return {
      restored: [dest],
      ...(moved ? { safetyCopy: safety } : {}),
      state: { dest, safetyCopy: moved ? safety : null },
      metadata,
    };
  }

  /** Put the safety copy back (or remove `dest` when there was none before). */
  async rollback(output: RestoreOutput, ctx: SourceContext): Promise<void> {
    const dest = typeof output.state?.dest === 'string' ? output.state.dest : this.#dest;
    if (output.state?.dryRun === true) return;
    const safety = output.safetyCopy;
    const aside = siblingPath(dest, 'rolled-back');
    const had = await lexists(dest);
    if (had) await fsp.rename(dest, aside);
    if (safety) {
      try {
        await fsp.rename(safety, dest);
      } catch (e) {
        if (had) await fsp.rename(aside, dest).catch(() => {});
        throw new RestoreError(
          `putting the safety copy ${safety} back failed`,
          {
            source: this.name,
            kind: this.kind,
            phase: 'rollback',
          },
          { cause: e },
        );
      }
    }
    ctx.logger.info('archive restore rolled back', { dest, safetyCopy: safety ?? null });
    if (had) await removeTree(aside);
  }

  /** Remove the safety copy unless `keepSafetyCopy`. */
  async finalize(output: RestoreOutput, ctx: SourceContext): Promise<void> {
    if (!output.safetyCopy || this.options.keepSafetyCopy) return;
    await removeTree(output.safetyCopy);
    ctx.logger.debug('safety copy removed', { safetyCopy: output.safetyCopy });
  }
}
