/**
 * The state one checklist restore shares between its gates, and the runner of a single gate.
 *
 * The gates used to be closures over seventeen `let`s; each now takes this one typed object, so
 * what a gate reads and what it leaves for the later gates is spelled out in one place.
 *
 * @module
 */
import path from 'node:path';
import { neverAborted } from '../../core/abort.js';
import type { LockHandle } from '../../core/lock.js';
import { childLogger, type Logger, silentLogger } from '../../core/logger.js';
import type { Manifest } from '../../core/manifest.js';
import type { Fileset } from '../../duplicati/types.js';
import type { RestoreReport } from '../../contracts/restore-report.js';
import { createRestorePlan, type RestorePlan } from '../../plan/restore-plan.js';
import type { ProgressEvent, RestoreTarget } from '../../contracts/types.js';
import type { MaintenanceLog, MaintenanceOptions, MaintenanceWindow } from '../maintenance.js';
import type { NotifyResult } from '../notify.js';
import { type RestoreRecord, writeRestoreRecord } from '../restore-points.js';
import type { JobRef } from '../staged-version.js';
import {
  CHECKLIST_GATES,
  type ChecklistGate,
  type ChecklistRestoreOptions,
  type GateId,
  type GateStatus,
  type WayBack,
} from './types.js';

/** What a gate fills in while it runs. */
export type GateDraft = { status: GateStatus; reason?: string; code?: string; evidence: string[]; warnings: string[] };

/** A gate's draft once it ran (or was skipped). */
export type GateRecord = GateDraft & { durationMs: number; ranAs: number | null };

/** A gate failed for a reason of its own (no error code to report). */
export class GateFailure extends Error {}

/** The first line of an error's message. */
export const firstLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';

/** Everything the gates of one checklist restore share: fixed inputs first, then what the gates find. */
export interface ChecklistState {
  readonly options: ChecklistRestoreOptions;
  readonly t0: number;
  readonly signal: AbortSignal;
  readonly logger: Logger;
  readonly dryRun: boolean;
  readonly stateDir: string;
  readonly plan: RestorePlan;
  /** Spread into the restore plan's run options. */
  readonly only: { only?: readonly string[] };
  readonly progress: { onProgress?: (event: ProgressEvent) => void };
  readonly maintenance: Omit<MaintenanceOptions, 'logger'>;
  readonly hasMaintenance: boolean;
  /** Each gate's outcome so far; every gate starts as skipped. */
  readonly drafts: Map<GateId, GateRecord>;
  /** How many gates have run (gives each its `ranAs`). */
  ran: number;

  // Gate 1
  job: JobRef | null;
  chosen: Fileset | null;
  versionNo: number | null;
  versionTime: string | null;
  workDir: string | undefined;
  from: string | null;
  manifest: Manifest | null;
  // Gate 2
  runDir: string | undefined;
  verification: RestoreReport | null;
  routed: { entry: string; target: RestoreTarget }[];
  // Gate 4
  readonly wayBacks: WayBack[];
  /** The restore state folder's lock, held from gate 4 to the end of the run. */
  stateLock: LockHandle | undefined;
  /** Restores a dead process left pending: rolled back in gate 6 before anything is restored. */
  interrupted: string[];
  record: RestoreRecord | null;
  recordFile: string | null;
  // Gate 5
  readonly notified: NotifyResult[];
  // Gate 3
  window: MaintenanceWindow | undefined;
  servicesLog: MaintenanceLog | null;
  // Gate 6
  restore: RestoreReport | null;
  rolledBack: boolean;
}

