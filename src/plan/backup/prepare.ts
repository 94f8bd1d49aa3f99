/**
 * The backup plan's prepare step: each source writes its artifacts (bounded concurrency) and
 * reports what Duplicati should back up besides them.
 *
 * @module
 */
import path from 'node:path';
import { throwIfAborted } from '../../core/abort.js';
import { type ArtifactRef, removePartials } from '../../core/artifact-writer.js';
import { mapLimit } from '../../core/concurrency.js';
import { asNoSpaceError, SourceError } from '../../core/errors.js';
import { exists } from '../../core/fs.js';
import type { ManifestSource } from '../../core/manifest.js';
import type { BackupSource, PreparedSource } from '../../contracts/types.js';
import { errorOf, failedResult, type PrepareRun, sourceContext } from './context.js';
import type { SourceResult } from './options.js';

/**
 * Prepare every source; each one's manifest entry, or undefined where it failed. Results are
 * recorded in source order, whatever order the sources finished in.
 */
export async function prepareSources(run: PrepareRun): Promise<(ManifestSource | undefined)[]> {
  const { sources, results } = run;
  const entries = await mapLimit(sources, run.concurrency, (s) => prepareOne(run, s), run.signal);
  results.sort((a, b) => sources.findIndex((s) => s.name === a.name) - sources.findIndex((s) => s.name === b.name));
  return entries;
}

/** Prepare one source and record its result; its manifest entry, or undefined when it failed. */
async function prepareOne(run: PrepareRun, s: BackupSource): Promise<ManifestSource | undefined> {
  const { signal, logger, workDir, results } = run;
  const t0 = performance.now();
  const started = new Date();
  const ctx = sourceContext(s, run.base);
  try {
    throwIfAborted(signal);
    logger.info('preparing source', { source: s.name, kind: s.kind });
    const prepared: PreparedSource = await s.prepare(ctx);
    throwIfAborted(signal);
    await assertArtifacts(workDir, s, prepared, ctx.artifacts.written);
    const r: SourceResult = {
      name: s.name,
      kind: s.kind,
      ok: true,
      phase: 'prepare',
      durationMs: performance.now() - t0,
      artifacts: prepared.artifacts,
      includePaths: [...(prepared.includePaths ?? [])],
      excludePatterns: [...(prepared.excludePatterns ?? [])],
      metadata: { ...(prepared.metadata ?? {}) },
    };
    results.push(r);
    return {
      name: s.name,
      kind: s.kind,
      artifacts: [...r.artifacts],
      includePaths: [...r.includePaths],
      excludePatterns: [...r.excludePatterns],
      metadata: { ...r.metadata },
      startedAt: started.toISOString(),
      finishedAt: new Date().toISOString(),
      durationMs: Math.round(r.durationMs),
    };
  } catch (e) {
    throwIfAborted(signal);
    // A full disk is the cause even when a dump tool reports only its closed pipe.
    const err =
      asNoSpaceError(e, ctx.sourceDir, { source: s.name, kind: s.kind, phase: 'prepare' }) ?? errorOf(e, s, 'prepare');
    // What a failed source left half-written would otherwise fill the disk until the next run.
    await removePartials(ctx.sourceDir);
    results.push(failedResult(run, s, 'prepare', performance.now() - t0, err));
    logger.error('source failed', { source: s.name, error: err.message });
    return undefined;
  }
}

/** A source may only report artifacts its writer finished, under its own folder. */
async function assertArtifacts(
  workDir: string,
  s: BackupSource,
  prepared: PreparedSource,
  written: readonly ArtifactRef[],
): Promise<void> {
  for (const a of prepared.artifacts) {
    const ok = written.some((w) => w.path === a.path && w.sha256 === a.sha256 && w.bytes === a.bytes);
    if (!ok || !(await exists(path.join(workDir, ...a.path.split('/'))))) {
      throw new SourceError(
        `source returned artifact ${a.path} that its artifact writer did not finish`,
        { source: s.name, kind: s.kind, phase: 'prepare' },
        { code: 'ERR_ARTIFACT_UNKNOWN' },
      );
    }
  }
}
