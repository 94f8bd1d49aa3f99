/**
 * The contract of a restore drill's consistency checks: checks that run after the targets and
 * compare what the restored version says with what that same Duplicati version holds. Apps
 * provide them (Immich: `ImmichLibraryCheck`); `restoreDrill` in `duplicati-kit/ops` runs them.
 *
 * @module
 */
import type { Logger } from '../core/logger.js';
import type { Manifest } from '../core/manifest.js';
import type { DuplicatiClient } from '../duplicati/client.js';
import type { RestoreReport } from './restore-report.js';

/** What a consistency check is given: the drilled version, what was restored, and the client. */
export interface DrillCheckContext {
  readonly client: DuplicatiClient;
  readonly job: { readonly id: string; readonly name: string };
  /** The drilled version (0 = newest) and its exact time as the server listed it. */
  readonly version: number;
  readonly versionTime: string;
  /** The plan's work folder as Duplicati saw it. */
  readonly workDir: string;
  /** The restored work folder (holding `manifest.json` and the artifacts, checksums verified). */
  readonly from: string;
  readonly manifest: Manifest;
  /** The restore plan's report (targets' outcomes). */
  readonly report: RestoreReport;
  /** A folder the check may use; removed with the drill's scratch folder. */
  readonly scratchDir: string;
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /**
   * Every file (not folder) of the drilled version below `folder` (absolute, as Duplicati shows
   * paths), listed by the server. One request per call.
   */
  listVersionFiles(folder: string): Promise<string[]>;
}

/** The outcome of one consistency check. */
export interface DrillCheckResult {
  /** `skipped` (nothing to check in this version) does not fail the drill. */
  readonly status: 'pass' | 'fail' | 'skipped';
  /** One line: what was compared and what came out. */
  readonly detail: string;
  /** Counts worth keeping (e.g. `checked`, `missing`). */
  readonly figures?: Readonly<Record<string, number>>;
  /** The first offending items (e.g. missing paths), for the evidence. */
  readonly samples?: readonly string[];
}

/**
 * A check a drill runs after its targets.
 *
 * @example
 * ```ts
 * const manifestHasDb: DrillCheck = {
 *   name: 'has-db',
 *   run: async (ctx) =>
 *     ctx.manifest.sources.some((s) => s.name === 'app-db')
 *       ? { status: 'pass', detail: 'the app database is in the version' }
 *       : { status: 'fail', detail: 'no app database in the version' },
 * };
 * ```
 */
export interface DrillCheck {
  readonly name: string;
  run(ctx: DrillCheckContext): Promise<DrillCheckResult>;
}

/** A target that brings its own drill checks (found by duck typing: `drillChecks()`). */
export interface DrillCheckProvider {
  drillChecks(): readonly DrillCheck[];
}

/** One consistency check as kept in the drill's evidence. */
export interface DrillConsistency extends DrillCheckResult {
  readonly name: string;
  readonly ok: boolean;
  readonly durationMs: number;
}
