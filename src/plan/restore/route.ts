/**
 * Restore step 2: route manifest entries to targets. The first target that accepts an entry gets
 * it; a composite entry no target takes whole is split into its parts.
 *
 * @module
 */
import { ConfigError, RestoreError } from '../../core/errors.js';
import type { ManifestEntry, RestoreTarget } from '../../contracts/types.js';
import { expandEntry } from '../compose.js';
import { entryResult, type RestoreRun } from './context.js';

/** An entry and the target that takes it. */
export interface RoutedEntry {
  readonly entry: ManifestEntry;
  readonly target: RestoreTarget;
}

/**
 * The selected entries (`only`) with their targets; entries no target takes are reported as
 * skipped (failed with `requireAllEntries`).
 *
 * @throws {ConfigError} when `only` names a source the manifest does not have.
 */
export function routeEntries(run: RestoreRun): RoutedEntry[] {
  const { opts, manifest } = run;
  const selected = manifest.sources.filter((s) => !opts.only || opts.only.includes(s.name));
  if (opts.only) {
    const missing = opts.only.filter((n) => !manifest.sources.some((s) => s.name === n));
    if (missing.length) {
      throw new ConfigError(`the manifest has no source named ${missing.join(', ')}`, [
        { path: 'only', message: `known: ${manifest.sources.map((s) => s.name).join(', ')}` },
      ]);
    }
  }
  const routed: RoutedEntry[] = [];
  const route = (entry: ManifestEntry): void => {
    const target = run.targets.find((t) => t.accepts(entry));
    if (target) {
      routed.push({ entry, target });
      return;
    }
    const parts = expandEntry(entry);
    if (parts.length > 0) {
      for (const p of parts) route(p);
      return;
    }
    run.entries.push(unrouted(run, entry));
  };
  for (const e of selected) route(e);
  return routed;
}

/** An entry no target takes: skipped, and a failure only with `requireAllEntries`. */
function unrouted(run: RestoreRun, entry: ManifestEntry) {
  return entryResult(entry, undefined, 'skipped', 0, {
    ok: !run.requireAllEntries,
    ...(run.requireAllEntries
      ? {
          error: new RestoreError('no restore target accepts this entry', {
            source: entry.name,
            kind: entry.kind,
            phase: 'restore',
          }),
        }
      : {}),
  });
}
