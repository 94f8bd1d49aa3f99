/**
 * `duplicati-kit`: core contracts, backup and restore plans, generic sources and targets, errors
 * and the logger. Imports no database driver: `pg` and `better-sqlite3` load lazily on first use.
 *
 * @module
 */
export * from './core/errors.js';
export * from './core/logger.js';
export * from './core/redact.js';
export { anySignal, sleep, withTimeout } from './core/abort.js';
export { ArtifactWriter, hashFile, PARTIAL_SUFFIX } from './core/artifact-writer.js';
export type { ArtifactData, ArtifactRef, ArtifactSink, ArtifactWriteOptions } from './core/artifact-writer.js';
export {
  MANIFEST_FILE,
  MANIFEST_VERSION,
  manifestSchema,
  parseManifest,
  readManifest,
  writeManifest,
} from './core/manifest.js';
export type { Manifest, ManifestSource } from './core/manifest.js';
export { VERSION } from './core/version.js';
export type * from './sources/types.js';
