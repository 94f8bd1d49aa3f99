/**
 * Generic SQLite source and target, for any application that keeps its state in one SQLite file.
 *
 * {@link SqliteSource} takes a consistent online snapshot while the application keeps writing,
 * checks it with `PRAGMA integrity_check`, counts rows in it, and publishes it as one artifact.
 * {@link SqliteTarget} verifies a restored snapshot and puts it in place of the live file with a
 * safety copy, or restores it into a throwaway copy (`scratch: true`) for drills.
 *
 * better-sqlite3 is loaded on first use only.
 *
 * @module
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { DumpError, RestoreError, SourceUnavailableError, VerificationError } from '../../core/errors.js';
import { safeRelativePath } from '../../core/fs.js';
import { configErrorFrom } from '../../core/validate.js';
import { closeQuietly, tableNames } from './driver.js';
import {
  type Check,
  checkDatabaseFile,
  dropSafetyCopy,
  InstallFailure,
  type InstallState,
  installDatabase,
  putBack,
} from './install.js';
import {
  DEFAULT_BUSY_TIMEOUT_MS,
  openLive,
  SnapshotFailure,
  type SnapshotMethod,
  type SnapshotResult,
  takeSnapshot,
} from './snapshot.js';
import type {
  BackupSource,
  JsonValue,
  ManifestEntry,
  PreparedSource,
  ResolvedArtifact,
  RestoreInput,
  RestoreOutput,
  RestoreTarget,
  SourceContext,
  VerificationReport,
} from '../../contracts/types.js';

function parseOptions<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw configErrorFrom(`invalid ${what} options`, parsed.error);
  return parsed.data;
}

const sourceName = z
  .string()
  .min(1)
  .refine((s) => safeRelativePath(s) === s && !s.includes('/'), 'must be usable as a folder name');

const tuning = {
  /** Pages per online-backup step. */
  pagesPerStep: z.number().int().positive().optional(),
  /** Restarts tolerated before the rest is copied in one step. */
  maxRestarts: z.number().int().nonnegative().optional(),
  busyTimeoutMs: z.number().int().nonnegative().optional(),
  integrity: z.enum(['full', 'quick']).optional(),
};

const sqliteSourceSchema = z
  .object({
    name: sourceName,
    path: z.string().min(1),
    counts: z.array(z.string().min(1)).optional(),
    method: z.enum(['backup', 'vacuum']).optional(),
    artifactName: z
      .string()
      .min(1)
      .refine((s) => safeRelativePath(s) === s, 'must be a relative file name')
      .optional(),
    ...tuning,
  })
  .strict();

/** Options of {@link SqliteSource}. */
export interface SqliteSourceOptions {
  /** Name in the plan and the manifest; also the folder of its artifact. */
  readonly name: string;
  /** The live database file. */
  readonly path: string;
  /** Tables whose row counts go into the manifest (counted in the snapshot). */
  readonly counts?: readonly string[];
  /**
   * `backup` (default): SQLite's online backup in large steps, progress in pages, the rest in one
   * step after `maxRestarts` restarts. `vacuum`: `VACUUM INTO` (compacted output, no progress).
   */
  readonly method?: SnapshotMethod;
  /** File name of the snapshot artifact. @default the live file's name */
  readonly artifactName?: string;
  /** Pages per backup step. @default 4096 */
  readonly pagesPerStep?: number;
  /** Restarts caused by the application's writes before the rest goes in one step. @default 1 */
  readonly maxRestarts?: number;
  /** How long to wait on the application's locks. @default 5000 */
  readonly busyTimeoutMs?: number;
  /** `full`: `PRAGMA integrity_check`; `quick`: `quick_check` (faster on big files). @default 'full' */
  readonly integrity?: 'full' | 'quick';
}

/** Map a snapshot failure to the error class a plan reports. */
export function snapshotError(e: unknown, where: { source: string; kind: string; phase: 'check' | 'prepare' }) {
  if (!(e instanceof SnapshotFailure)) return e;
  const options = { cause: e.cause ?? e, code: `ERR_SQLITE_${e.reason.toUpperCase()}` };
  const detail = e.problems.length > 0 ? `: ${e.problems.slice(0, 5).join('; ')}` : '';
  if (e.reason === 'missing' || e.reason === 'locked' || e.reason === 'open' || where.phase === 'check') {
    return new SourceUnavailableError(`${e.message}${detail}`, where, options);
  }
  return new DumpError(`${e.message}${detail}`, where, options);
}

