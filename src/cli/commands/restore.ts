/**
 * `duplicati-kit restore`: a restore run as the six-gate checklist, from a folder or from a
 * Duplicati version; and `duplicati-kit restore-points list | rollback ID | drop ID`.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../core/errors.js';
import type { ChecklistGate, ChecklistReport, SessionMessenger } from '../../ops/checklist-restore.js';
import type { MaintenanceOptions } from '../../ops/maintenance.js';
import type { RestorePointActionResult, RestoreRecord } from '../../ops/restore-points.js';
import type { AppApiConfig, LoadedConfig, TypedEntry } from '../../app/config.js';
import { type BuildExtras, buildTarget, immichQueuePauser, jellyfinMessenger } from '../../app/registry.js';
import type { RestoreTarget } from '../../contracts/types.js';
import { ExitCode } from '../exit-codes.js';
import { formatMs, printJson, progressPrinter } from '../output.js';
import type { CliCommand, CliContext } from '../types.js';
import { timeFlag, versionFlag } from './flags.js';
import { cliToolVersions, contextConfig } from './plan.js';

/** Where restore records go without `--state-dir` or `restore.stateDir`: systemd's StateDirectory, XDG state, or ~/.local/state. */
export function defaultStateDir(env: Readonly<Record<string, string | undefined>>): string {
  const state = env.STATE_DIRECTORY?.split(':')[0];
  if (state) return path.join(state, 'restores');
  const xdg = env.XDG_STATE_HOME;
  return path.join(xdg || path.join(os.homedir(), '.local', 'state'), 'duplicati-kit', 'restores');
}

function stateDirOf(ctx: CliContext, cfg: LoadedConfig): string {
  const flag = ctx.flags['state-dir'];
  if (typeof flag === 'string') return path.resolve(ctx.cwd, flag);
  const configured = cfg.config.restore?.stateDir;
  if (configured) return path.resolve(path.dirname(cfg.file), configured);
  return defaultStateDir(ctx.env);
}

/** An app API key: from `apiKeyFile`, else the environment variable (never the config itself). */
function apiKey(ctx: CliContext, api: Partial<AppApiConfig>, defaultEnv: string, at: string): string {
  if (api.apiKeyFile) {
    try {
      return readFileSync(path.resolve(ctx.cwd, api.apiKeyFile), 'utf8').trim();
    } catch (e) {
      throw new ConfigError(`cannot read ${at}.apiKeyFile`, [
        { path: `${at}.apiKeyFile`, message: (e as NodeJS.ErrnoException).code ?? 'unreadable' },
      ]);
    }
  }
  const name = api.apiKeyEnv ?? defaultEnv;
  const key = ctx.env[name];
  if (!key) {
    throw new ConfigError(`${at} needs an API key`, [
      { path: `${at}.apiKeyFile`, message: `give a file, or set ${name} in the environment` },
    ]);
  }
  return key;
}

/** The config's `restore.maintenance` as library options (API clients built, keys read). */
async function maintenanceOf(
  ctx: CliContext,
  cfg: LoadedConfig,
): Promise<{ maintenance: Omit<MaintenanceOptions, 'logger'>; jellyfin: SessionMessenger | undefined }> {
  const m = cfg.config.restore?.maintenance;
  if (!m) return { maintenance: {}, jellyfin: undefined };
  const at = 'restore.maintenance';
  const argv = (a: readonly string[]) => a as unknown as readonly [string, ...string[]];
  let immich: MaintenanceOptions['immich'];
  if (m.immich) {
    immich = await immichQueuePauser({
      baseUrl: m.immich.url,
      apiKey: apiKey(ctx, m.immich, 'IMMICH_API_KEY', `${at}.immich`),
      logger: ctx.logger,
    });
  }
  let jellyfin: SessionMessenger | undefined;
  if (m.jellyfin?.url) {
    jellyfin = await jellyfinMessenger({
      baseUrl: m.jellyfin.url,
      apiKey: apiKey(ctx, m.jellyfin, 'JELLYFIN_API_KEY', `${at}.jellyfin`),
    });
  }
  return {
    maintenance: {
      ...(immich ? { immich } : {}),
      ...(m.jellyfin?.stop || m.jellyfin?.start
        ? {
            jellyfin: {
              ...(m.jellyfin.stop ? { stop: argv(m.jellyfin.stop) } : {}),
              ...(m.jellyfin.start ? { start: argv(m.jellyfin.start) } : {}),
            },
          }
        : {}),
      ...(m.stop ? { stop: m.stop.map(argv) } : {}),
      ...(m.start ? { start: m.start.map(argv) } : {}),
      ...(m.commandTimeoutMs !== undefined ? { commandTimeoutMs: m.commandTimeoutMs } : {}),
    },
    jellyfin,
  };
}

