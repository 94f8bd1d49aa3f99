/**
 * `duplicati-kit hook`: the CLI as a Duplicati run-script hook, driven by the config file.
 *
 * - BEFORE + Backup: run the backup plan into the work folder the job backs up (the plan takes the
 *   work folder's lock). A failed source stops the upload (exit 5) unless `hook.stopOnFailure` is
 *   false.
 * - AFTER + Backup: keep a dated local copy of the staged dumps (`localCopies`), prune old copies,
 *   clean the work folder (`hook.cleanupAfter`), and notify with the parsed result. Other
 *   operations named in `hook.operations` (e.g. Restore) only notify.
 * - Listings the web UI triggers exit 0 before the config is even read.
 *
 * Everything goes through `defineHook`, so the exit codes, the stdout protocol and the time budget
 * are the library's. Nothing is written to stderr unless Duplicati must count it as a warning.
 *
 * @module
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';
import { describeError, isManifestError } from '../../core/errors.js';
import { isInside } from '../../core/fs.js';
import { type Logger, silentLogger, streamLogger } from '../../core/logger.js';
import { defineHook, type HookContext, type HookOutcome } from '../../hooks/define-hook.js';
import { HookExitCode, isListingHookRun } from '../../hooks/protocol.js';
import type { NotificationKind } from '../../contracts/notifier.js';
import type { NotificationEvent } from '../../contracts/notifier.js';
import type { LoadedConfig } from '../../app/config.js';
import type { PrepareResult } from '../../plan/backup-plan.js';
import type { CliCommand, CliContext } from '../types.js';
import { recordFailure, takeFailure } from './hook-failure.js';

const DEFAULT_OPERATIONS = ['Backup'];

/** Lines of the result's log sent along with a notification (only notifiers that include logs send them). */
const LOG_EXCERPT_LINES = 20;

/** Notifier failures must not change the job's result: their warnings go to the job log as INFO. */
function quietWarnings(logger: Logger): Logger {
  return { debug: logger.debug, info: logger.info, warn: logger.info, error: logger.error };
}

async function loadFor(h: HookContext, ctx: CliContext): Promise<LoadedConfig> {
  const { contextConfig } = await import('./plan.js');
  return contextConfig({ ...ctx, signal: h.signal });
}

function jobName(h: HookContext, cfg: LoadedConfig): string {
  return h.env.backupName ?? path.basename(cfg.config.workDir);
}

async function notify(h: HookContext, cfg: LoadedConfig, event: NotificationEvent): Promise<void> {
  if (cfg.notifiers.length === 0) return;
  const { notifyAll } = await import('../../ops/notify.js');
  await notifyAll(cfg.notifiers, event, { signal: h.signal, logger: quietWarnings(h.logger) });
}

function failureText(out: PrepareResult): string {
  const failed = out.results.filter((r) => !r.ok);
  return failed
    .map((r) => `${r.name} (${r.kind}, ${r.phase}): ${r.error?.message.split('\n')[0] ?? 'failed'}`)
    .join('; ');
}

/** Paths the plan needs uploaded that the job's source list does not cover. */
function uncovered(h: HookContext, out: PrepareResult): string[] {
  if (h.env.localPaths.length === 0) return [];
  return out.backupPaths.filter((p) => !h.env.localPaths.some((src) => isInside(src, p)));
}

/**
 * Add `recovery/` (config without secrets, the server's jobs, versions, RECOVERY.md) to the staged
 * folder. A failure is a warning: the backup itself is still good.
 */
