/**
 * The options of the tar archive engine: its kind id, the zod schemas, the option types and their
 * defaults. They are defined in engines/_shared/archive-options.ts (the nginx engine archives with
 * the same classes) and exported here under the engine's names.
 *
 * @module
 */
export {
  ARCHIVE_KIND,
  ARCHIVE_SOURCE_DEFAULTS,
  archiveSourceSchema,
  archiveTargetSchema,
} from '../_shared/archive-options.js';
export type { ArchiveSourceOptions, ArchiveTargetOptions } from '../_shared/archive-options.js';
