/**
 * Config files for the CLI and hooks: YAML, JSON, or an `.mjs` module exporting
 * `defineConfig(...)`. Validated with zod; every bad field is reported with its path.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { throwIfAborted } from '../core/abort.js';
import { ConfigError, type ConfigIssue, isConfigError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { type BackupPlan, createBackupPlan } from '../plan/backup-plan.js';
import { createRestorePlan, type RestorePlan } from '../plan/restore-plan.js';
import type { Notifier } from '../contracts/notifier.js';
import { type RetentionPolicy, retentionPolicySchema } from '../ops/retention.js';
import type { SystemdSchedule } from '../ops/systemd.js';
import { parseDuplicatiTimespan } from '../hooks/protocol.js';
import type { BackupSource, RestoreTarget } from '../contracts/types.js';
import {
  type BuildExtras,
  buildNotifier,
  buildSource,
  buildTarget,
  notifierTypes,
  sourceTypes,
  targetTypes,
} from './registry.js';
import type { ToolVersionCache } from '../core/tool-versions.js';
import { parseUserText } from './parse-text.js';

/** A source or target written as data: `type` picks the class, the rest are its options. */
export interface TypedEntry {
  readonly type: string;
  readonly [option: string]: unknown;
}

/** The Duplicati server the CLI talks to. The password comes from a file or the environment, never the config. */
export interface DuplicatiServerConfig {
  readonly url: string;
  /** File holding the UI password (the docker `_FILE` convention). */
  readonly passwordFile?: string;
  /** Name of an environment variable holding the password. @default 'DUPLICATI_PASSWORD' */
  readonly passwordEnv?: string;
}

/** The config file's shape. In `.mjs` configs, sources and targets may be instances. */
export interface DuplicatiKitConfig {
  /** Staging folder the backup plan owns; Duplicati backs it up. */
  readonly workDir: string;
  readonly sources: readonly (TypedEntry | BackupSource)[];
  /** How many sources prepare at once. @default 1 */
  readonly concurrency?: number;
  /** How long to wait for another run's lock. @default 0 */
  readonly lockWaitMs?: number;
  readonly restore?: {
    readonly targets: readonly (TypedEntry | RestoreTarget)[];
    /** Where `duplicati-kit restore` keeps restore records. @default $STATE_DIRECTORY/restores or ~/.local/state/duplicati-kit/restores */
    readonly stateDir?: string;
    /** Where a Duplicati version's staged folder is restored first. @default the OS temp folder */
    readonly stagingDir?: string;
    /** Targets allowed to overwrite without a way back (`true`: all). @default none */
    readonly allowNoWayBack?: boolean | readonly string[];
    /** The maintenance window (gate 3) and the Jellyfin session message (gate 5). */
    readonly maintenance?: RestoreMaintenanceConfig;
  };
  readonly duplicati?: DuplicatiServerConfig;
  /**
   * Who starts the backup jobs. `systemd`: `jobs apply` writes no Duplicati schedule (it removes
   * one the server holds) and `duplicati-kit systemd` generates the `run` timers of `schedules`.
   * `duplicati`: Duplicati's own schedules run the jobs and `systemd` generates no `run` timer.
   * Unset: both are written as given, and an overlap is warned about.
   */
  readonly scheduler?: 'systemd' | 'duplicati';
  /** Defaults of `duplicati-kit drill`. */
  readonly drill?: DrillConfig;
  /** Where notifications go (`type: ntfy | healthchecks | webhook`, or Notifier instances). */
  readonly notify?: readonly (TypedEntry | Notifier)[];
  /** Dated local copies of the staged dumps (copy 2 of 3-2-1) and how long to keep them. */
  readonly localCopies?: { readonly dir: string; readonly keep: RetentionPolicy };
  /**
   * systemd timers for `duplicati-kit systemd`: each runs `duplicati-kit --config <this file> <args…>`
   * (or `exec`, an absolute argv) on `onCalendar`.
   */
  readonly schedules?: readonly ScheduleConfig[];
  /** Settings of `duplicati-kit status --audit` (Duplicati timespans: `26h`, `1D`, `30s`). */
  readonly audit?: AuditConfig;
  /** Settings of `duplicati-kit serve`, `report` and `metrics` (see docs/dashboard.md). */
  readonly dashboard?: DashboardConfig;
  /** Settings of `duplicati-kit hook`. */
  readonly hook?: {
    /** Stop the Duplicati backup when any source fails. @default true */
    readonly stopOnFailure?: boolean;
    /** Duplicati operations to act on. @default ['Backup'] */
    readonly operations?: readonly string[];
    /** Remove the staged dumps after the backup. @default true */
    readonly cleanupAfter?: boolean;
  };
}

