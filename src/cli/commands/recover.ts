/**
 * `duplicati-kit recover`: disaster recovery on a new host, from the target URL and the
 * passphrase alone (see docs/recovery.md).
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../core/errors.js';
import type { PathMapping, RecoverReport } from '../../ops/recovery/recover.js';
import { ExitCode } from '../exit-codes.js';
import { formatMs, printJson } from '../output.js';
import type { CliCommand, CliContext } from '../types.js';
import { clientFromContext, serverOf } from './duplicati.js';
import { timeFlag, versionFlag } from './flags.js';
import { configPath, loadConfigFor } from './plan.js';

/** A secret from a file: first line, trailing newline removed. */
async function secretFile(ctx: CliContext, flag: string): Promise<string | undefined> {
  const f = ctx.flags[flag];
  if (f === undefined) return undefined;
  if (typeof f !== 'string' || f === '')
    throw new ConfigError(`bad --${flag}`, [{ path: `--${flag}`, message: 'a file' }]);
  const text = await fsp.readFile(path.resolve(ctx.cwd, f), 'utf8');
  const line = text.split(/\r?\n/)[0] ?? '';
  if (line === '') throw new ConfigError(`--${flag} ${f} is empty`, [{ path: `--${flag}`, message: 'empty file' }]);
  return line;
}

/** `--map OLD=NEW` (repeatable), absolute paths. */
export function mapFlags(values: unknown): PathMapping[] {
  const list = values === undefined ? [] : Array.isArray(values) ? values : [values];
  return list.map((v) => {
    const m = typeof v === 'string' ? /^([^=]+)=(.+)$/.exec(v) : null;
    if (!m || !path.isAbsolute(m[1] as string) || !path.isAbsolute(m[2] as string)) {
      throw new ConfigError('bad --map', [
        { path: '--map', message: `${String(v)}: give OLD=NEW, both absolute paths` },
      ]);
    }
    return { from: m[1] as string, to: m[2] as string };
  });
}

function printReport(ctx: CliContext, r: RecoverReport): void {
  if (ctx.json) {
    printJson(ctx.stdout, r);
    return;
  }
  const lines = [
    `${r.dryRun ? 'Dry run of the recovery' : 'Recovery'} from ${r.source}, version ${r.version ?? '?'} (${r.time ?? '?'})`,
  ];
  for (const s of r.steps) {
    lines.push(
      `  ${s.status.padEnd(7)} ${s.step.padEnd(18)} ${formatMs(s.durationMs)}${s.error ? `  ${s.error.split('\n')[0]}` : ''}`,
    );
  }
  for (const p of r.planned) lines.push(`  would   ${p.step.padEnd(18)} ${p.would}`);
  lines.push(
    r.ok
      ? `done in ${formatMs(r.totalMs)}`
      : `FAILED: ${r.error ?? 'unknown'}\n(run the same command again to continue)`,
  );
  ctx.stdout.write(`${lines.join('\n')}\n`);
}