async function stageRecoveryKit(h: HookContext, cfg: LoadedConfig, ctx: CliContext): Promise<string | undefined> {
  try {
    const { readRecoveryJobs, writeRecoveryKit } = await import('../../ops/recovery/kit.js');
    let read: Awaited<ReturnType<typeof readRecoveryJobs>> = {
      jobs: [],
      note: 'no Duplicati server configured (config `duplicati`)',
    };
    const configured = cfg.config.duplicati !== undefined || ctx.env.DUPLICATI_URL !== undefined;
    if (configured) {
      const { clientFromContext, serverOf } = await import('./duplicati.js');
      read = await readRecoveryJobs(clientFromContext(ctx, serverOf(cfg)), h.signal);
    }
    await writeRecoveryKit({
      workDir: cfg.config.workDir,
      config: cfg.config,
      configFile: cfg.file,
      jobs: read.jobs,
      ...(read.note ? { jobsNote: read.note } : {}),
      ...(read.duplicatiVersion ? { duplicatiVersion: read.duplicatiVersion } : {}),
      ...(h.env.backupName ? { jobName: h.env.backupName } : {}),
      signal: h.signal,
      logger: h.logger,
    });
    // Without a configured server the kit simply has no jobs (said in RECOVERY.md); an unreadable
    // configured server is worth a warning.
    return configured && read.note ? `recovery kit without job definitions: ${read.note}` : undefined;
  } catch (e) {
    if (h.signal.aborted) throw e;
    return `the recovery kit could not be written: ${describeError(e)}`;
  }
}

async function before(h: HookContext, cfg: LoadedConfig, ctx: CliContext): Promise<HookOutcome> {
  // Only a backup uploads the staged folder; a restore or repair must not re-dump anything.
  if (h.operation !== 'Backup') return undefined;
  const job = jobName(h, cfg);
  await notify(h, cfg, { kind: 'start', title: `Backup of ${job} started`, message: 'preparing sources', job });
  const out = await cfg.backupPlan({ logger: h.logger }).prepare({ signal: h.signal, reject: false });
  if (!out.ok) {
    const text = `backup plan failed: ${failureText(out)}`;
    const stop = cfg.config.hook?.stopOnFailure !== false;
    await notify(h, cfg, {
      kind: 'failure',
      title: `Backup of ${job} ${stop ? 'stopped' : 'continues without some sources'}`,
      message: text,
      job,
    });
    return stop ? { error: text } : { error: text, continueOperation: true };
  }
  const bytes = out.results.reduce((n, r) => n + r.artifacts.reduce((m, a) => m + a.bytes, 0), 0);
  h.logger.info(`staged ${out.results.length} source(s), ${bytes} bytes, in ${cfg.config.workDir}`);
  const kitWarning = await stageRecoveryKit(h, cfg, ctx);
  const missing = uncovered(h, out);
  if (missing.length > 0) {
    return {
      warning: `the job does not back up ${missing.join(', ')}: add it to the job's source folders, or the staged data is not uploaded`,
    };
  }
  return kitWarning ? { warning: kitWarning } : undefined;
}

function kindOf(result: string | undefined): NotificationKind {
  if (result === 'Success') return 'success';
  if (result === 'Warning') return 'warning';
  return 'failure';
}

