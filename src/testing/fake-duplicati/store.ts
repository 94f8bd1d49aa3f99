/**
 * The fake's version store: a run really copies the job's source folders into a folder per
 * version, and a restore really writes files of a version back out.
 *
 * Paths are absolute POSIX paths as Duplicati shows them: folders end with `/`.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { globToRegExp } from '../../core/filters.js';

/** One entry of a stored version. `size` is -1 for folders. */
export interface StoredEntry {
  readonly path: string;
  readonly size: number;
  readonly sha256: string | undefined;
}

/** Problems met while reading sources, reported as the run's warnings or errors. */
export interface SnapshotIssues {
  readonly warnings: string[];
  readonly errors: string[];
  filesWithError: number;
}

/** A backup filter as stored on the job (`Filters` of the backup). */
export interface JobFilter {
  readonly Order: number;
  readonly Include: boolean;
  readonly Expression: string;
}

/**
 * Does `p` match one Duplicati filter expression? `@path` is exact, `[regex]` a full-match
 * regular expression, `*`/`?` are wildcards; a plain folder path (ending in `/`) matches the
 * folder and everything below it, any other plain path matches itself.
 */
export function matchesExpression(expression: string, p: string): boolean {
  if (expression.startsWith('@')) return p === expression.slice(1);
  if (expression.startsWith('[') && expression.endsWith(']')) {
    try {
      return new RegExp(`^(?:${expression.slice(1, -1)})$`).test(p);
    } catch {
      return false;
    }
  }
  if (/[*?]/.test(expression)) return globToRegExp(expression).test(p);
  if (expression.endsWith('/')) return p.startsWith(expression);
  return p === expression;
}

function includedByFilters(filters: readonly JobFilter[], p: string): boolean {
  const ordered = [...filters].sort((a, b) => a.Order - b.Order);
  for (const f of ordered) if (matchesExpression(f.Expression, p)) return f.Include;
  return true;
}

async function copyHashed(src: string, dst: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(
    createReadStream(src),
    async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        hash.update(chunk);
        yield chunk;
      }
    },
    createWriteStream(dst),
  );
  return hash.digest('hex');
}

/** Where a version folder keeps its copy of the file Duplicati showed as `p`. */
export function storedPath(versionDir: string, p: string): string {
  return path.join(versionDir, 'tree', p);
}

/**
 * Copy the sources into `versionDir` and return what was stored. A missing source folder is an
 * error the caller turns into a fatal run (Duplicati aborts unless `allow-missing-source`).
 */
export async function snapshotSources(
  sources: readonly string[],
  filters: readonly JobFilter[],
  versionDir: string,
  issues: SnapshotIssues,
  signal: AbortSignal,
): Promise<{ entries: StoredEntry[]; missing: string[] }> {
  const entries: StoredEntry[] = [];
  const missing: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    signal.throwIfAborted();
    const display = dir.endsWith('/') ? dir : `${dir}/`;
    entries.push({ path: display, size: -1, sha256: undefined });
    await mkdir(storedPath(versionDir, display), { recursive: true });
    let children: import('node:fs').Dirent[];
    try {
      children = await readdir(dir, { withFileTypes: true });
    } catch (e) {
      issues.warnings.push(`Error reported while accessing file: ${display} (${(e as Error).message})`);
      issues.filesWithError++;
      return;
    }
    children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const child of children) {
      const full = path.posix.join(display, child.name);
      if (child.isDirectory()) {
        if (includedByFilters(filters, `${full}/`)) await walk(full);
      } else if (child.isFile()) {
        if (!includedByFilters(filters, full)) continue;
        try {
          const sha256 = await copyHashed(full, storedPath(versionDir, full));
          const { size } = await stat(storedPath(versionDir, full));
          entries.push({ path: full, size, sha256 });
        } catch (e) {
          signal.throwIfAborted();
          issues.warnings.push(`Failed to process path: ${full} (${(e as Error).message})`);
          issues.filesWithError++;
        }
      }
    }
  };
  for (const source of sources) {
    const info = await stat(source).catch(() => undefined);
    if (!info) {
      missing.push(source);
      continue;
    }
    if (info.isDirectory()) await walk(source);
    else if (info.isFile()) {
      await mkdir(path.dirname(storedPath(versionDir, source)), { recursive: true });
      const sha256 = await copyHashed(source, storedPath(versionDir, source));
      entries.push({ path: source, size: info.size, sha256 });
    }
  }
  return { entries, missing };
}

/** The largest folder prefix shared by all `paths` (each a file or a folder ending in `/`). */
export function commonFolderPrefix(paths: readonly string[]): string {
  const dirs = paths.map((p) => (p.endsWith('/') ? p : p.slice(0, p.lastIndexOf('/') + 1)));
  if (dirs.length === 0) return '/';
  let prefix = dirs[0] as string;
  for (const d of dirs) {
    while (!d.startsWith(prefix)) prefix = prefix.slice(0, prefix.slice(0, -1).lastIndexOf('/') + 1) || '/';
  }
  return prefix;
}

/** What a restore did, for the result JSON. */
export interface RestoreFigures {
  restoredFiles: number;
  sizeOfRestoredFiles: number;
  restoredFolders: number;
}

function uniqueName(target: string, at: Date): string {
  const ext = path.extname(target);
  const stamp = at.toISOString().slice(0, 16).replace('T', '_').replace(':', '-');
  return `${target.slice(0, target.length - ext.length)}.${stamp}${ext}`;
}

async function sameContent(file: string, sha256: string | undefined): Promise<boolean> {
  if (!sha256) return false;
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex') === sha256;
}

/**
 * Write the selected entries of a version out. Without `restorePath` files go back to their
 * original place; with it, below `restorePath` relative to the selection's common folder (what
 * Duplicati's RestoreHandler does).
 */
export async function restoreEntries(
  versionDir: string,
  selected: readonly StoredEntry[],
  options: { restorePath: string | undefined; overwrite: boolean; at: Date; signal: AbortSignal },
  issues: SnapshotIssues,
): Promise<RestoreFigures> {
  const figures: RestoreFigures = { restoredFiles: 0, sizeOfRestoredFiles: 0, restoredFolders: 0 };
  const prefix = commonFolderPrefix(selected.map((e) => e.path));
  const targetOf = (p: string): string =>
    options.restorePath ? path.join(options.restorePath, p.slice(prefix.length)) : p;
  const selectedFolders = new Set(selected.filter((e) => e.size < 0).map((e) => targetOf(e.path)));
  if (options.restorePath) await mkdir(options.restorePath, { recursive: true });
  for (const e of selected) {
    options.signal.throwIfAborted();
    const target = targetOf(e.path);
    if (e.size < 0) {
      await mkdir(target, { recursive: true });
      figures.restoredFolders++;
      continue;
    }
    const parent = path.dirname(target);
    const parentExists = await stat(parent).then(
      () => true,
      () => false,
    );
    if (!parentExists) {
      if (!selectedFolders.has(parent)) {
        issues.warnings.push(`Creating missing folder ${parent} for  file ${target}`);
      }
      await mkdir(parent, { recursive: true });
    }
    let dest = target;
    const existing = await stat(target).catch(() => undefined);
    if (existing) {
      if (await sameContent(target, e.sha256)) continue;
      if (!options.overwrite) dest = uniqueName(target, options.at);
    }
    await copyFile(storedPath(versionDir, e.path), dest);
    figures.restoredFiles++;
    figures.sizeOfRestoredFiles += e.size;
  }
  return figures;
}
