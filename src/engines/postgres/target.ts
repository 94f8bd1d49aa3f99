/**
 * `PostgresTarget`: restores a `PostgresSource` dump into a new database next to the live one,
 * checks its row counts against the manifest, then swaps names so applications never see a
 * half-loaded database. The previous database is kept as `<db>_before_restore_<timestamp>` until
 * `finalize`, and `rollback` swaps back. Entries of `PostgresSource` with `databases` (every
 * database plus the globals) are restored as one set; see `pg-cluster-target.ts`.
 *
 * @module
 */
import type { Transform } from 'node:stream';
import { neverAborted } from '../../core/abort.js';
import { isDuplicatiKitError, type Phase, RestoreError, VerificationError } from '../../core/errors.js';
import { databaseInfo, dropDatabase, failedName, isScratchNameOf, scratchName } from './admin.js';
import {
  type ClusterTargetContext,
  finalizeCluster,
  isClusterEntry,
  isClusterOutput,
  restoreCluster,
  rollbackCluster,
  verifyCluster,
} from './cluster-target.js';
import { connectionDatabase, type ResolvedPgConnection } from './connection.js';
import { type PgDumpFormat, readAvailableExtensions } from './dump.js';
import {
  asCounts,
  type Check,
  claimAndSweep,
  DUMP_FORMATS,
  defaultRestoreJobs,
  loadAndInspect,
  serverVersionCheck,
  swapBack,
  swapIn,
} from './restore-steps.js';
import { serverSpaceCheck } from './server-space.js';
import type { SqlSession } from './session.js';
import { configErrorFrom } from '../../core/validate.js';
import { PgEndpoint } from './endpoint.js';
import {
  POSTGRES_KIND,
  POSTGRES_TARGET_DEFAULTS,
  type PostgresTargetOptions,
  postgresTargetSchema,
} from './options.js';
import type {
  JsonValue,
  ManifestEntry,
  ResolvedArtifact,
  RestoreInput,
  RestoreOutput,
  RestoreTarget,
  SourceContext,
  VerificationReport,
} from '../../contracts/types.js';

export { compareCounts } from './restore-steps.js';

/** Extension points for app targets built on {@link PostgresTarget} (Immich uses them). */
export interface PostgresTargetHooks {
  /** Byte-level rewrite of plain SQL while loading (e.g. Immich's search_path line). */
  transform?(): Transform;
  /**
   * Extra checks before loading (versions, dump kind). `admin` is a session on the maintenance
   * database; `openLive` opens one on the live database (undefined when it does not exist; the
   * hook closes it).
   */
  preflight?(
    input: RestoreInput,
    dump: ResolvedArtifact,
    admin: SqlSession,
    ctx: SourceContext,
    openLive: () => Promise<SqlSession | undefined>,
  ): Promise<Check[]>;
  /**
   * Extra checks on the loaded database, before the swap, on a session of their own. `counts`
   * resolves to the rows per table (`schema.table`, the tables the manifest counted) being counted
   * in it beside these checks, on another session; it never rejects (`{}` when counting failed).
   * Await it only where a count is needed, so both run at once.
   */
  inspect?(
    input: RestoreInput,
    loaded: SqlSession,
    ctx: SourceContext,
    counts: Promise<Readonly<Record<string, number>>>,
  ): Promise<Check[]>;
}

/**
 * Restores a PostgreSQL dump with a way back.
 *
 * - `verify`: server major and extensions can take the dump; the dump loads into a scratch
 *   database (`psql -v ON_ERROR_STOP=1 --single-transaction`) whose row counts equal the
 *   manifest's; the scratch database is dropped.
 * - `restore`: load into `<db>_restore_<random>`, check counts, then swap: connections to the live
 *   database are refused and **terminated** (applications using it are disconnected; stop them
 *   first), live is renamed `<db>_before_restore_<timestamp>`, the new one takes its name. Any
 *   failure before the swap leaves the live database untouched and drops the new one.
 * - `rollback`: swap back. `finalize`: drop the safety copy unless `keepSafetyCopy`.
 * - `scratch: true`: restore only checks, in a throwaway database (restore drills).
 * - All-databases entries (`PostgresSource` with `databases`): globals first (missing roles and
 *   tablespaces created, existing ones untouched), every database loaded and checked, then all
 *   swapped in; a failure anywhere leaves every live database as it was. `only` picks databases.
 *
 * @example
 * ```ts
 * import { createRestorePlan, PostgresTarget } from 'duplicati-kit';
 * const plan = createRestorePlan({ targets: [new PostgresTarget({ connection: { url: 'postgres://postgres@127.0.0.1/app' } })] });
 * const report = await plan.run({ from: '/restore/staging' });
 * // A whole-server entry: every database (or `only` some), roles first; `scratch` for a drill.
 * const server = new PostgresTarget({ connection: { url: 'postgres://postgres@127.0.0.1/postgres' }, only: ['app'] });
 * ```
 */
