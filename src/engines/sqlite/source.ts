/**
 * `SqliteSource`: a consistent online snapshot of one SQLite file taken while the application
 * keeps writing, checked with `PRAGMA integrity_check`, rows counted in it, published as one
 * artifact. better-sqlite3 is loaded on first use only.
 *
 * @module
 */
import path from 'node:path';
import type { z } from 'zod';
import { DumpError, SourceUnavailableError } from '../../core/errors.js';
import type { BackupSource, JsonValue, PreparedSource, SourceContext } from '../../contracts/types.js';
import { closeQuietly, tableNames } from './driver.js';
import { SQLITE_KIND, SQLITE_SOURCE_DEFAULTS, type SqliteSourceOptions, sqliteSourceSchema } from './options.js';
import { parseOptions } from '../../core/validate.js';
import { openLive, SnapshotFailure, type SnapshotResult, takeSnapshot } from './snapshot.js';

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
  readonly kind = SQLITE_KIND;
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
      const db = await openLive(this.#o.path, {
        busyTimeoutMs: this.#o.busyTimeoutMs ?? SQLITE_SOURCE_DEFAULTS.busyTimeoutMs,
      });
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
        // Hashed beside the integrity check, after the snapshot's last write.
        return result.file;
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