/** The config's `drill` section: defaults of `duplicati-kit drill` (its flags override them). */
export interface DrillConfig {
  /** Where the evidence goes. @default $STATE_DIRECTORY/drills or ~/.local/state/duplicati-kit/drills */
  readonly evidenceDir?: string;
  /** Where the throwaway copies go. @default the system temp folder */
  readonly scratchDir?: string;
  /** Load the dumps into throwaway databases (false: verify the files only, `--no-load`). @default true */
  readonly load?: boolean;
}

/** The config's `audit` section. */
export interface AuditConfig {
  /** Duplicati jobs to audit (names or ids). @default every job on the server */
  readonly jobs?: readonly string[];
  /** Oldest acceptable last successful run. @default from each job's schedule */
  readonly maxAge?: string;
  /** Oldest acceptable newest local copy. @default from the jobs' schedules */
  readonly localCopyMaxAge?: string;
  /** How late a scheduled run may be. @default '1h' */
  readonly grace?: string;
  /** The Duplicati server's time zone (IANA). @default this host's */
  readonly timeZone?: string;
  /** Limit of each source's preflight check. @default '30s' */
  readonly checkTimeout?: string;
  /** Re-hash the newest local copy against its manifest. @default true */
  readonly verifyLocalCopy?: boolean;
  /**
   * One rule waived per job, e.g. `{ job: Immich photos, rule: job.hooks, reason: files only }`:
   * it passes and the report says it is exempt and what it would have been.
   */
  readonly exempt?: readonly { readonly job: string; readonly rule: string; readonly reason?: string }[];
}

/** The config's `dashboard` section. Passwords come from files or the environment, never the config. */
export interface DashboardConfig {
  /** Duplicati servers to show, each with a name. @default the `duplicati` server, named `duplicati` */
  readonly servers?: readonly (DuplicatiServerConfig & { readonly name: string })[];
  /** Folders holding drill evidence. @default as for `duplicati-kit status` */
  readonly evidenceDirs?: readonly string[];
  /** How often the data is read again (Duplicati timespan). @default '5m' */
  readonly refresh?: string;
  /** Days of job history to read. @default 365 */
  readonly historyDays?: number;
  /** Re-hash the newest local copy on every refresh. @default false */
  readonly verifyLocalCopy?: boolean;
  /** Address to bind. Anything but loopback needs a token. @default '127.0.0.1' */
  readonly host?: string;
  /** @default 8300 */
  readonly port?: number;
  /** File holding the access token (at least 16 characters). */
  readonly tokenFile?: string;
}

/** `StateDirectory=` of scheduled drills: `/var/lib/duplicati-kit` for system units. */
export const DRILL_STATE = 'duplicati-kit';

/** An app's API for a restore; the key comes from a file or an environment variable, never the config. */
export interface AppApiConfig {
  readonly url: string;
  readonly apiKeyFile?: string;
  /** @default 'IMMICH_API_KEY' / 'JELLYFIN_API_KEY' */
  readonly apiKeyEnv?: string;
}

/** `restore.maintenance`: what `duplicati-kit restore` stops and starts (argv arrays, no shell). */
export interface RestoreMaintenanceConfig {
  readonly stop?: readonly (readonly string[])[];
  readonly start?: readonly (readonly string[])[];
  /** @default 300000 */
  readonly commandTimeoutMs?: number;
  /** Pause Immich's job queues during the restore. */
  readonly immich?: AppApiConfig;
  /** Jellyfin's stop/start commands, and its API (`url`) for the session message. */
  readonly jellyfin?: Partial<AppApiConfig> & {
    readonly stop?: readonly string[];
    readonly start?: readonly string[];
  };
}

/** A schedule in a config file: {@link SystemdSchedule} with the command given as CLI arguments. */
export type ScheduleConfig = Omit<SystemdSchedule, 'command'> & {
  /** duplicati-kit arguments, e.g. `['run', 'Immich files', '--wait']`. */
  readonly args?: readonly string[];
  /** Or an absolute argv to run instead. */
  readonly exec?: readonly string[];
};

/**
 * Type helper for `.mjs`/`.ts` config files.
 *
 * @example
 * ```ts
 * // duplicati-kit.config.mjs
 * import { defineConfig, DirectorySource } from 'duplicati-kit';
 * export default defineConfig({
 *   workDir: '/srv/backup/staging',
 *   sources: [new DirectorySource({ name: 'photos', paths: ['/srv/photos'] })],
 * });
 * ```
 */
