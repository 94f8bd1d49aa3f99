/**
 * Gate 1: which backup — a Duplicati job's version (by number or by time) and its staged work
 * folder, or a local folder's manifest.
 *
 * @module
 */
import { readManifest } from '../../core/manifest.js';
import { chooseVersion, findJob, locateWorkDir } from '../staged-version.js';
import { type ChecklistState, runGate } from './state.js';

/** Run gate 1; false when it failed. */
export function identifyGate(state: ChecklistState): Promise<boolean> {
  const { options, signal } = state;
  return runGate(state, 'identify', async (g) => {
    const d = options.duplicati;
    if (d) {
      const job = await findJob(d.client, d.job, signal);
      state.job = job;
      const chosen = await chooseVersion(d.client, job, { version: d.version, time: d.time }, signal);
      state.chosen = chosen;
      state.versionNo = chosen.version;
      state.versionTime = chosen.time;
      g.evidence.push(`Duplicati job "${job.name}" (id ${job.id})`);
      g.evidence.push(
        `version ${chosen.version} from ${chosen.time}${d.time !== undefined ? ` (newest at or before ${String(d.time instanceof Date ? d.time.toISOString() : d.time)})` : ''}`,
      );
      state.workDir = d.workDir ?? (await locateWorkDir(d.client, job, chosen, signal));
      g.evidence.push(`staged work folder ${state.workDir}`);
    } else {
      const manifest = await readManifest(state.from as string, { signal });
      state.manifest = manifest;
      g.evidence.push(`folder ${state.from}`);
      g.evidence.push(`manifest of ${manifest.host}, backup started ${manifest.startedAt}`);
    }
  });
}
