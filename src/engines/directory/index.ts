/**
 * The plain folders engine: its backup source, its restore target, their options, and the building blocks
 * the apps (`src/apps/*`) build on. Everything outside this folder imports the engine from here.
 *
 * @module
 */
export { DirectorySource, DirectoryTarget, walkTree } from './source.js';
export type { DirectorySourceOptions, DirectoryTargetOptions, ListingEntry, TreeStats } from './source.js';
