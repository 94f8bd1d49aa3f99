/**
 * Gate 4 (runs before 3): every target that overwrites something keeps a way back; the pending
 * restore record is written before anything is stopped or restored.
 *
 * @module
 */
import { inspectLock } from '../../core/lock.js';
import type { RestoreTarget } from '../../contracts/types.js';
import { listRestorePoints, lockStateDir, newRestoreId } from '../restore-points.js';
import { type ChecklistState, GateFailure, runGate, saveRecord } from './state.js';
import type { WayBack } from './types.js';

/**
 * How `target` keeps a way back. A target with `rollback` keeps a restore point; a folder target
 * (Duplicati restores the folders, it only checks them) and a target in scratch mode write
 * nothing live; anything else cannot be undone.
 */
export function wayBackOf(target: RestoreTarget): WayBack {
  const opts = (target as { options?: { scratch?: unknown } }).options;
  if (opts && typeof opts === 'object' && opts.scratch === true) {
    return { target: target.name, kind: 'none-needed', detail: 'scratch mode: writes nothing live' };
  }
  if (typeof target.rollback === 'function') {
    return { target: target.name, kind: 'rollback', detail: rollbackDetail(target.kind) };
  }
  if (target.kind === 'directory' || target.kind.endsWith('.files')) {
    return { target: target.name, kind: 'none-needed', detail: 'checks folders Duplicati restored; writes nothing' };
  }
  return { target: target.name, kind: 'none', detail: 'has no rollback: what it overwrites cannot be put back' };
}

/** Kinds whose restore point is the previous database (renamed or copied), not a folder's safety copy. */
const DATABASE_KINDS = /^(postgres|mysql|sqlite|mongodb)$|\.(postgres|database)$/;

/** What a target's restore point is, in words that fit its kind (nginx keeps files, not a database). */
function rollbackDetail(kind: string): string {
  if (DATABASE_KINDS.test(kind)) return 'keeps the previous database as a restore point until dropped';
  if (kind === 'composite' || kind.startsWith('jellyfin')) {
    return 'keeps the previous database and a safety copy of the files it replaces until dropped';
  }
  return 'keeps a safety copy of the files it replaces until dropped';
}

/** Run gate 4; false when it failed. */
export function wayBackGate(state: ChecklistState): Promise<boolean> {
  const { options, dryRun, stateDir, wayBacks } = state;
  return runGate(state, 'record', async (g) => {
    const allowed = options.allowNoWayBack;
    const seen = new Set<RestoreTarget>();
    for (const r of state.routed) {
      if (seen.has(r.target)) continue;
      seen.add(r.target);
      const w = wayBackOf(r.target);
      wayBacks.push(w);
      g.evidence.push(`${w.target}: ${w.detail}`);
    }
    const missing = wayBacks.filter(
      (w) => w.kind === 'none' && !(allowed === true || (Array.isArray(allowed) && allowed.includes(w.target))),
    );
    const waived = wayBacks.filter((w) => w.kind === 'none' && !missing.includes(w));
    for (const w of waived) g.warnings.push(`${w.target} has no way back; allowed by allowNoWayBack`);
    if (missing.length) {
      throw new GateFailure(
        `${missing.map((w) => w.target).join(', ')} cannot keep a way back; allow it explicitly (allowNoWayBack) or restore without ${missing.length > 1 ? 'them' : 'it'}`,
      );
    }
    if (dryRun) {
      const held = await inspectLock(stateDir);
      if (held && !held.stale) g.warnings.push(`${stateDir} is locked by pid ${held.pid} (${held.purpose ?? '?'})`);
      await noteInterrupted(state, g.evidence);
      g.status = 'would-run';
      g.reason = `would write a restore record into ${stateDir}`;
      return;
    }
    // One restore per state folder at a time; a second one fails here, naming the holder.
    state.stateLock = await lockStateDir(stateDir, 'restore', { signal: state.signal, logger: state.logger });
    await noteInterrupted(state, g.evidence);
    await writePendingRecord(state);
    g.evidence.push(`restore record ${state.record?.id} (pending) in ${state.recordFile}`);
  });
}

/** Records left pending by a restore that died: gate 6 rolls them back first. */
async function noteInterrupted(state: ChecklistState, evidence: string[]): Promise<void> {
  const pending = (await listRestorePoints({ stateDir: state.stateDir, logger: state.logger })).filter(
    (r) => r.status === 'pending',
  );
  state.interrupted = pending.map((r) => r.id);
  for (const r of pending) {
    evidence.push(
      `restore ${r.id} was interrupted (${r.targets.length} target(s) written ahead): ${state.dryRun ? 'would be' : 'will be'} rolled back before restoring`,
    );
  }
}

/** The restore record before anything changes: which backup, pending, no targets yet. */
async function writePendingRecord(state: ChecklistState): Promise<void> {
  const { job, manifest } = state;
  const now = new Date().toISOString();
  await saveRecord(state, {
    format: 1,
    id: newRestoreId(),
    createdAt: now,
    updatedAt: now,
    status: 'pending',
    source: job
      ? { type: 'duplicati', job: job.name, version: state.versionNo as number, time: state.versionTime as string }
      : { type: 'folder', from: state.from as string },
    manifest: manifest ? { host: manifest.host, startedAt: manifest.startedAt } : null,
    targets: [],
    history: [{ at: now, action: 'gates 1, 2 and 4 passed' }],
  });
}