const STATUS_LABEL: Record<ChecklistGate['status'], string> = {
  passed: 'passed',
  failed: 'FAILED',
  skipped: 'skipped',
  'would-run': 'would run',
};

/** The checklist as a table, then the restore plan's entries (the verification report). */
function printChecklist(ctx: CliContext, r: ChecklistReport): void {
  if (ctx.json) {
    printJson(ctx.stdout, r);
    return;
  }
  const out = (s: string) => ctx.stdout.write(`${s}\n`);
  const b = r.backup;
  out(
    `restore ${r.dryRun ? '(dry run) ' : ''}of ${b.job ? `"${b.job.name}" version ${b.version ?? '?'}${b.versionTime ? ` (${b.versionTime})` : ''}` : (b.from ?? '?')}`,
  );
  const width = Math.max(...r.gates.map((g) => g.title.length));
  out(`  #  ${'gate'.padEnd(width)}  ${'status'.padEnd(9)}  time`);
  for (const g of r.gates) {
    out(`  ${g.number}  ${g.title.padEnd(width)}  ${STATUS_LABEL[g.status].padEnd(9)}  ${formatMs(g.durationMs)}`);
    if (g.reason) out(`       ${g.status === 'failed' ? 'why' : 'note'}: ${g.reason}`);
    for (const e of g.evidence) out(`       - ${e}`);
    for (const w of g.warnings) out(`       warning: ${w}`);
  }
  const final = r.restore ?? r.verification;
  if (final) {
    out('verification report:');
    for (const e of final.entries) {
      // The checks ran in gate 2; the status is the entry's final one.
      const checks = r.verification?.entries.find((v) => v.name === e.name)?.verification?.checks ?? [];
      out(`  ${e.status.padEnd(15)} ${e.name} [${e.kind}]${e.target ? ` -> ${e.target}` : ''}`);
      for (const c of checks) {
        // Gate 2 checks without loading; after a real restore, say what gate 6 did instead.
        const detail =
          !r.dryRun && c.detail?.startsWith('dry run:')
            ? `checked in gate 2 without loading; ${e.status === 'restored' ? 'loaded by the restore (gate 6)' : `the restore: ${e.status}`}`
            : c.detail;
        out(`      ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}${detail ? `: ${detail}` : ''}`);
      }
    }
  }
  if (r.services.stopped) out(`services started again: ${r.services.restarted ? 'yes' : 'NO — check them now'}`);
  if (r.record) {
    out(`restore point: ${r.record.id} (${r.record.status}) — ${r.record.file}`);
    if (r.record.status === 'applied') {
      out(`  undo:  duplicati-kit restore-points rollback ${r.record.id}`);
      out(`  final: duplicati-kit restore-points drop ${r.record.id}   (drops the plan-B databases and safety copies)`);
    }
  }
  out(`${r.ok ? (r.dryRun ? 'dry run passed' : 'restored') : 'FAILED'} in ${formatMs(r.durationMs)}`);
}

/** Exit code of a checklist: the first failed gate decides. */
export function checklistExitCode(r: ChecklistReport): number {
  if (r.ok) return ExitCode.Success;
  const failed = r.gates.filter((g) => g.status === 'failed').sort((a, b) => (a.ranAs ?? 9) - (b.ranAs ?? 9))[0];
  if (!failed) return ExitCode.PlanFailed;
  if (failed.code && /CONNECTION|TIMEOUT|UNREACHABLE|AUTH/.test(failed.code)) return ExitCode.Unavailable;
  if (failed.id === 'identify') return failed.code === 'ERR_MANIFEST_MISSING' ? ExitCode.Usage : ExitCode.PlanFailed;
  if (failed.id === 'verify') return ExitCode.VerificationFailed;
  return ExitCode.PlanFailed;
}