/**
 * Back up one SQLite database: a consistent online snapshot, checked, counted, published as one
 * artifact. The live file is opened read-only and no transaction is held longer than a copy step.
 *
 * @example
 * ```ts
 * import { createBackupPlan, SqliteSource } from 'duplicati-kit';
 * const plan = createBackupPlan({
 *   workDir: '/srv/backup/staging',
 *   sources: [new SqliteSource({ name: 'vaultwarden', path: '/srv/vaultwarden/db.sqlite3', counts: ['users'] })],
 * });
 * await plan.prepare();
 * ```
 */
export class SqliteSource implements BackupSource {
  readonly name: string;
  readonly kind = 'sqlite';
  readonly #o: z.infer<typeof sqliteSourceSchema>;

  constructor(options: SqliteSourceOptions) {
    this.#o = parseOptions(sqliteSourceSchema, options, 'SqliteSource');
    this.name = this.#o.name;
  }

  /** The live database file. */
  get path(): string {
    return this.#o.path;
  }

  /** The file exists, opens read-only, is not locked exclusively, and has the tables to count. */
  async check(ctx: SourceContext): Promise<void> {
    const where = { source: this.name, kind: this.kind, phase: 'check' as const };
    try {
      const db = await openLive(this.#o.path, { busyTimeoutMs: this.#o.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS });
      try {
        const present = tableNames(db);
        const missing = (this.#o.counts ?? []).filter((t) => !present.has(t));
        if (missing.length > 0) {
          throw new SourceUnavailableError(
            `${this.#o.path} has no table ${missing.join(', ')} to count (check the counts option)`,
            where,
            { code: 'ERR_SQLITE_TABLES' },
          );
        }
      } finally {
        closeQuietly(db);
      }
    } catch (e) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      throw snapshotError(e, where);
    }
  }

  /** Snapshot, check, count, publish. */
  async prepare(ctx: SourceContext): Promise<PreparedSource> {
    const o = this.#o;
    const artifactName = o.artifactName ?? path.basename(o.path);
    let result: SnapshotResult | undefined;
    try {
      const ref = await ctx.artifacts.adopt(artifactName, { format: 'sqlite', signal: ctx.signal }, async (partial) => {
        result = await takeSnapshot({
          live: o.path,
          dest: partial,
          signal: ctx.signal,
          ...snapshotTuning(o),
          ...(o.method ? { method: o.method } : {}),
          ...(o.counts ? { counts: o.counts } : {}),
          onPages: (completed, total) =>
            ctx.onProgress({ phase: 'prepare', unit: 'pages', completed, total, description: o.path }),
        });
      });
      const r = result as unknown as SnapshotResult;
      ctx.logger.info('sqlite snapshot taken', { file: o.path, pages: r.snapshot.pageCount, restarts: r.restarts });
      return { artifacts: [ref], metadata: snapshotMetadata(o.path, r) };
    } catch (e) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      throw snapshotError(e, { source: this.name, kind: this.kind, phase: 'prepare' });
    }
  }
}

/** The tuning options of a snapshot, without undefined keys. */
export function snapshotTuning(o: {
  pagesPerStep?: number | undefined;
  maxRestarts?: number | undefined;
  busyTimeoutMs?: number | undefined;
  integrity?: 'full' | 'quick' | undefined;
}): { pagesPerStep?: number; maxRestarts?: number; busyTimeoutMs?: number; integrity?: 'full' | 'quick' } {
  return {
    ...(o.pagesPerStep !== undefined ? { pagesPerStep: o.pagesPerStep } : {}),
    ...(o.maxRestarts !== undefined ? { maxRestarts: o.maxRestarts } : {}),
    ...(o.busyTimeoutMs !== undefined ? { busyTimeoutMs: o.busyTimeoutMs } : {}),
    ...(o.integrity !== undefined ? { integrity: o.integrity } : {}),
  };
}

/** The manifest metadata of one snapshot. */
export function snapshotMetadata(file: string, r: SnapshotResult): Record<string, JsonValue> {
  return {
    file,
    method: r.method,
    restarts: r.restarts,
    sqliteVersion: r.snapshot.sqliteVersion,
    pageSize: r.snapshot.pageSize,
    pageCount: r.snapshot.pageCount,
    journalMode: r.live.journalMode,
    userVersion: r.snapshot.userVersion,
    counts: r.counts,
  };
}

/** What a {@link SqliteTarget} version gate sees. */
export interface SqliteGateInput {
  /** The manifest metadata of the snapshot. */
  readonly metadata: Readonly<Record<string, JsonValue>>;
  /** The restored snapshot file (read it, do not change it). */
  readonly file: string;
  readonly signal: AbortSignal;
}

/**
 * A version gate: return (or resolve to) a message to refuse the restore, or undefined to allow it.
 */
