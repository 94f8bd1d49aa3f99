/**
 * The 3-2-1 audit from a script: live data, local copies and every Duplicati job, judged from real
 * state; a table on stderr, an alert through ntfy when a rule fails, exit 1 on a failure.
 *
 *   DUPLICATI_PASSWORD_FILE=/run/secrets/duplicati node --import tsx examples/audit-321.ts /etc/duplicati-kit.yaml
 */
import { loadConfig } from 'duplicati-kit/config';
import { DuplicatiClient } from 'duplicati-kit/duplicati';
import { auditBackups, NtfyNotifier } from 'duplicati-kit/ops';

const [configFile = '/etc/duplicati-kit.yaml'] = process.argv.slice(2);
const ctl = new AbortController();
process.once('SIGINT', () => ctl.abort(new Error('interrupted')));

const cfg = await loadConfig(configFile, { signal: ctl.signal });
const report = await auditBackups({
  sources: [...cfg.sources],
  ...(cfg.config.localCopies ? { localCopies: { dir: cfg.config.localCopies.dir, maxAgeMs: 26 * 3_600_000 } } : {}),
  client: DuplicatiClient.fromEnv(process.env),
  graceMs: 2 * 3_600_000,
  notifiers: [new NtfyNotifier({ url: 'https://ntfy.sh/homelab-backups' })],
  notify: true,
  signal: ctl.signal,
});
for (const r of report.rules)
  process.stderr.write(`${r.status.toUpperCase().padEnd(7)} ${r.id.padEnd(17)} ${r.subject}: ${r.reason}\n`);
for (const m of report.missedRuns) process.stderr.write(`missed: ${m.job}, ${m.missed} run(s), last due ${m.dueAt}\n`);
process.exitCode = report.ok ? 0 : 1;
