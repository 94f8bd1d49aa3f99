/**
 * What the nginx source and target share: the trees of a backup, the absolute links kept aside,
 * and how their metadata is written.
 *
 * @module
 */
import type { JsonValue } from '../../contracts/types.js';

/** The trees a source archives, by artifact base name. */
export const PARTS = { config: 'nginx-config', letsencrypt: 'letsencrypt', extra: 'extra-certs' } as const;
export type Part = keyof typeof PARTS;

/** An absolute symlink kept aside (the safe extraction refuses them) and recreated on restore. */
export interface AbsoluteLink {
  readonly path: string;
  readonly target: string;
}

/** A plain JSON copy of `v` for the manifest. */
export function toJson<T>(v: T): JsonValue {
  return JSON.parse(JSON.stringify(v)) as JsonValue;
}