async function after(h: HookContext, cfg: LoadedConfig): Promise<HookOutcome> {
  const job = jobName(h, cfg);
  const problems: string[] = [];
  const isBackup = h.operation === 'Backup';
  // A failed BEFORE left its reason: Duplicati 2.0.x shows only the exit code, so say it here.
  const beforeFailed = isBackup ? await takeFailure(cfg.config.workDir) : undefined;
  if (beforeFailed !== undefined) problems.push(`the backup did not run: the hook's BEFORE failed: ${beforeFailed}`);
  const copies = cfg.config.localCopies;
  if (copies && isBackup) {
    const { keepLocalCopy, pruneLocalCopies } = await import('../../ops/retention.js');
    try {
      // Kept whatever the upload's result: when the upload failed, this copy matters most.
      const copy = await keepLocalCopy(cfg.config.workDir, copies.dir, { signal: h.signal });
      h.logger.info(`kept a local copy in ${copy}`);
      // Never prune after a failed run: while the off-site copy is stale, the older local copies
      // may be the newest good ones left.
      const result = h.env.parsedResult;
      if (result === 'Success' || result === 'Warning') {
        const pruned = await pruneLocalCopies(copies.dir, copies.keep, { signal: h.signal, logger: h.logger });
        if (pruned.removed.length > 0) h.logger.info(`removed ${pruned.removed.length} old local copies`);
      } else {
        h.logger.warn(`the backup ended with ${result ?? 'no result'}: old local copies are not pruned`);
      }
    } catch (e) {
      if (h.signal.aborted) throw e;
      // No manifest means BEFORE staged nothing (it failed or was skipped): nothing to keep.
      if (!isManifestError(e)) problems.push(`local copy failed: ${describeError(e)}`);
    }
  }
  if (isBackup && cfg.config.hook?.cleanupAfter !== false) {
    await cfg.backupPlan({ logger: h.logger }).cleanup({ signal: h.signal });
  }
  const r = h.result;
  const parsed = h.env.parsedResult ?? 'Unknown';
  const message = [
    `result: ${parsed}`,
    r?.durationMs === undefined ? undefined : `duration: ${Math.round(r.durationMs / 1000)} s`,
    r?.warningCount ? `warnings: ${r.warningCount}` : undefined,
    r?.errorCount ? `errors: ${r.errorCount}` : undefined,
    r?.exception ? `failure: ${r.exception.message}` : undefined,
    ...problems,
  ].filter((x): x is string => x !== undefined);
  await notify(h, cfg, {
    kind: problems.length > 0 && parsed === 'Success' ? 'warning' : kindOf(parsed),
    title: `${h.operation} of ${job}: ${parsed}`,
    message: message.join('\n'),
    job,
    ...(r?.durationMs === undefined ? {} : { durationMs: r.durationMs }),
    details: {
      parsedResult: parsed,
      operation: h.operation,
      backupId: h.env.backupId ?? null,
      warnings: r?.warningCount ?? null,
      errors: r?.errorCount ?? null,
    },
    ...(r && r.logLines.length > 0
      ? {
          log: r.logLines
            .slice(0, LOG_EXCERPT_LINES)
            .map((l) => l.raw)
            .join('\n'),
        }
      : {}),
  });
  if (beforeFailed !== undefined) return { error: problems.join('; ') };
  return problems.length > 0 ? { warning: problems.join('; ') } : undefined;
}

/** BEFORE of a backup: run it, and keep the reason of a failure that stops the backup for AFTER. */
async function beforeRecorded(h: HookContext, cfg: LoadedConfig, ctx: CliContext): Promise<HookOutcome> {
  if (h.operation === 'Backup') await takeFailure(cfg.config.workDir);
  try {
    const outcome = await before(h, cfg, ctx);
    if (outcome?.error !== undefined && outcome.continueOperation !== true) {
      await recordFailure(cfg.config.workDir, outcome.error);
    }
    return outcome;
  } catch (e) {
    await recordFailure(cfg.config.workDir, describeError(e));
    throw e;
  }
}

async function openLogFile(ctx: CliContext): Promise<{ logger: Logger; close: () => Promise<void> }> {
  const file = ctx.flags['log-file'];
  if (typeof file !== 'string' || file === '') return { logger: silentLogger, close: async () => {} };
  const stream: WriteStream = createWriteStream(path.resolve(ctx.cwd, file), { flags: 'a', mode: 0o600 });
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', reject);
  });
  return {
    logger: streamLogger({ stream, level: 'debug', format: 'json' }),
    close: () => new Promise<void>((resolve) => stream.end(() => resolve())),
  };
}

/**
 * Run the hook for one Duplicati invocation. Never throws: every failure becomes the exit code
 * Duplicati understands (the CLI's own error codes would be misread: 1 is "skip, all fine").
 */
