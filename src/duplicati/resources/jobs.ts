/**
 * `client.jobs`: jobs as code. A typed {@link JobSpec} is created or updated idempotently
 * (matched by name) and the changes are returned as a diff; `dryRun` only computes the diff.
 *
 * @module
 */
import { z } from 'zod';
import { ConfigError } from '../../core/errors.js';
import { REDACTED, redactUrl } from '../../core/redact.js';
import type { RequestOptions } from '../http.js';
import type { Backup, BackupInput, ScheduleInput } from '../types.js';
import { type BackupsResource, urlSecrets } from './backups.js';
import type { ClientContext } from './context.js';

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
/** A weekday as Duplicati writes it. */
export type Weekday = (typeof DAYS)[number];

const timespan = z.string().regex(/^(\d+[smhDWMY])+$/, 'a Duplicati timespan such as 14D, 1W, 12h');

const specSchema = z
  .object({
    name: z.string().min(1),
    description: z.string().optional(),
    tags: z.array(z.string()).optional(),
    sources: z.array(z.string().min(1)).min(1),
    target: z.string().regex(/^[a-z][a-z0-9+.-]*:\/\//i, 'a Duplicati target URL such as file:///mnt/usb'),
    passphrase: z.string().min(1).nullable().optional(),
    schedule: z
      .object({
        time: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM'),
        repeat: timespan.optional(),
        days: z.array(z.enum(DAYS)).optional(),
      })
      .strict()
      .nullable()
      .optional(),
    retention: z
      .object({
        keepTime: timespan.optional(),
        keepVersions: z.number().int().positive().optional(),
        policy: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    filters: z.array(z.object({ include: z.boolean(), expression: z.string().min(1) }).strict()).optional(),
    options: z.record(z.string().min(1), z.union([z.string(), z.number(), z.boolean()])).optional(),
    hooks: z
      .object({
        before: z.string().min(1).optional(),
        beforeRequired: z.string().min(1).optional(),
        after: z.string().min(1).optional(),
        timeout: timespan.optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/**
 * A backup job declared in code.
 *
 * @example
 * ```ts
 * const spec: JobSpec = {
 *   name: 'Immich database', sources: ['/srv/backup/staging/'], target: 'file:///mnt/usb/immich-db',
 *   schedule: { time: '02:00', repeat: '1D' }, retention: { keepTime: '14D' },
 * };
 * ```
 */
export interface JobSpec {
  readonly name: string;
  readonly description?: string;
  readonly tags?: readonly string[];
  /** Folders and files to back up (folders end with `/`). */
  readonly sources: readonly string[];
  /** Duplicati target URL; credentials in it are treated as secrets. */
  readonly target: string;
  /** AES passphrase; null/omitted: no encryption. */
  readonly passphrase?: string | null;
  /**
   * `time` HH:MM (server-local), `repeat` a timespan (default `1D`), `days` allowed weekdays (omitted:
   * the days the job has are kept; none means every day). null: no schedule.
   */
  readonly schedule?: { readonly time: string; readonly repeat?: string; readonly days?: readonly Weekday[] } | null;
  readonly retention?: { readonly keepTime?: string; readonly keepVersions?: number; readonly policy?: string };
  readonly filters?: readonly { readonly include: boolean; readonly expression: string }[];
  /** Extra options, e.g. `{ 'dblock-size': '50mb', '--zip-compression-level': 9 }`. */
  readonly options?: Readonly<Record<string, string | number | boolean>>;
  /**
   * run-script hooks (paths of executables). Given: the spec manages all four run-script settings
   * (those it leaves out are removed). Omitted: the job's run-script settings are kept as they
   * are, e.g. the ones `duplicati-kit hook install` set.
   */
  readonly hooks?: {
    readonly before?: string;
    readonly beforeRequired?: string;
    readonly after?: string;
    readonly timeout?: string;
  };
}

/** One changed field in an apply diff. Secret values are shown as `***`. */
export interface JobChange {
  readonly field: string;
  readonly before: string | null;
  readonly after: string | null;
}

/** What {@link JobsResource.apply} did (or would do with `dryRun`). */
export interface ApplyResult {
  readonly name: string;
  readonly action: 'create' | 'update' | 'unchanged';
  /** Null for a dry-run create. */
  readonly id: string | null;
  readonly changes: readonly JobChange[];
  readonly dryRun: boolean;
  /** Masked secrets the server would not show; kept as stored (see `overwriteMaskedSecrets`). */
  readonly maskedKept: readonly string[];
}

/** Options of {@link JobsResource.apply}. */
export interface ApplyOptions extends RequestOptions {
  readonly dryRun?: boolean;
  /**
   * 2.3+ servers mask secrets (passphrase, URL credentials) in what they return, so a change
   * cannot be seen. Default false: masked values are kept as stored. True: always write the
   * spec's secrets.
   */
  readonly overwriteMaskedSecrets?: boolean;
  /** Reference time for the first scheduled run (tests). */
  readonly now?: Date;
}

const MANAGED = new Set([
  'encryption-module',
  'passphrase',
  '--no-encryption',
  'keep-time',
  'keep-versions',
  'retention-policy',
]);
/**
 * The run-script settings: managed only by a spec that has `hooks`. Without it they are kept as
 * the job has them, so the hook `duplicati-kit hook install` wired in survives a re-apply.
 */
const HOOK_SETTINGS = new Set([
  '--run-script-before',
  '--run-script-before-required',
  '--run-script-after',
  '--run-script-timeout',
]);

/** The settings a spec manages: set when it names them, removed when it does not. */
function managedBy(spec: JobSpec): ReadonlySet<string> {
  return spec.hooks === undefined ? MANAGED : new Set([...MANAGED, ...HOOK_SETTINGS]);
}
const SECRET_SETTINGS = new Set(['passphrase']);

function isMasked(value: string | null | undefined): boolean {
  return typeof value === 'string' && /^\*{10,}$/.test(value);
}

/** The settings a spec asks for, by name. */
export function desiredSettings(spec: JobSpec): Map<string, string> {
  const m = new Map<string, string>();
  if (spec.passphrase) {
    m.set('encryption-module', 'aes');
    m.set('passphrase', spec.passphrase);
  } else {
    m.set('encryption-module', '');
    m.set('--no-encryption', 'true');
  }
  if (spec.retention?.keepTime) m.set('keep-time', spec.retention.keepTime);
  if (spec.retention?.keepVersions !== undefined) m.set('keep-versions', String(spec.retention.keepVersions));
  if (spec.retention?.policy) m.set('retention-policy', spec.retention.policy);
  if (spec.hooks?.before) m.set('--run-script-before', spec.hooks.before);
  if (spec.hooks?.beforeRequired) m.set('--run-script-before-required', spec.hooks.beforeRequired);
  if (spec.hooks?.after) m.set('--run-script-after', spec.hooks.after);
  if (spec.hooks?.timeout) m.set('--run-script-timeout', spec.hooks.timeout);
  for (const [k, v] of Object.entries(spec.options ?? {})) m.set(k, String(v));
  return m;
}

/** The next run at HH:MM local time, on an allowed weekday, at or after `now`. */
export function nextRun(time: string, days: readonly Weekday[] | undefined, now: Date): Date {
  const [h = 0, m = 0] = time.split(':').map(Number);
  for (let i = 0; i < 8; i++) {
    const d = new Date(now.getFullYear(), now.getMonth(), now.getDate() + i, h, m, 0, 0);
    const day = DAYS[d.getDay()] as Weekday;
    if (d.getTime() >= now.getTime() && (!days?.length || days.includes(day))) return d;
  }
  return new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1, h, m, 0, 0);
}

function hhmm(iso: string | null): string | null {
  if (!iso) return null;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return null;
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

function normDays(days: readonly string[] | undefined): string {
  return [...(days ?? [])]
    .map((d) => d.slice(0, 3).toLowerCase())
    .sort((a, b) => DAYS.indexOf(a as Weekday) - DAYS.indexOf(b as Weekday))
    .join(',');
}

/**
 * The weekdays a job's schedule is restricted to, from `AllowedDays` or, when a server leaves that
 * empty, from the `AllowedWeekDays=` part of its `Rule`.
 */
function storedDays(b: Backup): Weekday[] | undefined {
  const s = b.schedule;
  if (!s) return undefined;
  const fromRule = /AllowedWeekDays=([^;]*)/i.exec(s.rule ?? '')?.[1]?.split(',') ?? [];
  const names = (s.allowedDays.length > 0 ? s.allowedDays : fromRule).map((d) => d.trim().slice(0, 3).toLowerCase());
  const days = DAYS.filter((d) => names.includes(d));
  return days.length > 0 ? days : undefined;
}

/** Mask the parts of `desired` that are masked in `current`, so the two can be compared. */
function maskLike(desired: string, current: string): string {
  let out = desired;
  const cu = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#@]*)@/i.exec(current);
  const du = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#@]*)@/i.exec(out);
  if (cu?.[2] && du?.[2]) {
    const [cUser = '', cPass = ''] = cu[2].split(':');
    const [dUser = '', dPass] = du[2].split(':');
    const user = isMasked(cUser) ? cUser : dUser;
    const pass = dPass === undefined ? '' : isMasked(cPass) ? `:${cPass}` : `:${dPass}`;
    out = `${du[1]}${user}${pass}@${out.slice(du[0].length)}`;
  }
  const masked = new Set<string>();
  const q = current.indexOf('?');
  if (q >= 0) {
    for (const part of current.slice(q + 1).split('&')) {
      const [k = '', v = ''] = part.split('=');
      if (isMasked(decodeURIComponent(v))) masked.add(k.toLowerCase());
    }
  }
  return out.replace(/([?&])([^=&#]+)=([^&#]*)/g, (m0, sep: string, k: string) => {
    if (!masked.has(k.toLowerCase())) return m0;
    const cur = new RegExp(`[?&]${k.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}=([^&#]*)`, 'i').exec(current);
    return `${sep}${k}=${cur?.[1] ?? ''}`;
  });
}

function show(name: string, v: string | null): string | null {
  if (v === null) return null;
  if (SECRET_SETTINGS.has(name)) return REDACTED;
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(v) ? redactUrl(v) : v;
}

/** What `apply` worked out from a spec before looking at the server. */
interface ApplyPlan {
  readonly spec: JobSpec;
  readonly desired: Map<string, string>;
  readonly schedule: ScheduleInput | null;
  readonly now: Date;
  readonly filters: { order: number; include: boolean; expression: string }[];
  readonly dryRun: boolean;
  readonly req: RequestOptions;
}

/**
 * Diff the description, tags, target and sources of an existing job against the spec. A target
 * URL that differs only where the server masks a secret is kept (unless `overwrite`).
 */
function diffFields(
  spec: JobSpec,
  current: Backup,
  overwrite: boolean,
  changes: JobChange[],
  maskedKept: string[],
): { description: string; targetUrl: string } {
  const description = spec.description ?? current.description;
  if (description !== current.description) {
    changes.push({ field: 'description', before: current.description, after: description });
  }
  if (spec.tags && spec.tags.join('\n') !== current.tags.join('\n')) {
    changes.push({ field: 'tags', before: current.tags.join(', '), after: spec.tags.join(', ') });
  }
  let targetUrl = spec.target;
  if (current.targetUrl !== spec.target) {
    const comparable = maskLike(spec.target, current.targetUrl);
    if (comparable === current.targetUrl && !overwrite) {
      targetUrl = current.targetUrl;
      maskedKept.push('target');
    } else {
      changes.push({ field: 'target', before: redactUrl(current.targetUrl), after: redactUrl(spec.target) });
    }
  }
  if (current.sources.join('\n') !== spec.sources.join('\n')) {
    changes.push({ field: 'sources', before: current.sources.join(', '), after: spec.sources.join(', ') });
  }
  return { description, targetUrl };
}

/**
 * The settings to send: the job's own unmanaged ones kept, managed ones set to the spec's values
 * (a masked secret kept unless `overwrite`), managed ones the spec dropped removed.
 */
function mergeSettings(
  current: Backup,
  desired: ReadonlyMap<string, string>,
  managed: ReadonlySet<string>,
  overwrite: boolean,
  changes: JobChange[],
  maskedKept: string[],
): { name: string; value: string | null; filter?: string }[] {
  const settings: { name: string; value: string | null; filter?: string }[] = [];
  const seen = new Set<string>();
  for (const s of current.settings) {
    seen.add(s.name);
    const want = desired.get(s.name);
    if (want === undefined) {
      if (managed.has(s.name)) {
        changes.push({ field: `settings.${s.name}`, before: show(s.name, s.value), after: null });
        continue;
      }
      settings.push({ name: s.name, value: s.value, ...(s.filter ? { filter: s.filter } : {}) });
      continue;
    }
    if (isMasked(s.value) && !overwrite) {
      // The server hides the stored value; sending the placeholder back keeps it.
      maskedKept.push(`settings.${s.name}`);
      settings.push({ name: s.name, value: s.value });
      continue;
    }
    if ((s.value ?? '') !== want) {
      changes.push({ field: `settings.${s.name}`, before: show(s.name, s.value), after: show(s.name, want) });
    }
    settings.push({ name: s.name, value: want });
  }
  for (const [name, value] of desired) {
    if (seen.has(name)) continue;
    changes.push({ field: `settings.${name}`, before: null, after: show(name, value) });
    settings.push({ name, value });
  }
  return settings;
}

/** Jobs as code. */
export class JobsResource {
  readonly #ctx: ClientContext;
  readonly #backups: BackupsResource;
  constructor(ctx: ClientContext, deps: { readonly backups: BackupsResource }) {
    this.#ctx = ctx;
    this.#backups = deps.backups;
  }

  /**
   * Validate a spec (zod, strict); every bad field is named in the {@link ConfigError}.
   *
   * @example
   * ```ts
   * const spec = dup.jobs.validate(JSON.parse(text));
   * ```
   */
  validate(spec: unknown): JobSpec {
    const r = specSchema.safeParse(spec);
    if (r.success) return r.data as JobSpec;
    throw new ConfigError(
      'Invalid job spec',
      r.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
    );
  }

  /**
   * Create or update the job named `spec.name` so it matches the spec; returns the diff.
   * Settings the spec does not manage (e.g. `dblock-size` set in the UI) are kept.
   *
   * @example
   * ```ts
   * const r = await dup.jobs.apply(spec, { dryRun: true });
   * for (const c of r.changes) console.error(c.field, c.before, '->', c.after);
   * ```
   */
  async apply(input: JobSpec, options: ApplyOptions = {}): Promise<ApplyResult> {
    const spec = this.validate(input);
    const core = this.#ctx.core;
    core.addSecret(spec.passphrase, ...urlSecrets(spec.target));
    const backups = this.#backups;
    const req: RequestOptions = options.signal ? { signal: options.signal } : {};
    const dryRun = options.dryRun ?? false;
    const now = options.now ?? new Date();
    const desired = desiredSettings(spec);
    const schedule: ScheduleInput | null = spec.schedule
      ? {
          time: nextRun(spec.schedule.time, spec.schedule.days, now).toISOString(),
          repeat: spec.schedule.repeat ?? '1D',
          ...(spec.schedule.days ? { allowedDays: spec.schedule.days } : {}),
        }
      : null;
    const filters = (spec.filters ?? []).map((f, i) => ({ order: i, include: f.include, expression: f.expression }));

    const summary = await backups.findByName(spec.name, req);
    const plan: ApplyPlan = { spec, desired, schedule, now, filters, dryRun, req };
    if (!summary) return this.#create(plan);
    const current = await backups.get(summary.id, req);
    return this.#update(plan, current, options.overwriteMaskedSecrets ?? false);
  }

  /** A job that does not exist yet: every field is a change; created unless a dry run. */
  async #create(plan: ApplyPlan): Promise<ApplyResult> {
    const { spec, desired, schedule, dryRun } = plan;
    const changes: JobChange[] = [
      { field: 'name', before: null, after: spec.name },
      { field: 'target', before: null, after: redactUrl(spec.target) },
      { field: 'sources', before: null, after: spec.sources.join(', ') },
      ...[...desired].map(([k, v]) => ({ field: `settings.${k}`, before: null, after: show(k, v) })),
    ];
    if (plan.filters.length) {
      const after = plan.filters.map((f) => `${f.include ? '+' : '-'}${f.expression}`).join('\n');
      changes.push({ field: 'filters', before: null, after });
    }
    if (schedule) changes.push({ field: 'schedule', before: null, after: this.#describeSchedule(spec) });
    const body: BackupInput = {
      name: spec.name,
      description: spec.description ?? '',
      tags: spec.tags ?? [],
      targetUrl: spec.target,
      sources: spec.sources,
      settings: [...desired].map(([name, value]) => ({ name, value })),
      filters: plan.filters,
      schedule,
    };
    const id = dryRun ? null : (await this.#backups.create(body, plan.req)).id;
    return { name: spec.name, action: 'create', id, changes, dryRun, maskedKept: [] };
  }

  /** An existing job: diff it against the spec and update it (unless a dry run or unchanged). */
  async #update(plan: ApplyPlan, current: Backup, overwrite: boolean): Promise<ApplyResult> {
    const { spec, filters, dryRun } = plan;
    // Days the spec leaves open are the job's own (set in the web UI, say): kept, not wiped.
    const days = spec.schedule ? (spec.schedule.days ?? storedDays(current)) : undefined;
    const schedule: ScheduleInput | null = spec.schedule
      ? {
          time: nextRun(spec.schedule.time, days, plan.now).toISOString(),
          repeat: spec.schedule.repeat ?? '1D',
          ...(days?.length ? { allowedDays: days } : {}),
        }
      : null;
    const changes: JobChange[] = [];
    const maskedKept: string[] = [];
    const { description, targetUrl } = diffFields(spec, current, overwrite, changes, maskedKept);
    const settings = mergeSettings(current, plan.desired, managedBy(spec), overwrite, changes, maskedKept);

    const curFilters = current.filters.map((f) => `${f.include ? '+' : '-'}${f.expression}`).join('\n');
    const newFilters = filters.map((f) => `${f.include ? '+' : '-'}${f.expression}`).join('\n');
    if (curFilters !== newFilters) {
      changes.push({ field: 'filters', before: curFilters || null, after: newFilters || null });
    }

    const before = this.#describeCurrentSchedule(current);
    const after = spec.schedule ? this.#describeSchedule(spec, days) : null;
    if (before !== after) changes.push({ field: 'schedule', before, after });

    if (changes.length === 0) {
      return { name: spec.name, action: 'unchanged', id: current.id, changes, dryRun, maskedKept };
    }
    if (!dryRun) {
      await this.#backups.update(
        current.id,
        {
          name: current.name,
          description,
          tags: spec.tags ?? current.tags,
          targetUrl,
          sources: spec.sources,
          settings,
          filters,
          // 2.0.x replaces the stored statistics with what is sent (an empty object wipes them), so
          // send back what was read; 2.1+ treats it the same way.
          metadata: current.metadata,
          // Keep the stored next-run time when only other fields changed.
          schedule:
            schedule && before === after && current.schedule?.time
              ? { ...schedule, time: current.schedule.time }
              : schedule,
        },
        plan.req,
      );
    }
    return { name: spec.name, action: 'update', id: current.id, changes, dryRun, maskedKept };
  }

  /**
   * Apply several specs in order.
   *
   * @example
   * ```ts
   * const results = await dup.jobs.applyAll([dbJob, filesJob], { dryRun: true });
   * ```
   */
  async applyAll(specs: readonly JobSpec[], options: ApplyOptions = {}): Promise<ApplyResult[]> {
    const out: ApplyResult[] = [];
    for (const s of specs) out.push(await this.apply(s, options));
    return out;
  }

  #describeSchedule(spec: JobSpec, allowed = spec.schedule?.days): string | null {
    if (!spec.schedule) return null;
    const days = normDays(allowed);
    return `${spec.schedule.repeat ?? '1D'} at ${spec.schedule.time}${days ? ` on ${days}` : ''}`;
  }

  #describeCurrentSchedule(b: Backup): string | null {
    if (!b.schedule) return null;
    const days = normDays(b.schedule.allowedDays);
    return `${b.schedule.repeat ?? '?'} at ${hhmm(b.schedule.time) ?? '?'}${days ? ` on ${days}` : ''}`;
  }
}
