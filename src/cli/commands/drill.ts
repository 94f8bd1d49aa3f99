/**
 * `duplicati-kit drill`: a restore drill of one Duplicati job against the config's restore
 * targets, forced into scratch mode. Exit 0 on pass, 4 on fail.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../core/errors.js';
import type { DrillResult } from '../../ops/drill.js';
import { restoreDrill } from '../../ops/drill.js';
import { drillKind } from '../../ops/drill-report.js';
import { DRILL_STATE, type TypedEntry } from '../../app/config.js';
import { buildTarget } from '../../app/registry.js';
import type { RestoreTarget } from '../../contracts/types.js';
import { ExitCode } from '../exit-codes.js';
import { formatBytes, formatMs, printJson } from '../output.js';
import type { CliCommand, CliContext } from '../types.js';
import { clientFromContext, serverOf } from './duplicati.js';
import { timeFlag, versionFlag } from './flags.js';
import { contextConfig } from './plan.js';

/**
 * The config's restore targets, rebuilt so that a restore step can only write into `scratchDir`:
 * databases get `scratch: true` (a throwaway database or copy), folder targets a `dest` inside the
 * scratch folder. Targets that cannot be redirected are left out with a note, never used live.
 * `allScratch` is false when an instance (an `.mjs` config) is used as given: it is then only
 * verified unless it shows it is in scratch mode.
 */
export async function drillTargets(
  entries: readonly unknown[],
  built: readonly RestoreTarget[],
  scratchDir: string,
): Promise<{ targets: RestoreTarget[]; notes: string[]; allScratch: boolean }> {
  const targets: RestoreTarget[] = [];
  const notes: string[] = [];
  let allScratch = true;
  const into = (i: number, what: string) => path.join(scratchDir, 'targets', `${i}-${what}`);
  for (const [i, raw] of entries.entries()) {
    const isTyped = typeof raw === 'object' && raw !== null && typeof (raw as TypedEntry).type === 'string';
    if (!isTyped) {
      const t = built[i] as RestoreTarget;
      notes.push(`target ${t.name} is an instance: it must have been built with scratch: true; checks only`);
      targets.push(t);
      allScratch = false;
      continue;
    }
    const e = raw as TypedEntry;
    const build = (over: Record<string, unknown>) => buildTarget({ ...e, ...over } as TypedEntry);
    switch (e.type) {
      case 'directory':
        // The drill restores only the staged work folder; folders Duplicati backs up directly are
        // not restored, so a directory target would check the live folders, not the backup.
        notes.push(`target ${i} (directory) left out: a drill restores only the staged work folder`);
        break;
      case 'immich-library':
        // Same reason; the Immich database target's consistency check covers the library instead.
        notes.push(
          `target ${i} (immich-library) left out: the library is not restored in a drill; the immich-database target checks it against the version's files`,
        );
        break;
      case 'sqlite':
        targets.push(await build({ scratch: true, scratchDir }));
        break;
      case 'postgres':
      case 'immich-database':
      case 'mysql':
      case 'mongodb':
        targets.push(await build({ scratch: true }));
        break;
      case 'archive':
        targets.push(await build({ dest: into(i, 'archive'), overwrite: false }));
        break;
      case 'nginx':
        // Unpacked into scratch; `nginx -t` of a config moved away from its prefix proves little,
        // the gated restore's gate 2 runs it on the real layout.
        targets.push(
          await build({
            configDir: into(i, 'nginx'),
            ...(e.letsencryptDir ? { letsencryptDir: into(i, 'letsencrypt') } : {}),
            ...(e.extraCertsDir ? { extraCertsDir: into(i, 'certs') } : {}),
            overwrite: false,
            testConfig: false,
          }),
        );
        break;
      case 'jellyfin': {
        const db = (e.database ?? {}) as Record<string, unknown>;
        const cfg = e.config as Record<string, unknown> | undefined;
        targets.push(
          await build({
            database: { ...db, scratch: true, scratchDir },
            ...(cfg ? { config: { ...cfg, dest: into(i, 'jellyfin-config') } } : {}),
          }),
        );
        break;
      }
      default:
        notes.push(`target ${i} (${e.type}) left out: no scratch mode known`);
    }
  }
  return { targets, notes, allScratch };
}

