/**
 * Exit codes of the `duplicati-kit` command. Documented in the README; part of the public API.
 *
 * @module
 */
export const ExitCode = {
  /** Everything succeeded. */
  Success: 0,
  /** A failure not covered below. */
  Error: 1,
  /** Bad command line or config file. */
  Usage: 2,
  /** Another run holds the work directory's lock. */
  Locked: 3,
  /** Restored material failed verification (checksums, integrity, counts). */
  VerificationFailed: 4,
  /** A backup source or restore target failed. */
  PlanFailed: 5,
  /** Could not reach or log in to a server (Duplicati, Immich, Jellyfin). */
  Unavailable: 6,
  /** `status --audit`: a rule of the 3-2-1 audit failed. */
  AuditFailed: 7,
  /** A Duplicati operation ended with result `Warning`. */
  DuplicatiWarning: 10,
  /** A Duplicati operation ended with result `Error`. */
  DuplicatiError: 11,
  /** A Duplicati operation ended with result `Fatal` (or was aborted). */
  DuplicatiFatal: 12,
  /** Interrupted by SIGINT/SIGTERM. */
  Interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
