/**
 * Duplicati commands of the CLI: `jobs list|show|apply`, `run`, `versions`, `files`,
 * `restore-files`. Thin: flags → {@link DuplicatiClient} → output; exit codes follow the true
 * outcome of an operation (see exit-codes.ts).
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { parseUserText } from '../../app/parse-text.js';
import { ConfigError } from '../../core/errors.js';
import { isSecretKey, redactUrl } from '../../core/redact.js';
import type { CommandConfig, DuplicatiServerConfig, LoadedConfig } from '../../app/config.js';
import { resolveDuplicatiServer } from '../../app/duplicati-server.js';
import { DuplicatiClient } from '../../duplicati/client.js';
import type { JobSpec } from '../../duplicati/resources/jobs.js';
import type { BackupSummary, OperationOutcome, OperationResult } from '../../duplicati/types.js';
import { ExitCode } from '../exit-codes.js';
import { formatBytes, printJson } from '../output.js';
import type { CliCommand, CliContext, CliOption } from '../types.js';
import { versionFlag } from './flags.js';

const CONNECTION: Record<string, CliOption> = {
  url: {
    type: 'string',
    valueName: 'URL',
    description: 'Duplicati server (default: $DUPLICATI_URL or http://127.0.0.1:8200)',
  },
  'password-file': {
    type: 'string',
    valueName: 'FILE',
    description: 'File holding the UI password (default: $DUPLICATI_PASSWORD_FILE / $DUPLICATI_PASSWORD)',
  },
};

const CONNECTION_HELP = `The server and its login come from, in this order: --url / --password-file; the
environment (DUPLICATI_URL; DUPLICATI_PREAUTH_TOKEN, DUPLICATI_TOKEN, DUPLICATI_PASSWORD_FILE or
DUPLICATI_PASSWORD); the config's duplicati: section (url, passwordFile, passwordEnv), read from
--config, $DUPLICATI_KIT_CONFIG or duplicati-kit.yaml in the current folder. Passwords are never
taken on the command line.`;

/** The config's `duplicati:` section and the file it came from, for {@link clientFromContext}. */
export interface ServerConfigRef {
  readonly config: DuplicatiServerConfig | undefined;
  readonly file: string | undefined;
}

/**
 * Build the client from `--url` / `--password-file`, the environment, then the config's
 * `duplicati:` section (see {@link resolveDuplicatiServer} for the order).
 */
export function clientFromContext(ctx: CliContext, server?: ServerConfigRef): DuplicatiClient {
  const url = typeof ctx.flags.url === 'string' ? ctx.flags.url : undefined;
  const file = typeof ctx.flags['password-file'] === 'string' ? ctx.flags['password-file'] : undefined;
  const options = resolveDuplicatiServer({
    env: ctx.env,
    config: server?.config,
    configFile: server?.file,
    url,
    passwordFile: file ? path.resolve(ctx.cwd, file) : undefined,
  });
  return new DuplicatiClient({ ...options, logger: ctx.logger });
}

/** The server part of a loaded config. */
export function serverOf(cfg: LoadedConfig): ServerConfigRef {
  return { config: cfg.config.duplicati, file: cfg.file };
}

const NO_CONFIG: CommandConfig = { duplicati: undefined, scheduler: undefined, timedRuns: [] };

/**
 * The client of a command that needs no plan: the config (when one is found) is read only for its
 * `duplicati:` section and its scheduler, so `run` in a systemd unit works with a clean environment.
 */
export async function connect(ctx: CliContext): Promise<{ dup: DuplicatiClient; config: CommandConfig }> {
  const { configPath } = await import('./plan.js');
  const file = configPath(ctx, false);
  if (!file) return { dup: clientFromContext(ctx), config: NO_CONFIG };
  const { readCommandConfig } = await import('../../app/config.js');
  const config = await readCommandConfig(file, ctx.signal);
  return { dup: clientFromContext(ctx, { config: config.duplicati, file }), config };
}

/** Exit code of an operation's true outcome. */
export function exitCodeForResult(result: OperationResult): number {
  switch (result) {
    case 'Success':
      return ExitCode.Success;
    case 'Warning':
      return ExitCode.DuplicatiWarning;
    case 'Error':
      return ExitCode.DuplicatiError;
    default:
      return ExitCode.DuplicatiFatal;
  }
}

