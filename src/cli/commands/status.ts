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
import { parseDuplicatiTimespan } from '../../hooks/protocol.js';
import type { AuditOptions, AuditReport } from '../../ops/audit.js';
import type { AuditRule } from '../../ops/audit-rules.js';
import { readLastDrill } from '../../ops/drill-report.js';
import type { LoadedConfig } from '../../app/config.js';
import { ExitCode } from '../exit-codes.js';
import { printJson } from '../output.js';
import type { CliCommand, CliContext } from '../types.js';
import { evidenceDirCandidates } from './drill.js';
import { clientFromContext, serverOf } from './duplicati.js';
import { contextConfig } from './plan.js';

const COPY_NAME = /^\d{8}T\d{6}Z$/;

export const statusCommand: CliCommand = {
  name: 'status',
  summary: 'Show the work folder lock, the staged backup, local copies and the last restore drill',
  usage: 'status [--config FILE] [--evidence DIR] [--audit [--notify] [--job NAME]… [--skip-verify]]',
  options: {
    evidence: {
      type: 'string',
      valueName: 'DIR',
      description: 'Where drills keep last-drill.json (default as for drill)',
    },
    audit: {
      type: 'boolean',
      description: 'Also run the 3-2-1 audit: live data, local copies, every Duplicati job (exit 7 when a rule fails)',
    },
    notify: { type: 'boolean', description: "With --audit: alert the config's notifiers when a rule fails" },
    job: { type: 'string', multiple: true, valueName: 'NAME', description: 'With --audit: audit only this job' },
    'skip-verify': { type: 'boolean', description: 'With --audit: do not re-hash the newest local copy' },
    url: { type: 'string', valueName: 'URL', description: 'Duplicati server (default: the config, $DUPLICATI_URL)' },
    'password-file': { type: 'string', valueName: 'FILE', description: 'File holding the Duplicati UI password' },
  },
  help: `With --audit every rule is judged from real state and printed as a table (one JSON document
with --json): live data answers its preflight check; the newest local copy is fresh and its files
re-hash to their manifest; each Duplicati job's last successful run, encryption, off-site target,
retention, hooks and missed scheduled runs. Thresholds come from the config's audit section.
Exit 0 when no rule fails, 7 when one fails, 6 when none fails but Duplicati could not be read.`,
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
    const audit = ctx.flags.audit === true ? await runAudit(ctx, cfg) : undefined;
    if (ctx.json) printJson(ctx.stdout, audit ? { ...report, audit } : report);
    else {
      const lines = [
        `work folder  ${workDir}`,
        `lock         ${lock ? `${lock.stale ? 'STALE (dead process) ' : ''}pid ${lock.pid} on ${lock.host} since ${lock.startedAt}` : 'free'}`,
        `staged       ${staged === null ? 'nothing (cleaned up or never prepared)' : 'error' in staged ? `UNREADABLE: ${staged.error.split('\n')[0]}` : `${staged.sources.join(', ')} at ${staged.finishedAt}`}`,
        `local copies ${copies ? `${copies.count} in ${copies.dir}${copies.newest ? `, newest ${copies.newest}` : ''}` : 'not configured'}`,
        `last drill   ${lastDrill ? `${lastDrill.verdict.toUpperCase()} for ${lastDrill.job} (version ${lastDrill.version ?? '?'}) at ${lastDrill.finishedAt}, evidence in ${lastDrill.evidenceDir}` : `none found in ${dirs.join(' or ')}`}`,
      ];
      ctx.stdout.write(`${lines.join('\n')}\n`);
      if (audit) ctx.stdout.write(`\n${renderAuditTable(audit)}`);
    }
    if (!audit) return ExitCode.Success;
    if (audit.counts.fail > 0) return ExitCode.AuditFailed;
    return audit.counts.unknown > 0 ? ExitCode.Unavailable : ExitCode.Success;
  },
};

const span = (t: string | undefined): number | undefined => (t === undefined ? undefined : parseDuplicatiTimespan(t));

async function runAudit(ctx: CliContext, cfg: LoadedConfig): Promise<AuditReport> {
  const { auditBackups } = await import('../../ops/audit.js');
  const a = cfg.config.audit ?? {};
  const hasServer =
    typeof ctx.flags.url === 'string' || Boolean(ctx.env.DUPLICATI_URL) || cfg.config.duplicati !== undefined;
  const jobs = Array.isArray(ctx.flags.job) ? ctx.flags.job : a.jobs;
  const copies = cfg.config.localCopies;
  const report = await auditBackups({
    sources: [...cfg.sources],
    workDir: cfg.config.workDir,
    ...(copies
      ? {
          localCopies: {
            dir: copies.dir,
            verify: ctx.flags['skip-verify'] !== true && a.verifyLocalCopy !== false,
            ...(span(a.localCopyMaxAge) ? { maxAgeMs: span(a.localCopyMaxAge) } : {}),
          },
        }
      : {}),
    ...(hasServer ? { client: clientFromContext(ctx, serverOf(cfg)) } : {}),
    ...(jobs?.length ? { jobs: [...jobs] } : {}),
    ...(span(a.maxAge) ? { maxAgeMs: span(a.maxAge) } : {}),
    ...(a.grace !== undefined ? { graceMs: span(a.grace) } : {}),
    ...(a.checkTimeout !== undefined ? { checkTimeoutMs: span(a.checkTimeout) } : {}),
    ...(a.exempt ? { exempt: a.exempt.map((x) => ({ ...x })) as AuditOptions['exempt'] } : {}),
    ...(a.timeZone ? { timeZone: a.timeZone } : {}),
    notifiers: [...cfg.notifiers],
    notify: ctx.flags.notify === true,
    signal: ctx.signal,
    logger: ctx.logger,
  });
  // What the config leaves out cannot be audited: said once, as a warning.
  const gaps: AuditRule[] = [];
  if (!copies) {
    gaps.push({
      id: 'local.fresh',
      subject: '(not configured)',
      status: 'warn',
      reason: 'no localCopies in the config: copy 2 of 3-2-1 is not audited',
      evidence: {},
    });
  }
  if (!hasServer) {
    gaps.push({
      id: 'job.present',
      subject: '(all jobs)',
      status: 'warn',
      reason:
        'no Duplicati server configured (duplicati.url, --url or $DUPLICATI_URL): the off-site copy is not audited',
      evidence: {},
    });
  }
  if (!gaps.length) return report;
  return {
    ...report,
    rules: [...report.rules, ...gaps],
    counts: { ...report.counts, warn: report.counts.warn + gaps.length },
  };
}

const MARK: Record<AuditRule['status'], string> = { pass: 'PASS', fail: 'FAIL', warn: 'WARN', unknown: '????' };

/** The audit as a text table: status, rule, subject, reason. */
export function renderAuditTable(report: AuditReport): string {
  const rows = report.rules.map((r) => [MARK[r.status], r.id, r.subject, r.reason]);
  const head = ['STATUS', 'RULE', 'SUBJECT', 'REASON'];
  const w = [0, 1, 2].map((i) => Math.max(head[i]?.length ?? 0, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i < 3 ? c.padEnd(w[i] ?? 0) : c))
      .join('  ')
      .trimEnd();
  const c = report.counts;
  const out = [line(head), ...rows.map(line)];
  out.push('', `audit: ${c.pass} pass, ${c.fail} fail, ${c.warn} warn, ${c.unknown} unknown`);
  for (const n of report.notifications) out.push(`alert ${n.notifier}: ${n.ok ? 'sent' : `FAILED ${n.error ?? ''}`}`);
  return `${out.join('\n')}\n`;
}
