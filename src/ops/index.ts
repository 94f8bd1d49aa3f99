/**
 * `duplicati-kit/ops`: operations around backups — restore drills, the checklist restore and its
 * restore points, the 3-2-1 audit, notifications, systemd schedules, local copies with retention,
 * hook installation and maintenance windows.
 *
 * @module
 */
import type * as contracts from '../contracts/types.js';
import * as demo from '../app/demo.js';
import * as auditRules from './audit-rules.js';
import * as checklist from './checklist-restore.js';
import * as drill from './drill.js';
import * as drillCheck from './drill-check.js';
import * as drillReport from './drill-report.js';
import * as hookInstall from './hook-install.js';
import * as maintenance from './maintenance.js';
import * as retention from './retention.js';
import * as scheduleMath from './schedule-math.js';
import * as systemd from './systemd.js';

export { AUDIT_RULE_IDS, type AuditOptions, type AuditReport, auditBackups, type MissedRun } from './audit.js';
export type { AuditRule, AuditStatus, MountEntry, RunSummary, TargetClass, TargetKind } from './audit-rules.js';
export {
  CHECKLIST_GATES,
  type ChecklistDuplicatiSource,
  type ChecklistGate,
  type ChecklistReport,
  type ChecklistRestoreOptions,
  type GateId,
  type GateStatus,
  restoreWithChecklist,
  type SessionMessenger,
  type WayBack,
} from './checklist-restore.js';
export {
  type DrillEntry,
  type DrillEvidence,
  type DrillEvidenceFiles,
  type DrillResult,
  type RestoreDrillOptions,
  restoreDrill,
} from './drill.js';
export type {
  DrillCheck,
  DrillCheckContext,
  DrillCheckProvider,
  DrillCheckResult,
  DrillConsistency,
} from '../contracts/drill.js';
export { readLastDrill, renderDrillMarkdown } from './drill-report.js';
export {
  type HookInstallChange,
  type HookInstallResult,
  type InstallHookOptions,
  installHook,
} from './hook-install.js';
export {
  type CommandArgv,
  type CommandRun,
  isMaintenanceError,
  MaintenanceError,
  type MaintenanceLog,
  type MaintenanceOptions,
  type MaintenanceWindow,
  openMaintenanceWindow,
} from './maintenance.js';
export type { QueuePauser } from '../contracts/maintenance.js';
export {
  HealthchecksNotifier,
  type HealthchecksOptions,
  isNotificationError,
  NotificationError,
  type NotifyResult,
  newRunId,
  notifyAll,
  NtfyNotifier,
  type NtfyOptions,
  WebhookNotifier,
  type WebhookOptions,
} from './notify.js';
export type { NotificationEvent, NotificationKind, Notifier } from '../contracts/notifier.js';
export {
  dropRestorePoints,
  isRestoreRecordError,
  listRestorePoints,
  type RecordedTarget,
  type RestorePointActionOptions,
  type RestorePointActionResult,
  type RestoreRecord,
  RestoreRecordError,
  type RestoreRecordStatus,
  readRestoreRecord,
  rollbackRestore,
  lockStateDir,
  recoverInterruptedRestores,
  type RecordedTargetState,
} from './restore-points.js';
export { keepLocalCopy, type PruneResult, pruneLocalCopies, type RetentionPolicy } from './retention.js';
export {
  readRecoveryJobs,
  type RecoveryJobReader,
  type RecoveryKitInput,
  recoveryJobFromBackup,
  redactConfig,
  writeRecoveryKit,
} from './recovery/kit.js';
export {
  type BackupReader,
  type DirectReaderOptions,
  duplicatiDirectReader,
  type FolderRestore,
  isRecoveryError,
  RecoveryError,
  type RecoveryVersion,
  restoredTreeReader,
} from './recovery/reader.js';
export {
  mapPath,
  type PathMapping,
  pickRecoveryVersion,
  RECOVER_REPORT_FILE,
  type RecoverOptions,
  type RecoverReport,
  type RecoverStepContext,
  recoverServer,
  recoveryHooksOf,
} from './recovery/recover.js';
export { RECOVER_STEPS, type RecoverStepName, type RecoverStepRecord } from './recovery/state.js';
export {
  RECOVERY_KIND,
  RECOVERY_SOURCE,
  type RecoveryJob,
  type RecoveryJobsFile,
  type RecoveryVersions,
} from './recovery/types.js';

export {
  chooseVersion,
  findJob,
  type JobRef,
  locateWorkDir,
  restoreStagedFolder,
  type StagedRestore,
  type VersionSelection,
} from './staged-version.js';
export { renderSystemdUnits, type SystemdSchedule, type SystemdUnits, writeSystemdUnits } from './systemd.js';

// ---------------------------------------------------------------------------------------------
// Deprecated: kept for one minor version (see CHANGELOG.md). Declarations, not `export { … }`
// lists, so that the `@deprecated` tags survive into the bundled .d.ts files.
// ---------------------------------------------------------------------------------------------

