/**
 * Names and file shapes of the recovery kit (`recovery/` in every staged backup).
 *
 * @module
 */
import type { JsonValue } from '../../core/json.js';
import type { JobSpec } from '../../duplicati/resources/jobs.js';

/** Name (and folder) of the recovery kit's manifest entry. */
export const RECOVERY_SOURCE = 'recovery';
/** Kind of the recovery kit's manifest entry. */
export const RECOVERY_KIND = 'recovery-kit';
/** One job of `recovery/jobs.json`: a jobs-as-code spec without its passphrase. */
export interface RecoveryJob {
  /** The spec; `passphrase` is never present. */
  readonly spec: JobSpec;
  /** True when the job encrypts (the passphrase must be given again to re-create it). */
  readonly encrypted: boolean;
  /** True when credentials were removed from the target URL. */
  readonly targetCredentialsRemoved: boolean;
  /** The job's id on the old server. */
  readonly oldId: string;
}

/** `recovery/jobs.json`. */
export interface RecoveryJobsFile {
  readonly jobs: readonly RecoveryJob[];
  /** Why the list is empty or partial, when it is. */
  readonly note?: string;
}

/** `recovery/versions.json`. */
export interface RecoveryVersions {
  readonly node: string;
  readonly duplicatiKit: string;
  readonly duplicatiServer: string | null;
  readonly host: string;
  /** Per source: the version fields of its metadata (server versions, extensions, app versions). */
  readonly sources: Readonly<Record<string, { readonly kind: string; readonly versions: JsonValue }>>;
}
