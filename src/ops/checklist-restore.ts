/**
 * Restores run as a checklist of six gates, each with a status and evidence:
 *
 * 1. identify the backup (a Duplicati version by number or by time, or a local folder);
 * 2. verify it (Duplicati's verify of the job, then every checksum and each target's checks);
 * 3. maintenance window (pause Immich's queues, stop Jellyfin and other services);
 * 4. record the current state (every target that overwrites something keeps a way back);
 * 5. warn users (notifiers, and Jellyfin sessions when its API is configured);
 * 6. restore with plan B (automatic rollback on failure; restore points kept for a later
 *    rollback or drop by hand).
 *
 * Gates run in the order 1, 2, 4, 5, 3, 6: the way back is proven before any service is stopped
 * (so a failure at or before gate 4 touches nothing), and users are warned while Jellyfin can
 * still show them a message. Services are started again in a `finally`, whatever happened.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { neverAborted } from '../core/abort.js';
import { childLogger, type Logger, silentLogger } from '../core/logger.js';
import { type Manifest, readManifest } from '../core/manifest.js';
import type { DuplicatiClient } from '../duplicati/client.js';
import type { WaitOptions } from '../duplicati/resources/tasks.js';
import type { Fileset } from '../duplicati/types.js';
import { configErrorFrom } from '../core/validate.js';
import { createRestorePlan, type RestoreReport } from '../plan/restore-plan.js';
import type { ProgressEvent, RestoreTarget } from '../contracts/types.js';
import {
  type MaintenanceLog,
  type MaintenanceOptions,
  type MaintenanceWindow,
  MaintenanceError,
  checkMaintenanceOptions,
  openMaintenanceWindow,
} from './maintenance.js';
import { type NotifyResult, notifyAll } from './notify.js';
import type { Notifier } from '../contracts/notifier.js';
import {
  newRestoreId,
  type RecordedTarget,
  type RestoreRecord,
  type RestoreRecordStatus,
  recordOutput,
  writeRestoreRecord,
} from './restore-points.js';
import {
  chooseVersion,
  findJob,
  type JobRef,
  locateWorkDir,
  notStagedError,
  restoreStagedFolder,
} from './staged-version.js';

/** The six gates, by number. */
export const CHECKLIST_GATES = [
  { number: 1, id: 'identify', title: 'Identify the backup to restore' },
  { number: 2, id: 'verify', title: 'Verify its integrity' },
  { number: 3, id: 'maintenance', title: 'Maintenance window' },
  { number: 4, id: 'record', title: 'Record the current state (a way back)' },
  { number: 5, id: 'warn', title: 'Warn users' },
  { number: 6, id: 'restore', title: 'Restore with plan B (automatic rollback)' },
] as const;

/** A gate's id. */
export type GateId = (typeof CHECKLIST_GATES)[number]['id'];

/** `would-run` only in a dry run. */
export type GateStatus = 'passed' | 'failed' | 'skipped' | 'would-run';

/** One gate of the checklist. */
export interface ChecklistGate {
  readonly number: 1 | 2 | 3 | 4 | 5 | 6;
  readonly id: GateId;
  readonly title: string;
  readonly status: GateStatus;
  /** Why it failed, was skipped, or what it would do. */
  readonly reason?: string;
  /** What was checked or done, one line each. */
  readonly evidence: readonly string[];
  /** The failure's error code (e.g. `ERR_DUPLICATI_CONNECTION`), when it had one. */
  readonly code?: string;
  /** Warnings that did not fail the gate (a notifier down, a Duplicati verify warning). */
  readonly warnings: readonly string[];
  readonly durationMs: number;
  /** 1-based position in the run order (1, 2, 4, 5, 3, 6); null when it never ran. */
  readonly ranAs: number | null;
}

/** The Duplicati source of a restore. */
export interface ChecklistDuplicatiSource {
  readonly client: DuplicatiClient;
  /** Job id or name (case-insensitive). */
  readonly job: string;
  /** Version number (0 = newest). Exclusive with `time`. */
  readonly version?: number;
  /** The newest version at or before this time. Exclusive with `version`. */
  readonly time?: Date | string;
  /** The plan's work folder as Duplicati backed it up. Default: the job's source folder holding a manifest. */
  readonly workDir?: string;
  /** Run Duplicati's verify of the job in gate 2. @default true */
  readonly verify?: boolean;
  /** Passed to `verifyAndWait` / `restoreAndWait` (e.g. `totalTimeout`). */
  readonly wait?: Omit<WaitOptions, 'signal'>;
}

