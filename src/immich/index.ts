/**
 * `duplicati-kit/immich`: not yet implemented beyond the shared contracts, which it re-exports as types.
 *
 * @module
 */
export type { BackupSource, RestoreTarget, PreparedSource, ProgressEvent, SourceContext } from '../sources/types.js';
