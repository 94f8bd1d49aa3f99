/**
 * The dashboard's picture of the 3-2-1 setup: plain JSON, free of secrets (target URLs are shown
 * as scheme, host and path; passwords, passphrases and tokens are never read into it).
 *
 * @module
 */
import type { AuditReport } from '../ops/audit.js';

/** red/amber/green (and grey when it could not be judged). */
export type Light = 'green' | 'amber' | 'red' | 'grey';

/** One backup run from the job log. Times in epoch seconds (charts use them as they are). */
export interface RunPoint {
  readonly t: number;
  readonly result: string;
  readonly durationS: number;
  readonly examinedFiles: number;
  readonly sizeExamined: number;
  readonly bytesUploaded: number;
  readonly addedFiles: number;
  readonly modifiedFiles: number;
  /** First error or warning line of a run that did not succeed. */
  readonly error?: string;
}

/** A Duplicati job as the overview shows it. */
export interface JobView {
  readonly server: string;
  readonly id: string;
  readonly name: string;
  readonly schedule: {
    readonly repeat: string | null;
    readonly nextRunAt: string | null;
    readonly allowedDays: readonly string[];
  } | null;
  readonly lastRun: { readonly at: string; readonly result: string } | null;
  readonly lastSuccessAt: string | null;
  readonly ageMs: number | null;
  /** The oldest acceptable last success the audit judged against (schedule's longest gap + grace). */
  readonly maxAgeMs: number | null;
  /** The audit's `job.last-success` verdict as a light: red when stale or failing. */
  readonly freshness: Light;
  readonly freshnessReason: string;
  readonly lastFailure: { readonly at: string; readonly result: string; readonly reason: string } | null;
  /** The newest passing drill of this job, and the recovery time it measured. */
  readonly lastVerified: { readonly at: string; readonly version: number | null; readonly recoveryMs: number } | null;
  readonly retention: string;
  readonly target: { readonly kind: string; readonly where: string };
  readonly sourceBytes: number | null;
  readonly runs: number;
}

/** One Duplicati server. */
export interface ServerView {
  readonly name: string;
  /** Scheme, host and port only. */
  readonly url: string;
  readonly ok: boolean;
  readonly error: string | null;
  /** When this server was last read successfully (jobs are the last good read). */
  readonly readAt: string | null;
  readonly jobs: readonly JobView[];
  readonly audit: AuditReport | null;
}

/** A drill, as its evidence file tells it. */
export interface DrillRow {
  readonly job: string;
  readonly verdict: 'pass' | 'fail';
  readonly version: number | null;
  readonly mode: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly recoveryMs: number;
  readonly checks: string;
  readonly errors: readonly string[];
  /** Link to the evidence (Markdown), served read-only by the dashboard. */
  readonly evidence: string | null;
}

/** A restore record and what a rollback would do. */
export interface RestorePointRow {
  readonly id: string;
  readonly createdAt: string;
  readonly status: string;
  readonly source: string;
  readonly targets: readonly {
    readonly name: string;
    readonly kind: string;
    readonly state: string;
    readonly safetyCopy: string | null;
  }[];
  readonly rollback: string;
}

/** One local copy (copy 2 of 3-2-1). */
export interface LocalCopyRow {
  readonly name: string;
  readonly at: string;
  readonly bytes: number;
  readonly artifacts: number;
  readonly complete: boolean;
  /** Kept by the retention policy at its next prune. */
  readonly kept: boolean;
}

/** A TLS certificate an nginx source backs up. */
export interface CertificateRow {
  readonly subject: string;
  readonly sans: readonly string[];
  readonly file: string;
  readonly notAfter: string;
  readonly daysLeft: number;
  readonly light: Light;
}

/** A row of the generated backup plan ("Planning des backups"). */
export interface PlanRow {
  readonly server: string;
  readonly service: string;
  readonly frequency: string;
  readonly time: string;
  readonly retention: string;
  readonly where: string;
}

/** Everything the pages, the API, the report and the metrics show. */
export interface DashboardSnapshot {
  readonly generatedAt: string;
  readonly refreshMs: number;
  readonly servers: readonly ServerView[];
  /** Live data and local copy rules of the 3-2-1 audit (copies 1 and 2). */
  readonly localAudit: AuditReport | null;
  readonly plan: readonly PlanRow[];
  readonly drills: readonly DrillRow[];
  readonly restorePoints: readonly RestorePointRow[];
  readonly localCopies: {
    readonly dir: string;
    readonly retention: string;
    readonly copies: readonly LocalCopyRow[];
  } | null;
  readonly certificates: readonly CertificateRow[];
  /** Job history by `<server>/<job id>`, oldest first. */
  readonly history: Readonly<Record<string, readonly RunPoint[]>>;
}