export type SqliteVersionGate = (input: SqliteGateInput) => string | undefined | Promise<string | undefined>;

const sqliteTargetSchema = z
  .object({
    name: z.string().min(1).optional(),
    source: z.string().min(1).optional(),
    path: z.string().min(1),
    scratch: z.boolean().optional(),
    force: z.boolean().optional(),
    scratchDir: z.string().min(1).optional(),
    integrity: z.enum(['full', 'quick']).optional(),
    versionGate: z.custom<SqliteVersionGate>((v) => typeof v === 'function', 'must be a function').optional(),
  })
  .strict();

/** Options of {@link SqliteTarget}. */
export interface SqliteTargetOptions {
  /** Name in a restore plan. @default the source name, or `sqlite` */
  readonly name?: string;
  /** Only accept the manifest entry of this source (any `sqlite` entry otherwise). */
  readonly source?: string;
  /** The live database file to restore into. The application must be stopped. */
  readonly path: string;
  /** Restore into a temporary copy, verify it, delete it; touch nothing live. */
  readonly scratch?: boolean;
  /**
   * Replace the file even while another process has it open. Unsafe: the running application keeps
   * the old file open and may corrupt the new one. The safety copy is then an online backup.
   */
  readonly force?: boolean;
  /** Where `scratch` restores go. @default the OS temp folder */
  readonly scratchDir?: string;
  readonly integrity?: 'full' | 'quick';
  /** Refuse snapshots the installed application cannot open (e.g. from a newer version). */
  readonly versionGate?: SqliteVersionGate;
}

/** The `counts` record of a manifest entry's metadata, if it has one. */
export function manifestCounts(metadata: Readonly<Record<string, JsonValue>>): Record<string, number> {
  const counts = metadata.counts;
  const out: Record<string, number> = {};
  if (counts && typeof counts === 'object' && !Array.isArray(counts)) {
    for (const [k, v] of Object.entries(counts)) if (typeof v === 'number') out[k] = v;
  }
  return out;
}

/** The one `sqlite` artifact of an entry (or the one named `name`). */
export function sqliteArtifact(input: RestoreInput, name?: string): ResolvedArtifact {
  const found = input.artifacts.filter(
    (a) => a.format === 'sqlite' && (name === undefined || path.posix.basename(a.path) === name),
  );
  if (found.length !== 1) {
    throw new Error(
      `expected one sqlite artifact${name ? ` named ${name}` : ''} in ${input.entry.name}, found ${found.length}`,
    );
  }
  return found[0] as ResolvedArtifact;
}

/**
 * Restore a {@link SqliteSource} snapshot: verify it (integrity, row counts against the manifest,
 * optional version gate), then put it in place of the live file. The live file and its
 * `-wal`/`-shm` are moved aside as a safety copy; the snapshot is copied in through a temp file,
 * fsync and rename; the result is verified again. `rollback` puts the safety copy back,
 * `finalize` deletes it. **Stop the application first**: the target refuses a file another
 * process holds open unless `force: true`.
 *
 * @example
 * ```ts
 * import { createRestorePlan, SqliteTarget } from 'duplicati-kit';
 * const plan = createRestorePlan({
 *   targets: [new SqliteTarget({ source: 'vaultwarden', path: '/srv/vaultwarden/db.sqlite3' })],
 * });
 * await plan.run({ from: '/restore/staging' });
 * ```
 */
export class SqliteTarget implements RestoreTarget {
  readonly name: string;
  readonly kind = 'sqlite';
  readonly #o: z.infer<typeof sqliteTargetSchema>;

  constructor(options: SqliteTargetOptions) {
    this.#o = parseOptions(sqliteTargetSchema, options, 'SqliteTarget');
    this.name = this.#o.name ?? this.#o.source ?? 'sqlite';
  }

  accepts(entry: ManifestEntry): boolean {
    return entry.kind === 'sqlite' && (this.#o.source === undefined || entry.name === this.#o.source);
  }

  #where<P extends 'verify' | 'restore' | 'rollback' | 'finalize'>(phase: P) {
    return { source: this.name, kind: this.kind, phase };
  }

  async #checks(file: string, input: RestoreInput, signal: AbortSignal, readWrite: boolean): Promise<Check[]> {
    const checks = await checkDatabaseFile(file, {
      counts: manifestCounts(input.entry.metadata),
      readWrite,
      ...(this.#o.integrity ? { integrity: this.#o.integrity } : {}),
    });
    if (this.#o.versionGate && checks.every((c) => c.ok)) {
      const refusal = await this.#o.versionGate({ metadata: input.entry.metadata, file, signal });
      checks.push(refusal ? { name: 'version', ok: false, detail: refusal } : { name: 'version', ok: true });
    }
    return checks;
  }

