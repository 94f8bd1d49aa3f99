import path from 'node:path';
import type { Manifest } from '../../src/core/manifest.js';
import type { BackupSource, PreparedSource, RestoreInput } from '../../src/contracts/types.js';

/** The RestoreInput a restore plan would build from one prepared source in `workDir`. */
export function restoreInputFor(
  source: Pick<BackupSource, 'name' | 'kind'>,
  prepared: PreparedSource,
  workDir: string,
): RestoreInput {
  const now = new Date().toISOString();
  const entry = {
    name: source.name,
    kind: source.kind,
    artifacts: prepared.artifacts.map((a) => ({ ...a })),
    includePaths: [...(prepared.includePaths ?? [])],
    excludePatterns: [...(prepared.excludePatterns ?? [])],
    metadata: { ...(prepared.metadata ?? {}) },
    startedAt: now,
    finishedAt: now,
    durationMs: 0,
  };
  const manifest: Manifest = {
    manifestVersion: 1,
    tool: { name: 'duplicati-kit', version: 'test' },
    host: 'test',
    startedAt: now,
    finishedAt: now,
    sources: [entry],
    includePaths: entry.includePaths,
    excludePatterns: entry.excludePatterns,
  };
  return {
    entry,
    artifacts: prepared.artifacts.map((a) => ({ ...a, file: path.join(workDir, ...a.path.split('/')) })),
    from: workDir,
    manifest,
  };
}
