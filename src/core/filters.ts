/**
 * Duplicati-style filter expressions, so a source can count exactly what Duplicati will back up.
 * A filter is a glob (`*` any run of characters including the path separator, `?` one character)
 * or a regular expression in square brackets (`[.*\.tmp$]`). Matching is against the absolute
 * path; a folder's path ends with `/`.
 *
 * @module
 */
import { ConfigError } from './errors.js';

/** A compiled filter list. */
export interface PathFilter {
  /** True when `absPath` (folders with a trailing `/`) is excluded. */
  excludes(absPath: string): boolean;
  /**
   * The expressions `excludes` tests, any one of which excludes a path; present when the filter
   * is exactly that (what {@link compileFilters} returns), so another thread can rebuild it.
   */
  readonly patterns?: readonly RegExp[];
}

/** A Duplicati glob as an anchored RegExp: `*` any run of characters (separators too), `?` one character. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (const ch of glob) {
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * Compile exclude filters.
 *
 * @throws {ConfigError} for a bracketed expression that is not a valid regular expression.
 * @example
 * ```ts
 * const f = compileFilters(['*\/thumbs/', '*.tmp']);
 * f.excludes('/srv/immich/thumbs/'); // true
 * ```
 */
export function compileFilters(patterns: readonly string[]): PathFilter {
  const res = patterns.map((p, i) => {
    if (p.length > 2 && p.startsWith('[') && p.endsWith(']')) {
      try {
        return new RegExp(p.slice(1, -1));
      } catch (e) {
        throw new ConfigError('invalid filter', [
          { path: `exclude.${i}`, message: `not a valid regular expression: ${(e as Error).message}` },
        ]);
      }
    }
    return globToRegExp(p);
  });
  return { excludes: (absPath) => res.some((r) => r.test(absPath)), patterns: res };
}
