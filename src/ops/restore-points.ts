/**
 * Restore points kept after a gated restore: a JSON record per restore (written atomically) with
 * each applied target's name, kind and `RestoreOutput`, so the restore can be rolled back, or its
 * ways back (`<db>_before_restore_<ts>` databases, safety copies) dropped, later and by another
 * process — the targets are rebuilt from the config and handed their recorded outputs.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { neverAborted, throwIfAborted } from '../core/abort.js';
import { ConfigError, DuplicatiKitError, errorGuard } from '../core/errors.js';
import { writeFileAtomic } from '../core/fs.js';
import { acquireLock, type LockHandle } from '../core/lock.js';
import { type Logger, silentLogger } from '../core/logger.js';
import { sourceContext } from '../plan/backup-plan.js';
import { lockRestoreTargets } from '../plan/restore-plan.js';
import type { RestoreOutput, RestoreTarget } from '../contracts/types.js';

/** Where a record stands. */
export type RestoreRecordStatus =
  /**
   * Gate 4 passed and the restore is running, or was interrupted (a crash mid-restore leaves
   * this, with every target that had begun changing live data written ahead as `applying`).
   */
  | 'pending'
  /** Applied; restore points kept. */
  | 'applied'
  /** The restore failed and every applied target was rolled back. */
  | 'rolled-back'
  /** A rollback (automatic or by hand) failed: manual action needed, see the safety copies. */
  | 'rollback-failed'
  /** Applied, and the restore points were dropped: final. */
  | 'dropped'
  /** Failed before anything was applied. */
  | 'failed';

/** One applied target of a record. */
export interface RecordedTarget {
  readonly name: string;
  readonly kind: string;
  /** The manifest entry it restored. */
  readonly entry: string;
  readonly output: RestoreOutput;
  /**
   * What happened to it since. `applying`: the target wrote ahead that it was about to change
   * live data (the output is its way back from any point of that step) and did not report back.
   */
  readonly state: RecordedTargetState;
  readonly error?: string;
}

/** The states of a {@link RecordedTarget}. */
export type RecordedTargetState =
  | 'applying'
  | 'applied'
  | 'rolled-back'
  | 'rollback-failed'
  | 'dropped'
  | 'drop-failed';

/** A restore record (`restore-<id>.json`). */
export interface RestoreRecord {
  readonly format: 1;
  readonly id: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly status: RestoreRecordStatus;
  /** Where the restored material came from. */
  readonly source:
    | { readonly type: 'duplicati'; readonly job: string; readonly version: number; readonly time: string }
    | { readonly type: 'folder'; readonly from: string };
  /** Host and time of the backup's manifest. */
  readonly manifest: { readonly host: string; readonly startedAt: string } | null;
  readonly targets: readonly RecordedTarget[];
  /** Every action on this record, oldest first. */
  readonly history: readonly { readonly at: string; readonly action: string; readonly detail?: string }[];
}

const recordedOutput = z
  .object({ restored: z.array(z.string()), safetyCopy: z.string().optional() })
  .passthrough() as unknown as z.ZodType<RestoreOutput>;
const recordSchema = z
  .object({
    format: z.literal(1),
    id: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
    status: z.enum(['pending', 'applied', 'rolled-back', 'rollback-failed', 'dropped', 'failed']),
    source: z.union([
      z.object({ type: z.literal('duplicati'), job: z.string(), version: z.number(), time: z.string() }),
      z.object({ type: z.literal('folder'), from: z.string() }),
    ]),
    manifest: z.object({ host: z.string(), startedAt: z.string() }).nullable(),
    targets: z.array(
      z.object({
        name: z.string(),
        kind: z.string(),
        entry: z.string(),
        output: recordedOutput,
        state: z.enum(['applying', 'applied', 'rolled-back', 'rollback-failed', 'dropped', 'drop-failed']),
        error: z.string().optional(),
      }),
    ),
    history: z.array(z.object({ at: z.string(), action: z.string(), detail: z.string().optional() })),
  })
  .passthrough();