/** `--allow-no-way-back NAME…` merged with `restore.allowNoWayBack`. */
function allowedOf(ctx: CliContext, cfg: LoadedConfig): boolean | readonly string[] | undefined {
  const configured = cfg.config.restore?.allowNoWayBack;
  const flag = ctx.flags['allow-no-way-back'] as string[] | undefined;
  if (configured === true) return true;
  const names = [...(Array.isArray(configured) ? configured : []), ...(flag ?? [])];
  return names.length ? names : undefined;
}

/** `duplicati-kit restore (--from DIR | --job NAME [--version N | --time ISO]) [--dry-run] …`. */
export const restoreCommand: CliCommand = {
  name: 'restore',
  summary:
    'Restore through the six-gate checklist: identify, verify, maintenance, way back, warn, restore with rollback',
  usage:
    'restore (--from DIR | --job NAME [--version N | --time ISO]) [--config FILE] [--dry-run] [--only NAME…] [--state-dir DIR]',
  options: {
    from: { type: 'string', valueName: 'DIR', description: 'Folder holding manifest.json and the artifacts' },
    job: { type: 'string', valueName: 'NAME', description: 'Restore a version of this Duplicati job (name or id)' },
    version: { type: 'string', valueName: 'N', description: 'Version number (0 = newest, the default)' },
    time: { type: 'string', valueName: 'ISO', description: 'The newest version at or before this time' },
    'dry-run': { type: 'boolean', description: 'Run gates 1-2, check gate 4, show what 3, 5 and 6 would do' },
    only: {
      type: 'string',
      multiple: true,
      valueName: 'NAME',
      description: 'Restore only this manifest source (repeatable)',
    },
    'state-dir': {
      type: 'string',
      valueName: 'DIR',
      description: 'Where restore records go (default: restore.stateDir, else $STATE_DIRECTORY/restores)',
    },
    staging: {
      type: 'string',
      valueName: 'DIR',
      description: "Where Duplicati restores the version's staged folder first (default: restore.stagingDir or /tmp)",
    },
    'keep-staging': { type: 'boolean', description: 'Keep the staged copy Duplicati restored' },
    'work-dir': {
      type: 'string',
      valueName: 'DIR',
      description: "The plan's work folder as Duplicati backs it up (default: the config's workDir)",
    },
    'skip-duplicati-verify': { type: 'boolean', description: "Skip Duplicati's verify of the job in gate 2" },
    'allow-no-way-back': {
      type: 'string',
      multiple: true,
      valueName: 'TARGET',
      description: 'Let this target overwrite although it cannot roll back (repeatable)',
    },
    finalize: { type: 'boolean', description: 'Drop the restore points right after a successful restore' },
    url: { type: 'string', valueName: 'URL', description: 'Duplicati server (default: $DUPLICATI_URL)' },
    'password-file': { type: 'string', valueName: 'FILE', description: 'File holding the Duplicati UI password' },
  },
  help: `Gates run in the order 1, 2, 4, 5, 3, 6: the way back is proven before any service is
stopped, and users are warned while Jellyfin can still show a message. Services are started
again whatever happens. On success the restore points (<db>_before_restore_<ts> databases,
safety copies) are kept: undo with 'restore-points rollback ID', make final with
'restore-points drop ID'. Maintenance commands come from restore.maintenance in the config
(argv arrays, run without a shell). Exit 0 restored (or dry run passed), 4 verification failed,
5 another gate failed, 6 a server was unreachable, 2 bad usage.`,
  async run(ctx) {
    const from =
      typeof ctx.flags.from === 'string' && ctx.flags.from ? path.resolve(ctx.cwd, ctx.flags.from) : undefined;
    const job = typeof ctx.flags.job === 'string' && ctx.flags.job ? ctx.flags.job : undefined;
    if ((from === undefined) === (job === undefined)) {
      throw new ConfigError('give --from DIR or --job NAME (one of them)', [
        { path: '--from', message: 'a folder holding manifest.json, or --job for a Duplicati version' },
      ]);
    }
    const version = versionFlag(ctx);
    const time = timeFlag(ctx);
    if (version !== undefined && time !== undefined) {
      throw new ConfigError('give --version or --time, not both', [{ path: '--time', message: 'drop one' }]);
    }
    if (from && (version !== undefined || time !== undefined)) {
      throw new ConfigError('--version and --time go with --job', [{ path: '--version', message: 'drop it' }]);
    }
    const cfg = await contextConfig(ctx);
    if (cfg.targets.length === 0) {
      throw new ConfigError('the config has no restore targets', [
        { path: 'restore.targets', message: 'add at least one target' },
      ]);
    }
    const { maintenance, jellyfin } = await maintenanceOf(ctx, cfg);
    const only = ctx.flags.only as string[] | undefined;
    const allow = allowedOf(ctx, cfg);
    const configuredStaging = cfg.config.restore?.stagingDir;
    const staging =
      typeof ctx.flags.staging === 'string'
        ? path.resolve(ctx.cwd, ctx.flags.staging)
        : configuredStaging && path.resolve(path.dirname(cfg.file), configuredStaging);
    const workFlag = ctx.flags['work-dir'];
    const progress = progressPrinter(ctx);
    const { restoreWithChecklist } = await import('../../ops/checklist-restore.js');
    // The Duplicati client (and axios) only for a restore from a Duplicati version.
    const duplicatiCli = job ? await import('./duplicati.js') : undefined;
    try {
      const report = await restoreWithChecklist({
        targets: cfg.targets,
        ...(from ? { from } : {}),
        ...(job && duplicatiCli
          ? {
              duplicati: {
                client: duplicatiCli.clientFromContext(ctx, duplicatiCli.serverOf(cfg)),
                job,
                workDir: typeof workFlag === 'string' ? workFlag : cfg.config.workDir,
                ...(ctx.flags['skip-duplicati-verify'] === true ? { verify: false } : {}),
                ...(version !== undefined ? { version } : {}),
                ...(time !== undefined ? { time } : {}),
              },
            }
          : {}),
        ...(staging ? { stagingDir: staging } : {}),
        keepStaging: ctx.flags['keep-staging'] === true,
        stateDir: stateDirOf(ctx, cfg),
        maintenance,
        notifiers: cfg.notifiers,
        ...(jellyfin ? { jellyfin } : {}),
        ...(allow !== undefined ? { allowNoWayBack: allow } : {}),
        finalize: ctx.flags.finalize === true,
        dryRun: ctx.flags['dry-run'] === true,
        ...(only?.length ? { only } : {}),
        signal: ctx.signal,
        logger: ctx.logger,
        ...(progress.onProgress ? { onProgress: progress.onProgress } : {}),
      });
      progress.done();
      printChecklist(ctx, report);
      return checklistExitCode(report);
    } finally {
      progress.done();
    }
  },
};

