/**
 * Restores run as a checklist of six gates, each with a status and evidence:
 *
 * 1. identify the backup (a Duplicati version by number or by time, or a local folder);
 * 2. verify it (Duplicati's verify of the job, then every checksum and each target's checks);
 * 3. maintenance window (pause Immich's queues, stop Jellyfin and other services);
 * 4. record the current state (every target that overwrites something keeps a way back);
 * 5. warn users (notifiers, and Jellyfin sessions when its API is configured);
 * 6. restore with plan B (automatic rollback on failure; restore points kept for a later
 *    rollback or drop by hand).
 *
 * Gates run in the order 1, 2, 4, 5, 3, 6: the way back is proven before any service is stopped
 * (so a failure at or before gate 4 touches nothing), and users are warned while Jellyfin can
 * still show them a message. Services are started again in a `finally`, whatever happened.
 *
 * Each gate lives in its own file in `./checklist/` over one shared `ChecklistState`; this module
 * keeps the public names where they always were.
 *
 * @module
 */
export { restoreWithChecklist } from './checklist/run.js';
export { wayBackOf } from './checklist/gate-4-way-back.js';
export { CHECKLIST_GATES } from './checklist/types.js';
export type {
  ChecklistDuplicatiSource,
  ChecklistGate,
  ChecklistReport,
  ChecklistRestoreOptions,
  GateId,
  GateStatus,
  SessionMessenger,
  WayBack,
} from './checklist/types.js';
