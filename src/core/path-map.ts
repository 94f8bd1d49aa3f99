/**
 * Path maps of a recovery on a new host: what was under `from` on the old host is under `to` on
 * the new one. Used by the recovery (folders, jobs) and by the apps' rewriters of stored paths.
 *
 * @module
 */

/** One entry of a path map (absolute paths; a trailing `/` is ignored). */
export interface PathMapping {
  readonly from: string;
  readonly to: string;
}

function trim(p: string): string {
  return p.length > 1 ? p.replace(/\/+$/, '') : p;
}

/** The entries with trailing slashes removed, longest `from` first (the order a rewrite must try them in). */
export function normalizePathMap(map: readonly PathMapping[]): PathMapping[] {
  return map
    .map((m) => ({ from: trim(m.from), to: trim(m.to) }))
    .filter((m) => m.from !== m.to)
    .sort((a, b) => b.from.length - a.from.length);
}

/** The entry (normalized) that maps `p`, or undefined when none does. */
export function mappingOf(map: readonly PathMapping[], p: string): PathMapping | undefined {
  return normalizePathMap(map).find((m) => p === m.from || p.startsWith(m.from === '/' ? '/' : `${m.from}/`));
}

/**
 * The deepest folder (ending in `/`) that holds every path: folders end with `/`, files do not
 * (a file counts as its folder), as Duplicati computes where a restore's files land.
 *
 * @example
 * ```ts
 * commonFolderPrefix(['/srv/a/', '/srv/b/x.txt']); // '/srv/'
 * ```
 */
export function commonFolderPrefix(paths: readonly string[]): string {
  const dirs = paths.map((p) => (p.endsWith('/') ? p : p.slice(0, p.lastIndexOf('/') + 1)).split('/').filter(Boolean));
  if (dirs.length === 0) return '/';
  let n = 0;
  const first = dirs[0] as string[];
  while (n < first.length && dirs.every((d) => d[n] === first[n])) n += 1;
  return n === 0 ? '/' : `/${first.slice(0, n).join('/')}/`;
}

/**
 * Map a path through the longest matching entry (whole path components only); unchanged when
 * none matches.
 *
 * @example
 * ```ts
 * mapPath([{ from: '/srv', to: '/data' }], '/srv/immich/a.jpg'); // '/data/immich/a.jpg'
 * mapPath([{ from: '/srv', to: '/data' }], '/srvx/a.jpg');       // '/srvx/a.jpg'
 * ```
 */
export function mapPath(map: readonly PathMapping[], p: string): string {
  for (const m of normalizePathMap(map)) {
    if (p === m.from || p.startsWith(m.from === '/' ? '/' : `${m.from}/`)) {
      return m.from === '/' ? `${m.to}${p}` : `${m.to}${p.slice(m.from.length)}`;
    }
  }
  return p;
}

/** Quote an SQL string literal (standard quoting: PostgreSQL with standard_conforming_strings, SQLite). */
function sqlLiteral(s: string): string {
  if (s.includes('\0')) throw new TypeError('NUL in SQL literal');
  return `'${s.replace(/'/g, "''")}'`;
}

/**
 * SQL (PostgreSQL and SQLite alike) for the text expression `x` mapped through `map` (already
 * normalized: longest `from` first), and the condition that some entry matches it.
 *
 * @example
 * ```ts
 * const { expr, cond } = pathMapSql('"Path"', normalizePathMap(map));
 * db.exec(`UPDATE BaseItems SET "Path" = ${expr} WHERE ${cond}`);
 * ```
 */
export function pathMapSql(x: string, map: readonly PathMapping[]): { expr: string; cond: string } {
  const conds: string[] = [];
  const whens: string[] = [];
  for (const m of map) {
    const f = sqlLiteral(m.from);
    const t = sqlLiteral(m.to);
    const c =
      m.from === '/' ? `substr(${x}, 1, 1) = '/'` : `(${x} = ${f} OR substr(${x}, 1, length(${f}) + 1) = ${f} || '/')`;
    conds.push(c);
    whens.push(
      m.from === '/' ? `WHEN ${c} THEN ${t} || ${x}` : `WHEN ${c} THEN ${t} || substr(${x}, length(${f}) + 1)`,
    );
  }
  return { expr: `CASE ${whens.join(' ')} ELSE ${x} END`, cond: conds.length ? `(${conds.join(' OR ')})` : 'false' };
}
