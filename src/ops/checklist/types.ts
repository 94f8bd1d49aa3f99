/**
 * The checklist restore's public types: the six gates, its options and its report.
 *
 * @module
 */
import type { Logger } from '../../core/logger.js';
import type { DuplicatiClient } from '../../duplicati/client.js';
import type { WaitOptions } from '../../duplicati/resources/tasks.js';
import type { RestoreReport } from '../../contracts/restore-report.js';
import type { ProgressEvent, RestoreTarget } from '../../contracts/types.js';
import type { Notifier } from '../../contracts/notifier.js';
import type { MaintenanceLog, MaintenanceOptions } from '../maintenance.js';
import type { NotifyResult } from '../notify.js';
import type { RestoreRecordStatus } from '../restore-points.js';
import type { JobRef } from '../staged-version.js';

/** The six gates, by number. */
export const CHECKLIST_GATES = [
  { number: 1, id: 'identify', title: 'Identify the backup to restore' },
  { number: 2, id: 'verify', title: 'Verify its integrity' },
  { number: 3, id: 'maintenance', title: 'Maintenance window' },
  { number: 4, id: 'record', title: 'Record the current state (a way back)' },
  { number: 5, id: 'warn', title: 'Warn users' },
  { number: 6, id: 'restore', title: 'Restore with plan B (automatic rollback)' },
] as const;

/** A gate's id. */
export type GateId = (typeof CHECKLIST_GATES)[number]['id'];

/** `would-run` only in a dry run. */
export type GateStatus = 'passed' | 'failed' | 'skipped' | 'would-run';

/** One gate of the checklist. */
export interface ChecklistGate {
  readonly number: 1 | 2 | 3 | 4 | 5 | 6;
  readonly id: GateId;
  readonly title: string;
  readonly status: GateStatus;
  /** Why it failed, was skipped, or what it would do. */
  readonly reason?: string;
  /** What was checked or done, one line each. */
  readonly evidence: readonly string[];
  /** The failure's error code (e.g. `ERR_DUPLICATI_CONNECTION`), when it had one. */
  readonly code?: string;
  /** Warnings that did not fail the gate (a notifier down, a Duplicati verify warning). */
  readonly warnings: readonly string[];
  readonly durationMs: number;
  /** 1-based position in the run order (1, 2, 4, 5, 3, 6); null when it never ran. */
  readonly ranAs: number | null;
}

/** The Duplicati source of a restore. */
export interface ChecklistDuplicatiSource {
  readonly client: DuplicatiClient;
  /** Job id or name (case-insensitive). */
  readonly job: string;
  /** Version number (0 = newest). Exclusive with `time`. */
  readonly version?: number;
  /** The newest version at or before this time. Exclusive with `version`. */
  readonly time?: Date | string;
  /** The plan's work folder as Duplicati backed it up. Default: the job's source folder holding a manifest. */
  readonly workDir?: string;
  /** Run Duplicati's verify of the job in gate 2. @default true */
  readonly verify?: boolean;
  /** Passed to `verifyAndWait` / `restoreAndWait` (e.g. `totalTimeout`). */
  readonly wait?: Omit<WaitOptions, 'signal'>;
}

/** What shows a message on Jellyfin's sessions (a `JellyfinClient` is one). */
export interface SessionMessenger {
  messageSessions(
    message: { header?: string; text: string; timeoutMs?: number },
    options?: { signal?: AbortSignal },
  ): Promise<{ sent: number; failed: { session: string; error: string }[] }>;
}

/** Options of {@link restoreWithChecklist}. */
export interface ChecklistRestoreOptions {
  /** The restore targets (the live ones: this is a real restore). */
  readonly targets: readonly RestoreTarget[];
  /** Restore from a folder holding `manifest.json` and the artifacts. Exclusive with `duplicati`. */
  readonly from?: string;
  /** Restore a version of a Duplicati job: its staged work folder is restored into `stagingDir` first. */
  readonly duplicati?: ChecklistDuplicatiSource;
  /** Where Duplicati restores the staged folder (a `restore-*` folder is made inside and removed). @default os.tmpdir() */
  readonly stagingDir?: string;
  /** Keep the staged copy Duplicati restored. @default false */
  readonly keepStaging?: boolean;
  /** Where restore records go (see `listRestorePoints`). */
  readonly stateDir: string;
  /** Restore only these manifest sources. */
  readonly only?: readonly string[];
  readonly maintenance?: Omit<MaintenanceOptions, 'logger'>;
  /** Told before (gate 5) and after the restore. */
  readonly notifiers?: readonly Notifier[];
  /** Jellyfin's API, to show the warning on its sessions (gate 5). */
  readonly jellyfin?: SessionMessenger;
  /** The warning text. @default a line naming the backup and the targets */
  readonly warning?: string;
  /**
   * Let targets that cannot keep a way back (no `rollback`) overwrite anyway: `true` for all, or
   * their names. @default false — such a target fails gate 4
   */
  readonly allowNoWayBack?: boolean | readonly string[];
  /** Drop the restore points right after a successful restore (no rollback later). @default false */
  readonly finalize?: boolean;
  /** Run gates 1 and 2 (read-only), evaluate gate 4, and show what 3, 5 and 6 would do. */
  readonly dryRun?: boolean;
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
  readonly onProgress?: (event: ProgressEvent) => void;
  /** Called as each gate finishes. */
  readonly onGate?: (gate: ChecklistGate) => void;
}

/** What {@link restoreWithChecklist} returns. */
export interface ChecklistReport {
  readonly ok: boolean;
  readonly dryRun: boolean;
  /** The gates in checklist order (1…6). */
  readonly gates: readonly ChecklistGate[];
  readonly backup: {
    readonly job: JobRef | null;
    readonly version: number | null;
    readonly versionTime: string | null;
    /** The folder restored from (the staged copy, for a Duplicati source). */
    readonly from: string | null;
    readonly manifest: { readonly host: string; readonly startedAt: string; readonly sources: string[] } | null;
  };
  /** Gate 2's verification: every checksum and each target's checks, before anything was touched. */
  readonly verification: RestoreReport | null;
  /** Gate 6's restore: each entry's final status and output (the way back it kept). */
  readonly restore: RestoreReport | null;
  /** The restore record (restore points), when one was written. */
  readonly record: { readonly id: string; readonly file: string; readonly status: RestoreRecordStatus } | null;
  readonly services: {
    /** Whether anything was stopped or paused. */
    readonly stopped: boolean;
    /** Whether everything was started and resumed again (null when nothing was stopped). */
    readonly restarted: boolean | null;
    readonly log: MaintenanceLog | null;
  };
  /** True when gate 6 failed and its automatic rollback put every applied target back. */
  readonly rolledBack: boolean;
  readonly notified: readonly NotifyResult[];
  readonly durationMs: number;
}

/** How a target keeps a way back, or why it need not. */
export interface WayBack {
  readonly target: string;
  /** `rollback`: keeps a restore point; `none-needed`: writes nothing live; `none`: cannot. */
  readonly kind: 'rollback' | 'none-needed' | 'none';
  readonly detail: string;
}
