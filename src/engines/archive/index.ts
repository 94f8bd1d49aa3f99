/**
 * The tar archives of folders engine: its backup source, its restore target, their options, and the building blocks
 * the apps (`src/apps/*`) build on. Everything outside this folder imports the engine from here.
 *
 * @module
 */
export { ARCHIVE_KIND, ARCHIVE_SOURCE_DEFAULTS } from './options.js';
export type { ArchiveSourceOptions, ArchiveTargetOptions } from './options.js';
export { ArchiveSource } from './source.js';
export { ArchiveTarget } from './target.js';
export { extractArchive, scanArchive } from '../_shared/extract-archive.js';
export type {
  ArchiveReadOptions,
  ArchiveStats,
  ExtractArchiveOptions,
  ExtractProgress,
  ExtractResult,
} from '../_shared/extract-archive.js';
export type { ChangedFilePolicy } from '../_shared/tar-pack.js';