/** The state before gate 1, from already validated options. */
export function createChecklistState(options: ChecklistRestoreOptions, t0: number): ChecklistState {
  const signal = options.signal ?? neverAborted();
  const logger = childLogger(options.logger ?? silentLogger, { restore: 'checklist' });
  const drafts = new Map<GateId, GateRecord>();
  for (const g of CHECKLIST_GATES) {
    drafts.set(g.id, {
      status: 'skipped',
      reason: 'an earlier gate failed',
      evidence: [],
      warnings: [],
      durationMs: 0,
      ranAs: null,
    });
  }
  const plan = createRestorePlan({ targets: options.targets, logger });
  const maintenance = options.maintenance ?? {};
  return {
    options,
    t0,
    signal,
    logger,
    dryRun: options.dryRun === true,
    stateDir: path.resolve(options.stateDir),
    plan,
    only: options.only?.length ? { only: options.only } : {},
    progress: options.onProgress ? { onProgress: options.onProgress } : {},
    maintenance,
    hasMaintenance: Boolean(
      maintenance.immich || maintenance.jellyfin?.stop || maintenance.stop?.length || maintenance.start?.length,
    ),
    drafts,
    ran: 0,
    job: null,
    chosen: null,
    versionNo: null,
    versionTime: null,
    workDir: undefined,
    from: options.from ? path.resolve(options.from) : null,
    manifest: null,
    runDir: undefined,
    verification: null,
    routed: [],
    wayBacks: [],
    stateLock: undefined,
    interrupted: [],
    record: null,
    recordFile: null,
    notified: [],
    window: undefined,
    servicesLog: null,
    restore: null,
    rolledBack: false,
  };
}

/** Gate `id` as the report shows it. */
export function gateOut(state: ChecklistState, id: GateId): ChecklistGate {
  const def = CHECKLIST_GATES.find((g) => g.id === id) as (typeof CHECKLIST_GATES)[number];
  const d = state.drafts.get(id) as GateRecord;
  return {
    number: def.number,
    id,
    title: def.title,
    status: d.status,
    ...(d.reason !== undefined ? { reason: d.reason } : {}),
    ...(d.code !== undefined ? { code: d.code } : {}),
    evidence: d.evidence,
    warnings: d.warnings,
    durationMs: Math.round(d.durationMs),
    ranAs: d.ranAs,
  };
}

/** Run a gate; false when it failed. Only the caller's abort escapes. */
export async function runGate(
  state: ChecklistState,
  id: GateId,
  fn: (g: GateDraft) => Promise<void>,
): Promise<boolean> {
  const g: GateDraft = { status: 'passed', evidence: [], warnings: [] };
  const t1 = performance.now();
  try {
    await fn(g);
  } catch (e) {
    if (state.signal.aborted) throw state.signal.reason;
    g.status = 'failed';
    g.reason = firstLine(e);
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && !(e instanceof GateFailure)) g.code = code;
    state.logger.error('gate failed', { gate: id, reason: g.reason });
  }
  state.drafts.set(id, { ...g, durationMs: performance.now() - t1, ranAs: ++state.ran });
  state.options.onGate?.(gateOut(state, id));
  return g.status !== 'failed';
}

/** Mark the gates of `ids` that never ran as skipped for `reason`. */
export function skipRest(state: ChecklistState, ids: readonly GateId[], reason: string): void {
  for (const id of ids) {
    const d = state.drafts.get(id);
    if (d && d.ranAs === null) state.drafts.set(id, { ...d, status: 'skipped', reason });
  }
}

/** Keep `next` as the restore record and write it into the state folder. */
export async function saveRecord(state: ChecklistState, next: RestoreRecord): Promise<void> {
  state.record = next;
  state.recordFile = await writeRestoreRecord(state.stateDir, next);
}

/** Restore-plan run options every gate passes: the folder, its work folder, `only` and progress. */
export function planRunBase(state: ChecklistState): {
  from: string;
  signal: AbortSignal;
  workDir?: string;
  only?: readonly string[];
  onProgress?: (event: ProgressEvent) => void;
} {
  return {
    from: state.from as string,
    signal: state.signal,
    ...(state.runDir ? { workDir: path.join(state.runDir, 'work') } : {}),
    ...state.only,
    ...state.progress,
  };
}
