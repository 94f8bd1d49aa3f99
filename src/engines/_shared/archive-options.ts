/**
 * The options of the tar archive source and target: the kind id, the zod schemas, the option types
 * and their defaults. In engines/_shared because the nginx engine archives its trees with the same
 * classes; `engines/archive` re-exports all of it under the same names.
 *
 * @module
 */
import { z } from 'zod';
import { safeRelativePath } from '../../core/fs.js';
import type { ChangedFilePolicy } from './tar-pack.js';

/** `kind` of archive sources and the manifest entries they write. */
export const ARCHIVE_KIND = 'archive';

/** What {@link ArchiveSource} uses for the options it is not given. */
export const ARCHIVE_SOURCE_DEFAULTS = {
  /** The gzip level of `gzip: true` (gzip's own default). */
  gzipLevel: 6,
} as const;

const relPath = z.string().refine((p) => safeRelativePath(p) !== undefined, {
  message: 'must be a relative path inside root (no "..", no leading "/")',
});

/** The zod schema of {@link ArchiveSourceOptions}. */
export const archiveSourceSchema = z
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

/** Options of `ArchiveSource`. */
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

/** The zod schema of {@link ArchiveTargetOptions}. */
export const archiveTargetSchema = z
  .object({
    name: z.string().min(1).optional(),
    source: z.string().min(1).optional(),
    dest: z.string().min(1),
    overwrite: z.boolean().optional(),
    keepSafetyCopy: z.boolean().optional(),
    preserveSpecialBits: z.boolean().optional(),
  })
  .strict();

/** Options of `ArchiveTarget`. */
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
