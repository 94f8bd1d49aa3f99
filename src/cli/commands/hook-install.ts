/**
 * `duplicati-kit hook install`: wire the hook into a Duplicati job (loaded only for `install`).
 *
 * @module
 */
import path from 'node:path';
import { ConfigError } from '../../core/errors.js';
import { installHook } from '../../ops/hook-install.js';
import { directSourcePaths } from '../../app/registry.js';
import { ExitCode } from '../exit-codes.js';
import { printJson } from '../output.js';
import type { CliContext } from '../types.js';
import { clientFromContext, serverOf } from './duplicati.js';
import { configPath, contextConfig } from './plan.js';

export async function runHookInstall(ctx: CliContext): Promise<number> {
  const job = ctx.flags.job;
  if (typeof job !== 'string' || !job) {
    throw new ConfigError('hook install needs --job NAME', [
      { path: '--job', message: 'the Duplicati job to wire the hook into' },
    ]);
  }
  const cfg = await contextConfig(ctx);
  const file = configPath(ctx) as string;
  const script =
    typeof ctx.flags.script === 'string'
      ? path.resolve(ctx.cwd, ctx.flags.script)
      : path.join(path.dirname(file), 'duplicati-kit-hook');
  // The reason of a failed required BEFORE never reaches Duplicati's job log: keep it in a file.
  const logFile = typeof ctx.flags['log-file'] === 'string' ? path.resolve(ctx.cwd, ctx.flags['log-file']) : undefined;
  const client = clientFromContext(ctx, serverOf(cfg));
  const result = await installHook(client, {
    job,
    script,
    command: [...ctx.program, 'hook', '--config', file, ...(logFile ? ['--log-file', logFile] : [])],
    workDir: cfg.config.workDir,
    includePaths: await directSourcePaths(cfg.sources),
    ...(typeof ctx.flags.timeout === 'string' ? { timeout: ctx.flags.timeout } : {}),
    required: ctx.flags['not-required'] !== true,
    dryRun: ctx.flags['dry-run'] === true,
    signal: ctx.signal,
  });
  if (ctx.json) printJson(ctx.stdout, result);
  else {
    ctx.stdout.write(`${result.dryRun ? 'would change' : 'changed'} job "${result.job}" (id ${result.backupId}):\n`);
    if (result.changes.length === 0) ctx.stdout.write('  nothing: the hook is already installed\n');
    for (const c of result.changes) {
      if (c.what === 'script') {
        const lines = (c.to ?? '').replace(/\n$/, '').split('\n');
        ctx.stdout.write(`  write ${c.name}:\n${lines.map((l) => `    | ${l}\n`).join('')}`);
      } else ctx.stdout.write(`  ${c.what} ${c.name}: ${c.from ?? '(none)'} -> ${c.to ?? '(removed)'}\n`);
    }
    for (const p of result.missingIncludePaths)
      ctx.stdout.write(`  WARNING: the job does not back up ${p}; add it to its sources\n`);
  }
  return ExitCode.Success;
}
