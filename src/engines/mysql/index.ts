/**
 * The MySQL and MariaDB engine: its backup source, its restore target, their options, and the building blocks
 * the apps (`src/apps/*`) build on. Everything outside this folder imports the engine from here.
 *
 * @module
 */
export type { MysqlConnectionOptions } from './client.js';
export type { MysqlObject, MysqlObjectKind } from './objects.js';
export { MYSQL_KIND, MYSQL_SOURCE_DEFAULTS, MYSQL_TARGET_DEFAULTS } from './options.js';
export type { MysqlSourceOptions, MysqlTargetOptions } from './options.js';
export { MysqlSource } from './source.js';
export { MysqlTarget } from './target.js';
export type { MysqlTargetHooks } from './target.js';