/** Target types whose `keepSafetyCopy` would make `finalize` keep the plan-B copy. */
const KEEPS_SAFETY_COPY = new Set(['postgres', 'immich-database', 'mysql', 'archive', 'nginx']);

/** What the CLI hands the targets it builds itself. */
function buildExtras(ctx: CliContext): BuildExtras {
  const toolVersions = cliToolVersions(ctx);
  return toolVersions ? { toolVersions } : {};
}

/** The config's targets, rebuilt so `finalize` really drops the restore points. */
async function dropTargets(cfg: LoadedConfig, extras: BuildExtras): Promise<RestoreTarget[]> {
  const entries = cfg.config.restore?.targets ?? [];
  const out: RestoreTarget[] = [];
  for (const [i, raw] of entries.entries()) {
    const typed = typeof raw === 'object' && raw !== null && typeof (raw as TypedEntry).type === 'string';
    if (typed && KEEPS_SAFETY_COPY.has((raw as TypedEntry).type)) {
      out.push(await buildTarget({ ...(raw as TypedEntry), keepSafetyCopy: false } as TypedEntry, extras));
    } else {
      out.push(cfg.targets[i] as RestoreTarget);
    }
  }
  return out;
}

function printRecords(ctx: CliContext, records: readonly RestoreRecord[], stateDir: string): void {
  if (ctx.json) {
    printJson(ctx.stdout, { stateDir, restorePoints: records });
    return;
  }
  const out = (s: string) => ctx.stdout.write(`${s}\n`);
  if (records.length === 0) {
    out(`no restore points in ${stateDir}`);
    return;
  }
  for (const r of records) {
    const src =
      r.source.type === 'duplicati' ? `"${r.source.job}" v${r.source.version} (${r.source.time})` : r.source.from;
    out(`${r.id}  ${r.status.padEnd(15)} ${src}`);
    for (const t of r.targets) {
      out(
        `    ${t.state.padEnd(15)} ${t.name} [${t.kind}]${t.output.safetyCopy ? `  way back: ${t.output.safetyCopy}` : ''}`,
      );
    }
  }
}

