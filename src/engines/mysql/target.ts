/**
 * `MysqlTarget`: restores `MysqlSource` dumps into a new database next to the live one, checks
 * row counts against the manifest, then swaps the tables in with one atomic `RENAME TABLE`,
 * keeping the old ones in `<db>_before_restore_<timestamp>` until `finalize`.
 *
 * @module
 */
import { createReadStream } from 'node:fs';
import { PassThrough, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { neverAborted } from '../../core/abort.js';
import { isDuplicatiKitError, type Phase, RestoreError, VerificationError } from '../../core/errors.js';
import { MysqlEndpoint, mysqlBoundedName, quoteMysqlIdent, randomTag } from './client.js';
import { MYSQL_KIND, MYSQL_TARGET_DEFAULTS, type MysqlTargetOptions, mysqlTargetSchema } from './options.js';
import { describeMysqlObjects, type MysqlObject, readMysqlObjects } from './objects.js';
import {
  claimMysqlDatabases,
  type MysqlClaim,
  MysqlSwapError,
  type MysqlSwap,
  leftoverLives,
  recoverMysqlLeftovers,
  swapMysqlBack,
  swapMysqlIn,
} from './swap.js';
import { spawnTool } from '../_shared/spawn.js';
import { configErrorFrom } from '../../core/validate.js';
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

/** Extension points of {@link MysqlTarget}. */
export interface MysqlTargetHooks {
  /**
   * Rewrite a restored trigger, view, routine or event before it is created in the live database
   * (e.g. replace a DEFINER account this server does not have). Returns the CREATE statement.
   */
  rewriteObject?(object: MysqlObject): string;
}

type Check = { name: string; ok: boolean; detail?: string };

/** One dumped database of a manifest entry and where it goes. */
interface Planned {
  readonly dumped: string;
  readonly live: string;
  readonly artifact: ResolvedArtifact;
  readonly expected: Record<string, number>;
}

type Swap = MysqlSwap;

function countsOf(meta: JsonValue | undefined, db: string): Record<string, number> {
  if (!meta || typeof meta !== 'object' || Array.isArray(meta)) return {};
  const v = meta[db];
  if (!v || typeof v !== 'object' || Array.isArray(v)) return {};
  return Object.fromEntries(Object.entries(v).filter((e): e is [string, number] => typeof e[1] === 'number'));
}

/**
 * Restores MySQL/MariaDB dumps with a way back.
 *
 * - `verify`: each dump loads into `<db>_restore_<random>` (the client stops at the first error),
 *   its row counts equal the manifest's, and the database can be swapped (see below); the scratch
 *   database is dropped.
 * - `restore`: load into a new database, check counts, then one `RENAME TABLE` moves every live
 *   table into `<db>_before_restore_<timestamp>` and every restored table into the live database
 *   (atomic: clients see the old tables or the new ones, never a mix).
 * - `rollback`: swap back. `finalize`: drop the safety database unless `keepSafetyCopy`.
 * - `scratch: true`: restore only checks (restore drills).
 *
 * `RENAME TABLE` cannot move triggers or views across databases and leaves routines and events
 * behind, so the swap carries them itself: their definitions (`SHOW CREATE …`, with DEFINER,
 * sql_mode, character set and time zone) are read from the restored database, the live ones are
 * kept as rows of `_duplicati_kit_objects` in the safety database and dropped, the tables are
 * renamed, and the restored objects are created in the live database. Between the rename and the
 * last CREATE (milliseconds) the live tables run without their triggers. Any failure on the way
 * puts the previous tables and objects back; `rollback` does the same after a successful swap.
 *
 * @throws {ConfigError} from the constructor when the options are invalid.
 * @example
 * ```ts
 * import { createRestorePlan, MysqlTarget } from 'duplicati-kit';
 * const plan = createRestorePlan({ targets: [new MysqlTarget({ connection: { user: 'root', passwordFile: '/root/.dbpass' } })] });
 * const report = await plan.run({ from: '/restore/staging' });
 * ```
 */
export class MysqlTarget implements RestoreTarget {
  readonly name: string;
  readonly kind = MYSQL_KIND;
  readonly #options: MysqlTargetOptions;
  readonly #hooks: MysqlTargetHooks;

  /**
   * @param options validated here; a ConfigError names every bad field
   * @param hooks extension points (advanced)
   */
  constructor(options: MysqlTargetOptions, hooks: MysqlTargetHooks = {}) {
    const parsed = mysqlTargetSchema.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid MysqlTarget options', parsed.error);
    this.#options = options;
    this.#hooks = hooks;
    this.name = options.name ?? MYSQL_TARGET_DEFAULTS.name;
  }

  /** True for `mysql` entries (of the configured source name, when one is set). */
  accepts(entry: ManifestEntry): boolean {
    return entry.kind === MYSQL_KIND && (this.#options.source === undefined || entry.name === this.#options.source);
  }

  #where(phase: Phase) {
    return { source: this.name, kind: this.kind, phase };
  }

  #endpoint(): MysqlEndpoint {
    const { database: _d, databases: _ds, ...conn } = this.#options.connection;
    return new MysqlEndpoint(conn, { source: this.name, kind: this.kind });
  }

  #plan(input: RestoreInput, phase: Phase): Planned[] {
    const dumps = input.artifacts.filter((a) => a.format === 'sql' || a.format === 'sql.gz');
    if (!dumps.length) throw new RestoreError(`entry "${input.entry.name}" has no MySQL dump`, this.#where(phase));
    const into = this.#options.database ?? this.#options.connection.database;
    if (into !== undefined && dumps.length !== 1) {
      throw new RestoreError(
        `option database (or connection.database) names one database, "${into}", but the entry holds ${dumps.length} dumps`,
        this.#where(phase),
      );
    }
    return dumps.map((artifact) => {
      const base = artifact.path.split('/').pop() ?? '';
      const dumped = base.replace(/\.sql(\.gz)?$/, '');
      return {
        dumped,
        live: into ?? dumped,
        artifact,
        expected: countsOf(input.entry.metadata.counts, dumped),
      };
    });
  }

  #wrap(e: unknown, phase: Phase, endpoint: MysqlEndpoint, signal: AbortSignal): unknown {
    if (e instanceof MysqlSwapError) {
      return new RestoreError(endpoint.redact(e.message), this.#where(phase), {
        cause: e.swapError,
        secrets: endpoint.secrets,
        code: 'ERR_MYSQL_SWAP',
      });
    }
    if (signal.aborted) return signal.reason;
    if (isDuplicatiKitError(e)) return e;
    return new RestoreError(`${phase} failed: ${(e as Error)?.message ?? String(e)}`, this.#where(phase), {
      cause: e,
      secrets: endpoint.secrets,
      code: 'ERR_MYSQL_RESTORE',
    });
  }

  #rewrite(): ((o: MysqlObject) => string) | undefined {
    return this.#hooks.rewriteObject?.bind(this.#hooks);
  }

  /**
   * Claim the live databases for this run (a server-wide lock each, freed when this process
   * ends, however it ends), then — unless a dry run — finish or undo swaps killed runs left and
   * drop their scratch databases. Throws `ERR_MYSQL_BUSY` when another run holds one.
   */
  async #claim(
    endpoint: MysqlEndpoint,
    lives: readonly string[],
    phase: Phase,
    ctx: SourceContext,
  ): Promise<MysqlClaim> {
    const claim = await claimMysqlDatabases(endpoint, lives, ctx.signal);
    if ('busy' in claim) {
      throw new RestoreError(
        `another duplicati-kit run is verifying or restoring ${claim.busy.map((b) => `"${b}"`).join(', ')} on this server; wait for it to end`,
        this.#where(phase),
        { code: 'ERR_MYSQL_BUSY' },
      );
    }
    try {
      if (!ctx.dryRun) {
        for (const live of lives) {
          const done = await recoverMysqlLeftovers(endpoint, live, this.#rewrite(), neverAborted());
          if (done.length) ctx.logger.warn('recovered what an interrupted earlier restore left', { done });
        }
      }
    } catch (e) {
      await claim.release();
      throw e;
    }
    return claim;
  }

  /**
   * Finish or undo what killed runs of this kind left on the server (swaps cut short, scratch
   * databases), for every live database no running restore holds. Returns what was done.
   */
  async recover(ctx: SourceContext): Promise<string[]> {
    const endpoint = this.#endpoint();
    await endpoint.open('restore', ctx.signal);
    const done: string[] = [];
    try {
      const lives =
        this.#options.database !== undefined
          ? [this.#options.database]
          : leftoverLives(await endpoint.listDatabases(ctx.signal));
      for (const live of lives) {
        const claim = await claimMysqlDatabases(endpoint, [live], ctx.signal);
        if ('busy' in claim) continue;
        try {
          done.push(...(await recoverMysqlLeftovers(endpoint, live, this.#rewrite(), neverAborted())));
        } finally {
          await claim.release();
        }
      }
      return done;
    } catch (e) {
      throw this.#wrap(e, 'restore', endpoint, ctx.signal);
    } finally {
      await endpoint.close();
    }
  }

  /** Stream a dump file into `database` through the client; its first error stops it. */
  async #load(endpoint: MysqlEndpoint, p: Planned, database: string, signal: AbortSignal): Promise<void> {
    const { child, stderrTail } = spawnTool(
      { file: endpoint.tool('client'), args: [...endpoint.clientArgs(), '--batch', `--database=${database}`], env: {} },
      { stdin: 'pipe', stdout: 'ignore' },
      signal,
    );
    let pipeError: unknown;
    try {
      const decode = p.artifact.format === 'sql.gz' ? createGunzip() : new PassThrough();
      await pipeline(createReadStream(p.artifact.file), decode, child.stdin as Writable, { signal });
    } catch (e) {
      pipeError = e;
      child.kill();
    }
    const r = await child;
    if (signal.aborted) throw signal.reason;
    if (r.exitCode !== 0 || pipeError !== undefined) {
      const tail = endpoint.redact(stderrTail().trim()).split('\n').slice(-10).join('\n');
      const command = /Unknown command '(\\.)'|(Not allowed in the sandbox mode)/.exec(tail);
      if (command) {
        throw new RestoreError(
          `refused to load ${p.dumped}: the dump holds a client command (${command[1] ?? 'one the sandbox refuses'}), which mariadb-dump never writes, so the file was altered. The client reads dumps in binary mode, where no client command runs; the load stopped there and nothing of it was kept. ${tail}`,
          this.#where('restore'),
          { secrets: endpoint.secrets, code: 'ERR_UNSAFE_DUMP' },
        );
      }
      throw new Error(
        r.exitCode !== 0
          ? `loading ${p.dumped} failed (exit ${r.exitCode ?? r.signal}): ${tail}`
          : `loading ${p.dumped} failed: ${(pipeError as Error)?.message ?? String(pipeError)}`,
      );
    }
  }

  /** Load `p` into a new database `db` and compare; the caller drops or swaps `db`. */
  async #loadAndCompare(endpoint: MysqlEndpoint, p: Planned, db: string, ctx: SourceContext): Promise<Check[]> {
    await endpoint.query(`CREATE DATABASE ${quoteMysqlIdent(db)};`, ctx.signal);
    ctx.onProgress({
      phase: 'verify',
      unit: 'bytes',
      completed: 0,
      total: p.artifact.bytes,
      description: `loading ${db}`,
    });
    await this.#load(endpoint, p, db, ctx.signal);
    const tables = Object.keys(p.expected);
    // A table missing from the load makes COUNT(*) fail; the comparison below names it.
    const all: Record<string, Record<string, number>> = tables.length
      ? await endpoint.countRows({ [db]: tables }, ctx.signal).catch(() => ({}))
      : {};
    const actual = all[db] ?? {};
    const wrong = tables.filter((t) => actual[t] !== p.expected[t]);
    const checks: Check[] = [
      {
        name: `counts:${p.dumped}`,
        ok: wrong.length === 0,
        detail: wrong.length
          ? wrong.map((t) => `${t}: ${actual[t] ?? 'missing'} rows, manifest says ${p.expected[t]}`).join('; ')
          : `${tables.length} tables match the manifest`,
      },
    ];
    if (!this.#options.scratch) {
      // The swap reads these definitions again; reading them now proves it can (privileges).
      const detail = async (name: string): Promise<string> =>
        describeMysqlObjects(await readMysqlObjects(endpoint, name, ctx.signal));
      try {
        const restored = await detail(db);
        const live = (await endpoint.exists(p.live, ctx.signal)) ? await detail(p.live) : 'does not exist yet';
        checks.push({
          name: `objects:${p.live}`,
          ok: true,
          detail: `restored: ${restored}; live: ${live} (recreated around the table swap)`,
        });
      } catch (e) {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        checks.push({ name: `objects:${p.live}`, ok: false, detail: (e as Error).message });
      }
    }
    return checks;
  }

  /** Load each dump into a scratch database, compare counts, drop it. */
  async verify(input: RestoreInput, ctx: SourceContext): Promise<VerificationReport> {
    const endpoint = this.#endpoint();
    await endpoint.open('verify', ctx.signal);
    const checks: Check[] = [];
    let claim: MysqlClaim | undefined;
    try {
      const plan = this.#plan(input, 'verify');
      claim = await this.#claim(
        endpoint,
        plan.map((p) => p.live),
        'verify',
        ctx,
      );
      for (const p of plan) {
        if (ctx.dryRun) {
          checks.push({ name: `load:${p.dumped}`, ok: true, detail: 'dry run: not loaded' });
          continue;
        }
        const db = mysqlBoundedName(p.live, `_restore_${randomTag()}`);
        try {
          checks.push(...(await this.#loadAndCompare(endpoint, p, db, ctx)));
          checks.push({ name: `load:${p.dumped}`, ok: true, detail: 'loaded into a scratch database without error' });
        } catch (e) {
          if (ctx.signal.aborted) throw ctx.signal.reason;
          checks.push({ name: `load:${p.dumped}`, ok: false, detail: (e as Error).message });
        } finally {
          await endpoint
            .query(`DROP DATABASE IF EXISTS ${quoteMysqlIdent(db)};`, neverAborted())
            .catch((e) => ctx.logger.warn('could not drop scratch database', { db, error: String(e) }));
        }
      }
      return { ok: checks.every((c) => c.ok), checks };
    } catch (e) {
      throw this.#wrap(e, 'verify', endpoint, ctx.signal);
    } finally {
      await claim?.release();
      await endpoint.close();
    }
  }

  /** Load into new databases, verify, then swap tables in (or only verify, with `scratch`). */
  async restore(input: RestoreInput, ctx: SourceContext): Promise<RestoreOutput> {
    const endpoint = this.#endpoint();
    await endpoint.open('restore', ctx.signal);
    const fresh: string[] = [];
    const swaps: Swap[] = [];
    let claim: MysqlClaim | undefined;
    try {
      const plan = this.#plan(input, 'restore');
      claim = await this.#claim(
        endpoint,
        plan.map((p) => p.live),
        'restore',
        ctx,
      );
      if (ctx.dryRun) return { restored: [], metadata: { dryRun: true, databases: plan.map((p) => p.live) } };
      const loaded: { p: Planned; db: string }[] = [];
      for (const p of plan) {
        const db = mysqlBoundedName(p.live, `_restore_${randomTag()}`);
        fresh.push(db);
        const bad = (await this.#loadAndCompare(endpoint, p, db, ctx)).filter((c) => !c.ok);
        if (bad.length) {
          throw new VerificationError(
            `the restored database does not match the manifest; "${p.live}" was not touched`,
            this.#where('restore'),
            bad.map((c) => ({ check: c.name, message: c.detail ?? 'failed' })),
          );
        }
        loaded.push({ p, db });
      }
      if (this.#options.scratch) {
        return { restored: [], metadata: { scratch: true, databases: plan.map((p) => p.live) } };
      }
      for (const { p, db } of loaded) swaps.push(await swapMysqlIn(endpoint, db, p.live, this.#rewrite(), ctx.signal));
      ctx.logger.info('restored MySQL databases', { databases: swaps.map((s) => s.live) });
      return {
        restored: swaps.map((s) => `mysql database ${s.live}`),
        safetyCopy: swaps.map((s) => s.safety).join(', '),
        state: { swaps: swaps.map((s) => ({ live: s.live, safety: s.safety, created: s.created })) },
        metadata: { databases: swaps.map((s) => s.live) },
      };
    } catch (e) {
      for (const s of swaps.reverse()) await swapMysqlBack(endpoint, s).catch(() => {});
      throw this.#wrap(e, 'restore', endpoint, ctx.signal);
    } finally {
      for (const db of fresh) {
        await endpoint.query(`DROP DATABASE IF EXISTS ${quoteMysqlIdent(db)};`, neverAborted()).catch(() => {});
      }
      await claim?.release();
      await endpoint.close();
    }
  }

  #swaps(output: RestoreOutput): Swap[] {
    const list = output.state?.swaps;
    if (!Array.isArray(list)) return [];
    return list.flatMap((s) =>
      s && typeof s === 'object' && !Array.isArray(s) && typeof s.live === 'string' && typeof s.safety === 'string'
        ? [{ live: s.live, safety: s.safety, created: s.created === true }]
        : [],
    );
  }

  /** Swap back: the safety tables become live again; the restored ones are dropped. */
  async rollback(output: RestoreOutput, ctx: SourceContext): Promise<void> {
    const swaps = this.#swaps(output);
    if (!swaps.length) return;
    const endpoint = this.#endpoint();
    await endpoint.open('rollback', ctx.signal);
    let claim: MysqlClaim | undefined;
    try {
      claim = await this.#claim(
        endpoint,
        swaps.map((s) => s.live),
        'rollback',
        ctx,
      );
      for (const s of swaps.reverse()) await swapMysqlBack(endpoint, s);
    } catch (e) {
      throw this.#wrap(e, 'rollback', endpoint, ctx.signal);
    } finally {
      await claim?.release();
      await endpoint.close();
    }
  }

  /** Drop the safety databases, unless `keepSafetyCopy`. */
  async finalize(output: RestoreOutput, ctx: SourceContext): Promise<void> {
    const swaps = this.#swaps(output);
    if (!swaps.length || this.#options.keepSafetyCopy) return;
    const endpoint = this.#endpoint();
    await endpoint.open('finalize', ctx.signal);
    try {
      for (const s of swaps) await endpoint.query(`DROP DATABASE IF EXISTS ${quoteMysqlIdent(s.safety)};`, ctx.signal);
    } catch (e) {
      throw this.#wrap(e, 'finalize', endpoint, ctx.signal);
    } finally {
      await endpoint.close();
    }
  }
}
