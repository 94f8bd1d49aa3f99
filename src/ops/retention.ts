/**
 * Local copies (the "2" of 3-2-1): keep dated copies of the staged dumps and archives on local
 * storage, and prune them by a keep-last / keep-within / daily-weekly-monthly policy. Pruning only
 * ever touches folders this module created (dated names holding a manifest).
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { throwIfAborted } from '../core/abort.js';
import { fsyncDir } from '../core/fs.js';
import { type Logger, silentLogger } from '../core/logger.js';
import { MANIFEST_FILE, readManifest } from '../core/manifest.js';
import { configErrorFrom } from '../core/validate.js';

const COPY_NAME = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/** Name of a copy taken at `date`: `20260102T030405Z`. */
export function copyName(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/** The time a copy's folder name stands for, or undefined when the name is not a copy's. */
export function parseCopyName(name: string): Date | undefined {
  const m = COPY_NAME.exec(name);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m;
  return new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)));
}

async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await fsp.link(from, to);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw e;
    await fsp.copyFile(from, to);
  }
}

/**
 * Keep a dated copy of a prepared work folder (its manifest and every artifact the manifest names)
 * in `copiesDir/<yyyymmddThhmmssZ>/`. Files are hard-linked when on the same file system (cleanup
 * of the work folder does not affect the copy), copied otherwise. The copy appears only when
 * complete.
 *
 * @returns the copy's folder.
 */
export async function keepLocalCopy(
  workDir: string,
  copiesDir: string,
  options: { signal?: AbortSignal; now?: Date } = {},
): Promise<string> {
  const manifest = await readManifest(workDir, options.signal ? { signal: options.signal } : {});
  await fsp.mkdir(copiesDir, { recursive: true, mode: 0o700 });
  const final = path.join(copiesDir, copyName(options.now ?? new Date()));
  const staging = path.join(copiesDir, `.partial-${randomBytes(4).toString('hex')}`);
  await fsp.mkdir(staging, { mode: 0o700 });
  try {
    for (const a of manifest.sources.flatMap((s) => s.artifacts)) {
      throwIfAborted(options.signal);
      const to = path.join(staging, ...a.path.split('/'));
      await fsp.mkdir(path.dirname(to), { recursive: true, mode: 0o700 });
      await linkOrCopy(path.join(workDir, ...a.path.split('/')), to);
    }
    await fsp.copyFile(path.join(workDir, MANIFEST_FILE), path.join(staging, MANIFEST_FILE));
    await fsp.rename(staging, final);
    await fsyncDir(copiesDir);
    return final;
  } catch (e) {
    await fsp.rm(staging, { recursive: true, force: true });
    throw e;
  }
}

/** The schema of a {@link RetentionPolicy} (config files use it too). */
export const retentionPolicySchema = z
  .object({
    /** Keep the newest N copies. */
    keepLast: z.number().int().min(0).optional(),
    /** Keep every copy younger than N days. */
    keepDays: z.number().min(0).optional(),
    /** Keep the newest copy of each of the last N days that have one. */
    keepDaily: z.number().int().min(0).optional(),
    /** Keep the newest copy of each of the last N ISO weeks that have one. */
    keepWeekly: z.number().int().min(0).optional(),
    /** Keep the newest copy of each of the last N months that have one. */
    keepMonthly: z.number().int().min(0).optional(),
  })
  .strict();

/** A retention policy. A copy is kept when any rule keeps it; the newest copy is always kept. */
export type RetentionPolicy = z.input<typeof retentionPolicySchema>;

/** What {@link pruneLocalCopies} did (or would do with `dryRun`). */
export interface PruneResult {
  readonly kept: readonly string[];
  readonly removed: readonly string[];
  /** Entries that are not copies (left alone). */
  readonly ignored: readonly string[];
}

