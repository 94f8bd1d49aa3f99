/**
 * `prepare`, `cleanup`, `verify` and `restore`: the backup and restore plans from a config file.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, VerificationError } from '../../core/errors.js';
import { readManifest } from '../../core/manifest.js';
import { type LoadedConfig, loadConfig } from '../../app/config.js';
import { fileToolVersionCache, type ToolVersionCache, toolVersionCacheFile } from '../../core/tool-versions.js';
import { directSourcePaths } from '../../app/registry.js';
import type { PrepareResult } from '../../plan/backup-plan.js';
import type { RestoreReport } from '../../contracts/restore-report.js';
import { verifyArtifacts } from '../../plan/restore-plan.js';
import { ExitCode } from '../exit-codes.js';
import { formatBytes, formatMs, printJson, progressPrinter } from '../output.js';
import type { CliCommand, CliContext } from '../types.js';

const DEFAULT_CONFIGS = ['duplicati-kit.yaml', 'duplicati-kit.yml', 'duplicati-kit.json', 'duplicati-kit.config.mjs'];

/** Where the config file is: `--config`, `$DUPLICATI_KIT_CONFIG`, or a default name in the cwd. */
export function configPath(ctx: CliContext, required = true): string | undefined {
  const flag = ctx.flags.config;
  if (typeof flag === 'string') return path.resolve(ctx.cwd, flag);
  const env = ctx.env.DUPLICATI_KIT_CONFIG;
  if (env) return path.resolve(ctx.cwd, env);
  for (const name of DEFAULT_CONFIGS) {
    const p = path.join(ctx.cwd, name);
    if (existsSync(p)) return p;
  }
  if (!required) return undefined;
  throw new ConfigError('no config file: pass --config FILE (or set DUPLICATI_KIT_CONFIG)', [
    { path: '--config', message: `none of ${DEFAULT_CONFIGS.join(', ')} in ${ctx.cwd}` },
  ]);
}

/**
 * The CLI's cache of the tools' `--version` outputs (src/core/tool-versions.ts), in the user's
 * cache folder; undefined when `DUPLICATI_KIT_TOOL_CACHE=off` or there is no home.
 */
export function cliToolVersions(ctx: Pick<CliContext, 'env'>): ToolVersionCache | undefined {
  const file = toolVersionCacheFile(ctx.env);
  return file === undefined ? undefined : fileToolVersionCache(file, ctx.env.PATH);
}

/** Load the config the context points at. */
export async function contextConfig(ctx: CliContext): Promise<LoadedConfig> {
  return loadConfigFor(ctx, configPath(ctx) as string);
}

/** Load `file` as the CLI does: under the context's signal, with the CLI's tool cache. */
export function loadConfigFor(ctx: CliContext, file: string): Promise<LoadedConfig> {
  const toolVersions = cliToolVersions(ctx);
  return loadConfig(file, { signal: ctx.signal, ...(toolVersions ? { toolVersions } : {}) });
}

function printPrepared(ctx: CliContext, out: PrepareResult, dryRun: boolean): void {
  if (ctx.json) {
    printJson(ctx.stdout, out);
    return;
  }
  const lines = out.results.map((r) => {
    const bytes = r.artifacts.reduce((n, a) => n + a.bytes, 0);
    const what = r.ok
      ? dryRun
        ? 'checked'
        : `${r.artifacts.length} artifact(s), ${formatBytes(bytes)}`
      : `FAILED (${r.phase}): ${r.error?.message.split('\n')[0]}`;
    return `  ${r.ok ? 'ok  ' : 'FAIL'} ${r.name} [${r.kind}] ${what} in ${formatMs(r.durationMs)}`;
  });
  ctx.stdout.write(`${lines.join('\n')}\n`);
  if (out.ok) {
    const manifest =
      out.manifestFile ?? `none written (dry run; a real run writes ${out.backupPaths[0]}/manifest.json)`;
    ctx.stdout.write(
      `manifest: ${manifest}\nDuplicati should back up:\n${out.backupPaths.map((p) => `  ${p}`).join('\n')}\n`,
    );
    if (out.excludePatterns.length)
      ctx.stdout.write(`with filters:\n${out.excludePatterns.map((p) => `  -${p}`).join('\n')}\n`);
  }
}