/** Where evidence goes without `--evidence`: systemd's StateDirectory, XDG state, or ~/.local/state. */
export function defaultEvidenceDir(env: Readonly<Record<string, string | undefined>>): string {
  const state = env.STATE_DIRECTORY?.split(':')[0];
  if (state) return path.join(state, 'drills');
  const xdg = env.XDG_STATE_HOME;
  return path.join(xdg || path.join(os.homedir(), '.local', 'state'), 'duplicati-kit', 'drills');
}

/** Where drills scheduled as system units keep evidence (`StateDirectory=duplicati-kit`). */
export const SYSTEM_EVIDENCE_DIR = path.join('/var/lib', DRILL_STATE, 'drills');

/**
 * Where `status` looks without `--evidence`: this environment's default (as for `drill`), then
 * the system units' state folder — so a drill run by a timer is found from an interactive shell.
 */
export function evidenceDirCandidates(env: Readonly<Record<string, string | undefined>>): string[] {
  return [...new Set([defaultEvidenceDir(env), SYSTEM_EVIDENCE_DIR])];
}

function printDrill(ctx: CliContext, d: DrillResult, notes: readonly string[]): void {
  if (ctx.json) {
    printJson(ctx.stdout, { ...d, notes });
    return;
  }
  const out = (s: string) => ctx.stdout.write(`${s}\n`);
  out(`restore drill of ${d.job.name}: ${d.verdict.toUpperCase()}`);
  out(`  version ${d.version ?? '?'}${d.versionTime ? ` (${d.versionTime})` : ''}, mode ${d.mode}`);
  out(`  ${drillKind(d.mode)}`);
  if (d.duplicati) {
    out(`  Duplicati restore: ${d.duplicati.result}, ${d.restoredFiles} file(s), ${formatBytes(d.restoredBytes)}`);
  }
  out(`  checksums: ${d.checksums.filter((c) => c.ok).length}/${d.checksums.length} ok`);
  for (const e of d.entries) {
    out(`  ${e.status.padEnd(12)} ${e.name} [${e.kind}]${e.target ? ` -> ${e.target}` : ''}`);
    for (const c of e.checks.filter((x) => !x.ok)) out(`      ${c.name}: ${c.detail ?? 'failed'}`);
  }
  for (const c of d.consistency) {
    out(`  ${`check ${c.status}`.padEnd(12)} ${c.name}: ${c.detail}`);
  }
  for (const n of notes) out(`  note: ${n}`);
  // A failed check is already printed above with its detail (and its missing paths): once is enough.
  const shown = new Set(d.consistency.map((c) => `${c.name}: ${c.detail}`));
  for (const x of d.errors) if (!shown.has(x)) out(`  problem: ${x}`);
  out(
    `  restore ${formatMs(d.durations.restoreMs)}, verify ${formatMs(d.durations.verifyMs)}, checks ${formatMs(d.durations.checksMs)}, total ${formatMs(d.durations.totalMs)}`,
  );
  if (d.files) out(`  evidence: ${d.files.json}\n            ${d.files.markdown}`);
  if (d.scratch.kept) out(`  scratch kept: ${d.scratch.dir}`);
}

