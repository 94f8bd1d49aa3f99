/**
 * `ArchiveSource`: a folder packed into one tar or tar.gz artifact. The class lives in
 * engines/_shared/archive-source.ts because the nginx engine packs its trees with it too.
 *
 * @module
 */
export { ArchiveSource } from '../_shared/archive-source.js';
