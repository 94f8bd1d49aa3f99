/**
 * What a restore plan reports: the outcome of every manifest entry and every checksum.
 *
 * @module
 */
import type { StepResult } from '../core/errors.js';
import type { Manifest } from '../core/manifest.js';
import type { RestoreOutput, VerificationReport } from './types.js';

/** Status of one manifest entry in a restore. */
export type EntryStatus =
  | 'skipped'
  | 'verified'
  | 'restored'
  | 'rolled-back'
  | 'rollback-failed'
  | 'failed'
  | 'not-run';

/** Outcome of one manifest entry. */
export interface EntryResult extends StepResult {
  /** Name of the target that took it, if any. */
  readonly target: string | undefined;
  readonly status: EntryStatus;
  readonly verification?: VerificationReport;
  readonly output?: RestoreOutput;
}

/** What {@link RestorePlan.run} returns. */
export interface RestoreReport {
  readonly ok: boolean;
  readonly dryRun: boolean;
  readonly from: string;
  readonly manifest: Manifest;
  /** Every artifact's checksum check. */
  readonly checksums: readonly {
    readonly path: string;
    readonly ok: boolean;
    readonly bytes: number;
    /** Why it failed: `missing`, `size differs: …`, `sha256 differs from the manifest`. */
    readonly problem?: string;
  }[];
  readonly entries: readonly EntryResult[];
  readonly durationMs: number;
}
