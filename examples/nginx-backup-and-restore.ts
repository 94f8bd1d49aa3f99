/**
 * Back up the Nginx configuration and the Let's Encrypt certificates (with certbot's symlinks)
 * into a Duplicati staging folder, and warn when a certificate expires within 14 days. On a new
 * machine, `restore` puts both folders back (the old ones kept until the plan succeeds) and runs
 * `nginx -t` on the result before reporting success; reload nginx afterwards.
 *
 *   node nginx-backup-and-restore.js backup
 *   node nginx-backup-and-restore.js restore /restore/staging
 */
import { createBackupPlan, createRestorePlan, NginxSource, NginxTarget, streamLogger } from 'duplicati-kit';

const STAGING = '/srv/backup/nginx-staging';
const logger = streamLogger(); // to stderr: warnings about expiring certificates show up there

if (process.argv[2] === 'restore') {
  const plan = createRestorePlan({
    logger,
    targets: [new NginxTarget({ configDir: '/etc/nginx', letsencryptDir: '/etc/letsencrypt', overwrite: true })],
  });
  const report = await plan.run({ from: process.argv[3] ?? STAGING, dryRun: false });
  console.error(JSON.stringify(report, null, 2));
} else {
  const plan = createBackupPlan({ workDir: STAGING, logger, sources: [new NginxSource({})] });
  const prepared = await plan.prepare({});
  const nginx = prepared.manifest?.sources.find((s) => s.kind === 'nginx');
  for (const cert of (nginx?.metadata.certificates ?? []) as { subject: string; notAfter: string }[]) {
    console.error(`${cert.subject} expires ${cert.notAfter}`);
  }
}
