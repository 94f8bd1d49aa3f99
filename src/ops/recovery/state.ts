/**
 * The recovery's state file (`recover-state.json` in the recovery work folder): which steps are
 * done, when, and how long they took. A second `recover` after a failure reads it and continues
 * with the first step not done; the evidence report is built from it.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../../core/fs.js';
import type { JsonValue } from '../../core/json.js';
import { RecoveryError } from './reader.js';

/** File name of the state inside the recovery work folder. */
export const RECOVER_STATE_FILE = 'recover-state.json';

/** The recovery's steps, in order. */
export const RECOVER_STEPS = [
  'select-version',
  'restore-staged',
  'verify-checksums',
  'preflight',
  'restore-folders',
  'restore-databases',
  'rewrite-paths',
  'app-checks',
  'recreate-jobs',
] as const;
/** One step's name. */
export type RecoverStepName = (typeof RECOVER_STEPS)[number];

/** One step as recorded. */
export interface RecoverStepRecord {
  readonly step: RecoverStepName;
  readonly status: 'done' | 'failed' | 'skipped';
  readonly startedAt: string;
  readonly durationMs: number;
  readonly detail: JsonValue;
  readonly error?: string;
}

/** The state file. */
export interface RecoverState {
  readonly stateVersion: 1;
  /** The chosen version's time (fixed by the first run). */
  time?: string;
  version?: number;
  /** The staged folder's path inside the backup. */
  stagedFolder?: string;
  readonly steps: RecoverStepRecord[];
  /** Folders restored so far (their old paths), for a restore-folders step cut short. */
  readonly foldersDone: string[];
}

/** Read the state, or a fresh one when the folder has none. */
export async function readRecoverState(workDir: string): Promise<RecoverState> {
  const file = path.join(workDir, RECOVER_STATE_FILE);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { stateVersion: 1, steps: [], foldersDone: [] };
    throw e;
  }
  try {
    const s = JSON.parse(text) as RecoverState;
    if (s.stateVersion !== 1 || !Array.isArray(s.steps) || !Array.isArray(s.foldersDone)) throw new Error('shape');
    return s;
  } catch (e) {
    throw new RecoveryError(`${file} is not a recovery state file; move it away to start over`, {
      cause: e,
      code: 'ERR_RECOVERY_STATE',
    });
  }
}

/** Write the state atomically. */
export async function writeRecoverState(workDir: string, state: RecoverState): Promise<void> {
  await writeFileAtomic(path.join(workDir, RECOVER_STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
}

/** Is the step recorded as done? */
export function isDone(state: RecoverState, step: RecoverStepName): boolean {
  return state.steps.some((s) => s.step === step && s.status !== 'failed');
}

/** Record a step (replacing an earlier failed record of it). */
export function record(state: RecoverState, rec: RecoverStepRecord): void {
  const i = state.steps.findIndex((s) => s.step === rec.step);
  if (i >= 0) state.steps.splice(i, 1);
  state.steps.push(rec);
}
