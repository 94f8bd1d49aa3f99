/**
 * The snapshot as Prometheus metrics (text exposition format, rendered with prom-client). Rendered
 * once per refresh, so a scrape costs a string copy and never waits on Duplicati.
 *
 * @module
 */
import { Gauge, Registry } from 'prom-client';
import type { DashboardSnapshot } from './types.js';

const P = 'duplicati_kit_';
const RESULTS = ['Success', 'Warning', 'Error', 'Fatal', 'Interrupted'] as const;
const STATUSES = ['pass', 'warn', 'fail', 'unknown'] as const;

const sec = (iso: string | null | undefined): number | undefined => {
  if (!iso) return undefined;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? undefined : t / 1000;
};

/**
 * Render the metrics of a snapshot.
 *
 * @example
 * ```ts
 * const text = await renderMetrics(snapshot); // duplicati_kit_job_last_success_timestamp_seconds{server="home",job="Photos"} 1.7e9
 * ```
 */
export async function renderMetrics(s: DashboardSnapshot): Promise<string> {
  const reg = new Registry();
  const gauge = (name: string, help: string, labelNames: readonly string[] = []) =>
    new Gauge({ name: `${P}${name}`, help, labelNames: [...labelNames], registers: [reg] });

  const up = gauge('server_up', 'Whether the last refresh could read the Duplicati server (1) or not (0).', ['server']);
  const readAt = gauge('server_last_read_timestamp_seconds', 'When the server was last read successfully.', ['server']);
  const lastSuccess = gauge(
    'job_last_success_timestamp_seconds',
    'Start of the newest backup run that stored a version.',
    ['server', 'job'],
  );
  const lastRun = gauge('job_last_run_timestamp_seconds', 'Start of the newest backup run, whatever its result.', [
    'server',
    'job',
  ]);
  const lastResult = gauge('job_last_result', "The newest run's result: 1 for its result label, 0 for the others.", [
    'server',
    'job',
    'result',
  ]);
  const stale = gauge('job_stale', '1 when the audit finds the last success too old or the newest run failed.', [
    'server',
    'job',
  ]);
  const maxAge = gauge(
    'job_max_age_seconds',
    "Oldest acceptable last success (the schedule's longest gap plus the grace).",
    ['server', 'job'],
  );
  const nextRun = gauge('job_next_run_timestamp_seconds', 'The next run the server has planned.', ['server', 'job']);
  const duration = gauge('job_last_duration_seconds', 'Duration of the newest backup run.', ['server', 'job']);
  const examined = gauge('job_examined_bytes', 'Size of the files the newest run examined.', ['server', 'job']);
  const uploaded = gauge('job_last_uploaded_bytes', 'Bytes the newest run uploaded.', ['server', 'job']);
  const files = gauge('job_examined_files', 'Files the newest run examined.', ['server', 'job']);
  const verified = gauge('job_last_verified_timestamp_seconds', 'End of the newest passing restore drill of the job.', [
    'server',
    'job',
  ]);
  const ruleOk = gauge('audit_rule_ok', 'Audit rule: 1 pass or warn, 0 fail (unknown rules are left out).', [
    'server',
    'rule',
    'subject',
  ]);
  const rules = gauge('audit_rules', 'Audit rules by status.', ['status']);
  const drillOk = gauge('drill_last_success_timestamp_seconds', 'End of the newest passing restore drill.', ['job']);
  const drillRecovery = gauge(
    'drill_last_recovery_seconds',
    'Total time the newest passing drill took to restore and verify.',
    ['job'],
  );
  const copyBytes = gauge('local_copy_bytes', 'Bytes of the artifacts of a local copy.', ['copy']);
  const copies = gauge('local_copies', 'Number of local copies.');
  const copyNewest = gauge('local_copy_newest_timestamp_seconds', 'Time of the newest local copy.');
  const certExpiry = gauge('certificate_expiry_timestamp_seconds', 'When a TLS certificate expires (notAfter).', [
    'subject',
    'file',
  ]);
  const restorePoints = gauge('restore_points', 'Restore records by status.', ['status']);
  const refreshed = gauge('refresh_timestamp_seconds', 'When the dashboard last refreshed its data.');
  const refreshMs = gauge('refresh_duration_seconds', 'How long the last refresh took.');

  const counts = { pass: 0, warn: 0, fail: 0, unknown: 0 };
  const audits = [
    ...(s.localAudit ? [{ server: 'local', a: s.localAudit }] : []),
    ...s.servers.flatMap((v) => (v.audit ? [{ server: v.name, a: v.audit }] : [])),
  ];
  for (const { server, a } of audits) {
    for (const r of a.rules) {
      counts[r.status]++;
      if (r.status !== 'unknown') ruleOk.set({ server, rule: r.id, subject: r.subject }, r.status === 'fail' ? 0 : 1);
    }
  }
  for (const st of STATUSES) rules.set({ status: st }, counts[st]);

  for (const v of s.servers) {
    up.set({ server: v.name }, v.ok ? 1 : 0);
    const read = sec(v.readAt);
    if (read !== undefined) readAt.set({ server: v.name }, read);
    for (const j of v.jobs) {
      const l = { server: v.name, job: j.name };
      const ok = sec(j.lastSuccessAt);
      if (ok !== undefined) lastSuccess.set(l, ok);
      const run = sec(j.lastRun?.at);
      if (run !== undefined) lastRun.set(l, run);
      if (j.lastRun) for (const r of RESULTS) lastResult.set({ ...l, result: r }, j.lastRun.result === r ? 1 : 0);
      stale.set(l, j.freshness === 'red' ? 1 : 0);
      if (j.maxAgeMs !== null) maxAge.set(l, j.maxAgeMs / 1000);
      const next = sec(j.schedule?.nextRunAt);
      if (next !== undefined) nextRun.set(l, next);
      const last = s.history[`${v.name}/${j.id}`]?.at(-1);
      if (last) {
        duration.set(l, last.durationS);
        examined.set(l, last.sizeExamined);
        uploaded.set(l, last.bytesUploaded);
        files.set(l, last.examinedFiles);
      }
      const ver = sec(j.lastVerified?.at);
      if (ver !== undefined) verified.set(l, ver);
    }
  }
  const seen = new Set<string>();
  for (const d of s.drills) {
    if (d.verdict !== 'pass' || seen.has(d.job)) continue;
    seen.add(d.job);
    const at = sec(d.finishedAt);
    if (at !== undefined) drillOk.set({ job: d.job }, at);
    drillRecovery.set({ job: d.job }, d.recoveryMs / 1000);
  }
  if (s.localCopies) {
    copies.set(s.localCopies.copies.length);
    for (const c of s.localCopies.copies) copyBytes.set({ copy: c.name }, c.bytes);
    const newest = sec(s.localCopies.copies[0]?.at);
    if (newest !== undefined) copyNewest.set(newest);
  }
  for (const c of s.certificates) {
    const at = sec(c.notAfter);
    if (at !== undefined) certExpiry.set({ subject: c.subject, file: c.file }, at);
  }
  const byStatus = new Map<string, number>();
  for (const r of s.restorePoints) byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + 1);
  for (const [status, n] of byStatus) restorePoints.set({ status }, n);
  refreshed.set(Date.parse(s.generatedAt) / 1000);
  refreshMs.set(s.refreshMs / 1000);
  return reg.metrics();
}
