/**
 * The MongoDB engine: its backup source, its restore target, their options, and the building blocks
 * the apps (`src/apps/*`) build on. Everything outside this folder imports the engine from here.
 *
 * @module
 */
export { MongoSource } from './source.js';
export type { MongoSourceOptions } from './source.js';
export { MongoTarget } from './target.js';
export type { MongoTargetOptions } from './target.js';
export { MONGO_KIND } from './source.js';
