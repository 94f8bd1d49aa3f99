/**
 * `duplicati-kit/ops`: operations around backups — restore drills, notifications, systemd
 * schedules, local copies with retention, hook installation, and the end-to-end demo.
 *
 * @module
 */
export { runDemo } from '../app/demo.js';
export type { DemoOptions, DemoReport, DemoStep } from '../app/demo.js';
export {
  HealthchecksNotifier,
  NotificationError,
  newRunId,
  notifyAll,
  NtfyNotifier,
  WebhookNotifier,
} from './notify.js';
export type {
  HealthchecksOptions,
  NotificationEvent,
  NotificationKind,
  Notifier,
  NotifyResult,
  NtfyOptions,
  WebhookOptions,
} from './notify.js';
export { copyName, keepLocalCopy, pruneLocalCopies, selectRetained } from './retention.js';
export type { PruneResult, RetentionPolicy } from './retention.js';
export { quoteExecArg, renderSystemdUnits, writeSystemdUnits } from './systemd.js';
export type { SystemdSchedule, SystemdUnits } from './systemd.js';
export type { BackupSource, PreparedSource, ProgressEvent, RestoreTarget, SourceContext } from '../contracts/types.js';
export {
  findSetting,
  HOOK_SCRIPT_MARKER,
  hookWrapperScript,
  installHook,
  runsDuplicatiKitHook,
} from './hook-install.js';
export type { HookInstallChange, HookInstallResult, InstallHookOptions } from './hook-install.js';
export { pickVersion, restoreDrill, scratchRefusal } from './drill.js';
export type { DrillEntry, DrillEvidence, DrillEvidenceFiles, DrillResult, RestoreDrillOptions } from './drill.js';
export { checksOfTarget, listVersionFiles, runDrillChecks } from './drill-check.js';
export type {
  DrillCheck,
  DrillCheckContext,
  DrillCheckProvider,
  DrillCheckResult,
  DrillConsistency,
} from './drill-check.js';
export { LAST_DRILL_FILE, readLastDrill, renderDrillMarkdown, writeDrillEvidence } from './drill-report.js';
export { AUDIT_RULE_IDS, auditBackups } from './audit.js';
export type { AuditOptions, AuditReport, MissedRun } from './audit.js';
export {
  classifyTarget,
  judgeEncryption,
  judgeHooks,
  judgeRetention,
  judgeSchedule,
  jobOptions,
  parseMountInfo,
  summarizeRuns,
} from './audit-rules.js';
export type { AuditRule, AuditStatus, MountEntry, RunSummary, TargetClass, TargetKind } from './audit-rules.js';
export { lastOccurrence, occurrencesBetween, parseRepeat } from './schedule-math.js';
export type { RepeatSpec, ScheduleSpec } from './schedule-math.js';

export { CHECKLIST_GATES, restoreWithChecklist, wayBackOf } from './checklist-restore.js';
export type {
  ChecklistDuplicatiSource,
  ChecklistGate,
  ChecklistReport,
  ChecklistRestoreOptions,
  GateId,
  GateStatus,
  SessionMessenger,
  WayBack,
} from './checklist-restore.js';
export { MaintenanceError, openMaintenanceWindow, runCommand } from './maintenance.js';
export type {
  CommandArgv,
  CommandRun,
  MaintenanceLog,
  MaintenanceOptions,
  MaintenanceWindow,
  QueuePauser,
} from './maintenance.js';
export {
  dropRestorePoints,
  listRestorePoints,
  readRestoreRecord,
  RestoreRecordError,
  rollbackRestore,
} from './restore-points.js';
export type {
  RecordedTarget,
  RestorePointActionOptions,
  RestorePointActionResult,
  RestoreRecord,
  RestoreRecordStatus,
} from './restore-points.js';
export { chooseVersion, findJob, locateWorkDir, restoreStagedFolder } from './staged-version.js';
export type { JobRef, StagedRestore, VersionSelection } from './staged-version.js';
