/**
 * `duplicati-kit status`: what a glance at the backup should tell — is a run holding the work
 * folder, is a prepared backup staged, how old are the local copies, how did the last drill end.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { isManifestError } from '../../core/errors.js';
import { inspectLock } from '../../core/lock.js';
import { readManifest } from '../../core/manifest.js';
import { readLastDrill } from '../../ops/drill-report.js';
import { ExitCode } from '../exit-codes.js';
import { printJson } from '../output.js';
import type { CliCommand } from '../types.js';
import { evidenceDirCandidates } from './drill.js';
import { contextConfig } from './plan.js';

const COPY_NAME = /^\d{8}T\d{6}Z$/;

export const statusCommand: CliCommand = {
  name: 'status',
  summary: 'Show the work folder lock, the staged backup, local copies and the last restore drill',
  usage: 'status [--config FILE] [--evidence DIR]',
  options: {
    evidence: {
      type: 'string',
      valueName: 'DIR',
      description: 'Where drills keep last-drill.json (default as for drill)',
    },
  },
  async run(ctx) {
    const cfg = await contextConfig(ctx);
    const workDir = cfg.config.workDir;
    const lock = await inspectLock(workDir).catch(() => undefined);
    let staged: { sources: string[]; finishedAt: string } | { error: string } | null = null;
    try {
      const m = await readManifest(workDir, { signal: ctx.signal });
      staged = { sources: m.sources.map((s) => s.name), finishedAt: m.finishedAt };
    } catch (e) {
      staged = isManifestError(e) && e.code === 'ERR_MANIFEST_MISSING' ? null : { error: (e as Error).message };
    }
    let copies: { dir: string; count: number; newest: string | null } | null = null;
    if (cfg.config.localCopies) {
      const dir = cfg.config.localCopies.dir;
      const names = (await fsp.readdir(dir).catch(() => [] as string[])).filter((n) => COPY_NAME.test(n)).sort();
      copies = { dir, count: names.length, newest: names.at(-1) ?? null };
    }
    const dirs =
      typeof ctx.flags.evidence === 'string'
        ? [path.resolve(ctx.cwd, ctx.flags.evidence)]
        : evidenceDirCandidates(ctx.env);
    // The newest drill of every place drills keep evidence (a timer's and an interactive run's).
    let drill: { evidence: Awaited<ReturnType<typeof readLastDrill>>; dir: string } | undefined;
    for (const dir of dirs) {
      const evidence = await readLastDrill(dir, { signal: ctx.signal }).catch(() => undefined);
      if (evidence && (!drill?.evidence || evidence.finishedAt > drill.evidence.finishedAt)) drill = { evidence, dir };
    }
    const lastDrill = drill?.evidence
      ? {
          verdict: drill.evidence.verdict,
          job: drill.evidence.job.name,
          version: drill.evidence.version,
          finishedAt: drill.evidence.finishedAt,
          evidenceDir: drill.dir,
        }
      : null;
    const report = {
      workDir,
      lock: lock ? { pid: lock.pid, host: lock.host, startedAt: lock.startedAt, stale: lock.stale } : null,
      staged,
      localCopies: copies,
      lastDrill,
    };
    if (ctx.json) printJson(ctx.stdout, report);
    else {
      const lines = [
        `work folder  ${workDir}`,
        `lock         ${lock ? `${lock.stale ? 'STALE (dead process) ' : ''}pid ${lock.pid} on ${lock.host} since ${lock.startedAt}` : 'free'}`,
        `staged       ${staged === null ? 'nothing (cleaned up or never prepared)' : 'error' in staged ? `UNREADABLE: ${staged.error.split('\n')[0]}` : `${staged.sources.join(', ')} at ${staged.finishedAt}`}`,
        `local copies ${copies ? `${copies.count} in ${copies.dir}${copies.newest ? `, newest ${copies.newest}` : ''}` : 'not configured'}`,
        `last drill   ${lastDrill ? `${lastDrill.verdict.toUpperCase()} for ${lastDrill.job} (version ${lastDrill.version ?? '?'}) at ${lastDrill.finishedAt}, evidence in ${lastDrill.evidenceDir}` : `none found in ${dirs.join(' or ')}`}`,
      ];
      ctx.stdout.write(`${lines.join('\n')}\n`);
    }
    return ExitCode.Success;
  },
};