async function runRecover(ctx: CliContext): Promise<number> {
  const targetUrl = await secretFile(ctx, 'target-url-file');
  const tree = typeof ctx.flags['from-tree'] === 'string' ? path.resolve(ctx.cwd, ctx.flags['from-tree']) : undefined;
  if (!targetUrl && !tree) {
    throw new ConfigError('nothing to recover from', [
      {
        path: '--target-url-file',
        message: 'a file holding the target URL (with its credentials), or --from-tree DIR',
      },
    ]);
  }
  const passphrase = (await secretFile(ctx, 'passphrase-file')) ?? null;
  if (targetUrl && !passphrase && ctx.flags['no-encryption'] !== true) {
    throw new ConfigError('no passphrase', [
      {
        path: '--passphrase-file',
        message: 'a file holding the passphrase (or --no-encryption for an unencrypted backup)',
      },
    ]);
  }
  const workDirFlag = ctx.flags['work-dir'];
  if (typeof workDirFlag !== 'string') {
    throw new ConfigError('missing --work-dir', [
      { path: '--work-dir', message: 'the recovery work folder (scratch, state, report)' },
    ]);
  }
  const file = configPath(ctx, false);
  const cfg = file ? await loadConfigFor(ctx, file) : undefined;
  const needsServer = targetUrl !== undefined || ctx.flags['no-jobs'] !== true;
  const client = needsServer ? clientFromContext(ctx, cfg ? serverOf(cfg) : undefined) : undefined;
  const { duplicatiDirectReader, restoredTreeReader } = await import('../../ops/recovery/reader.js');
  const reader = tree
    ? restoredTreeReader(tree)
    : duplicatiDirectReader({
        client: client as NonNullable<typeof client>,
        targetUrl: targetUrl as string,
        passphrase,
      });
  if (ctx.flags.list === true) {
    const versions = await reader.versions(ctx.signal);
    if (ctx.json) printJson(ctx.stdout, versions);
    else ctx.stdout.write(`${versions.map((v) => `${v.version}\t${v.time}`).join('\n')}\n`);
    return ExitCode.Success;
  }
  const version = versionFlag(ctx);
  const time = timeFlag(ctx);
  const { recoverServer, recoveryHooksOf } = await import('../../ops/recovery/recover.js');
  const restorePlan = cfg ? cfg.restorePlan({ logger: ctx.logger }) : undefined;
  const report = await recoverServer({
    reader,
    workDir: path.resolve(ctx.cwd, workDirFlag),
    pathMap: mapFlags(ctx.flags.map),
    ...(version !== undefined ? { version } : {}),
    ...(time !== undefined ? { time } : {}),
    // The new host's targets restore the databases, rewrite the paths their apps store under the
    // map (Immich, Jellyfin) and run the app checks.
    ...(restorePlan ? { restorePlan, ...recoveryHooksOf(restorePlan) } : {}),
    ...(client && ctx.flags['no-jobs'] !== true ? { client } : {}),
    passphrase,
    ...(targetUrl ? { targetUrl } : {}),
    dryRun: ctx.flags['dry-run'] === true,
    signal: ctx.signal,
    logger: ctx.logger,
    onStep: (step, phase, detail) => {
      if (!ctx.json) ctx.stderr.write(`${step}: ${phase}${detail ? ` (${detail.split('\n')[0]})` : ''}\n`);
    },
  });
  printReport(ctx, report);
  return report.ok ? ExitCode.Success : ExitCode.Error;
}

/** `duplicati-kit recover`. */
export const recoverCommand: CliCommand = {
  name: 'recover',
  summary: 'Recover a lost server on a new host from the off-site copy and its passphrase',
  usage:
    'recover --target-url-file FILE --passphrase-file FILE --work-dir DIR [--config NEW-HOST.yaml] [--map OLD=NEW]… [--version N | --time ISO] [--list] [--dry-run]',
  options: {
    'target-url-file': {
      type: 'string',
      valueName: 'FILE',
      description: 'File holding the target URL, with its credentials',
    },
    'passphrase-file': { type: 'string', valueName: 'FILE', description: "File holding the backup's passphrase" },
    'no-encryption': { type: 'boolean', description: 'The backup is not encrypted' },
    'from-tree': {
      type: 'string',
      valueName: 'DIR',
      description: 'Plan B: read a backup already restored with full paths into DIR',
    },
    'work-dir': {
      type: 'string',
      valueName: 'DIR',
      description: 'Recovery work folder: scratch, state file, evidence report',
    },
    map: { type: 'string', multiple: true, valueName: 'OLD=NEW', description: 'Restore what was under OLD under NEW' },
    version: { type: 'string', valueName: 'N', description: 'Version to recover (0 = newest, the default)' },
    time: { type: 'string', valueName: 'ISO', description: 'Recover the newest version at or before this time' },
    list: { type: 'boolean', description: 'List the versions and exit' },
    'dry-run': {
      type: 'boolean',
      description: 'Check everything (nothing outside --work-dir is written) and show all steps',
    },
    'no-jobs': { type: 'boolean', description: 'Do not re-create the Duplicati jobs' },
    url: { type: 'string', valueName: 'URL', description: "The new host's Duplicati server (default $DUPLICATI_URL)" },
    'password-file': { type: 'string', valueName: 'FILE', description: "File holding the new server's UI password" },
  },
  help: [
    'The Duplicati server of the new host reads the target directly (no job, no local database needed).',
    "--config is the NEW host's config: its restore.targets restore the databases; its duplicati section",
    'names the server. Every step is recorded in --work-dir: run the same command again to continue.',
    'Exit 0 when recovered (or the dry run passed), 1 otherwise; recover-report.json has each step and its time.',
  ].join('\n'),
  run: runRecover,
};