function isoWeek(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const day = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - day);
  const yearStart = new Date(Date.UTC(t.getUTCFullYear(), 0, 1));
  const week = Math.ceil(((t.getTime() - yearStart.getTime()) / 86_400_000 + 1) / 7);
  return `${t.getUTCFullYear()}-W${week}`;
}

/** Decide which copies (name → time) a policy keeps. Pure; exported for tests and dry runs. */
export function selectRetained(
  copies: readonly { name: string; time: Date }[],
  policy: RetentionPolicy,
  now: Date,
): Set<string> {
  const p = retentionPolicySchema.parse(policy);
  const sorted = [...copies].sort((a, b) => b.time.getTime() - a.time.getTime());
  const keep = new Set<string>();
  if (sorted[0]) keep.add(sorted[0].name);
  for (const c of sorted.slice(0, p.keepLast ?? 0)) keep.add(c.name);
  if (p.keepDays !== undefined) {
    const limit = now.getTime() - p.keepDays * 86_400_000;
    for (const c of sorted) if (c.time.getTime() >= limit) keep.add(c.name);
  }
  const bucket = (n: number | undefined, key: (d: Date) => string) => {
    if (!n) return;
    const seen = new Set<string>();
    for (const c of sorted) {
      const k = key(c.time);
      if (seen.has(k)) continue;
      seen.add(k);
      if (seen.size > n) break;
      keep.add(c.name);
    }
  };
  bucket(p.keepDaily, (d) => d.toISOString().slice(0, 10));
  bucket(p.keepWeekly, isoWeek);
  bucket(p.keepMonthly, (d) => d.toISOString().slice(0, 7));
  return keep;
}

/**
 * Remove local copies the policy does not keep. Only folders named like a copy and holding a
 * manifest are candidates; everything else in `copiesDir` is left alone and reported as ignored.
 * Leftover `.partial-*` folders of interrupted copies are removed.
 */
export async function pruneLocalCopies(
  copiesDir: string,
  policy: RetentionPolicy,
  options: { now?: Date; dryRun?: boolean; signal?: AbortSignal; logger?: Logger } = {},
): Promise<PruneResult> {
  const parsed = retentionPolicySchema.safeParse(policy);
  if (!parsed.success) throw configErrorFrom('invalid retention policy', parsed.error);
  const logger = options.logger ?? silentLogger;
  let names: string[];
  try {
    names = await fsp.readdir(copiesDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { kept: [], removed: [], ignored: [] };
    throw e;
  }
  const copies: { name: string; time: Date }[] = [];
  const ignored: string[] = [];
  const removed: string[] = [];
  for (const name of names) {
    const time = parseCopyName(name);
    const st = await fsp.lstat(path.join(copiesDir, name));
    if (name.startsWith('.partial-') && st.isDirectory()) {
      if (!options.dryRun) await fsp.rm(path.join(copiesDir, name), { recursive: true, force: true });
      removed.push(name);
      continue;
    }
    const hasManifest = await fsp
      .access(path.join(copiesDir, name, MANIFEST_FILE))
      .then(() => true)
      .catch(() => false);
    if (time && st.isDirectory() && hasManifest) copies.push({ name, time });
    else ignored.push(name);
  }
  const keep = selectRetained(copies, parsed.data, options.now ?? new Date());
  for (const c of copies) {
    if (keep.has(c.name)) continue;
    throwIfAborted(options.signal);
    if (!options.dryRun) {
      // Remove the manifest first: a half-removed copy is never mistaken for a whole one.
      await fsp.rm(path.join(copiesDir, c.name, MANIFEST_FILE), { force: true });
      await fsp.rm(path.join(copiesDir, c.name), { recursive: true, force: true });
    }
    logger.info(options.dryRun ? 'would remove local copy' : 'removed local copy', { copy: c.name });
    removed.push(c.name);
  }
  return {
    kept: copies
      .filter((c) => keep.has(c.name))
      .map((c) => c.name)
      .sort(),
    removed: removed.sort(),
    ignored: ignored.sort(),
  };
}