  /** Integrity, row counts and the version gate, on the restored artifact, read-only. */
  async verify(input: RestoreInput, ctx: SourceContext): Promise<VerificationReport> {
    let artifact: ResolvedArtifact;
    try {
      artifact = sqliteArtifact(input);
    } catch (e) {
      return { ok: false, checks: [{ name: 'artifact', ok: false, detail: (e as Error).message }] };
    }
    const checks = await this.#checks(artifact.file, input, ctx.signal, false);
    return { ok: checks.every((c) => c.ok), checks };
  }

  /** Put the snapshot in place (or into a scratch copy), verified before and after. */
  async restore(input: RestoreInput, ctx: SourceContext): Promise<RestoreOutput> {
    const artifact = (() => {
      try {
        return sqliteArtifact(input);
      } catch (e) {
        throw new RestoreError((e as Error).message, this.#where('restore'), { cause: e });
      }
    })();
    if (this.#o.scratch) return this.#scratch(input, artifact, ctx);
    if (ctx.dryRun) {
      ctx.logger.info('dry run: would replace the live database', { live: this.#o.path, from: artifact.file });
      return { restored: [], metadata: { dryRun: true, live: this.#o.path } };
    }
    const journal = input.entry.metadata.journalMode;
    try {
      const state = await installDatabase({
        snapshot: artifact.file,
        live: this.#o.path,
        check: (file) => this.#checks(file, input, ctx.signal, true),
        signal: ctx.signal,
        ...(typeof journal === 'string' && journal !== 'delete' ? { journalMode: journal } : {}),
        ...(this.#o.force ? { force: true } : {}),
      });
      ctx.logger.info('sqlite database restored', { live: this.#o.path, safety: state.safety });
      return {
        restored: [this.#o.path],
        ...(state.safety ? { safetyCopy: state.safety } : {}),
        state,
      };
    } catch (e) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      throw installError(e, this.#where('restore'));
    }
  }

  async #scratch(input: RestoreInput, artifact: ResolvedArtifact, ctx: SourceContext): Promise<RestoreOutput> {
    const dir = await mkdtemp(path.join(this.#o.scratchDir ?? tmpdir(), 'dk-sqlite-scratch-'));
    try {
      const live = path.join(dir, path.basename(this.#o.path));
      const state = await installDatabase({
        snapshot: artifact.file,
        live,
        check: (file) => this.#checks(file, input, ctx.signal, true),
        signal: ctx.signal,
      });
      return { restored: [], metadata: { scratch: true, verified: true, safety: state.safety } };
    } catch (e) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      throw installError(e, this.#where('restore'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Put the safety copy back. */
  async rollback(output: RestoreOutput, ctx: SourceContext): Promise<void> {
    const state = installState(output);
    if (!state) return;
    try {
      await putBack(state);
      ctx.logger.info('sqlite restore rolled back', { live: state.live });
    } catch (e) {
      throw new RestoreError(`rolling back ${state.live} failed`, this.#where('rollback'), { cause: e });
    }
  }

  /** Delete the safety copy. */
  async finalize(output: RestoreOutput, _ctx: SourceContext): Promise<void> {
    const state = installState(output);
    if (!state) return;
    try {
      await dropSafetyCopy(state);
    } catch (e) {
      throw new RestoreError(`removing the safety copy of ${state.live} failed`, this.#where('finalize'), {
        cause: e,
      });
    }
  }
}

/** The install state a target stored in its RestoreOutput, if any. */
export function installState(output: RestoreOutput): InstallState | undefined {
  const s = output.state as Partial<InstallState> | undefined;
  if (!s || typeof s.live !== 'string' || !Array.isArray(s.sidecars)) return undefined;
  return { live: s.live, safety: typeof s.safety === 'string' ? s.safety : null, sidecars: s.sidecars.map(String) };
}

/** Map an install failure to the error a restore plan reports. */
export function installError(
  e: unknown,
  where: { source: string; kind: string; phase: 'verify' | 'restore' },
): VerificationError | RestoreError {
  if (e instanceof InstallFailure && e.checks.length > 0) {
    return new VerificationError(
      e.message,
      where,
      e.checks.map((c) => ({ check: c.name, message: c.detail ?? 'failed' })),
      { cause: e },
    );
  }
  const code = e instanceof InstallFailure && e.stage === 'in-use' ? 'ERR_SQLITE_IN_USE' : undefined;
  return new RestoreError((e as Error).message, where, { cause: e, ...(code ? { code } : {}) });
}
