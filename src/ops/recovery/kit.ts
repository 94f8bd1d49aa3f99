/**
 * The recovery kit: what every staged backup carries for its own recovery on a new host.
 *
 * After the backup plan has prepared the work folder, {@link writeRecoveryKit} adds `recovery/`:
 * - `config.json`: the duplicati-kit config with secret values removed (names of secret files kept);
 * - `jobs.json`: the Duplicati job definitions as a jobs file, passphrases out, read from the server
 *   at backup time;
 * - `versions.json`: Immich, Jellyfin, PostgreSQL and extension versions (from the sources'
 *   metadata), Node, duplicati-kit and the Duplicati server;
 * - `RECOVERY.md`: the runbook for this very server (see ./runbook.ts).
 *
 * The four files are added to the manifest as the source `recovery` (kind `recovery-kit`), so their
 * checksums are verified like every other artifact. The manifest is rewritten atomically under the
 * work folder's lock.
 *
 * @module
 */
import os from 'node:os';
import { type ArtifactRef, ArtifactWriter } from '../../core/artifact-writer.js';
import { PlanError } from '../../core/errors.js';
import type { JsonValue } from '../../core/json.js';
import { acquireLock } from '../../core/lock.js';
import { type Logger, silentLogger } from '../../core/logger.js';
import { type Manifest, readManifest, writeManifest } from '../../core/manifest.js';
import { isSecretKey, redactUrl } from '../../core/redact.js';
import { VERSION } from '../../core/version.js';
import type { JobSpec } from '../../duplicati/resources/jobs.js';
import type { Backup } from '../../duplicati/types.js';
import { renderRunbook } from './runbook.js';
import {
  RECOVERY_KIND,
  RECOVERY_SOURCE,
  type RecoveryJob,
  type RecoveryJobsFile,
  type RecoveryVersions,
} from './types.js';

/** Value that replaces a removed secret. */
export const SECRET_REMOVED = '<removed: secret>';

/** Input of {@link writeRecoveryKit}. */
export interface RecoveryKitInput {
  /** The prepared work folder (with its manifest). */
  readonly workDir: string;
  /** The config as loaded (instances are described by class name, secrets removed). */
  readonly config: unknown;
  /** Path of the config file on this host. */
  readonly configFile?: string;
  /** Jobs read from the Duplicati server (see {@link recoveryJobFromBackup}). */
  readonly jobs?: readonly RecoveryJob[];
  /** Why `jobs` is missing or partial. */
  readonly jobsNote?: string;
  /** The Duplicati server's version, when known. */
  readonly duplicatiVersion?: string;
  /** The job this backup runs in (its name), for the runbook. */
  readonly jobName?: string;
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
  /** How long to wait for the work folder's lock. @default 5000 */
  readonly lockWaitMs?: number;
}

/** Keys whose string value names a file or a variable holding a secret: kept. */
const SECRET_REFERENCE = /(File|Env|Path)$/;

/**
 * The config with every secret value removed. Keys like `passwordFile` / `apiKeyEnv` (names of
 * where a secret lives) are kept; credentials inside URLs are removed; instances (in `.mjs`
 * configs) are described by their class and name.
 */
export function redactConfig(value: unknown, key = ''): JsonValue {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') {
    if (key && isSecretKey(key) && !SECRET_REFERENCE.test(key)) return SECRET_REMOVED;
    return /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? redactUrl(value) : value;
  }
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.map((v) => redactConfig(v, key));
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      const o = value as { name?: unknown; kind?: unknown; constructor?: { name?: string } };
      return {
        instance: o.constructor?.name ?? 'object',
        ...(typeof o.name === 'string' ? { name: o.name } : {}),
        ...(typeof o.kind === 'string' ? { kind: o.kind } : {}),
      };
    }
    const out: Record<string, JsonValue> = {};
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === 'function') continue;
      out[k] =
        isSecretKey(k) && !SECRET_REFERENCE.test(k) && typeof v !== 'object' ? SECRET_REMOVED : redactConfig(v, k);
    }
    return out;
  }
  return null;
}

const MANAGED_OPTIONS = new Set([
  'encryption-module',
  'passphrase',
  '--no-encryption',
  'keep-time',
  'keep-versions',
  'retention-policy',
  '--run-script-before',
  '--run-script-before-required',
  '--run-script-after',
  '--run-script-timeout',
]);

function optionName(name: string): string {
  return name.replace(/^--/, '');
}

function setting(b: Backup, name: string): string | undefined {
  const s = b.settings.find((x) => optionName(x.name) === optionName(name));
  return s?.value ?? undefined;
}