/** Find a job by id or (case-insensitive) name. */
async function resolveJob(dup: DuplicatiClient, ref: string | undefined, signal: AbortSignal): Promise<BackupSummary> {
  if (!ref) throw new ConfigError('missing job', [{ path: 'job', message: 'give a job id or name' }]);
  const all = await dup.backups.list({ signal });
  const job = all.find((b) => b.id === ref) ?? all.find((b) => b.name.toLowerCase() === ref.toLowerCase());
  if (!job) {
    throw new ConfigError(`no Duplicati job "${ref}"`, [
      { path: 'job', message: `known: ${all.map((b) => `${b.id} (${b.name})`).join(', ') || 'none'}` },
    ]);
  }
  return job;
}

function printOutcome(ctx: CliContext, what: string, o: OperationOutcome): number {
  const code = exitCodeForResult(o.result);
  if (ctx.json) {
    printJson(ctx.stdout, { ok: o.result === 'Success', exitCode: code, ...o });
    return code;
  }
  ctx.stdout.write(
    `${what}: ${o.result}${o.interrupted ? ' (interrupted)' : ''} — task ${o.taskId ?? '?'}, ${o.status}\n`,
  );
  for (const w of o.warnings) ctx.stdout.write(`  warning: ${w}\n`);
  for (const e of o.errors) ctx.stdout.write(`  error: ${e}\n`);
  return code;
}

async function loadSpecs(ctx: CliContext, file: string): Promise<JobSpec[]> {
  const full = path.resolve(ctx.cwd, file);
  const text = await readFile(full, 'utf8');
  const doc = parseUserText(text, /\.ya?ml$/i.test(full) ? 'yaml' : 'json', file);
  const list = Array.isArray(doc) ? doc : ((doc as { jobs?: unknown })?.jobs ?? [doc]);
  if (!Array.isArray(list)) throw new ConfigError(`${file}: expected a job, a list of jobs or { jobs: [...] }`);
  const out: JobSpec[] = [];
  for (const raw of list as Record<string, unknown>[]) {
    // Keep passphrases out of spec files: `passphraseFile` names a file that holds it.
    const { passphraseFile, ...rest } = raw;
    if (typeof passphraseFile === 'string') {
      const p = (await readFile(path.resolve(path.dirname(full), passphraseFile), 'utf8')).replace(/\r?\n$/, '');
      out.push({ ...(rest as unknown as JobSpec), passphrase: p });
    } else out.push(rest as unknown as JobSpec);
  }
  return out;
}

/**
 * The job specs as the config's `scheduler` wants them (`systemd`: no Duplicati schedule), and
 * the warnings to print: a job both Duplicati and a systemd timer start, or a job no one starts.
 */
export function applyScheduler(
  specs: readonly JobSpec[],
  config: CommandConfig,
): { specs: JobSpec[]; warnings: string[] } {
  const warnings: string[] = [];
  const timerOf = (name: string) => config.timedRuns.find((t) => t.job.toLowerCase() === name.toLowerCase());
  const out = specs.map((spec) => {
    const timer = timerOf(spec.name);
    if (config.scheduler === 'systemd') {
      if (!timer)
        warnings.push(
          `job "${spec.name}": scheduler is systemd but no schedules: entry runs it; it will only run when started by hand`,
        );
      return spec.schedule ? { ...spec, schedule: null } : spec;
    }
    if (spec.schedule && timer && config.scheduler === undefined) {
      warnings.push(
        `job "${spec.name}" is scheduled twice: by Duplicati (${spec.schedule.time}) and by the systemd timer "${timer.schedule}"; set scheduler: systemd or scheduler: duplicati in the config`,
      );
    }
    return spec;
  });
  return { specs: out, warnings };
}

