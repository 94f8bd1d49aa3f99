/**
 * The options of the plain folders engine: its kind id, the zod schemas and types of
 * `DirectorySource` and `DirectoryTarget`, and their defaults.
 *
 * @module
 */
import path from 'node:path';
import { z } from 'zod';

/** `kind` of directory sources and targets, and the manifest entries they write: the config `type:` name. */
export const DIRECTORY_KIND = 'directory';

/** What `DirectorySource` uses for the options it is not given. */
export const DIRECTORY_SOURCE_DEFAULTS = {
  exclude: [],
} as const;

/** What `DirectoryTarget` uses for the options it is not given (`name` gets `:<source>` when a source is set). */
export const DIRECTORY_TARGET_DEFAULTS = {
  name: 'directory',
} as const;

/** The zod schema of {@link DirectorySourceOptions}. */
export const directorySourceSchema = z
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

/** Options of `DirectorySource`. */
export type DirectorySourceOptions = z.input<typeof directorySourceSchema>;

/** The zod schema of {@link DirectoryTargetOptions}. */
export const directoryTargetSchema = z
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

/** Options of `DirectoryTarget`. */
export type DirectoryTargetOptions = z.input<typeof directoryTargetSchema>;