const DAY_NAMES: Record<string, string> = {
  monday: 'mon',
  tuesday: 'tue',
  wednesday: 'wed',
  thursday: 'thu',
  friday: 'fri',
  saturday: 'sat',
  sunday: 'sun',
};

function scheduleOf(b: Backup): NonNullable<JobSpec['schedule']> | null {
  const s = b.schedule;
  if (!s?.time) return null;
  const t = new Date(s.time);
  if (Number.isNaN(t.getTime())) return null;
  const time = `${String(t.getHours()).padStart(2, '0')}:${String(t.getMinutes()).padStart(2, '0')}`;
  const days = s.allowedDays
    .map((d) => DAY_NAMES[d.toLowerCase()] ?? d.toLowerCase().slice(0, 3))
    .filter((d) => /^(mon|tue|wed|thu|fri|sat|sun)$/.test(d));
  return {
    time,
    ...(s.repeat ? { repeat: s.repeat } : {}),
    ...(days.length > 0 ? { days: days as never } : {}),
  };
}

/**
 * A job as read from the server, as a jobs-as-code spec without its passphrase (and without
 * credentials in its target URL).
 */
export function recoveryJobFromBackup(b: Backup): RecoveryJob {
  const encrypted =
    setting(b, '--no-encryption') !== 'true' &&
    (setting(b, 'passphrase') !== undefined || !!setting(b, 'encryption-module'));
  const target = redactUrl(b.targetUrl);
  const options: Record<string, string> = {};
  for (const s of b.settings) {
    if (MANAGED_OPTIONS.has(s.name) || MANAGED_OPTIONS.has(`--${optionName(s.name)}`)) continue;
    if (s.value === null || isSecretKey(s.name)) continue;
    options[s.name] = s.value;
  }
  const keepVersions = Number(setting(b, 'keep-versions'));
  const retention = {
    ...(setting(b, 'keep-time') ? { keepTime: setting(b, 'keep-time') as string } : {}),
    ...(Number.isInteger(keepVersions) && keepVersions > 0 ? { keepVersions } : {}),
    ...(setting(b, 'retention-policy') ? { policy: setting(b, 'retention-policy') as string } : {}),
  };
  const hooks = {
    ...(setting(b, 'run-script-before') ? { before: setting(b, 'run-script-before') as string } : {}),
    ...(setting(b, 'run-script-before-required')
      ? { beforeRequired: setting(b, 'run-script-before-required') as string }
      : {}),
    ...(setting(b, 'run-script-after') ? { after: setting(b, 'run-script-after') as string } : {}),
    ...(setting(b, 'run-script-timeout') ? { timeout: setting(b, 'run-script-timeout') as string } : {}),
  };
  const spec: JobSpec = {
    name: b.name,
    ...(b.description ? { description: b.description } : {}),
    ...(b.tags.length > 0 ? { tags: [...b.tags] } : {}),
    sources: [...b.sources],
    target,
    schedule: scheduleOf(b),
    ...(Object.keys(retention).length > 0 ? { retention } : {}),
    ...(b.filters.length > 0
      ? { filters: b.filters.map((f) => ({ include: f.include, expression: f.expression })) }
      : {}),
    ...(Object.keys(options).length > 0 ? { options } : {}),
    ...(Object.keys(hooks).length > 0 ? { hooks } : {}),
  };
  return { spec, encrypted, targetCredentialsRemoved: target !== b.targetUrl, oldId: b.id };
}

const VERSION_KEY = /version|extensions|major|layout|install/i;

/** The version-like fields of a source's metadata (nested objects are searched two levels deep). */
function versionFields(meta: Readonly<Record<string, JsonValue>>, depth = 0): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [k, v] of Object.entries(meta)) {
    if (VERSION_KEY.test(k)) out[k] = v;
    else if (depth < 2 && v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const inner = versionFields(v, depth + 1);
      if (Object.keys(inner).length > 0) out[k] = inner;
    }
  }
  return out;
}

