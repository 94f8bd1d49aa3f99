/**
 * `ImmichLibraryTarget`: checks the media folders Duplicati restored against the manifest and
 * recreates what Immich needs to start: all six folders with their `.immich` markers (a restore
 * that skipped `thumbs`/`encoded-video` otherwise leaves Immich in a restart loop).
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { safeNameSchema } from '../../engines/postgres/index.js';
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
import { countTree, IMMICH_LIBRARY_KIND } from './library-source.js';
import { IMMICH_FOLDERS } from './schema.js';

/** Options of {@link ImmichLibraryTarget}. */
export interface ImmichLibraryTargetOptions {
  /** @default 'immich-library' */
  readonly name?: string;
  /** Where the folders were restored (the UPLOAD_LOCATION Immich will use). */
  readonly uploadLocation: string;
  /** Only accept manifest entries with this source name. */
  readonly source?: string;
}

const schema = z
  .object({
    name: safeNameSchema.optional(),
    uploadLocation: z.string().refine((p) => path.isAbsolute(p), 'must be an absolute path'),
    source: z.string().min(1).optional(),
  })
  .strict();

type FolderRecord = { included?: JsonValue; files?: JsonValue; marker?: JsonValue };

/**
 * Restore target for Immich's media folders (the files themselves come back through Duplicati).
 *
 * - verify: every folder backed up in full has at least the number of files the manifest
 *   recorded; reports which `.immich` markers are missing.
 * - restore: creates missing folders and empty `.immich` markers; rollback removes what it created.
 *
 * @example
 * ```ts
 * const target = new ImmichLibraryTarget({ uploadLocation: '/srv/immich/library' });
 * ```
 */
export class ImmichLibraryTarget implements RestoreTarget {
  readonly name: string;
  readonly kind = IMMICH_LIBRARY_KIND;
  readonly #options: ImmichLibraryTargetOptions;

  constructor(options: ImmichLibraryTargetOptions) {
    const parsed = schema.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid ImmichLibraryTarget options', parsed.error);
    this.#options = options;
    this.name = options.name ?? 'immich-library';
  }

  accepts(entry: ManifestEntry): boolean {
    return (
      entry.kind === IMMICH_LIBRARY_KIND && (this.#options.source === undefined || entry.name === this.#options.source)
    );
  }

  #folders(input: RestoreInput): Record<string, FolderRecord> {
    const f = input.entry.metadata.folders;
    return f && typeof f === 'object' && !Array.isArray(f) ? (f as Record<string, FolderRecord>) : {};
  }

  async verify(input: RestoreInput, ctx: SourceContext): Promise<VerificationReport> {
    const root = this.#options.uploadLocation;
    const checks: { name: string; ok: boolean; detail?: string }[] = [];
    for (const [folder, rec] of Object.entries(this.#folders(input))) {
      if (rec.included !== true || typeof rec.files !== 'number') continue;
      const now = await countTree(path.join(root, folder), ctx.signal);
      checks.push({
        name: `files:${folder}`,
        ok: now.files >= rec.files,
        detail: `${now.files} files restored, ${rec.files} in the backup`,
      });
    }
    const missing: string[] = [];
    for (const folder of IMMICH_FOLDERS) {
      if (!(await fsp.lstat(path.join(root, folder, '.immich')).catch(() => undefined))) missing.push(folder);
    }
    checks.push({
      name: 'markers',
      ok: true,
      detail: missing.length ? `restore will create .immich in: ${missing.join(', ')}` : 'all six present',
    });
    return { ok: checks.every((c) => c.ok), checks };
  }

  async restore(_input: RestoreInput, ctx: SourceContext): Promise<RestoreOutput> {
    const root = this.#options.uploadLocation;
    const created: string[] = [];
    if (ctx.dryRun) return { restored: [] };
    for (const folder of IMMICH_FOLDERS) {
      const dir = path.join(root, folder);
      const marker = path.join(dir, '.immich');
      if (await fsp.lstat(marker).catch(() => undefined)) continue;
      await fsp.mkdir(dir, { recursive: true });
      await fsp.writeFile(marker, '', { flag: 'wx' });
      created.push(marker);
    }
    if (created.length) ctx.logger.info('recreated Immich folder markers', { markers: created });
    return { restored: created, state: { created } };
  }

  async rollback(output: RestoreOutput): Promise<void> {
    const created = output.state?.created;
    if (!Array.isArray(created)) return;
    for (const m of created) if (typeof m === 'string') await fsp.rm(m, { force: true });
  }
}