async function runHook(ctx: CliContext): Promise<number> {
  if (ctx.positionals[0] === 'install') return (await import('./hook-install.js')).runHookInstall(ctx);
  // The web UI's listings start the hook too; answer before reading any config (the launcher,
  // src/cli/launch.ts, answers most of them before loading the CLI at all). An unusable
  // environment is not a listing: defineHook below reports it.
  if (isListingHookRun(ctx.env)) return HookExitCode.Continue;
  let log: { logger: Logger; close: () => Promise<void> };
  try {
    log = await openLogFile(ctx);
  } catch (e) {
    ctx.stderr.write(`cannot open the log file: ${describeError(e)}\n`);
    return HookExitCode.StopWithError;
  }
  const handler =
    (fn: (h: HookContext, cfg: LoadedConfig) => Promise<HookOutcome>) =>
    async (h: HookContext): Promise<HookOutcome> => {
      let cfg: LoadedConfig;
      try {
        cfg = await loadFor(h, ctx);
      } catch (e) {
        if (h.signal.aborted) throw e;
        // A broken config must not block a repair or a restore, only the backup it would feed.
        if (h.operation !== 'Backup') return { warning: `duplicati-kit config unusable: ${describeError(e)}` };
        throw e;
      }
      if (!(cfg.config.hook?.operations ?? DEFAULT_OPERATIONS).includes(h.operation)) return undefined;
      return fn(h, cfg);
    };
  const hook = defineHook({
    autoRun: false,
    operations: 'all',
    logger: log.logger,
    before: handler((h, cfg) => beforeRecorded(h, cfg, ctx)),
    after: handler(after),
  });
  try {
    return await hook.run(ctx.env, { stdout: ctx.stdout, stderr: ctx.stderr, signal: ctx.signal });
  } finally {
    await log.close();
  }
}

/** `duplicati-kit hook`. */
export const hookCommand: CliCommand = {
  name: 'hook',
  summary: 'Run as a Duplicati run-script hook: stage the backup plan before, clean up and notify after',
  usage:
    'hook [--config FILE] [--log-file FILE]\n       duplicati-kit hook install --job NAME [--config FILE] [--script PATH] [--timeout 15m] [--dry-run]',
  options: {
    job: { type: 'string', valueName: 'NAME', description: 'install: the Duplicati job to wire the hook into' },
    script: {
      type: 'string',
      valueName: 'PATH',
      description: 'install: where to write the wrapper script (default: duplicati-kit-hook beside the config)',
    },
    timeout: { type: 'string', valueName: 'SPAN', description: 'install: --run-script-timeout to set (default 15m)' },
    'not-required': {
      type: 'boolean',
      description: 'install: use --run-script-before instead of --run-script-before-required',
    },
    'dry-run': { type: 'boolean', description: 'install: show the changes, make none' },
    url: { type: 'string', valueName: 'URL', description: 'install: Duplicati server (default $DUPLICATI_URL)' },
    'password-file': { type: 'string', valueName: 'FILE', description: 'install: file holding the Duplicati password' },
    'log-file': {
      type: 'string',
      valueName: 'FILE',
      description:
        'Append JSON log lines here (Duplicati shows nothing of a failed required script); install: the wrapper passes it on',
    },
  },
  help: [
    'Easiest: `duplicati-kit hook install --job NAME --config FILE --log-file FILE`. By hand, set on the job',
    '(advanced options):',
    '  --run-script-before-required=/usr/local/bin/duplicati-kit-hook',
    '  --run-script-after=/usr/local/bin/duplicati-kit-hook',
    '  --run-script-timeout=15m   (at least twice your slowest dump)',
    'where duplicati-kit-hook is `#!/bin/sh` + `exec duplicati-kit hook --config /etc/duplicati-kit.yaml`',
    '(Duplicati 2.0.x runs the script path only, without arguments).',
    "Add the config's workDir to the job's source folders. A warning reaches Duplicati as stderr (the run",
    'ends Warning); a failed dump exits 5 (the backup fails, nothing is uploaded). Duplicati 2.0.x shows',
    'only "returned with exit code 5" for a failed required script: the reason is in --log-file, in the',
    'notification, and in the error the AFTER call logs. See docs/hooks.md.',
  ].join('\n'),
  run: runHook,
};