export function defineConfig(config: DuplicatiKitConfig): DuplicatiKitConfig {
  return config;
}

const isInstance = (v: unknown, method: string) =>
  typeof v === 'object' && v !== null && typeof (v as Record<string, unknown>)[method] === 'function';

const typed = (known: () => string[]) =>
  z
    .object({ type: z.string() })
    .passthrough()
    .superRefine((v, ctx) => {
      if (!known().includes(v.type)) {
        ctx.addIssue({
          code: 'custom',
          path: ['type'],
          message: `unknown type "${v.type}" (known: ${known().join(', ')})`,
        });
      }
    });

const timespan = z.string().refine((t) => (parseDuplicatiTimespan(t) ?? 0) > 0, 'a Duplicati timespan, e.g. 26h or 1D');

const argvSchema = z.array(z.string().min(1)).min(1, 'an argv array, e.g. [systemctl, stop, jellyfin]');
const apiSchema = {
  url: z.string().url(),
  apiKeyFile: z.string().min(1).optional(),
  apiKeyEnv: z.string().min(1).optional(),
};
const restoreMaintenanceSchema = z
  .object({
    stop: z.array(argvSchema).optional(),
    start: z.array(argvSchema).optional(),
    commandTimeoutMs: z.number().int().min(1).optional(),
    immich: z.object(apiSchema).strict().optional(),
    jellyfin: z
      .object({
        ...apiSchema,
        url: apiSchema.url.optional(),
        stop: argvSchema.optional(),
        start: argvSchema.optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const serverSchema = z
  .object({
    url: z.string().url(),
    passwordFile: z.string().min(1).optional(),
    passwordEnv: z.string().min(1).optional(),
  })
  .strict();

const configSchema = z
  .object({
    workDir: z
      .string()
      .min(1)
      .refine((p) => path.isAbsolute(p), 'must be an absolute path'),
    sources: z
      .array(z.union([z.custom<BackupSource>((v) => isInstance(v, 'prepare')), typed(sourceTypes)]))
      .min(1, 'at least one source is needed'),
    concurrency: z.number().int().min(1).max(64).optional(),
    lockWaitMs: z.number().int().min(0).optional(),
    restore: z
      .object({
        targets: z.array(z.union([z.custom<RestoreTarget>((v) => isInstance(v, 'restore')), typed(targetTypes)])),
        stateDir: z.string().min(1).optional(),
        stagingDir: z.string().min(1).optional(),
        allowNoWayBack: z.union([z.boolean(), z.array(z.string().min(1))]).optional(),
        maintenance: restoreMaintenanceSchema.optional(),
      })
      .strict()
      .optional(),
    duplicati: serverSchema.optional(),
    scheduler: z.enum(['systemd', 'duplicati']).optional(),
    drill: z
      .object({
        evidenceDir: z.string().min(1).optional(),
        scratchDir: z.string().min(1).optional(),
        load: z.boolean().optional(),
      })
      .strict()
      .optional(),
    notify: z.array(z.union([z.custom<Notifier>((v) => isInstance(v, 'notify')), typed(notifierTypes)])).optional(),
    localCopies: z
      .object({
        dir: z.string().refine((p) => path.isAbsolute(p), 'must be an absolute path'),
        keep: retentionPolicySchema,
      })
      .strict()
      .optional(),
    schedules: z
      .array(
        z
          .object({
            name: z.string(),
            onCalendar: z.unknown(),
            args: z.array(z.string()).optional(),
            exec: z.array(z.string()).optional(),
          })
          .passthrough()
          .refine((s) => (s.args === undefined) !== (s.exec === undefined), {
            message: 'give exactly one of args or exec',
            path: ['args'],
          }),
      )
      .optional(),
    audit: z
      .object({
        jobs: z.array(z.string().min(1)).optional(),
        maxAge: timespan.optional(),
        localCopyMaxAge: timespan.optional(),
        grace: timespan.optional(),
        timeZone: z.string().min(1).optional(),
        checkTimeout: timespan.optional(),
        exempt: z
          .array(z.object({ job: z.string().min(1), rule: z.string().min(1), reason: z.string().optional() }).strict())
          .optional(),
        verifyLocalCopy: z.boolean().optional(),
      })
      .strict()
      .optional(),
    dashboard: z
      .object({
        servers: z
          .array(
            z
              .object({
                name: z
                  .string()
                  .min(1)
                  .regex(/^[\w.-]+$/, 'letters, digits, dot, dash or underscore'),
                url: z.string().url(),
                passwordFile: z.string().min(1).optional(),
                passwordEnv: z.string().min(1).optional(),
              })
              .strict(),
          )
          .min(1)
          .refine((a) => new Set(a.map((x) => x.name)).size === a.length, 'server names must be unique')
          .optional(),
        evidenceDirs: z.array(z.string().min(1)).optional(),
        refresh: timespan.optional(),
        historyDays: z.number().int().min(1).max(3660).optional(),
        verifyLocalCopy: z.boolean().optional(),
        host: z.string().min(1).optional(),
        port: z.number().int().min(0).max(65_535).optional(),
        tokenFile: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    hook: z
      .object({
        stopOnFailure: z.boolean().optional(),
        operations: z.array(z.string().min(1)).optional(),
        cleanupAfter: z.boolean().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** A loaded, validated config with the plans it describes. */
export interface LoadedConfig {
  readonly file: string;
  readonly config: DuplicatiKitConfig;
  readonly sources: readonly BackupSource[];
  readonly targets: readonly RestoreTarget[];
  readonly notifiers: readonly Notifier[];
  /** systemd schedules with their full command (`cli` is the argv prefix that runs duplicati-kit). */
  schedules(cli: readonly string[]): SystemdSchedule[];
  backupPlan(options?: { logger?: Logger }): BackupPlan;
  restorePlan(options?: { logger?: Logger }): RestorePlan;
}

async function readRaw(file: string, signal?: AbortSignal): Promise<unknown> {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.mjs' || ext === '.js') {
    const mod = (await import(pathToFileURL(file).href)) as { default?: unknown };
    if (mod.default === undefined) {
      throw new ConfigError(`${file} has no default export`, [
        { path: '', message: 'export default defineConfig({...})' },
      ]);
    }
    return mod.default;
  }
  const text = await fsp.readFile(file, { encoding: 'utf8', ...(signal ? { signal } : {}) });
  // Positions only: the text around an error may be a password.
  return parseUserText(text, ext === '.json' ? 'json' : 'yaml', file);
}

/**
 * Validate a config object (as read from a file or built in code) and build its sources and
 * targets. Every problem is collected into one ConfigError.
 */
export async function resolveConfig(raw: unknown, file = '(inline)', extras: BuildExtras = {}): Promise<LoadedConfig> {
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      `invalid config ${file}`,
      parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
    );
  }
  const config = parsed.data as DuplicatiKitConfig;
  const issues: ConfigIssue[] = [];
  const build = async <T>(
    entry: unknown,
    at: string,
    make: (e: TypedEntry, extras: BuildExtras) => Promise<T>,
    method: string,
  ): Promise<T | undefined> => {
    if (isInstance(entry, method)) return entry as T;
    try {
      return await make(entry as TypedEntry, extras);
    } catch (e) {
      if (!isConfigError(e)) throw e;
      if (e.issues.length === 0) issues.push({ path: at, message: e.message });
      for (const i of e.issues) issues.push({ path: [at, i.path].filter(Boolean).join('.'), message: i.message });
      return undefined;
    }
  };
  const sources: BackupSource[] = [];
  for (const [i, s] of config.sources.entries()) {
    const built = await build(s, `sources.${i}`, buildSource, 'prepare');
    if (built) sources.push(built);
  }
  const targets: RestoreTarget[] = [];
  for (const [i, t] of (config.restore?.targets ?? []).entries()) {
    const built = await build(t, `restore.targets.${i}`, buildTarget, 'restore');
    if (built) targets.push(built);
  }
  const notifiers: Notifier[] = [];
  for (const [i, n] of (config.notify ?? []).entries()) {
    const built = await build(n, `notify.${i}`, buildNotifier, 'notify');
    if (built) notifiers.push(built);
  }
  const schedules = (cli: readonly string[]): SystemdSchedule[] =>
    (config.schedules ?? []).map((sc) => {
      const { args, exec, ...rest } = sc;
      // A drill keeps its evidence in $STATE_DIRECTORY/drills, where `status` looks for it.
      const state = args?.[0] === 'drill' && rest.stateDirectory === undefined ? { stateDirectory: DRILL_STATE } : {};
      return {
        ...rest,
        ...state,
        command: exec ? [...exec] : [...cli, '--config', file, ...(args ?? [])],
      } as SystemdSchedule;
    });
  // Render every schedule once so a bad one is reported now, with its path.
  if (config.schedules?.length) {
    const { renderSystemdUnits } = await import('../ops/systemd.js');
    for (const [i, sc] of schedules(['/usr/bin/duplicati-kit']).entries()) {
      try {
        renderSystemdUnits(sc);
      } catch (e) {
        if (!isConfigError(e)) throw e;
        for (const x of e.issues)
          issues.push({ path: [`schedules.${i}`, x.path].filter(Boolean).join('.'), message: x.message });
      }
    }
  }
  if (issues.length) throw new ConfigError(`invalid config ${file}`, issues);
  // Validate the plan options now, so a bad name or duplicate is reported at load time.
  try {
    createBackupPlan(planOptions(config, sources));
  } catch (e) {
    if (isConfigError(e)) throw new ConfigError(`invalid config ${file}`, e.issues);
    throw e;
  }
  return {
    file,
    config,
    sources,
    targets,
    notifiers,
    schedules,
    backupPlan: (o = {}) =>
      createBackupPlan({ ...planOptions(config, sources), ...(o.logger ? { logger: o.logger } : {}) }),
    restorePlan: (o = {}) => createRestorePlan({ targets, ...(o.logger ? { logger: o.logger } : {}) }),
  };
}

function planOptions(config: DuplicatiKitConfig, sources: BackupSource[]) {
  return {
    workDir: config.workDir,
    sources,
    ...(config.concurrency !== undefined ? { concurrency: config.concurrency } : {}),
    ...(config.lockWaitMs !== undefined ? { lockWaitMs: config.lockWaitMs } : {}),
  };
}

/**
 * Load and validate a config file (`.yaml`, `.yml`, `.json`, `.mjs`, `.js`).
 *
 * @throws {ConfigError} naming every bad field with its path.
 * @example
 * ```ts
 * const cfg = await loadConfig('/etc/duplicati-kit.yaml');
 * await cfg.backupPlan().prepare();
 * ```
 */
export async function loadConfig(
  file: string,
  options: { signal?: AbortSignal; toolVersions?: ToolVersionCache } = {},
): Promise<LoadedConfig> {
  throwIfAborted(options.signal);
  const abs = path.resolve(file);
  let raw: unknown;
  try {
    raw = await readRaw(abs, options.signal);
  } catch (e) {
    if (isConfigError(e)) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(
      code === 'ENOENT' ? `config file ${abs} does not exist` : `cannot read config ${abs}: ${(e as Error).message}`,
      [],
      {
        cause: e,
      },
    );
  }
  return resolveConfig(raw, abs, options.toolVersions ? { toolVersions: options.toolVersions } : {});
}

/** The parts of a config a Duplicati command reads without building the plan ({@link readCommandConfig}). */
export interface CommandConfig {
  readonly duplicati: DuplicatiServerConfig | undefined;
  readonly scheduler: 'systemd' | 'duplicati' | undefined;
  /** The jobs that `schedules` entries start with `run <job>`, by schedule name. */
  readonly timedRuns: readonly { readonly schedule: string; readonly job: string }[];
}

/** The job a schedule's `args` run (`['run', 'Immich database', '--wait']` → `Immich database`). */
export function runJobOf(args: readonly string[] | undefined): string | undefined {
  if (args?.[0] !== 'run') return undefined;
  return args.slice(1).find((a) => !a.startsWith('-'));
}

/**
 * Only what a command that talks to Duplicati needs of a config file (`duplicati:`, `scheduler`,
 * the jobs `schedules` run), checked: `run`, `versions`, `files`, `jobs` read this, so a bad source
 * elsewhere in the file does not stop a scheduled `run`.
 *
 * @throws {ConfigError} when the file cannot be read or one of these sections is invalid.
 */
export async function readCommandConfig(file: string, signal?: AbortSignal): Promise<CommandConfig> {
  throwIfAborted(signal);
  const abs = path.resolve(file);
  const raw = await readRaw(abs, signal).catch((e: unknown) => {
    if (isConfigError(e)) throw e;
    throw new ConfigError(`cannot read config ${abs}: ${(e as Error).message}`, [], { cause: e });
  });
  const parsed = commandSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    throw new ConfigError(
      `invalid config ${abs}`,
      parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
    );
  }
  const timedRuns = (parsed.data.schedules ?? []).flatMap((sc) => {
    const job = runJobOf(sc.args);
    return job ? [{ schedule: sc.name, job }] : [];
  });
  return {
    duplicati: parsed.data.duplicati as DuplicatiServerConfig | undefined,
    scheduler: parsed.data.scheduler,
    timedRuns,
  };
}

const commandSchema = z
  .object({
    duplicati: serverSchema.optional(),
    scheduler: z.enum(['systemd', 'duplicati']).optional(),
    schedules: z.array(z.object({ name: z.string(), args: z.array(z.string()).optional() }).passthrough()).optional(),
  })
  .passthrough();
