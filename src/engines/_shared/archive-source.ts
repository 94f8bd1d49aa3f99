/**
 * `ArchiveSource`: a folder packed into a tar (optionally gzip) artifact. In engines/_shared because
 * the nginx engine archives its trees with it; `engines/archive` re-exports it.
 *
 * @module
 */
import { constants, promises as fsp } from 'node:fs';
import path from 'node:path';
import { PassThrough, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { throwIfAborted } from '../../core/abort.js';
import {
  asNoSpaceError,
  ConfigError,
  DumpError,
  isDuplicatiKitError,
  SourceUnavailableError,
} from '../../core/errors.js';
import { isInside } from '../../core/fs.js';
import { configErrorFrom } from '../../core/validate.js';
import type { BackupSource, JsonValue, PreparedSource, SourceContext } from '../../contracts/types.js';
import {
  ARCHIVE_KIND,
  ARCHIVE_SOURCE_DEFAULTS,
  type ArchiveSourceOptions,
  archiveSourceSchema,
} from './archive-options.js';
import { createBlockPool, createBlockStream } from './block-stream.js';
import { coalesce } from './coalesce.js';
import { createParallelGzip } from './gzip-parallel.js';
import { FileChangedError, PackStreamClosedError, packTree } from './tar-pack.js';

/** Bytes per gzip member (and per pooled block before the gzip stage). */
const GZIP_BLOCK = 1 << 20;

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
    const parsed = archiveSourceSchema.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid ArchiveSource options', parsed.error);
    this.name = options.name;
    this.options = { ...options, root: path.resolve(options.root) };
    const gz = options.gzip;
    this.#level =
      gz === undefined || gz === false ? undefined : gz === true ? ARCHIVE_SOURCE_DEFAULTS.gzipLevel : gz.level;
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

  /**
   * What the tar stream goes through: regrouped, then gzipped (or passed on as a plain tar). Tar
   * entries of small files arrive a few KB at a time. For gzip they are copied once into 1 MiB
   * blocks that come back to the pool once compressed (no fresh block to fault in, and no second
   * copy gathering a member); a plain tar gets 128 KiB pieces, so the hash and the disk write get
   * one call per piece, not one per entry.
   */
  #bodyStages(): { regroup: Transform; body: Transform } {
    const level = this.#level;
    if (level === undefined) return { regroup: coalesce(), body: new PassThrough({ highWaterMark: 1 << 20 }) };
    const pool = createBlockPool(GZIP_BLOCK);
    return {
      regroup: createBlockStream(GZIP_BLOCK, pool),
      body: createParallelGzip({ level, blockSize: GZIP_BLOCK, onConsumed: (b) => pool.give(b) }),
    };
  }

  /** Write `<artifactName>.tar` or `.tar.gz` through `ctx.artifacts`. */
  async prepare(ctx: SourceContext): Promise<PreparedSource> {
    throwIfAborted(ctx.signal);
    const file = `${this.options.artifactName ?? this.name}.${this.format}`;
    const workRel = await this.#workFolderInside(ctx.workDir);
    const progressEvery = 8 << 20;
    let nextProgress = progressEvery;
    const { stream, done } = packTree(this.options.root, {
      signal: ctx.signal,
      logger: ctx.logger,
      ...(this.options.include ? { include: this.options.include } : {}),
      ...(this.options.exclude ? { exclude: this.options.exclude } : {}),
      // The work folder inside the root would archive this very archive's .partial and the lock.
      ...(workRel ? { excludePaths: [workRel] } : {}),
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
      // gzip on every core (1 MiB members compressed side by side on the thread pool), so the
      // compression overlaps the walk and the hashing and is not one thread's work: a single zlib
      // stream was the slowest stage (it compresses one chunk at a time, and waits for the main
      // thread between chunks while the walk holds it with synchronous reads).
      const stages = this.#bodyStages();
      const [written, piped] = await Promise.allSettled([
        ctx.artifacts.write(file, stages.body, { format: this.format, signal: ctx.signal }),
        pipeline(stream, stages.regroup, stages.body),
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
      // The walk stops once its stream is gone; waiting for it keeps no file handle or promise behind.
      stream.destroy();
      const walkErr = await done.then(
        () => undefined,
        (w: unknown) => w,
      );
      if (ctx.signal.aborted) throw ctx.signal.reason;
      // A walk that stopped because the writing side failed is a symptom; the write error is the cause.
      const cause = walkErr === undefined || walkErr instanceof PackStreamClosedError ? e : walkErr;
      const where = sourceWhere(this, 'prepare');
      const full = asNoSpaceError(cause, ctx.sourceDir, where) ?? asNoSpaceError(e, ctx.sourceDir, where);
      if (full) throw full;
      if (isDuplicatiKitError(cause)) throw cause;
      const message =
        cause instanceof FileChangedError
          ? `${cause.path} changed while it was archived (onChangedFile: 'fail')`
          : `archiving ${this.options.root} failed: ${(cause as Error)?.message ?? String(cause)}`;
      throw new DumpError(message, where, { cause });
    }
  }

  /**
   * The work folder's path relative to the root when it lies inside it (left out of the archive);
   * a root that is the work folder, or inside it, is refused.
   */
  async #workFolderInside(workDir: string): Promise<string | undefined> {
    const real = (p: string): Promise<string> => fsp.realpath(p).catch(() => path.resolve(p));
    const [root, work] = await Promise.all([real(this.options.root), real(workDir)]);
    const rel = path.relative(root, work);
    if (rel === '' || (isInside(work, root) && root !== work)) {
      throw new ConfigError(
        `ArchiveSource "${this.name}": root ${this.options.root} is the backup's work folder or inside it; archive a folder outside ${workDir}`,
        [{ path: 'root', message: 'must not be the work folder or inside it' }],
      );
    }
    return isInside(root, work) ? rel.split(path.sep).join('/') : undefined;
  }

  /** Nothing to do: the plan owns the work directory and removes the artifact. */
  async cleanup(_ctx: SourceContext): Promise<void> {}
}