const ID_RE = /^\d{8}T\d{9}Z-[0-9a-f]{6}$/;
const fileOf = (stateDir: string, id: string): string => path.join(stateDir, `restore-${id}.json`);

/** The record is missing, unreadable, or refuses the action (`ERR_RESTORE_RECORD`). */
export class RestoreRecordError extends DuplicatiKitError {
  static override readonly errorName: string = 'RestoreRecordError';
  static override readonly defaultCode: string = 'ERR_RESTORE_RECORD';
}

/**
 * True when `e` is a {@link RestoreRecordError}, from this copy of the package or another.
 *
 * @example
 * ```ts
 * if (isRestoreRecordError(e)) console.error('no way back:', e.message);
 * ```
 */
export const isRestoreRecordError = errorGuard<RestoreRecordError>('RestoreRecordError');

/** `record` with a new status and one more history line (with `detail` when given). */
export function withHistory(
  record: RestoreRecord,
  status: RestoreRecordStatus,
  action: string,
  detail?: string,
): RestoreRecord {
  const at = new Date().toISOString();
  const line = detail === undefined ? { at, action } : { at, action, detail };
  return { ...record, status, updatedAt: at, history: [...record.history, line] };
}

/** A new record id: sortable by time (to the millisecond), unique. */
export function newRestoreId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:.]/g, '');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

/** Write a record atomically (temp file, fsync, rename). */
export async function writeRestoreRecord(
  stateDir: string,
  record: RestoreRecord,
  options: { signal?: AbortSignal } = {},
): Promise<string> {
  await fsp.mkdir(stateDir, { recursive: true, mode: 0o700 });
  const file = fileOf(stateDir, record.id);
  await writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600, ...options });
  return file;
}

/** Read one record by id. */
export async function readRestoreRecord(stateDir: string, id: string): Promise<RestoreRecord> {
  if (!ID_RE.test(id)) {
    throw new ConfigError(`"${id}" is not a restore point id`, [
      { path: 'id', message: 'like 20261129T103000123Z-1a2b3c (see restore-points list)' },
    ]);
  }
  let text: string;
  try {
    text = await fsp.readFile(fileOf(stateDir, id), 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new RestoreRecordError(
      code === 'ENOENT' ? `no restore point ${id} in ${stateDir}` : `cannot read restore point ${id}: ${code}`,
      { cause: e, code: code === 'ENOENT' ? 'ERR_NO_RESTORE_POINT' : 'ERR_RESTORE_RECORD' },
    );
  }
  try {
    return recordSchema.parse(JSON.parse(text)) as RestoreRecord;
  } catch (e) {
    throw new RestoreRecordError(`restore point ${id} is damaged: ${(e as Error).message.split('\n')[0]}`, {
      cause: e,
    });
  }
}

/**
 * Every restore record in `stateDir`, newest first. Damaged files are skipped (and logged).
 *
 * @example
 * ```ts
 * const points = await listRestorePoints({ stateDir: '/var/lib/duplicati-kit/restores' });
 * for (const p of points.filter((x) => x.status === 'applied')) console.log(p.id, p.targets.map((t) => t.output.safetyCopy));
 * ```
 */
export async function listRestorePoints(options: {
  stateDir: string;
  signal?: AbortSignal;
  logger?: Logger;
}): Promise<RestoreRecord[]> {
  const names = await fsp.readdir(options.stateDir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [] as string[];
    throw e;
  });
  const out: RestoreRecord[] = [];
  for (const n of names
    .filter((x) => /^restore-.*\.json$/.test(x))
    .sort()
    .reverse()) {
    throwIfAborted(options.signal);
    const id = n.slice('restore-'.length, -'.json'.length);
    try {
      out.push(await readRestoreRecord(options.stateDir, id));
    } catch (e) {
      (options.logger ?? silentLogger).warn('skipping an unreadable restore record', {
        file: n,
        error: (e as Error).message,
      });
    }
  }
  return out;
}