/** What shows a message on Jellyfin's sessions (a `JellyfinClient` is one). */
export interface SessionMessenger {
  messageSessions(
    message: { header?: string; text: string; timeoutMs?: number },
    options?: { signal?: AbortSignal },
  ): Promise<{ sent: number; failed: { session: string; error: string }[] }>;
}

/** Options of {@link restoreWithChecklist}. */
export interface ChecklistRestoreOptions {
  /** The restore targets (the live ones: this is a real restore). */
  readonly targets: readonly RestoreTarget[];
  /** Restore from a folder holding `manifest.json` and the artifacts. Exclusive with `duplicati`. */
  readonly from?: string;
  /** Restore a version of a Duplicati job: its staged work folder is restored into `stagingDir` first. */
  readonly duplicati?: ChecklistDuplicatiSource;
  /** Where Duplicati restores the staged folder (a `restore-*` folder is made inside and removed). @default os.tmpdir() */
  readonly stagingDir?: string;
  /** Keep the staged copy Duplicati restored. @default false */
  readonly keepStaging?: boolean;
  /** Where restore records go (see `listRestorePoints`). */
  readonly stateDir: string;
  /** Restore only these manifest sources. */
  readonly only?: readonly string[];
  readonly maintenance?: Omit<MaintenanceOptions, 'logger'>;
  /** Told before (gate 5) and after the restore. */
  readonly notifiers?: readonly Notifier[];
  /** Jellyfin's API, to show the warning on its sessions (gate 5). */
  readonly jellyfin?: SessionMessenger;
  /** The warning text. @default a line naming the backup and the targets */
  readonly warning?: string;
  /**
   * Let targets that cannot keep a way back (no `rollback`) overwrite anyway: `true` for all, or
   * their names. @default false — such a target fails gate 4
   */
  readonly allowNoWayBack?: boolean | readonly string[];
  /** Drop the restore points right after a successful restore (no rollback later). @default false */
  readonly finalize?: boolean;
  /** Run gates 1 and 2 (read-only), evaluate gate 4, and show what 3, 5 and 6 would do. */
  readonly dryRun?: boolean;
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
  readonly onProgress?: (event: ProgressEvent) => void;
  /** Called as each gate finishes. */
  readonly onGate?: (gate: ChecklistGate) => void;
}

/** What {@link restoreWithChecklist} returns. */
export interface ChecklistReport {
  readonly ok: boolean;
  readonly dryRun: boolean;
  /** The gates in checklist order (1…6). */
  readonly gates: readonly ChecklistGate[];
  readonly backup: {
    readonly job: JobRef | null;
    readonly version: number | null;
    readonly versionTime: string | null;
    /** The folder restored from (the staged copy, for a Duplicati source). */
    readonly from: string | null;
    readonly manifest: { readonly host: string; readonly startedAt: string; readonly sources: string[] } | null;
  };
  /** Gate 2's verification: every checksum and each target's checks, before anything was touched. */
  readonly verification: RestoreReport | null;
  /** Gate 6's restore: each entry's final status and output (the way back it kept). */
  readonly restore: RestoreReport | null;
  /** The restore record (restore points), when one was written. */
  readonly record: { readonly id: string; readonly file: string; readonly status: RestoreRecordStatus } | null;
  readonly services: {
    /** Whether anything was stopped or paused. */
    readonly stopped: boolean;
    /** Whether everything was started and resumed again (null when nothing was stopped). */
    readonly restarted: boolean | null;
    readonly log: MaintenanceLog | null;
  };
  /** True when gate 6 failed and its automatic rollback put every applied target back. */
  readonly rolledBack: boolean;
  readonly notified: readonly NotifyResult[];
  readonly durationMs: number;
}