/** `duplicati-kit jobs list|show <job>|apply FILE [--dry-run]`. */
export const jobsCommand: CliCommand = {
  name: 'jobs',
  summary: 'List, show or apply (jobs as code) the Duplicati backup jobs',
  usage: 'jobs list | jobs show <job> | jobs apply FILE [--dry-run]',
  options: {
    ...CONNECTION,
    'dry-run': { type: 'boolean', description: 'apply: only print what would change' },
    'overwrite-masked-secrets': {
      type: 'boolean',
      description: 'apply: write passphrases/URL credentials even where the server masks the stored ones',
    },
  },
  help: `FILE is JSON or YAML: one job, a list, or { jobs: [...] } (see JobSpec). A job may name a
"passphraseFile" instead of a "passphrase". Jobs are matched by name; apply is idempotent.
With "scheduler: systemd" in the config, apply writes no Duplicati schedule (the config's
schedules: timers start the jobs); without a scheduler, a job both would start is warned about.

${CONNECTION_HELP}`,
  async run(ctx) {
    const [sub, arg] = ctx.positionals;
    const { dup, config } = await connect(ctx);
    const { signal } = ctx;
    if (sub === 'list') {
      const jobs = await dup.backups.list({ signal });
      if (ctx.json)
        printJson(
          ctx.stdout,
          jobs.map((j) => ({ ...j, targetUrl: undefined })),
        );
      else {
        for (const j of jobs) {
          const last = j.metadata.LastBackupFinished ?? 'never';
          const next = j.schedule ? `${j.schedule.repeat ?? ''} next ${j.schedule.time ?? '?'}` : 'no schedule';
          ctx.stdout.write(`${j.id.padStart(3)}  ${j.name}  (last ${last}; ${next})\n`);
        }
      }
      return ExitCode.Success;
    }
    if (sub === 'show') {
      const job = await resolveJob(dup, arg, signal);
      const full = await dup.backups.get(job.id, { signal });
      // Settings values may be secrets; show names only, and never the target URL's credentials.
      const safe = {
        ...full,
        targetUrl: redactUrl(full.targetUrl),
        settings: full.settings.map((s) => ({
          name: s.name,
          value: isSecretKey(s.name) && s.value ? '***' : s.value,
        })),
      };
      if (ctx.json) printJson(ctx.stdout, safe);
      else ctx.stdout.write(`${YAML.stringify(safe)}`);
      return ExitCode.Success;
    }
    if (sub === 'apply') {
      if (!arg) throw new ConfigError('missing FILE', [{ path: 'file', message: 'jobs apply FILE' }]);
      const { specs, warnings } = applyScheduler(await loadSpecs(ctx, arg), config);
      for (const w of warnings) ctx.logger.warn(w);
      const results = await dup.jobs.applyAll(specs, {
        signal,
        dryRun: ctx.flags['dry-run'] === true,
        overwriteMaskedSecrets: ctx.flags['overwrite-masked-secrets'] === true,
      });
      if (ctx.json) printJson(ctx.stdout, results);
      else {
        for (const r of results) {
          ctx.stdout.write(`${r.dryRun ? '(dry run) ' : ''}${r.action} ${r.name}${r.id ? ` (#${r.id})` : ''}\n`);
          for (const c of r.changes) ctx.stdout.write(`  ${c.field}: ${c.before ?? '∅'} → ${c.after ?? '∅'}\n`);
          for (const m of r.maskedKept) ctx.stdout.write(`  ${m}: kept as stored (masked by the server)\n`);
        }
      }
      return ExitCode.Success;
    }
    throw new ConfigError(`unknown jobs sub-command "${sub ?? ''}"`, [
      { path: 'command', message: 'list, show or apply' },
    ]);
  },
};

/** `duplicati-kit run <job> [--wait]`. */
export const runCommand: CliCommand = {
  name: 'run',
  summary: 'Start a Duplicati backup job; with --wait, exit with its true outcome',
  usage: 'run <job> [--wait]',
  options: {
    ...CONNECTION,
    wait: { type: 'boolean', description: 'Wait for the run and exit 0 / 10 warning / 11 error / 12 fatal' },
  },
  help: CONNECTION_HELP,
  async run(ctx) {
    const { dup } = await connect(ctx);
    const job = await resolveJob(dup, ctx.positionals[0], ctx.signal);
    if (ctx.flags.wait !== true) {
      const started = await dup.backups.run(job.id, { signal: ctx.signal });
      if (ctx.json) printJson(ctx.stdout, { ok: true, backupId: job.id, ...started });
      else ctx.stdout.write(`queued ${job.name} (task ${started.taskId ?? 'id not reported by this server'})\n`);
      return ExitCode.Success;
    }
    const outcome = await dup.backups.runAndWait(job.id, { signal: ctx.signal });
    return printOutcome(ctx, `backup ${job.name}`, outcome);
  },
};

/** `duplicati-kit versions <job>`. */
export const versionsCommand: CliCommand = {
  name: 'versions',
  summary: 'List the versions of a Duplicati job (0 = newest)',
  usage: 'versions <job>',
  options: { ...CONNECTION },
  help: CONNECTION_HELP,
  async run(ctx) {
    const { dup } = await connect(ctx);
    const job = await resolveJob(dup, ctx.positionals[0], ctx.signal);
    const versions = await dup.backups.versions(job.id, { signal: ctx.signal, withSizes: true });
    if (ctx.json) printJson(ctx.stdout, versions);
    else {
      for (const v of versions) {
        const size = v.fileSizes === null ? '' : `  ${formatBytes(v.fileSizes)}`;
        const count = v.fileCount === null ? '' : `  ${v.fileCount} files`;
        ctx.stdout.write(`${String(v.version).padStart(3)}  ${v.time}${count}${size}\n`);
      }
    }
    return ExitCode.Success;
  },
};

/** `duplicati-kit files <job> [--version N] [path]`. */
export const filesCommand: CliCommand = {
  name: 'files',
  summary: 'List the files of a version of a Duplicati job (a folder, or the roots)',
  usage: 'files <job> [--version N] [--search PATTERN] [path]',
  options: {
    ...CONNECTION,
    version: { type: 'string', valueName: 'N', description: 'Version (default 0, the newest)' },
    search: { type: 'string', valueName: 'PATTERN', description: 'Search the version, e.g. "*.jpg"' },
  },
  help: CONNECTION_HELP,
  async run(ctx) {
    const { dup } = await connect(ctx);
    const [ref, folder] = ctx.positionals;
    const job = await resolveJob(dup, ref, ctx.signal);
    const version = versionFlag(ctx);
    const { files } = await dup.backups.files(job.id, {
      signal: ctx.signal,
      ...(version === undefined ? {} : { version }),
      ...(folder ? { path: folder } : {}),
      ...(typeof ctx.flags.search === 'string' ? { search: ctx.flags.search } : {}),
    });
    if (ctx.json) printJson(ctx.stdout, files);
    else {
      for (const f of files) {
        const size = f.sizes[0];
        ctx.stdout.write(
          `${f.isFolder ? '       dir' : (size === null || size === undefined ? '?' : formatBytes(size)).padStart(10)}  ${f.path}\n`,
        );
      }
    }
    return ExitCode.Success;
  },
};

/** `duplicati-kit restore-files <job> --version N --to DIR [paths…]`. */
export const restoreFilesCommand: CliCommand = {
  name: 'restore-files',
  summary: 'Restore files of a Duplicati job version into a folder and exit with the true outcome',
  usage: 'restore-files <job> --version N --to DIR [--overwrite] [paths…]',
  options: {
    ...CONNECTION,
    version: { type: 'string', valueName: 'N', description: 'Version to restore (0 = newest); required' },
    to: { type: 'string', valueName: 'DIR', description: 'Folder to restore into; required' },
    overwrite: { type: 'boolean', description: 'Overwrite files that exist in DIR' },
  },
  help: `Paths are exact file paths, or folders ending in "/" (their whole content). Without paths the
whole version is restored. Nothing is ever restored over the original location from the CLI.

${CONNECTION_HELP}`,
  async run(ctx) {
    const [ref, ...paths] = ctx.positionals;
    const version = versionFlag(ctx);
    const to = typeof ctx.flags.to === 'string' ? path.resolve(ctx.cwd, ctx.flags.to) : undefined;
    const issues = [
      ...(version === undefined ? [{ path: 'version', message: '--version N is required' }] : []),
      ...(to === undefined ? [{ path: 'to', message: '--to DIR is required' }] : []),
    ];
    if (issues.length || version === undefined || to === undefined) {
      throw new ConfigError('restore-files needs --version and --to', issues);
    }
    const { dup } = await connect(ctx);
    const job = await resolveJob(dup, ref, ctx.signal);
    const outcome = await dup.backups.restoreAndWait(job.id, {
      signal: ctx.signal,
      version,
      to,
      overwrite: ctx.flags.overwrite === true,
      ...(paths.length ? { paths } : {}),
    });
    return printOutcome(ctx, `restore ${job.name} v${version} → ${to}`, outcome);
  },
};

/** Every Duplicati command, for the dispatcher. */
export const duplicatiCommands: readonly CliCommand[] = [
  jobsCommand,
  runCommand,
  versionsCommand,
  filesCommand,
  restoreFilesCommand,
];
