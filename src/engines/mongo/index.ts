/**
 * The MongoDB engine: its backup source, its restore target, their options, and the building blocks
 * the apps (`src/apps/*`) build on. Everything outside this folder imports the engine from here.
 *
 * @module
 */
export { MONGO_KIND, MONGO_SOURCE_DEFAULTS, MONGO_TARGET_DEFAULTS } from './options.js';
export type { MongoSourceOptions, MongoTargetOptions } from './options.js';
export { MongoSource } from './source.js';
export { MongoTarget } from './target.js';