// The demo wires every layer together, so it belongs to the composition root.
/** @deprecated Import from 'duplicati-kit/config'; this re-export will be removed in 0.3. */
export const runDemo = demo.runDemo;
/** @deprecated Import from 'duplicati-kit/config'; this re-export will be removed in 0.3. */
export type DemoOptions = demo.DemoOptions;
/** @deprecated Import from 'duplicati-kit/config'; this re-export will be removed in 0.3. */
export type DemoReport = demo.DemoReport;
/** @deprecated Import from 'duplicati-kit/config'; this re-export will be removed in 0.3. */
export type DemoStep = demo.DemoStep;

/** @deprecated Internal; will be removed in 0.3. */
export const classifyTarget = auditRules.classifyTarget;
/** @deprecated Internal; will be removed in 0.3. */
export const judgeEncryption = auditRules.judgeEncryption;
/** @deprecated Internal; will be removed in 0.3. */
export const judgeHooks = auditRules.judgeHooks;
/** @deprecated Internal; will be removed in 0.3. */
export const judgeRetention = auditRules.judgeRetention;
/** @deprecated Internal; will be removed in 0.3. */
export const judgeSchedule = auditRules.judgeSchedule;
/** @deprecated Internal; will be removed in 0.3. */
export const jobOptions = auditRules.jobOptions;
/** @deprecated Internal; will be removed in 0.3. */
export const parseMountInfo = auditRules.parseMountInfo;
/** @deprecated Internal; will be removed in 0.3. */
export const summarizeRuns = auditRules.summarizeRuns;

/** @deprecated Internal; will be removed in 0.3. */
export const lastOccurrence = scheduleMath.lastOccurrence;
/** @deprecated Internal; will be removed in 0.3. */
export const occurrencesBetween = scheduleMath.occurrencesBetween;
/** @deprecated Internal; will be removed in 0.3. */
export const parseRepeat = scheduleMath.parseRepeat;
/** @deprecated Internal; will be removed in 0.3. */
export type RepeatSpec = scheduleMath.RepeatSpec;
/** @deprecated Internal; will be removed in 0.3. */
export type ScheduleSpec = scheduleMath.ScheduleSpec;

/** @deprecated Internal; will be removed in 0.3. */
export const wayBackOf = checklist.wayBackOf;

/** @deprecated Internal; will be removed in 0.3. */
export const pickVersion = drill.pickVersion;
/** @deprecated Internal; will be removed in 0.3. */
export const scratchRefusal = drill.scratchRefusal;

/** @deprecated Internal; will be removed in 0.3. */
export const checksOfTarget = drillCheck.checksOfTarget;
/** @deprecated Internal; will be removed in 0.3. */
export const listVersionFiles = drillCheck.listVersionFiles;
/** @deprecated Internal; will be removed in 0.3. */
export const runDrillChecks = drillCheck.runDrillChecks;

/** @deprecated Internal; will be removed in 0.3. Use `readLastDrill`. */
export const LAST_DRILL_FILE = drillReport.LAST_DRILL_FILE;
/** @deprecated Internal; will be removed in 0.3. `restoreDrill` writes the evidence. */
export const writeDrillEvidence = drillReport.writeDrillEvidence;

/** @deprecated Internal; will be removed in 0.3. */
export const findSetting = hookInstall.findSetting;
/** @deprecated Internal; will be removed in 0.3. */
export const HOOK_SCRIPT_MARKER = hookInstall.HOOK_SCRIPT_MARKER;
/** @deprecated Internal; will be removed in 0.3. */
export const hookWrapperScript = hookInstall.hookWrapperScript;
/** @deprecated Internal; will be removed in 0.3. */
export const runsDuplicatiKitHook = hookInstall.runsDuplicatiKitHook;

/** @deprecated Internal; will be removed in 0.3. */
export const runCommand = maintenance.runCommand;

/** @deprecated Internal; will be removed in 0.3. */
export const copyName = retention.copyName;
/** @deprecated Internal; will be removed in 0.3. */
export const selectRetained = retention.selectRetained;

/** @deprecated Internal; will be removed in 0.3. */
export const quoteExecArg = systemd.quoteExecArg;

/** @deprecated Import from 'duplicati-kit'; this re-export will be removed in 0.3. */
export type BackupSource = contracts.BackupSource;
/** @deprecated Import from 'duplicati-kit'; this re-export will be removed in 0.3. */
export type PreparedSource = contracts.PreparedSource;
/** @deprecated Import from 'duplicati-kit'; this re-export will be removed in 0.3. */
export type ProgressEvent = contracts.ProgressEvent;
/** @deprecated Import from 'duplicati-kit'; this re-export will be removed in 0.3. */
export type RestoreTarget = contracts.RestoreTarget;
/** @deprecated Import from 'duplicati-kit'; this re-export will be removed in 0.3. */
export type SourceContext = contracts.SourceContext;
