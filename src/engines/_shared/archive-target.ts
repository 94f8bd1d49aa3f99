/**
 * `ArchiveTarget`: restores an `ArchiveSource` artifact with the hostile-input-safe extraction of
 * `extractArchive`. In engines/_shared because the nginx engine restores its trees with it;
 * `engines/archive` re-exports it.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ArchiveError, RestoreError } from '../../core/errors.js';
import { fsyncDir, exists as lexists } from '../../core/fs.js';
import { configErrorFrom } from '../../core/validate.js';
import type {
  JsonValue,
  ManifestEntry,
  RestoreInput,
  RestoreOutput,
  RestoreTarget,
  SourceContext,
  VerificationReport,
} from '../../contracts/types.js';
import { ARCHIVE_KIND, type ArchiveTargetOptions, archiveTargetSchema } from './archive-options.js';
import {
  type ArchiveStats,
  extractToStaging,
  removeTree,
  scanArchive,
  siblingPath,
  swapIntoPlace,
} from './extract-archive.js';

const COUNTS = ['files', 'directories', 'symlinks', 'hardlinks', 'bytes'] as const;

/**
 * Restores an `ArchiveSource` artifact into a folder. `verify` reads the whole archive
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
    const parsed = archiveTargetSchema.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid ArchiveTarget options', parsed.error);
    this.options = options;
    this.#dest = path.resolve(options.dest);
    this.name = options.name ?? `archive:${options.source ?? this.#dest}`;
  }

  /** The folder this target replaces. */
  replaces(): readonly string[] {
    return [this.#dest];
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
      // Write ahead: where the old folder goes and where the new one is, before either moves.
      const had = await lexists(dest);
      await ctx.restoreJournal?.record({
        restored: [dest],
        ...(had ? { safetyCopy: safety } : {}),
        state: { dest, safetyCopy: had ? safety : null, staging },
      });
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

  /**
   * Put the safety copy back (or remove `dest` when there was none before). Safe from any point
   * of an interrupted restore or rollback: a safety copy that does not exist means `dest` was
   * never moved (or was already put back), so `dest` is left alone; the staging folder goes.
   */
  async rollback(output: RestoreOutput, ctx: SourceContext): Promise<void> {
    const dest = typeof output.state?.dest === 'string' ? output.state.dest : this.#dest;
    if (output.state?.dryRun === true) return;
    const staging = output.state?.staging;
    if (typeof staging === 'string') await removeTree(staging);
    const safety = output.safetyCopy;
    if (!safety) {
      // There was no folder before: the restored one goes.
      await removeTree(dest);
      ctx.logger.info('archive restore rolled back', { dest, safetyCopy: null });
      return;
    }
    if (!(await lexists(safety))) return;
    // A fixed name (not random): a rollback interrupted after moving dest aside finds it again.
    const aside = `${safety}.rolled-back`;
    if (await lexists(dest)) await fsp.rename(dest, aside);
    try {
      await fsp.rename(safety, dest);
    } catch (e) {
      if (!(await lexists(dest))) await fsp.rename(aside, dest).catch(() => {});
      throw new RestoreError(
        `putting the safety copy ${safety} back failed`,
        { source: this.name, kind: this.kind, phase: 'rollback' },
        { cause: e },
      );
    }
    await fsyncDir(path.dirname(dest));
    ctx.logger.info('archive restore rolled back', { dest, safetyCopy: safety });
    await removeTree(aside);
  }

  /** Remove the safety copy unless `keepSafetyCopy`. */
  async finalize(output: RestoreOutput, ctx: SourceContext): Promise<void> {
    if (!output.safetyCopy || this.options.keepSafetyCopy) return;
    await removeTree(output.safetyCopy);
    ctx.logger.debug('safety copy removed', { safetyCopy: output.safetyCopy });
  }
}