export class PostgresTarget implements RestoreTarget {
  readonly name: string;
  readonly kind: string;
  readonly #options: PostgresTargetOptions;
  readonly #hooks: PostgresTargetHooks;
  readonly #endpoint: PgEndpoint;
  readonly #accepts: readonly string[];

  /**
   * @param options validated here; a ConfigError names every bad field
   * @param hooks app-specific extensions (advanced)
   * @param kinds manifest kinds accepted; the first is this target's kind
   */
  constructor(
    options: PostgresTargetOptions,
    hooks: PostgresTargetHooks = {},
    kinds: readonly string[] = [POSTGRES_KIND],
  ) {
    const parsed = postgresTargetSchema.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid PostgresTarget options', parsed.error);
    this.#options = options;
    this.#hooks = hooks;
    this.name = options.name ?? POSTGRES_TARGET_DEFAULTS.name;
    this.kind = kinds[0] ?? POSTGRES_KIND;
    this.#accepts = kinds;
    this.#endpoint = new PgEndpoint(
      options.connection,
      options.executor,
      options.binDirs,
      {
        source: this.name,
        kind: this.kind,
      },
      options.toolVersions,
    );
  }

  /** The live database name. */
  get database(): string {
    return this.#options.database ?? connectionDatabase(this.#options.connection);
  }

  /** True for manifest entries of this kind (and name, when `source` was given). */
  accepts(entry: ManifestEntry): boolean {
    return (
      this.#accepts.includes(entry.kind) &&
      (this.#options.source === undefined || entry.name === this.#options.source) &&
      // A target picking databases of whole-server entries must not swap a one-database dump
      // into its connection's database.
      (this.#options.only === undefined || isClusterEntry(entry))
    );
  }

  #clusterContext(): ClusterTargetContext {
    const o = this.#options;
    return {
      endpoint: this.#endpoint,
      where: { source: this.name, kind: this.kind },
      maintenanceDatabase: o.maintenanceDatabase,
      singleDatabase: o.database !== undefined,
      only: o.only,
      globals: o.globals ?? POSTGRES_TARGET_DEFAULTS.globals,
      jobs: o.jobs ?? defaultRestoreJobs(),
      scratch: o.scratch ?? POSTGRES_TARGET_DEFAULTS.scratch,
      keepSafetyCopy: o.keepSafetyCopy ?? POSTGRES_TARGET_DEFAULTS.keepSafetyCopy,
    };
  }

  #dump(input: RestoreInput, phase: Phase): { artifact: ResolvedArtifact; format: PgDumpFormat } {
    for (const a of input.artifacts) {
      const format = DUMP_FORMATS[a.format];
      if (format) return { artifact: a, format };
    }
    throw new RestoreError(
      `manifest entry "${input.entry.name}" has no PostgreSQL dump artifact`,
      { source: this.name, kind: this.kind, phase },
      { code: 'ERR_PG_NO_DUMP' },
    );
  }

  /**
   * A session on the maintenance database. It ignores the caller's signal on purpose: after an
   * abort it still has to drop the half-loaded database (its statements are short).
   */
  async #admin(conn: ResolvedPgConnection, phase: Phase): Promise<SqlSession> {
    return this.#endpoint.open(
      conn,
      this.#options.maintenanceDatabase ?? POSTGRES_TARGET_DEFAULTS.maintenanceDatabase,
      phase,
      neverAborted(),
    );
  }

  /** A caller's abort as-is, typed errors as-is, anything else as a RestoreError. */
  #wrap(e: unknown, phase: Phase, conn: ResolvedPgConnection | undefined, signal: AbortSignal): unknown {
    if (signal.aborted) return signal.reason;
    if (isDuplicatiKitError(e)) return e;
    return new RestoreError(
      `${phase} of "${this.database}" failed: ${(e as Error)?.message ?? String(e)}`,
      {
        source: this.name,
        kind: this.kind,
        phase,
      },
      { cause: e, secrets: this.#endpoint.secrets(conn), code: 'ERR_PG_RESTORE' },
    );
  }

  /** Checks that need no load: server major, extensions, app preflight. */
  async #preflight(
    input: RestoreInput,
    conn: ResolvedPgConnection,
    admin: SqlSession,
    ctx: SourceContext,
  ): Promise<Check[]> {
    const checks: Check[] = [];
    const meta = input.entry.metadata;
    // The app's checks (a read of the dump's head, a session on the live database) run beside
    // the server's; their results are listed after them, as always.
    let app: Promise<Check[]> | undefined;
    if (this.#hooks.preflight) {
      const openLive = async (): Promise<SqlSession | undefined> =>
        (await databaseInfo(admin, this.database))
          ? this.#endpoint.open(conn, this.database, 'verify', ctx.signal)
          : undefined;
      app = this.#hooks.preflight(input, this.#dump(input, 'verify').artifact, admin, ctx, openLive);
      app.catch(() => {});
    }
    try {
      checks.push(await serverVersionCheck(admin, meta));
      if (typeof meta.databaseBytes === 'number') checks.push(await serverSpaceCheck(admin, meta.databaseBytes));
      const wanted = meta.extensions && typeof meta.extensions === 'object' && !Array.isArray(meta.extensions);
      if (wanted) {
        const available = await readAvailableExtensions(admin);
        const missing = Object.keys(meta.extensions as Record<string, JsonValue>).filter((x) => !available.has(x));
        checks.push({
          name: 'extensions',
          ok: missing.length === 0,
          detail: missing.length ? `not available on the target server: ${missing.join(', ')}` : 'all available',
        });
      }
    } catch (e) {
      // Nothing of the app's checks goes on after this returns.
      await app?.catch(() => {});
      throw e;
    }
    if (app) checks.push(...(await app));
    return checks;
  }

  /**
   * Create `db`, load the dump, compare counts and run app checks. Returns the checks; throws a
   * RestoreError when the load itself fails. `db` is left in place (the caller drops or swaps it).
   */
  async #loadAndInspect(
    input: RestoreInput,
    conn: ResolvedPgConnection,
    admin: SqlSession,
    db: string,
    phase: Phase,
    ctx: SourceContext,
    beforeLoad?: () => Promise<void>,
  ): Promise<Check[]> {
    const { artifact, format } = this.#dump(input, phase);
    const inspect = this.#hooks.inspect;
    return loadAndInspect({
      ...(beforeLoad ? { beforeLoad } : {}),
      endpoint: this.#endpoint,
      conn,
      admin,
      db,
      like: await databaseInfo(admin, this.database),
      artifact,
      format,
      ...(this.#hooks.transform ? { transform: this.#hooks.transform } : {}),
      jobs: this.#options.jobs ?? defaultRestoreJobs(),
      phase,
      ctx,
      where: { source: this.name, kind: this.kind },
      expected: asCounts(input.entry.metadata.counts),
      ...(inspect
        ? {
            inspect: (loaded: SqlSession, counts: Promise<Readonly<Record<string, number>>>) =>
              inspect(input, loaded, ctx, counts),
          }
        : {}),
    });
  }

  /** Check the dump loads and matches the manifest, in a scratch database that is then dropped. */
  async verify(input: RestoreInput, ctx: SourceContext): Promise<VerificationReport> {
    if (isClusterEntry(input.entry)) return verifyCluster(this.#clusterContext(), input, ctx);
    const conn = await this.#endpoint.resolve(ctx.signal);
    const admin = await this.#admin(conn, 'verify');
    try {
      await claimAndSweep(admin, [this.database], { source: this.name, kind: this.kind, phase: 'verify' }, ctx);
      const checks = await this.#preflight(input, conn, admin, ctx);
      if (checks.some((c) => !c.ok)) return { ok: false, checks };
      if (ctx.dryRun) {
        checks.push({ name: 'load', ok: true, detail: 'dry run: not loaded' });
        return { ok: true, checks };
      }
      const db = scratchName(this.database);
      let keep = false;
      try {
        checks.push(...(await this.#loadAndInspect(input, conn, admin, db, 'verify', ctx)));
        checks.push({ name: 'load', ok: true, detail: 'loaded into a scratch database without error' });
        // A restore follows in the same plan: hand it the loaded database instead of loading twice.
        keep = input.stage === true && checks.every((c) => c.ok);
      } catch (e) {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        checks.push({ name: 'load', ok: false, detail: (e as Error).message });
      } finally {
        if (!keep) {
          await dropDatabase(admin, db).catch((e) =>
            ctx.logger.warn('could not drop scratch database', { db, error: String(e) }),
          );
        }
      }
      return { ok: checks.every((c) => c.ok), checks, ...(keep ? { staged: { database: db } } : {}) };
    } catch (e) {
      throw this.#wrap(e, 'verify', conn, ctx.signal);
    } finally {
      await admin.close(true);
    }
  }

  /** Load into a new database, verify, then swap it in (or only verify, with `scratch`). */
  async restore(input: RestoreInput, ctx: SourceContext): Promise<RestoreOutput> {
    if (isClusterEntry(input.entry)) return restoreCluster(this.#clusterContext(), input, ctx);
    const where = { source: this.name, kind: this.kind, phase: 'restore' as const };
    const conn = await this.#endpoint.resolve(ctx.signal);
    const admin = await this.#admin(conn, 'restore');
    const live = this.database;
    const staged = this.#stagedDatabase(input.verified);
    const fresh = staged ?? scratchName(live);
    let swapped = false;
    let preflight: Promise<Check[]> | undefined;
    try {
      await claimAndSweep(admin, [live], where, ctx, new Set(staged ? [staged] : []));
      // What verify loaded and checked in this plan run is taken over as is: no second load.
      const reused = staged !== undefined && !ctx.dryRun && (await databaseInfo(admin, staged)) !== undefined;
      // The checks that need no load run on a session of their own while the server creates the new
      // database; nothing is loaded into it before they all pass.
      preflight = reused ? undefined : this.#preflightApart(input, conn, ctx);
      preflight?.catch(() => {});
      const gate = async (): Promise<void> => {
        const refused = refusal(live, where, (await preflight) ?? []);
        if (refused) throw refused;
      };
      if (ctx.dryRun) {
        await gate();
        return { restored: [], metadata: { dryRun: true, database: live } };
      }
      const checks = reused
        ? (input.verified?.checks ?? [])
        : await this.#loadAndInspect(input, conn, admin, fresh, 'restore', ctx, gate);
      const bad = checks.filter((c) => !c.ok);
      if (bad.length) {
        throw new VerificationError(
          `the restored database does not match the manifest; "${live}" was not touched`,
          where,
          bad.map((c) => ({ check: c.name, message: c.detail ?? 'failed' })),
        );
      }
      const checkReport: JsonValue = checks.map((c) => ({ name: c.name, ok: c.ok, detail: c.detail ?? null }));
      if (this.#options.scratch) {
        return { restored: [], metadata: { scratch: true, database: fresh, checks: checkReport } };
      }
      const safety = await swapIn(admin, live, fresh, where, async (planned) => {
        // The way back, recorded before the swap: rollback of an output whose swap never committed
        // only drops the scratch database.
        await ctx.restoreJournal?.record({
          restored: [`postgresql database ${live}`],
          ...(planned ? { safetyCopy: planned } : {}),
          state: { database: live, safety: planned ?? null, fresh, writtenAhead: true },
        });
      });
      swapped = true;
      ctx.logger.info('restored PostgreSQL database', { database: live, safetyCopy: safety });
      return {
        restored: [`postgresql database ${live}`],
        ...(safety ? { safetyCopy: safety } : {}),
        state: { database: live, safety: safety ?? null, fresh },
        metadata: { database: live, checks: checkReport },
      };
    } catch (e) {
      // A failed check explains a failure better than what it caused (a load the server refused).
      const refused = refusal(live, where, (await preflight?.catch(() => undefined)) ?? []);
      if (refused && !ctx.signal.aborted && !(e instanceof VerificationError)) throw refused;
      throw this.#wrap(e, 'restore', conn, ctx.signal);
    } finally {
      if (!swapped) await dropDatabase(admin, fresh).catch(() => {});
      await admin.close(true);
    }
  }

  /** {@link #preflight} on a maintenance session of its own, closed when it is done. */
  async #preflightApart(input: RestoreInput, conn: ResolvedPgConnection, ctx: SourceContext): Promise<Check[]> {
    const own = await this.#endpoint.open(
      conn,
      this.#options.maintenanceDatabase ?? POSTGRES_TARGET_DEFAULTS.maintenanceDatabase,
      'restore',
      ctx.signal,
    );
    try {
      return await this.#preflight(input, conn, own, ctx);
    } finally {
      await own.close(true);
    }
  }

  /**
   * The scratch database a staged verify of this target left, if the report names one. Only a
   * name this target generates for the live database is taken, so a forged report can never make
   * `restore` or `discard` touch another database.
   */
  #stagedDatabase(report: VerificationReport | undefined): string | undefined {
    const db = report?.ok ? report.staged?.database : undefined;
    if (typeof db !== 'string') return undefined;
    return isScratchNameOf(db, this.database) ? db : undefined;
  }

  /** Drop the scratch database a staged verify kept (idempotent). */
  async discard(report: VerificationReport, ctx: SourceContext): Promise<void> {
    const db = this.#stagedDatabase({ ...report, ok: true });
    if (!db) return;
    const conn = await this.#endpoint.resolve(ctx.signal);
    const admin = await this.#admin(conn, 'verify');
    try {
      await dropDatabase(admin, db);
    } catch (e) {
      throw this.#wrap(e, 'verify', conn, ctx.signal);
    } finally {
      await admin.close(true);
    }
  }

  /** Swap back: the safety copy becomes the live database again; the restored one is dropped. */
  async rollback(output: RestoreOutput, ctx: SourceContext): Promise<void> {
    if (isClusterOutput(output)) return rollbackCluster(this.#clusterContext(), output, ctx);
    const state = output.state ?? {};
    if (typeof state.database !== 'string') return;
    const conn = await this.#endpoint.resolve(ctx.signal);
    const admin = await this.#admin(conn, 'rollback');
    const where = { source: this.name, kind: this.kind, phase: 'rollback' as const };
    try {
      const safety = typeof state.safety === 'string' ? state.safety : undefined;
      // Only a scratch name this target gives its live database may be dropped from a record.
      const fresh =
        typeof state.fresh === 'string' && isScratchNameOf(state.fresh, state.database) ? state.fresh : undefined;
      // Kept from the sweep: what an interrupted earlier swap-back or swap leaves for this one to finish.
      const keep = new Set([failedName(state.database, safety), ...(fresh ? [fresh] : [])]);
      await claimAndSweep(admin, [state.database], where, ctx, keep);
      await swapBack(admin, state.database, safety, fresh, state.writtenAhead === true);
    } catch (e) {
      throw this.#wrap(e, 'rollback', conn, ctx.signal);
    } finally {
      await admin.close(true);
    }
  }

  /**
   * Drop what killed runs left for the live database (scratch and swapped-back databases), unless
   * another run holds it (`ERR_PG_BUSY`). Returns the dropped names. Restores do this themselves
   * first; this is for `cleanup`-style callers.
   */
  async recover(ctx: SourceContext): Promise<string[]> {
    const conn = await this.#endpoint.resolve(ctx.signal);
    const admin = await this.#admin(conn, 'restore');
    try {
      return await claimAndSweep(admin, [this.database], { source: this.name, kind: this.kind, phase: 'restore' }, ctx);
    } catch (e) {
      throw this.#wrap(e, 'restore', conn, ctx.signal);
    } finally {
      await admin.close(true);
    }
  }

  /**
   * A session on the live database, for work after a restore (a recovery's path rewrite and
   * checks). The caller closes it.
   */
  async openDatabase(signal: AbortSignal): Promise<SqlSession> {
    const conn = await this.#endpoint.resolve(signal);
    return this.#endpoint.open(conn, this.database, 'restore', signal);
  }

  /** Drop the safety copy, unless `keepSafetyCopy`. */
  async finalize(output: RestoreOutput, ctx: SourceContext): Promise<void> {
    if (isClusterOutput(output)) return finalizeCluster(this.#clusterContext(), output, ctx);
    const safety = output.state?.safety;
    if (typeof safety !== 'string' || this.#options.keepSafetyCopy) return;
    const conn = await this.#endpoint.resolve(ctx.signal);
    const admin = await this.#admin(conn, 'finalize');
    try {
      await dropDatabase(admin, safety);
    } catch (e) {
      throw this.#wrap(e, 'finalize', conn, ctx.signal);
    } finally {
      await admin.close(true);
    }
  }
}

/** The error for checks that refuse the dump before anything is loaded; undefined when all passed. */
function refusal(
  live: string,
  where: { readonly source: string; readonly kind: string; readonly phase: Phase },
  checks: readonly Check[],
): VerificationError | undefined {
  const bad = checks.filter((c) => !c.ok);
  if (!bad.length) return undefined;
  return new VerificationError(
    `the dump cannot be restored into "${live}"`,
    where,
    bad.map((c) => ({ check: c.name, message: c.detail ?? 'failed' })),
  );
}