/** Options of {@link rollbackRestore} and {@link dropRestorePoints}. */
export interface RestorePointActionOptions {
  readonly stateDir: string;
  readonly id: string;
  /**
   * The targets, rebuilt the way the restore built them (from the config); each recorded target
   * is matched by name. For {@link dropRestorePoints}, build database targets without
   * `keepSafetyCopy` (the CLI does), or their `finalize` keeps the copy.
   */
  readonly targets: readonly RestoreTarget[];
  /** Roll back even though a newer applied restore touched the same targets. @default false */
  readonly force?: boolean;
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
  /** Scratch folder handed to targets. @default `<stateDir>/work` */
  readonly workDir?: string;
}

/** What {@link rollbackRestore} and {@link dropRestorePoints} return. */
export interface RestorePointActionResult {
  readonly ok: boolean;
  readonly record: RestoreRecord;
  readonly file: string;
  /** The point was already rolled back (or dropped): nothing was done, and that is not an error. */
  readonly alreadyDone?: boolean;
}

function targetFor(targets: readonly RestoreTarget[], rec: RecordedTarget): RestoreTarget {
  const t = targets.find((x) => x.name === rec.name && x.kind === rec.kind) ?? targets.find((x) => x.name === rec.name);
  if (!t) {
    throw new RestoreRecordError(
      `the config has no restore target named "${rec.name}" (${rec.kind}); known: ${targets.map((x) => x.name).join(', ') || 'none'}`,
      { code: 'ERR_NO_SUCH_TARGET' },
    );
  }
  return t;
}

/** Take the restore state folder's lock (one restore or restore-point action at a time). */
export async function lockStateDir(
  stateDir: string,
  purpose: string,
  options: { signal?: AbortSignal; logger?: Logger } = {},
): Promise<LockHandle> {
  await fsp.mkdir(stateDir, { recursive: true, mode: 0o700 });
  return acquireLock(stateDir, { purpose, ...options });
}

/** Targets a rollback (or drop) acts on, by record status. */
const ACTIVE: Record<'rollback' | 'drop', readonly RecordedTargetState[]> = {
  rollback: ['applying', 'applied', 'rollback-failed'],
  drop: ['applied', 'drop-failed'],
};

function refuseState(record: RestoreRecord, action: 'rollback' | 'drop'): void {
  // A failed rollback may be retried; a failed one's safety copies are never dropped. A pending
  // record whose writer is gone (we hold the state lock) is an interrupted restore: roll it back.
  const ok =
    record.status === 'applied' ||
    (action === 'rollback' && (record.status === 'rollback-failed' || record.status === 'pending'));
  if (ok) return;
  throw new RestoreRecordError(
    record.status === 'pending'
      ? `restore point ${record.id} was interrupted before it finished: roll it back (restore-points rollback ${record.id}) before dropping anything`
      : `restore point ${record.id} is ${record.status}: there is nothing to ${action === 'rollback' ? 'roll back' : 'drop'}`,
    { code: 'ERR_RESTORE_POINT_STATE' },
  );
}

async function refuseNewer(
  options: RestorePointActionOptions,
  record: RestoreRecord,
  live: readonly RecordedTarget[],
  logger: Logger,
): Promise<void> {
  const names = new Set(live.map((t) => t.name));
  const newer = (await listRestorePoints({ stateDir: options.stateDir, logger })).filter(
    (r) =>
      r.id > record.id &&
      (r.status === 'applied' || r.status === 'pending') &&
      r.targets.some((t) => (t.state === 'applied' || t.state === 'applying') && names.has(t.name)),
  );
  if (newer.length) {
    throw new RestoreRecordError(
      `restore point ${record.id} is older than restore ${newer.map((r) => r.id).join(', ')}, applied on top of it to the same targets: roll ${newer.length > 1 ? 'those' : 'that one'} back first (newest first), or drop ${newer.length > 1 ? 'them' : 'it'} to keep the newer state`,
      { code: 'ERR_NEWER_RESTORE' },
    );
  }
}

