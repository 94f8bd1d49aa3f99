/**
 * The plain folders engine: its backup source, its restore target, their options, and the building blocks
 * the apps (`src/apps/*`) build on. Everything outside this folder imports the engine from here.
 *
 * @module
 */
export { DIRECTORY_KIND, DIRECTORY_SOURCE_DEFAULTS, DIRECTORY_TARGET_DEFAULTS } from './options.js';
export type { DirectorySourceOptions, DirectoryTargetOptions } from './options.js';
export { DirectorySource } from './source.js';
export { DirectoryTarget } from './target.js';
export { walkTree } from './walk.js';
export type { ListingEntry, TreeStats } from './walk.js';
