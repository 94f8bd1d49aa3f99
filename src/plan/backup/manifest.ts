/**
 * The backup plan's manifest step: written last and atomically, only when every source succeeded.
 *
 * @module
 */
import os from 'node:os';
import { throwIfAborted } from '../../core/abort.js';
import { MANIFEST_VERSION, type Manifest, type ManifestSource, writeManifest } from '../../core/manifest.js';
import { PACKAGE_NAME, VERSION } from '../../core/version.js';
import type { PrepareRun } from './context.js';

/** Write the manifest of `sources` (the run started at `startedAt`); the manifest and its file. */
export async function writePlanManifest(
  run: PrepareRun,
  startedAt: Date,
  sources: ManifestSource[],
): Promise<{ manifest: Manifest; manifestFile: string }> {
  const manifest: Manifest = {
    manifestVersion: MANIFEST_VERSION,
    tool: { name: PACKAGE_NAME, version: VERSION },
    host: os.hostname(),
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    sources,
    includePaths: [...new Set(sources.flatMap((s) => s.includePaths))],
    excludePatterns: [...new Set(sources.flatMap((s) => s.excludePatterns))],
  };
  throwIfAborted(run.signal);
  const manifestFile = await writeManifest(run.workDir, manifest, { signal: run.signal });
  return { manifest, manifestFile };
}
