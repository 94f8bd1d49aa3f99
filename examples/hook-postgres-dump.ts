/**
 * A Duplicati hook that dumps PostgreSQL into the staging folder before each backup and removes
 * the dump afterwards. Configure the job (Settings → Advanced options):
 *
 *   --run-script-before-required=/usr/local/bin/immich-hook   (a failed dump must stop the backup)
 *   --run-script-after=/usr/local/bin/immich-hook
 *   --run-script-timeout=15m                                   (longer than your slowest dump)
 *
 * with /usr/local/bin/immich-hook being `#!/bin/sh\nexec node /opt/hooks/hook-postgres-dump.js`,
 * and /srv/backup/staging among the job's source folders.
 *
 * The hook only acts on Backup operations: the file listings the web UI triggers while you browse
 * versions start it too, and it exits 0 for them without loading any database code.
 */
import { defineHook, type HookContext } from 'duplicati-kit/hooks';

const WORK_DIR = '/srv/backup/staging';

// Loaded on demand so that a listing operation never pays for the database driver.
async function makePlan(ctx: HookContext) {
  const { createBackupPlan, DirectorySource, PostgresSource } = await import('duplicati-kit');
  return createBackupPlan({
    workDir: WORK_DIR,
    logger: ctx.logger, // plan warnings become job-log warnings
    sources: [
      new PostgresSource({
        name: 'immich-db',
        connection: { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'immich' },
      }),
      new DirectorySource({ name: 'photos', paths: ['/srv/immich/library'], exclude: ['*/thumbs/*'] }),
    ],
  });
}

defineHook({
  before: async (ctx) => {
    // Say so in the job log right away if the last dumps took longer than the configured timeout allows.
    ctx.budget.warnIfLikelyToExceed(90_000, 'the Immich database dump');
    const plan = await makePlan(ctx);
    // A failed dump throws: the hook exits 5 and Duplicati does not upload an inconsistent set.
    const prepared = await plan.prepare({ signal: ctx.signal });
    ctx.logger.info(`staged ${prepared.results.length} sources in ${WORK_DIR}`);
    if (prepared.excludePatterns.length === 0) return undefined;
    // Keep the job's own filters and add the plan's excludes in front of them.
    const filters = [...prepared.excludePatterns.map((pattern) => ({ include: false, pattern })), ...ctx.env.filters];
    ctx.output.filter(filters);
    return undefined;
  },
  after: async (ctx) => {
    const plan = await makePlan(ctx);
    await plan.cleanup({ signal: ctx.signal });
    if (ctx.env.parsedResult === 'Error' || ctx.env.parsedResult === 'Fatal') {
      return { warning: `backup of ${ctx.env.backupName ?? 'the job'} ended ${ctx.env.parsedResult}` };
    }
    return undefined;
  },
});