/** `duplicati-kit drill --job NAME [--version N | --time ISO] [--scratch DIR] [--keep] [--evidence DIR]`. */
export const drillCommand: CliCommand = {
  name: 'drill',
  summary: 'Restore a Duplicati version into scratch targets and prove it: checksums, integrity, counts',
  usage: 'drill --job NAME [--version N | --time ISO] [--config FILE] [--scratch DIR] [--keep] [--evidence DIR]',
  options: {
    job: { type: 'string', valueName: 'NAME', description: 'The Duplicati job (name or id)' },
    version: { type: 'string', valueName: 'N', description: 'Version to drill (0 = newest, the default)' },
    time: { type: 'string', valueName: 'ISO', description: 'Drill the newest version at or before this time' },
    'work-dir': {
      type: 'string',
      valueName: 'DIR',
      description: "The plan's work folder as Duplicati backs it up (default: the config's workDir)",
    },
    scratch: { type: 'string', valueName: 'DIR', description: 'Scratch folder (default: the system temp folder)' },
    keep: { type: 'boolean', description: 'Keep the restored files in the scratch folder' },
    evidence: {
      type: 'string',
      valueName: 'DIR',
      description: 'Where drill-<time>.json/.md and last-drill.json go (default: $STATE_DIRECTORY/drills)',
    },
    'no-load': {
      type: 'boolean',
      description: 'Verify the files only: do not load the dumps into throwaway databases (config: drill.load: false)',
    },
    'checks-only': { type: 'boolean', description: 'Same as --no-load (older name)' },
    url: { type: 'string', valueName: 'URL', description: 'Duplicati server (default: $DUPLICATI_URL)' },
    'password-file': { type: 'string', valueName: 'FILE', description: 'File holding the Duplicati UI password' },
  },
  help: `By default the drill loads every dump into a throwaway target and checks it: the config's
restore.targets are rebuilt in scratch mode (sqlite, postgres, mysql, mongodb and immich-database
targets get scratch: true, a throwaway database or copy; archive, nginx and Jellyfin config parts
unpack into the scratch folder), and immich-database targets run their consistency check (every
asset the database references must be a file of the version; with drillCheck.libraryJob, of the
photo job's version taken at or after it). --no-load (config drill.load: false) only verifies the
files. Targets given as instances in an .mjs config must set scratch: true themselves and are
only verified. The evidence says which kind of drill ran. Config defaults: drill.evidenceDir,
drill.scratchDir, drill.load. A failed drill notifies the config's notifiers. Exit 0 on pass, 4 on fail.`,
  async run(ctx) {
    const job = ctx.flags.job;
    if (typeof job !== 'string' || !job) {
      throw new ConfigError('--job NAME is required', [{ path: '--job', message: 'the Duplicati job to drill' }]);
    }
    const version = versionFlag(ctx);
    const time = timeFlag(ctx);
    if (version !== undefined && time !== undefined) {
      throw new ConfigError('give --version or --time, not both', [{ path: '--time', message: 'drop one' }]);
    }
    const cfg = await contextConfig(ctx);
    const entries = cfg.config.restore?.targets ?? [];
    if (entries.length === 0) {
      throw new ConfigError('the config has no restore targets to drill with', [
        { path: 'restore.targets', message: 'add at least one target' },
      ]);
    }
    const d = cfg.config.drill ?? {};
    const configDir = path.dirname(cfg.file);
    const scratchBase =
      typeof ctx.flags.scratch === 'string'
        ? path.resolve(ctx.cwd, ctx.flags.scratch)
        : d.scratchDir
          ? path.resolve(configDir, d.scratchDir)
          : os.tmpdir();
    // One folder per run, so the rebuilt targets' paths never meet a previous drill's leftovers.
    const scratchDir = path.join(scratchBase, `duplicati-kit-drill-${randomBytes(4).toString('hex')}`);
    const { targets, notes, allScratch } = await drillTargets(entries, cfg.targets, scratchDir);
    const workFlag = ctx.flags['work-dir'];
    const workDir = typeof workFlag === 'string' ? workFlag : cfg.config.workDir;
    const evidenceDir =
      typeof ctx.flags.evidence === 'string'
        ? path.resolve(ctx.cwd, ctx.flags.evidence)
        : d.evidenceDir
          ? path.resolve(configDir, d.evidenceDir)
          : defaultEvidenceDir(ctx.env);
    const load = ctx.flags['no-load'] !== true && ctx.flags['checks-only'] !== true && d.load !== false;
    const result = await restoreDrill({
      client: clientFromContext(ctx, serverOf(cfg)),
      job,
      targets,
      scratchDir,
      workDir,
      evidenceDir,
      notifiers: cfg.notifiers,
      scratchRestore: load && allScratch,
      keep: ctx.flags.keep === true,
      signal: ctx.signal,
      logger: ctx.logger,
      ...(version !== undefined ? { version } : {}),
      ...(time !== undefined ? { time } : {}),
    });
    if (ctx.flags.keep !== true) await rm(scratchDir, { recursive: true, force: true });
    printDrill(ctx, result, notes);
    return result.ok ? ExitCode.Success : ExitCode.VerificationFailed;
  },
};
