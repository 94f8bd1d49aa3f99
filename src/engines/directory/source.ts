/**
 * `DirectorySource`: folders Duplicati backs up directly (photo libraries are never copied), with
 * file count and bytes per path recorded so a restore can be checked.
 *
 * @module
 */
import { once } from 'node:events';
import { promises as fsp } from 'node:fs';
import type { z } from 'zod';
import { throwIfAborted } from '../../core/abort.js';
import type { ArtifactRef } from '../../core/artifact-writer.js';
import { SourceUnavailableError } from '../../core/errors.js';
import { compileFilters } from '../../core/filters.js';
import { configErrorFrom } from '../../core/validate.js';
import type { BackupSource, JsonValue, PreparedSource, SourceContext } from '../../contracts/types.js';
import {
  DIRECTORY_KIND,
  DIRECTORY_SOURCE_DEFAULTS,
  type DirectorySourceOptions,
  directorySourceSchema,
} from './options.js';
import { type ListingEntry, walkTree } from './walk.js';

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
  readonly kind = DIRECTORY_KIND;
  readonly options: Readonly<z.output<typeof directorySourceSchema>>;

  constructor(options: DirectorySourceOptions) {
    const parsed = directorySourceSchema.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid DirectorySource options', parsed.error);
    compileFilters(parsed.data.exclude ?? DIRECTORY_SOURCE_DEFAULTS.exclude);
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
    const filter = compileFilters(this.options.exclude ?? DIRECTORY_SOURCE_DEFAULTS.exclude);
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
                // A promise only when the listing must wait for the disk (no promise per entry).
                onEntry: (e: ListingEntry) =>
                  sink.stream.write(`${JSON.stringify({ root: p, ...e })}\n`)
                    ? undefined
                    : once(sink.stream, 'drain').then(() => undefined),
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
      excludePatterns: [...(this.options.exclude ?? DIRECTORY_SOURCE_DEFAULTS.exclude)],
      metadata: { paths: perPath, files: totalFiles, bytes: totalBytes },
    };
  }
}