function printAction(ctx: CliContext, what: string, r: RestorePointActionResult): void {
  if (ctx.json) {
    printJson(ctx.stdout, r);
    return;
  }
  if (r.alreadyDone) {
    ctx.stdout.write(`restore point ${r.record.id} is already ${r.record.status}: nothing to do\n`);
    return;
  }
  ctx.stdout.write(`${what} ${r.record.id}: ${r.record.status}\n`);
  for (const t of r.record.targets) {
    ctx.stdout.write(`  ${t.state.padEnd(15)} ${t.name} [${t.kind}]${t.error ? ` — ${t.error}` : ''}\n`);
  }
}

/** `duplicati-kit restore-points list | rollback ID | drop ID`. */
export const restorePointsCommand: CliCommand = {
  name: 'restore-points',
  summary: 'List the restore points gated restores kept; roll one back, or drop it (its plan-B databases and copies)',
  usage: 'restore-points list | rollback ID [--force] | drop ID   [--config FILE] [--state-dir DIR]',
  options: {
    'state-dir': {
      type: 'string',
      valueName: 'DIR',
      description: 'Where restore records are (default: restore.stateDir, else $STATE_DIRECTORY/restores)',
    },
    force: { type: 'boolean', description: 'rollback: even though a newer restore was applied on top' },
  },
  help: `rollback puts back what the restore replaced (renames <db>_before_restore_<ts> back, puts safety
copies back), newest target first; it refuses while a newer applied restore of the same targets
exists (roll that one back first). drop makes a restore final: it drops the plan-B databases
(<db>_before_restore_<ts>, also Immich's, which are otherwise kept) and the safety copies.
The targets are rebuilt from the config and matched by name. Rolling back a point already rolled
back (or dropping one already dropped) does nothing and exits 0; any other state it cannot act on
(e.g. rolling back a dropped point: its way back is gone) exits 1 naming the state.`,
  async run(ctx) {
    const [sub, id] = ctx.positionals;
    const cfg = await contextConfig(ctx);
    const stateDir = stateDirOf(ctx, cfg);
    const ops = await import('../../ops/restore-points.js');
    if (sub === 'list' || sub === undefined) {
      printRecords(ctx, await ops.listRestorePoints({ stateDir, signal: ctx.signal, logger: ctx.logger }), stateDir);
      return ExitCode.Success;
    }
    if ((sub !== 'rollback' && sub !== 'drop') || !id) {
      throw new ConfigError(`unknown restore-points action "${[sub, id].filter(Boolean).join(' ')}"`, [
        { path: 'action', message: 'list | rollback ID | drop ID' },
      ]);
    }
    const common = { stateDir, id, signal: ctx.signal, logger: ctx.logger };
    const result =
      sub === 'rollback'
        ? await ops.rollbackRestore({ ...common, targets: cfg.targets, force: ctx.flags.force === true })
        : await ops.dropRestorePoints({ ...common, targets: await dropTargets(cfg, buildExtras(ctx)) });
    printAction(ctx, sub === 'rollback' ? 'rolled back' : 'dropped', result);
    return result.ok ? ExitCode.Success : ExitCode.PlanFailed;
  },
};