/** The versions a recovery needs to match, from the manifest and this process. */
export function collectVersions(manifest: Manifest, duplicatiServer?: string): RecoveryVersions {
  const sources: Record<string, { kind: string; versions: JsonValue }> = {};
  for (const s of manifest.sources) {
    if (s.name === RECOVERY_SOURCE) continue;
    sources[s.name] = { kind: s.kind, versions: versionFields(s.metadata) };
  }
  return {
    node: process.version,
    duplicatiKit: VERSION,
    duplicatiServer: duplicatiServer ?? null,
    host: os.hostname(),
    sources,
  };
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/**
 * Add `recovery/` to a prepared work folder and record its files in the manifest.
 *
 * @throws {PlanError} when a source of the plan is itself named `recovery`.
 * @example
 * ```ts
 * const out = await plan.prepare({ signal });
 * await writeRecoveryKit({ workDir: plan.workDir, config, jobs, signal });
 * ```
 */
export async function writeRecoveryKit(
  input: RecoveryKitInput,
): Promise<{ manifest: Manifest; artifacts: ArtifactRef[] }> {
  const logger = input.logger ?? silentLogger;
  const signal = input.signal;
  const lock = await acquireLock(input.workDir, {
    waitMs: input.lockWaitMs ?? 5000,
    ...(signal ? { signal } : {}),
    logger,
    purpose: 'recovery kit',
  });
  try {
    const manifest = await readManifest(input.workDir, signal ? { signal } : {});
    const others = manifest.sources.filter((s) => s.name !== RECOVERY_SOURCE || s.kind !== RECOVERY_KIND);
    if (others.some((s) => s.name === RECOVERY_SOURCE)) {
      throw new PlanError(`a source is named "${RECOVERY_SOURCE}": rename it, the recovery kit needs that folder`, []);
    }
    const startedAt = new Date().toISOString();
    const t0 = performance.now();
    const base: Manifest = { ...manifest, sources: others };
    const versions = collectVersions(base, input.duplicatiVersion);
    const jobs: RecoveryJobsFile = {
      jobs: input.jobs ?? [],
      ...(input.jobsNote ? { note: input.jobsNote } : {}),
    };
    const config = redactConfig(input.config);
    const runbook = renderRunbook({
      manifest: base,
      versions,
      jobs,
      ...(input.configFile ? { configFile: input.configFile } : {}),
      ...(input.jobName ? { jobName: input.jobName } : {}),
    });
    const w = new ArtifactWriter(input.workDir, RECOVERY_SOURCE);
    const opts = (format: string) => ({ format, ...(signal ? { signal } : {}) });
    const artifacts = [
      await w.write('config.json', [json(config)], opts('json')),
      await w.write('jobs.json', [json(jobs)], opts('json')),
      await w.write('versions.json', [json(versions)], opts('json')),
      await w.write('RECOVERY.md', [runbook], opts('markdown')),
    ];
    const finishedAt = new Date().toISOString();
    const updated: Manifest = {
      ...base,
      sources: [
        ...base.sources,
        {
          name: RECOVERY_SOURCE,
          kind: RECOVERY_KIND,
          artifacts,
          includePaths: [],
          excludePatterns: [],
          metadata: { jobs: jobs.jobs.length, ...(input.configFile ? { configFile: input.configFile } : {}) },
          startedAt,
          finishedAt,
          durationMs: Math.round(performance.now() - t0),
        },
      ],
    };
    await writeManifest(input.workDir, updated, signal ? { signal } : {});
    logger.info('wrote the recovery kit', { workDir: input.workDir, jobs: jobs.jobs.length });
    return { manifest: updated, artifacts };
  } finally {
    await lock.release();
  }
}

/** Structural slice of the client the kit reads jobs through. */
export interface RecoveryJobReader {
  readonly backups: {
    list(o?: { signal?: AbortSignal }): Promise<readonly { readonly id: string; readonly isTemporary: boolean }[]>;
    get(id: string, o?: { signal?: AbortSignal }): Promise<Backup>;
  };
  readonly server: { version(o?: { signal?: AbortSignal }): Promise<string> };
}

/**
 * Read every (non-temporary) job from the server as recovery jobs, and the server's version.
 * Never throws for an unreachable server: the reason is returned as `note`.
 */
export async function readRecoveryJobs(
  dup: RecoveryJobReader,
  signal?: AbortSignal,
): Promise<{ jobs: RecoveryJob[]; duplicatiVersion?: string; note?: string }> {
  const o = signal ? { signal } : {};
  try {
    const list = await dup.backups.list(o);
    const jobs: RecoveryJob[] = [];
    for (const b of list) if (!b.isTemporary) jobs.push(recoveryJobFromBackup(await dup.backups.get(b.id, o)));
    let duplicatiVersion: string | undefined;
    try {
      duplicatiVersion = await dup.server.version(o);
    } catch {
      duplicatiVersion = undefined;
    }
    return { jobs, ...(duplicatiVersion ? { duplicatiVersion } : {}) };
  } catch (e) {
    if (signal?.aborted) throw e;
    return { jobs: [], note: `the Duplicati server could not be read: ${(e as Error).message.split('\n')[0]}` };
  }
}
