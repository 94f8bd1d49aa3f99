/**
 * The checklist restore's write-ahead journal: every step a target is about to take on live data,
 * and every target as it finishes, is written into the pending restore record before the run goes
 * on, so a SIGKILL at any instant leaves a record `restore-points rollback` (or the next restore)
 * can undo.
 *
 * @module
 */
import path from 'node:path';
import type { ManifestEntry, RestoreOutput, RestoreTarget } from '../../contracts/types.js';
import type { RestoreJournalSink } from '../../plan/restore-plan.js';
import { type RecordedTarget, recordOutput, withHistory } from '../restore-points.js';
import { type ChecklistState, saveRecord } from './state.js';

/** A target name as a folder name. */
const folderName = (name: string): string => name.replace(/[^A-Za-z0-9._-]/g, '_');

/**
 * A journal backed by `state.record` (which must be the pending record): writes are queued, so
 * they land in the order the targets report them, and each call resolves once its write is on disk.
 */
export function recordJournal(state: ChecklistState): RestoreJournalSink {
  let queue: Promise<void> = Promise.resolve();
  const write = (target: RestoreTarget, entry: ManifestEntry, output: RestoreOutput, step: 'applying' | 'applied') => {
    const next = queue.then(async () => {
      const rec = state.record;
      if (!rec) throw new Error('no pending restore record to write ahead into');
      const t: RecordedTarget = {
        name: target.name,
        kind: target.kind,
        entry: entry.name,
        output: recordOutput(output),
        state: step,
      };
      const at = rec.targets.findIndex((x) => x.name === t.name && x.entry === t.entry);
      const targets = at < 0 ? [...rec.targets, t] : rec.targets.map((x, i) => (i === at ? t : x));
      const line = step === 'applying' ? 'about to change live data' : 'applied';
      await saveRecord(state, { ...withHistory(rec, 'pending', `${target.name}: ${line}`), targets });
    });
    queue = next.catch(() => {});
    return next;
  };
  return {
    forTarget: (target, entry) => ({
      keepDir: path.join(state.stateDir, 'keep', state.record?.id ?? 'unknown', folderName(target.name)),
      record: (output) => write(target, entry, output, 'applying'),
    }),
    applied: (target, entry, output) => write(target, entry, output, 'applied'),
  };
}