async function act(
  options: RestorePointActionOptions,
  action: 'rollback' | 'drop',
  how: { lockHeld: boolean; by: string },
): Promise<RestorePointActionResult> {
  const logger = options.logger ?? silentLogger;
  const stateLock = how.lockHeld
    ? undefined
    : await lockStateDir(options.stateDir, `restore-points ${action} ${options.id}`, {
        ...(options.signal ? { signal: options.signal } : {}),
        logger,
      });
  try {
    const record = await readRestoreRecord(options.stateDir, options.id);
    // Asking again for what is already done changes nothing and is not an error (a script or a
    // second terminal may repeat it): the result says so with `alreadyDone`.
    if (record.status === (action === 'rollback' ? 'rolled-back' : 'dropped')) {
      logger.info(`restore point ${record.id} is already ${record.status}: nothing to do`);
      return { ok: true, record, file: fileOf(options.stateDir, record.id), alreadyDone: true };
    }
    refuseState(record, action);
    const live = record.targets.filter((t) => ACTIVE[action].includes(t.state));
    // Resolve every target before touching anything: a missing one must not leave half a rollback.
    const pairs = live.map((rec) => ({ rec, target: targetFor(options.targets, rec) }));
    if (action === 'rollback') {
      for (const p of pairs) {
        if (!p.target.rollback) {
          throw new RestoreRecordError(`target ${p.rec.name} cannot roll back`, { code: 'ERR_NO_ROLLBACK' });
        }
      }
      if (!options.force) await refuseNewer(options, record, live, logger);
    }
    const locks = await lockRestoreTargets(
      pairs.map((p) => p.target),
      {
        purpose: `restore-points ${action} ${record.id}`,
        logger,
        ...(options.signal ? { signal: options.signal } : {}),
      },
    );
    try {
      return await actOn(options, record, pairs, action, how.by);
    } finally {
      await locks.release();
    }
  } finally {
    await stateLock?.release();
  }
}

async function actOn(
  options: RestorePointActionOptions,
  record: RestoreRecord,
  pairs: readonly { rec: RecordedTarget; target: RestoreTarget }[],
  action: 'rollback' | 'drop',
  by: string,
): Promise<RestorePointActionResult> {
  const logger = options.logger ?? silentLogger;
  const signal = options.signal ?? neverAborted();
  const workDir = options.workDir ?? path.join(options.stateDir, 'work');
  const results = new Map<RecordedTarget, RecordedTarget>();
  // Roll back newest first; drop in any order.
  const order = action === 'rollback' ? [...pairs].reverse() : pairs;
  for (const { rec, target } of order) {
    const ctx = sourceContext(target, { workDir, signal, logger, dryRun: false });
    try {
      if (action === 'rollback') await target.rollback?.(rec.output, ctx);
      else await target.finalize?.(rec.output, ctx);
      const { error: _e, ...rest } = rec;
      results.set(rec, { ...rest, state: action === 'rollback' ? 'rolled-back' : 'dropped' });
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      logger.error(`${action} failed`, { target: rec.name, safetyCopy: rec.output.safetyCopy, error: String(e) });
      results.set(rec, {
        ...rec,
        state: action === 'rollback' ? 'rollback-failed' : 'drop-failed',
        error: (e as Error).message.split('\n')[0] ?? String(e),
      });
    }
  }
  const targets = record.targets.map((t) => results.get(t) ?? t);
  const failed = targets.filter((t) => t.state === 'rollback-failed' || t.state === 'drop-failed');
  const interrupted = record.status === 'pending';
  const status: RestoreRecordStatus =
    action === 'rollback'
      ? failed.length
        ? 'rollback-failed'
        : interrupted && pairs.length === 0
          ? 'failed'
          : 'rolled-back'
      : failed.some((t) => t.state === 'drop-failed')
        ? record.status
        : 'dropped';
  const what =
    action === 'rollback'
      ? interrupted
        ? `interrupted restore rolled back (${by})`
        : `rollback (${by})`
      : 'drop restore points';
  const updated: RestoreRecord = {
    ...withHistory(
      record,
      status,
      what,
      failed.length ? failed.map((t) => `${t.name}: ${t.error}`).join('; ') : undefined,
    ),
    targets,
  };
  const file = await writeRestoreRecord(options.stateDir, updated);
  return { ok: failed.length === 0, record: updated, file };
}

