/**
 * `manifest.json`: the record of one prepared backup. It names every artifact (path, bytes,
 * sha256, format), each source's metadata and include paths, tool and host, start and end times.
 * It is written last and atomically, so it never names a partial or missing file.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ManifestError } from './errors.js';
import { writeFileAtomic, safeRelativePath } from './fs.js';
import { type JsonValue, nestedDeeperThan } from './json.js';

/** File name of the manifest inside a work directory. */
export const MANIFEST_FILE = 'manifest.json';
/** The manifest format version this package writes. */
export const MANIFEST_VERSION = 1;

/** Deepest nesting of arrays and objects a manifest may have (its metadata included). */
export const MAX_MANIFEST_DEPTH = 64;

const jsonValue: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(jsonValue), z.record(z.string(), jsonValue)]),
);

const relPath = z
  .string()
  .refine((p) => safeRelativePath(p) === p, { message: 'must be a relative path inside the work directory' });

/** Schema of one artifact entry. */
export const artifactRefSchema = z.object({
  path: relPath,
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be a lower-case hex sha256'),
  format: z.string().min(1),
});

/** Schema of one source entry. */
export const manifestSourceSchema = z.object({
  name: z.string().min(1),
  kind: z.string().min(1),
  artifacts: z.array(artifactRefSchema),
  includePaths: z.array(z.string()),
  excludePatterns: z.array(z.string()),
  metadata: z.record(z.string(), jsonValue),
  startedAt: z.string(),
  finishedAt: z.string(),
  durationMs: z.number().nonnegative(),
});

/** Schema of the whole manifest, version 1. */
export const manifestSchema = z.object({
  manifestVersion: z.literal(MANIFEST_VERSION),
  tool: z.object({ name: z.string(), version: z.string() }),
  host: z.string(),
  startedAt: z.string(),
  finishedAt: z.string(),
  sources: z.array(manifestSourceSchema),
  includePaths: z.array(z.string()),
  excludePatterns: z.array(z.string()),
});

/** A parsed manifest. */
export type Manifest = z.infer<typeof manifestSchema>;
/** One source entry of a manifest. */
export type ManifestSource = z.infer<typeof manifestSourceSchema>;

/** Validate a manifest object; a ManifestError names every bad field. */
export function parseManifest(value: unknown, file = MANIFEST_FILE): Manifest {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ManifestError(`${file} is not a manifest (not a JSON object)`, file, { code: 'ERR_MANIFEST_CORRUPT' });
  }
  const version = (value as Record<string, unknown>).manifestVersion;
  if (typeof version !== 'number') {
    throw new ManifestError(`${file} is not a duplicati-kit manifest (no manifestVersion)`, file, {
      code: 'ERR_MANIFEST_CORRUPT',
    });
  }
  if (version !== MANIFEST_VERSION) {
    throw new ManifestError(
      `${file} has manifest version ${version}; this duplicati-kit reads version ${MANIFEST_VERSION}${version > MANIFEST_VERSION ? ' (upgrade duplicati-kit)' : ''}`,
      file,
      { code: 'ERR_MANIFEST_VERSION' },
    );
  }
  // The schema validates metadata recursively; a hostile nesting would overflow the stack there.
  if (nestedDeeperThan(value, MAX_MANIFEST_DEPTH)) {
    throw new ManifestError(`${file} is corrupt: nested deeper than ${MAX_MANIFEST_DEPTH} levels`, file, {
      code: 'ERR_MANIFEST_CORRUPT',
    });
  }
  const parsed = manifestSchema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ManifestError(`${file} is corrupt:\n  - ${issues.join('\n  - ')}`, file, {
      code: 'ERR_MANIFEST_CORRUPT',
    });
  }
  const names = new Set<string>();
  for (const s of parsed.data.sources) {
    if (names.has(s.name)) {
      throw new ManifestError(`${file} is corrupt: source ${JSON.stringify(s.name)} appears twice`, file, {
        code: 'ERR_MANIFEST_CORRUPT',
      });
    }
    names.add(s.name);
  }
  return parsed.data;
}

/** Read and validate `<dir>/manifest.json`. */
export async function readManifest(dir: string, options: { signal?: AbortSignal } = {}): Promise<Manifest> {
  const file = path.join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await fsp.readFile(file, { encoding: 'utf8', ...(options.signal ? { signal: options.signal } : {}) });
  } catch (e) {
    if (options.signal?.aborted) throw options.signal.reason;
    const code = (e as NodeJS.ErrnoException).code;
    throw new ManifestError(
      code === 'ENOENT' ? `no manifest at ${file}: this folder holds no complete backup` : `cannot read ${file}`,
      file,
      { cause: e, code: code === 'ENOENT' ? 'ERR_MANIFEST_MISSING' : 'ERR_MANIFEST' },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ManifestError(`${file} is corrupt: not valid JSON`, file, { cause: e, code: 'ERR_MANIFEST_CORRUPT' });
  }
  return parseManifest(json, file);
}

/** Validate and write `<dir>/manifest.json` atomically (temp, fsync, rename, fsync dir). */
export async function writeManifest(
  dir: string,
  manifest: Manifest,
  options: { signal?: AbortSignal } = {},
): Promise<string> {
  const checked = parseManifest(manifest);
  const file = path.join(dir, MANIFEST_FILE);
  await writeFileAtomic(file, `${JSON.stringify(checked, null, 2)}\n`, options);
  return file;
}
