/**
 * `ArchiveTarget`: restores an `ArchiveSource` artifact into a folder with a safety copy. The class
 * lives in engines/_shared/archive-target.ts because the nginx engine restores its trees with it too.
 *
 * @module
 */
export { ArchiveTarget } from '../_shared/archive-target.js';
