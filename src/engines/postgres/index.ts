/**
 * The PostgreSQL (one database or a whole server) engine: its backup source, its restore target, their options, and the building blocks
 * the apps (`src/apps/*`) build on. Everything outside this folder imports the engine from here.
 *
 * @module
 */
export { pgConnectionSchema, quoteIdent, quoteLiteral, safeNameSchema } from './connection.js';
export type { PgConnectionFields, PgConnectionOptions, PgConnectionUrl } from './connection.js';
export { readCopyRows } from './copy-rows.js';
export type { PgCountSelection, PgDumpFormat } from './dump.js';
export { pgExecutorSchema } from './executor.js';
export type { PgExecutorOptions } from './executor.js';
export { createReplaceStream } from './load.js';
export type { SqlSession } from './session.js';
export {
  POSTGRES_KIND,
  POSTGRES_SOURCE_DEFAULTS,
  POSTGRES_TARGET_DEFAULTS,
  toolVersionCacheSchema,
} from './options.js';
export type {
  PgDatabaseSelection,
  PgDumpInfo,
  PostgresDumpHooks,
  PostgresSourceOptions,
  PostgresTargetOptions,
} from './options.js';
export { PostgresSource } from './source.js';
export { PostgresTarget } from './target.js';
export type { PostgresTargetHooks } from './target.js';
export { createParallelGzip } from '../_shared/gzip-parallel.js';
export type { ParallelGzipOptions } from '../_shared/gzip-parallel.js';