/**
 * Roll back an applied restore by hand: every recorded target's `rollback` with its recorded
 * output, newest first (a PostgreSQL target renames `<db>_before_restore_<ts>` back). Refuses a
 * record that a newer applied restore of the same targets sits on top of, unless `force`.
 *
 * @example
 * ```ts
 * const cfg = await loadConfig('/etc/duplicati-kit.yaml');
 * await rollbackRestore({ stateDir: '/var/lib/duplicati-kit/restores', id: '20261129T103000Z-1a2b3c', targets: cfg.targets });
 * ```
 */
export function rollbackRestore(options: RestorePointActionOptions): Promise<RestorePointActionResult> {
  return act(options, 'rollback', { lockHeld: false, by: 'by hand' });
}

/**
 * Roll back every interrupted restore of `stateDir` (records left `pending` by a process that
 * died), oldest last: what each target wrote ahead is undone, so the live data is the state
 * before that restore. The next checklist restore calls this before it changes anything. Pass
 * `lockHeld` only while holding the state folder's lock ({@link lockStateDir}); `except` skips the
 * caller's own pending record.
 *
 * @example
 * ```ts
 * const results = await recoverInterruptedRestores({ stateDir, targets: cfg.targets });
 * for (const r of results) console.log(r.record.id, r.record.status);
 * ```
 */
export async function recoverInterruptedRestores(
  options: Omit<RestorePointActionOptions, 'id' | 'force'> & { lockHeld?: boolean; except?: string },
): Promise<RestorePointActionResult[]> {
  const logger = options.logger ?? silentLogger;
  const stateLock = options.lockHeld
    ? undefined
    : await lockStateDir(options.stateDir, 'recover interrupted restores', {
        ...(options.signal ? { signal: options.signal } : {}),
        logger,
      });
  try {
    const pending = (await listRestorePoints({ stateDir: options.stateDir, logger })).filter(
      (r) => r.status === 'pending' && r.id !== options.except,
    );
    const out: RestorePointActionResult[] = [];
    // Newest first: a later interrupted restore sits on top of an earlier one.
    for (const r of pending) {
      out.push(
        await act({ ...options, id: r.id, force: true }, 'rollback', { lockHeld: true, by: 'by the next restore' }),
      );
    }
    return out;
  } finally {
    await stateLock?.release();
  }
}

/**
 * Make an applied restore final: every recorded target's `finalize`, which drops its way back
 * (the `<db>_before_restore_<ts>` database of PostgreSQL and Immich targets, safety copies of
 * files and folders). The record stays, marked `dropped`.
 *
 * @example
 * ```ts
 * await dropRestorePoints({ stateDir, id, targets: cfg.targets });
 * ```
 */
export function dropRestorePoints(options: RestorePointActionOptions): Promise<RestorePointActionResult> {
  return act(options, 'drop', { lockHeld: false, by: 'by hand' });
}

/** A JSON copy of a target's output (what a record stores). */
export function recordOutput(output: RestoreOutput): RestoreOutput {
  return JSON.parse(JSON.stringify(output)) as RestoreOutput;
}