const optionsSchema = z
  .object({
    targets: z.array(z.custom<RestoreTarget>((t) => typeof t === 'object' && t !== null)).min(1, 'at least one target'),
    from: z.string().min(1).optional(),
    duplicati: z
      .object({
        client: z.custom<DuplicatiClient>(
          (c) => typeof c === 'object' && c !== null && typeof (c as DuplicatiClient).backups === 'object',
          'must be a DuplicatiClient',
        ),
        job: z.string().min(1),
        version: z.number().int().min(0).optional(),
        time: z
          .union([z.date(), z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO time')])
          .optional(),
        workDir: z.string().min(1).optional(),
        verify: z.boolean().optional(),
        wait: z.record(z.string(), z.unknown()).optional(),
      })
      .strict()
      .refine((d) => d.version === undefined || d.time === undefined, {
        message: 'give version or time, not both',
        path: ['time'],
      })
      .optional(),
    stagingDir: z.string().min(1).optional(),
    keepStaging: z.boolean().optional(),
    stateDir: z.string().min(1),
    only: z.array(z.string().min(1)).optional(),
    maintenance: z.record(z.string(), z.unknown()).optional(),
    notifiers: z.array(z.custom<Notifier>((n) => typeof n === 'object' && n !== null)).optional(),
    jellyfin: z
      .custom<SessionMessenger>(
        (j) => typeof j === 'object' && j !== null && typeof (j as SessionMessenger).messageSessions === 'function',
        'must have messageSessions (a JellyfinClient)',
      )
      .optional(),
    warning: z.string().min(1).optional(),
    allowNoWayBack: z.union([z.boolean(), z.array(z.string())]).optional(),
    finalize: z.boolean().optional(),
    dryRun: z.boolean().optional(),
    signal: z.custom<AbortSignal>((s) => s instanceof AbortSignal).optional(),
    logger: z.custom<Logger>((l) => typeof l === 'object' && l !== null).optional(),
    onProgress: z.function().optional(),
    onGate: z.function().optional(),
  })
  .strict()
  .refine((o) => (o.from === undefined) !== (o.duplicati === undefined), {
    message: 'give exactly one of from (a folder) or duplicati (a job and version)',
    path: ['from'],
  });

/** How a target keeps a way back, or why it need not. */
export interface WayBack {
  readonly target: string;
  /** `rollback`: keeps a restore point; `none-needed`: writes nothing live; `none`: cannot. */
  readonly kind: 'rollback' | 'none-needed' | 'none';
  readonly detail: string;
}

/**
 * How `target` keeps a way back. A target with `rollback` keeps a restore point; a folder target
 * (Duplicati restores the folders, it only checks them) and a target in scratch mode write
 * nothing live; anything else cannot be undone.
 */
export function wayBackOf(target: RestoreTarget): WayBack {
  const opts = (target as { options?: { scratch?: unknown } }).options;
  if (opts && typeof opts === 'object' && opts.scratch === true) {
    return { target: target.name, kind: 'none-needed', detail: 'scratch mode: writes nothing live' };
  }
  if (typeof target.rollback === 'function') {
    return {
      target: target.name,
      kind: 'rollback',
      detail: 'keeps a restore point (the previous database renamed, or a safety copy) until dropped',
    };
  }
  if (target.kind === 'directory' || target.kind.endsWith('.files')) {
    return { target: target.name, kind: 'none-needed', detail: 'checks folders Duplicati restored; writes nothing' };
  }
  return { target: target.name, kind: 'none', detail: 'has no rollback: what it overwrites cannot be put back' };
}

type GateDraft = { status: GateStatus; reason?: string; code?: string; evidence: string[]; warnings: string[] };

class GateFailure extends Error {}

const firstLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';

/**
 * Restore through the six-gate checklist (see the module description). Never throws for a
 * failed gate: the report says which gate failed and why; invalid options throw a ConfigError
 * and a caller's abort is rethrown (after services are started again).
 *
 * @example
 * ```ts
 * import { DuplicatiClient } from 'duplicati-kit/duplicati';
 * import { PostgresTarget } from 'duplicati-kit';
 * import { restoreWithChecklist } from 'duplicati-kit/ops';
 *
 * const report = await restoreWithChecklist({
 *   duplicati: { client: new DuplicatiClient({ baseUrl, auth }), job: 'Home server', time: '2026-11-20T00:00Z' },
 *   targets: [new PostgresTarget({ connection: { url: 'postgres://postgres@127.0.0.1/app' } })],
 *   stateDir: '/var/lib/duplicati-kit/restores',
 *   maintenance: { stop: [['systemctl', 'stop', 'app']], start: [['systemctl', 'start', 'app']] },
 * });
 * for (const g of report.gates) console.log(g.number, g.status, g.reason ?? '');
 * // later: rollbackRestore({ stateDir, id: report.record!.id, targets }) or dropRestorePoints(...)
 * ```
 */
export async function restoreWithChecklist(options: ChecklistRestoreOptions): Promise<ChecklistReport> {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) throw configErrorFrom('invalid checklist restore options', parsed.error);
  if (options.maintenance) checkMaintenanceOptions(options.maintenance, 'maintenance');
  const t0 = performance.now();
  const signal = options.signal ?? neverAborted();
  const logger = childLogger(options.logger ?? silentLogger, { restore: 'checklist' });
  const dryRun = options.dryRun === true;
  const stateDir = path.resolve(options.stateDir);

  const drafts = new Map<GateId, GateDraft & { durationMs: number; ranAs: number | null }>();
  for (const g of CHECKLIST_GATES) {
    drafts.set(g.id, {
      status: 'skipped',
      reason: 'an earlier gate failed',
      evidence: [],
      warnings: [],
      durationMs: 0,
      ranAs: null,
    });
  }
  let ran = 0;
  const gateOut = (id: GateId): ChecklistGate => {
    const def = CHECKLIST_GATES.find((g) => g.id === id) as (typeof CHECKLIST_GATES)[number];
    const d = drafts.get(id) as GateDraft & { durationMs: number; ranAs: number | null };
    return {
      number: def.number,
      id,
      title: def.title,
      status: d.status,
      ...(d.reason !== undefined ? { reason: d.reason } : {}),
      ...(d.code !== undefined ? { code: d.code } : {}),
      evidence: d.evidence,
      warnings: d.warnings,
      durationMs: Math.round(d.durationMs),
      ranAs: d.ranAs,
    };
  };
  /** Run a gate; false when it failed. Only the caller's abort escapes. */
  const gate = async (id: GateId, fn: (g: GateDraft) => Promise<void>): Promise<boolean> => {
    const g: GateDraft = { status: 'passed', evidence: [], warnings: [] };
    const t1 = performance.now();
    try {
      await fn(g);
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      g.status = 'failed';
      g.reason = firstLine(e);
      const code = (e as { code?: unknown }).code;
      if (typeof code === 'string' && !(e instanceof GateFailure)) g.code = code;
      logger.error('gate failed', { gate: id, reason: g.reason });
    }
    drafts.set(id, { ...g, durationMs: performance.now() - t1, ranAs: ++ran });
    options.onGate?.(gateOut(id));
    return g.status !== 'failed';
  };
  const skipRest = (ids: GateId[], reason: string): void => {
    for (const id of ids) {
      const d = drafts.get(id);
      if (d && d.ranAs === null) drafts.set(id, { ...d, status: 'skipped', reason });
    }
  };

  let job: JobRef | null = null;
  let chosen: Fileset | null = null;
  let versionNo: number | null = null;
  let versionTime: string | null = null;
  let from: string | null = options.from ? path.resolve(options.from) : null;
  let manifest: Manifest | null = null;
  let verification: RestoreReport | null = null;
  let restore: RestoreReport | null = null;
  let record: RestoreRecord | null = null;
  let recordFile: string | null = null;
  let window: MaintenanceWindow | undefined;
  let servicesLog: MaintenanceLog | null = null;
  let rolledBack = false;
  const notified: NotifyResult[] = [];
  let runDir: string | undefined;
  let workDir: string | undefined;
  const plan = createRestorePlan({ targets: options.targets, logger });
  const only = options.only?.length ? { only: options.only } : {};
  const progress = options.onProgress ? { onProgress: options.onProgress } : {};
  const maintenance = options.maintenance ?? {};
  const hasMaintenance = Boolean(
    maintenance.immich || maintenance.jellyfin?.stop || maintenance.stop?.length || maintenance.start?.length,
  );
  const wayBacks: WayBack[] = [];
  let routed: { entry: string; target: RestoreTarget }[] = [];

  const saveRecord = async (next: RestoreRecord): Promise<void> => {
    record = next;
    recordFile = await writeRestoreRecord(stateDir, next);
  };

  const runGates = async (): Promise<void> => {
    // Gate 1: which backup.
    const ok1 = await gate('identify', async (g) => {
      const d = options.duplicati;
      if (d) {
        job = await findJob(d.client, d.job, signal);
        chosen = await chooseVersion(d.client, job, { version: d.version, time: d.time }, signal);
        versionNo = chosen.version;
        versionTime = chosen.time;
        g.evidence.push(`Duplicati job "${job.name}" (id ${job.id})`);
        g.evidence.push(
          `version ${chosen.version} from ${chosen.time}${d.time !== undefined ? ` (newest at or before ${String(d.time instanceof Date ? d.time.toISOString() : d.time)})` : ''}`,
        );
        workDir = d.workDir ?? (await locateWorkDir(d.client, job, chosen, signal));
        g.evidence.push(`staged work folder ${workDir}`);
      } else {
        manifest = await readManifest(from as string, { signal });
        g.evidence.push(`folder ${from}`);
        g.evidence.push(`manifest of ${manifest.host}, backup started ${manifest.startedAt}`);
      }
    });
    if (!ok1) return;

    // Gate 2: integrity — Duplicati's verify, the staged copy, every checksum, each target's checks.
    const ok2 = await gate('verify', async (g) => {
      const d = options.duplicati;
      if (d && job) {
        if (d.verify !== false) {
          const v = await d.client.backups.verifyAndWait(job.id, { ...d.wait, signal });
          if (v.result === 'Error' || v.result === 'Fatal') {
            throw new GateFailure(
              `Duplicati verify of "${job.name}" ended with ${v.result}: ${v.errors[0] ?? 'no message'}`,
            );
          }
          g.evidence.push(`Duplicati verify of the remote files: ${v.result}`);
          if (v.result === 'Warning') g.warnings.push(...v.warnings.slice(0, 5).map((w) => `Duplicati: ${w}`));
        } else {
          g.warnings.push('Duplicati verify skipped (verify: false)');
        }
        const base = path.resolve(options.stagingDir ?? os.tmpdir());
        await fsp.mkdir(base, { recursive: true });
        runDir = await fsp.mkdtemp(path.join(base, 'restore-'));
        const staged = await restoreStagedFolder(d.client, job, {
          version: chosen as unknown as Fileset,
          workDir: workDir as string,
          restoreDir: path.join(runDir, 'staged'),
          wait: d.wait,
          signal,
        });
        if (!staged.from) throw notStagedError(workDir as string, staged.restoredFiles);
        from = staged.from;
        g.evidence.push(
          `Duplicati restored ${staged.restoredFiles} file(s), ${staged.restoredBytes} bytes into ${from} (${staged.outcome.result})`,
        );
        manifest = await readManifest(from, { signal });
        g.evidence.push(`manifest of ${manifest.host}, backup started ${manifest.startedAt}`);
      }
      const report = await plan.run({
        from: from as string,
        dryRun: true,
        reject: false,
        signal,
        ...(runDir ? { workDir: path.join(runDir, 'work') } : {}),
        ...only,
        ...progress,
      });
      verification = report;
      const bad = report.checksums.filter((c) => !c.ok);
      g.evidence.push(`checksums: ${report.checksums.length - bad.length}/${report.checksums.length} ok`);
      for (const e of report.entries) {
        const failed = e.verification?.checks.filter((c) => !c.ok) ?? [];
        g.evidence.push(
          `${e.name} [${e.kind}]${e.target ? ` -> ${e.target}` : ''}: ${e.status}${failed.length ? ` (${failed.map((c) => `${c.name}: ${c.detail ?? 'failed'}`).join('; ')})` : e.error && e.status === 'failed' ? ` (${firstLine(e.error)})` : ''}`,
        );
      }
      if (bad.length)
        throw new GateFailure(`${bad.length} artifact(s) failed their checksum: ${bad.map((c) => c.path).join(', ')}`);
      if (!report.ok) {
        const failed = report.entries.filter((e) => !e.ok).map((e) => e.name);
        throw new GateFailure(`verification failed for ${failed.join(', ') || 'the backup'}; nothing was restored`);
      }
      routed = report.entries
        .filter((e) => e.status === 'verified' && e.target !== undefined)
        .map((e) => ({ entry: e.name, target: options.targets.find((t) => t.name === e.target) as RestoreTarget }));
      if (routed.length === 0)
        throw new GateFailure('no restore target accepts any entry of this backup: nothing to restore');
    });
    if (!ok2) return;

    // Gate 4 (before 3): every target that overwrites something keeps a way back; write the pending record.
    const ok4 = await gate('record', async (g) => {
      const allowed = options.allowNoWayBack;
      const seen = new Set<RestoreTarget>();
      for (const r of routed) {
        if (seen.has(r.target)) continue;
        seen.add(r.target);
        const w = wayBackOf(r.target);
        wayBacks.push(w);
        g.evidence.push(`${w.target}: ${w.detail}`);
      }
      const missing = wayBacks.filter(
        (w) => w.kind === 'none' && !(allowed === true || (Array.isArray(allowed) && allowed.includes(w.target))),
      );
      const waived = wayBacks.filter((w) => w.kind === 'none' && !missing.includes(w));
      for (const w of waived) g.warnings.push(`${w.target} has no way back; allowed by allowNoWayBack`);
      if (missing.length) {
        throw new GateFailure(
          `${missing.map((w) => w.target).join(', ')} cannot keep a way back; allow it explicitly (allowNoWayBack) or restore without ${missing.length > 1 ? 'them' : 'it'}`,
        );
      }
      if (dryRun) {
        g.status = 'would-run';
        g.reason = `would write a restore record into ${stateDir}`;
        return;
      }
      const now = new Date().toISOString();
      await saveRecord({
        format: 1,
        id: newRestoreId(),
        createdAt: now,
        updatedAt: now,
        status: 'pending',
        source: job
          ? { type: 'duplicati', job: (job as JobRef).name, version: versionNo as number, time: versionTime as string }
          : { type: 'folder', from: from as string },
        manifest: manifest ? { host: (manifest as Manifest).host, startedAt: (manifest as Manifest).startedAt } : null,
        targets: [],
        history: [{ at: now, action: 'gates 1, 2 and 4 passed' }],
      });
      g.evidence.push(`restore record ${(record as RestoreRecord | null)?.id} (pending) in ${recordFile}`);
    });
    if (!ok4) return;

    // Gate 5 (before 3): warn users while Jellyfin can still show them a message.
    const targetsText = [...new Set(routed.map((r) => r.target.name))].join(', ');
    const what = job ? `version ${versionNo} (${versionTime}) of "${(job as JobRef).name}"` : `the backup in ${from}`;
    const warning =
      options.warning ??
      `A restore of ${what} is starting: ${targetsText} will be replaced and services may be stopped for a while.`;
    await gate('warn', async (g) => {
      const notifiers = options.notifiers ?? [];
      if (notifiers.length === 0 && !options.jellyfin) {
        g.status = 'skipped';
        g.reason = 'no notifiers and no Jellyfin API configured';
        return;
      }
      if (dryRun) {
        g.status = 'would-run';
        g.reason = `would tell ${[...notifiers.map((n) => n.name), ...(options.jellyfin ? ['Jellyfin sessions'] : [])].join(', ')}: ${warning}`;
        return;
      }
      const sent = await notifyAll(
        notifiers,
        { kind: 'warning', title: 'Restore starting', message: warning, ...(job ? { job: (job as JobRef).name } : {}) },
        { signal, logger },
      );
      notified.push(...sent);
      for (const n of sent) {
        if (n.ok) g.evidence.push(`told ${n.notifier}`);
        else g.warnings.push(`${n.notifier}: ${firstLine(n.error)}`);
      }
      if (options.jellyfin) {
        try {
          const r = await options.jellyfin.messageSessions(
            { header: 'Maintenance', text: warning, timeoutMs: 30_000 },
            { signal },
          );
          g.evidence.push(`Jellyfin: message shown on ${r.sent} session(s)`);
          for (const f of r.failed) g.warnings.push(`Jellyfin session ${f.session}: ${f.error}`);
        } catch (e) {
          if (signal.aborted) throw e;
          g.warnings.push(`Jellyfin message failed: ${firstLine(e)}`);
        }
      }
    });

    // Gate 3: maintenance window.
    const ok3 = await gate('maintenance', async (g) => {
      if (!hasMaintenance) {
        g.status = 'skipped';
        g.reason = 'no maintenance configured (no Immich API, Jellyfin or stop/start commands)';
        return;
      }
      const describe = [
        ...(maintenance.immich ? ['pause the Immich job queues'] : []),
        ...(maintenance.jellyfin?.stop ? [`stop Jellyfin: ${maintenance.jellyfin.stop.join(' ')}`] : []),
        ...(maintenance.stop ?? []).map((c) => `stop: ${c.join(' ')}`),
      ];
      if (dryRun) {
        g.status = 'would-run';
        g.reason = describe.join('; ') || 'nothing to stop';
        g.evidence.push(
          ...[...(maintenance.start ?? []), ...(maintenance.jellyfin?.start ? [maintenance.jellyfin.start] : [])].map(
            (c) => `afterwards start: ${c.join(' ')}`,
          ),
          ...(maintenance.immich ? ['afterwards resume the Immich queues'] : []),
        );
        return;
      }
      try {
        window = await openMaintenanceWindow({ ...maintenance, logger }, { signal });
      } catch (e) {
        if (e instanceof MaintenanceError) servicesLog = e.log;
        throw e;
      }
      const log = window.log;
      if (log.pausedQueues.length) g.evidence.push(`paused Immich queues: ${log.pausedQueues.join(', ')}`);
      for (const c of log.stopped)
        g.evidence.push(`ran ${c.argv.join(' ')} (exit ${c.exitCode}, ${Math.round(c.durationMs)} ms)`);
    });
    if (!ok3) {
      if (record) {
        await saveRecord(withHistory(record, 'failed', 'maintenance window could not be opened; nothing restored'));
      }
      return;
    }

    // Gate 6: restore, plan B = the restore plan's automatic rollback; restore points kept.
    await gate('restore', async (g) => {
      if (dryRun) {
        g.status = 'would-run';
        g.reason = `would restore ${routed.map((r) => `${r.entry} -> ${r.target.name}`).join(', ')}; on failure roll back automatically${options.finalize ? '' : '; keep the restore points for restore-points rollback/drop'}`;
        return;
      }
      const report = await plan.run({
        from: from as string,
        dryRun: false,
        reject: false,
        finalize: options.finalize === true,
        verifyTargets: false,
        signal,
        ...(runDir ? { workDir: path.join(runDir, 'work') } : {}),
        ...only,
        ...progress,
      });
      restore = report;
      const recorded: RecordedTarget[] = report.entries
        .filter((e) => e.output && e.target && ['restored', 'rolled-back', 'rollback-failed'].includes(e.status))
        .map((e) => ({
          name: e.target as string,
          kind: options.targets.find((t) => t.name === e.target)?.kind ?? e.kind,
          entry: e.name,
          output: recordOutput(e.output as NonNullable<typeof e.output>),
          state:
            e.status === 'restored'
              ? options.finalize
                ? 'dropped'
                : 'applied'
              : e.status === 'rolled-back'
                ? 'rolled-back'
                : 'rollback-failed',
          ...(e.error ? { error: firstLine(e.error) } : {}),
        }));
      for (const e of report.entries) {
        g.evidence.push(
          `${e.name}${e.target ? ` -> ${e.target}` : ''}: ${e.status}${e.output?.safetyCopy ? ` (way back: ${e.output.safetyCopy})` : ''}${e.error ? ` — ${firstLine(e.error)}` : ''}`,
        );
      }
      const stuck = recorded.filter((t) => t.state === 'rollback-failed');
      const status: RestoreRecordStatus = report.ok
        ? options.finalize
          ? 'dropped'
          : 'applied'
        : stuck.length
          ? 'rollback-failed'
          : recorded.length
            ? 'rolled-back'
            : 'failed';
      if (record) {
        await saveRecord({
          ...withHistory(
            record as RestoreRecord,
            status,
            report.ok
              ? 'restored'
              : `restore failed; automatic rollback: ${stuck.length ? 'FAILED for some targets' : 'done'}`,
          ),
          targets: recorded,
        });
        g.evidence.push(`restore record ${(record as RestoreRecord).id}: ${status}`);
      }
      if (!report.ok) {
        rolledBack = stuck.length === 0;
        const failed = report.entries.find((e) => e.status === 'failed');
        throw new GateFailure(
          `${failed ? `${failed.name} failed: ${firstLine(failed.error)}` : 'the restore failed'}; ${stuck.length ? `rollback FAILED for ${stuck.map((t) => `${t.name} (safety copy: ${t.output.safetyCopy ?? 'none'})`).join(', ')}` : 'every applied target was rolled back'}`,
        );
      }
    });
  };

  try {
    await runGates();
  } catch (e) {
    // Only the caller's abort gets here; the restore plan rolled back whatever it had applied.
    const rec = record as RestoreRecord | null;
    if (rec?.status === 'pending') {
      await saveRecord(withHistory(rec, 'failed', 'aborted by the caller; anything applied was rolled back')).catch(
        (w: unknown) => logger.error('could not update the restore record', { error: String(w) }),
      );
    }
    throw e;
  } finally {
    if (window) {
      servicesLog = await window.close();
      const started = servicesLog.started.every((c) => c.ok) && servicesLog.queuesResumed !== false;
      const m = drafts.get('maintenance');
      if (m && !started) m.warnings.push('some services could not be started again: see services.log');
    }
    if (runDir && !options.keepStaging) {
      await fsp
        .rm(runDir, { recursive: true, force: true })
        .catch((e: unknown) => logger.warn('could not remove the staging folder', { dir: runDir, error: String(e) }));
    }
  }
  // Whoever was warned hears how it ended.
  const restoreGate = drafts.get('restore');
  if (!dryRun && notified.some((n) => n.ok) && restoreGate && restoreGate.ranAs !== null) {
    const ok = restoreGate.status === 'passed';
    const rec = record as RestoreRecord | null;
    notified.push(
      ...(await notifyAll(
        options.notifiers ?? [],
        {
          kind: ok ? 'success' : 'failure',
          title: ok ? 'Restore finished' : 'Restore failed',
          message: [
            ok
              ? 'The restore finished and was verified.'
              : `The restore failed: ${restoreGate.reason ?? 'see the report'}`,
            ...(rec ? [`Restore point: ${rec.id} (${rec.status})`] : []),
          ].join('\n'),
          durationMs: Math.round(performance.now() - t0),
          ...(job ? { job: (job as JobRef).name } : {}),
        },
        { logger },
      )),
    );
  }
  return finish();

  function finish(): ChecklistReport {
    const order: GateId[] = ['identify', 'verify', 'record', 'warn', 'maintenance', 'restore'];
    const failedAt = order.find((id) => drafts.get(id)?.status === 'failed');
    if (failedAt) skipRest(order, `gate ${CHECKLIST_GATES.find((g) => g.id === failedAt)?.number} failed`);
    const gates = CHECKLIST_GATES.map((g) => gateOut(g.id));
    const ok = !gates.some((g) => g.status === 'failed');
    const log = servicesLog as MaintenanceLog | null;
    const stopped = log !== null && (log.stopped.length > 0 || log.pausedQueues.length > 0);
    const rec = record as RestoreRecord | null;
    const m = manifest as Manifest | null;
    return {
      ok,
      dryRun,
      gates,
      backup: {
        job,
        version: versionNo,
        versionTime,
        from,
        manifest: m ? { host: m.host, startedAt: m.startedAt, sources: m.sources.map((s) => s.name) } : null,
      },
      verification,
      restore,
      record: rec && recordFile ? { id: rec.id, file: recordFile, status: rec.status } : null,
      services: {
        stopped,
        restarted: log && stopped ? log.started.every((c) => c.ok) && log.queuesResumed !== false : null,
        log,
      },
      rolledBack,
      notified,
      durationMs: Math.round(performance.now() - t0),
    };
  }
}

function withHistory(record: RestoreRecord, status: RestoreRecordStatus, action: string): RestoreRecord {
  const at = new Date().toISOString();
  return { ...record, status, updatedAt: at, history: [...record.history, { at, action }] };
}