function printRestore(ctx: CliContext, report: RestoreReport): void {
  if (ctx.json) {
    printJson(ctx.stdout, report);
    return;
  }
  const bad = report.checksums.filter((c) => !c.ok);
  ctx.stdout.write(
    `checksums: ${report.checksums.length - bad.length}/${report.checksums.length} ok${bad.length ? ` (bad: ${bad.map((b) => b.path).join(', ')})` : ''}\n`,
  );
  for (const e of report.entries) {
    const failed = e.verification?.checks.filter((c) => !c.ok) ?? [];
    ctx.stdout.write(`  ${e.status.padEnd(15)} ${e.name} [${e.kind}]${e.target ? ` -> ${e.target}` : ''}\n`);
    for (const c of failed) ctx.stdout.write(`      ${c.name}: ${c.detail ?? 'failed'}\n`);
    if (e.error && !failed.length) ctx.stdout.write(`      ${e.error.message.split('\n')[0]}\n`);
  }
  ctx.stdout.write(
    `${report.ok ? (report.dryRun ? 'verified' : 'restored') : 'FAILED'} in ${formatMs(report.durationMs)}\n`,
  );
}

export const prepareCommand: CliCommand = {
  name: 'prepare',
  summary: 'Run the backup plan: dump databases and archive configs into the work folder, write the manifest',
  usage: 'prepare [--config FILE] [--dry-run]',
  options: {
    'dry-run': { type: 'boolean', description: 'Check every source; write nothing' },
  },
  async run(ctx) {
    const cfg = await contextConfig(ctx);
    const progress = progressPrinter(ctx);
    try {
      const dryRun = ctx.flags['dry-run'] === true;
      const prepared = await cfg.backupPlan({ logger: ctx.logger }).prepare({
        signal: ctx.signal,
        reject: false,
        dryRun,
        ...(progress.onProgress ? { onProgress: progress.onProgress } : {}),
      });
      progress.done();
      // A dry run prepares nothing, so its result names no live folder: the folders Duplicati
      // backs up directly are known from the config alone.
      const direct = dryRun ? await directSourcePaths(cfg.sources) : [];
      const out = direct.length
        ? {
            ...prepared,
            includePaths: [...new Set([...prepared.includePaths, ...direct])],
            backupPaths: [...new Set([...prepared.backupPaths, ...direct])],
          }
        : prepared;
      printPrepared(ctx, out, dryRun);
      return out.ok ? ExitCode.Success : ExitCode.PlanFailed;
    } finally {
      progress.done();
    }
  },
};

export const cleanupCommand: CliCommand = {
  name: 'cleanup',
  summary: 'Remove everything the plan staged in the work folder (run after Duplicati uploaded it)',
  usage: 'cleanup [--config FILE]',
  options: {},
  async run(ctx) {
    const cfg = await contextConfig(ctx);
    await cfg.backupPlan({ logger: ctx.logger }).cleanup({ signal: ctx.signal });
    if (ctx.json) printJson(ctx.stdout, { ok: true, workDir: cfg.config.workDir });
    else ctx.stdout.write(`cleaned ${cfg.config.workDir}\n`);
    return ExitCode.Success;
  },
};

export const verifyCommand: CliCommand = {
  name: 'verify',
  summary: 'Verify a restored backup folder: every checksum, then each restore target in dry-run mode',
  usage: 'verify --from DIR [--config FILE]',
  options: {
    from: { type: 'string', valueName: 'DIR', description: 'Folder holding manifest.json and the artifacts' },
  },
  async run(ctx) {
    const from = requireFrom(ctx);
    const file = configPath(ctx, false);
    if (!file) {
      // Without a config there are no targets: checksums are all we can prove.
      const manifest = await readManifest(from, { signal: ctx.signal });
      const { checks, problems } = await verifyArtifacts(from, manifest, { signal: ctx.signal });
      if (ctx.json) printJson(ctx.stdout, { ok: problems.length === 0, from, checksums: checks, problems });
      else {
        ctx.stdout.write(`checksums: ${checks.filter((c) => c.ok).length}/${checks.length} ok\n`);
        for (const p of problems) ctx.stdout.write(`  ${p.check}: ${p.message}\n`);
      }
      if (problems.length) {
        throw new VerificationError(
          'backup failed verification',
          { source: 'manifest', kind: 'manifest', phase: 'verify' },
          problems,
        );
      }
      return ExitCode.Success;
    }
    const cfg = await loadConfigFor(ctx, file);
    const report = await cfg
      .restorePlan({ logger: ctx.logger })
      .run({ from, signal: ctx.signal, dryRun: true, reject: false });
    printRestore(ctx, report);
    return report.ok ? ExitCode.Success : ExitCode.VerificationFailed;
  },
};

function requireFrom(ctx: CliContext): string {
  const from = ctx.flags.from;
  if (typeof from !== 'string' || !from) {
    throw new ConfigError('--from DIR is required', [{ path: '--from', message: 'the folder holding manifest.json' }]);
  }
  return path.resolve(ctx.cwd, from);
}
