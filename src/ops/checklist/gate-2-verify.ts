/**
 * Gate 2: integrity — Duplicati's verify of the job and the staged copy it restores, then every
 * checksum and each target's checks (a dry run of the restore plan), before anything is touched.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readManifest } from '../../core/manifest.js';
import type { Fileset } from '../../duplicati/types.js';
import type { RestoreTarget } from '../../contracts/types.js';
import { notStagedError, restoreStagedFolder } from '../staged-version.js';
import { type ChecklistState, firstLine, type GateDraft, GateFailure, planRunBase, runGate } from './state.js';

/** Run gate 2; false when it failed. */
export function verifyGate(state: ChecklistState): Promise<boolean> {
  return runGate(state, 'verify', async (g) => {
    if (state.options.duplicati && state.job) await verifyAndStage(state, g);
    // Prechecks that fail only because a service runs pass when gate 3 stops that service first.
    const m = state.maintenance;
    const servicesStopping = [...(m.jellyfin?.stop ? ['jellyfin'] : []), ...(m.stop?.length ? ['*'] : [])];
    const report = await state.plan.run({ ...planRunBase(state), dryRun: true, reject: false, servicesStopping });
    state.verification = report;
    const bad = report.checksums.filter((c) => !c.ok);
    g.evidence.push(`checksums: ${report.checksums.length - bad.length}/${report.checksums.length} ok`);
    for (const e of report.entries) {
      const failed = e.verification?.checks.filter((c) => !c.ok) ?? [];
      g.evidence.push(
        `${e.name} [${e.kind}]${e.target ? ` -> ${e.target}` : ''}: ${e.status}${failed.length ? ` (${failed.map((c) => `${c.name}: ${c.detail ?? 'failed'}`).join('; ')})` : e.error && e.status === 'failed' ? ` (${firstLine(e.error)})` : ''}`,
      );
    }
    if (bad.length)
      throw new GateFailure(`${bad.length} artifact(s) failed their checksum: ${bad.map((c) => c.path).join(', ')}`);
    if (!report.ok) {
      const failed = report.entries.filter((e) => !e.ok).map((e) => e.name);
      throw new GateFailure(`verification failed for ${failed.join(', ') || 'the backup'}; nothing was restored`);
    }
    state.routed = report.entries
      .filter((e) => e.status === 'verified' && e.target !== undefined)
      .map((e) => ({ entry: e.name, target: state.options.targets.find((t) => t.name === e.target) as RestoreTarget }));
    if (state.routed.length === 0)
      throw new GateFailure('no restore target accepts any entry of this backup: nothing to restore');
  });
}

/** Duplicati's verify of the job, then restore its staged work folder into a `restore-*` folder. */
async function verifyAndStage(state: ChecklistState, g: GateDraft): Promise<void> {
  const { signal } = state;
  const d = state.options.duplicati as NonNullable<ChecklistState['options']['duplicati']>;
  const job = state.job as NonNullable<ChecklistState['job']>;
  if (d.verify !== false) {
    const v = await d.client.backups.verifyAndWait(job.id, { ...d.wait, signal });
    if (v.result === 'Error' || v.result === 'Fatal') {
      throw new GateFailure(`Duplicati verify of "${job.name}" ended with ${v.result}: ${v.errors[0] ?? 'no message'}`);
    }
    g.evidence.push(`Duplicati verify of the remote files: ${v.result}`);
    if (v.result === 'Warning') g.warnings.push(...v.warnings.slice(0, 5).map((w) => `Duplicati: ${w}`));
  } else {
    g.warnings.push('Duplicati verify skipped (verify: false)');
  }
  const base = path.resolve(state.options.stagingDir ?? os.tmpdir());
  await fsp.mkdir(base, { recursive: true, mode: 0o700 });
  const runDir = await fsp.mkdtemp(path.join(base, 'restore-'));
  state.runDir = runDir;
  const staged = await restoreStagedFolder(d.client, job, {
    version: state.chosen as unknown as Fileset,
    workDir: state.workDir as string,
    restoreDir: path.join(runDir, 'staged'),
    wait: d.wait,
    signal,
  });
  if (!staged.from) throw notStagedError(state.workDir as string, staged.restoredFiles);
  const from = staged.from;
  state.from = from;
  g.evidence.push(
    `Duplicati restored ${staged.restoredFiles} file(s), ${staged.restoredBytes} bytes into ${from} (${staged.outcome.result})`,
  );
  const manifest = await readManifest(from, { signal });
  state.manifest = manifest;
  g.evidence.push(`manifest of ${manifest.host}, backup started ${manifest.startedAt}`);
}
