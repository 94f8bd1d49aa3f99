/**
 * `JellyfinDatabaseTarget`: puts Jellyfin database snapshots back, behind a version gate, with a
 * safety copy and a rollback, built on the generic SQLite install.
 *
 * @module
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { RestoreError } from '../../core/errors.js';
import { exists } from '../../core/fs.js';
import { configErrorFrom } from '../../core/validate.js';
import { installError, liveInUseChecks, manifestCounts } from '../../engines/sqlite/index.js';
import { closeQuietly, loadSqliteDriver, type SqliteDatabase } from '../../engines/sqlite/index.js';
import {
  type Check,
  checkDatabaseFile,
  dropSafetyCopy,
  InstallFailure,
  type InstallState,
  installDatabase,
  moveAside,
  putBack,
} from '../../engines/sqlite/index.js';
import type {
  JsonValue,
  ManifestEntry,
  RecoveryContext,
  ResolvedArtifact,
  RestoreInput,
  RestoreOutput,
  RestoreTarget,
  SourceContext,
  StoredPathMapping,
  VerificationReport,
} from '../../contracts/types.js';
import { checkJellyfinRecovery, type JellyfinRecoveryPaths, rewriteJellyfinPaths } from './recovery.js';
import type { JellyfinClient } from './api.js';
import { clientOf, JELLYFIN_DATABASE_KIND, type JellyfinApiOption } from './database-source.js';
import { type JellyfinLocationOptions, locationShape, resolveJellyfinPaths } from './layout.js';
import { compareVersions, countAccounts, countLibrary, readDbVersion } from './version.js';

const targetSchema = z
  .object({
    name: z.string().min(1).optional(),
    source: z.string().min(1).optional(),
    ...locationShape,
    api: z
      .custom<JellyfinApiOption>((v) => typeof v === 'object' && v !== null, 'must be a client or options')
      .optional(),
    installedVersion: z
      .string()
      .regex(/^\d+\.\d+(\.\d+){0,2}$/, 'must be a version like 10.11.11')
      .optional(),
    scratch: z.boolean().optional(),
    scratchDir: z.string().min(1).optional(),
    force: z.boolean().optional(),
    integrity: z.enum(['full', 'quick']).optional(),
  })
  .strict();

/** Options of {@link JellyfinDatabaseTarget}. */
export interface JellyfinDatabaseTargetOptions extends JellyfinLocationOptions {
  /** @default 'jellyfin-db' */
  readonly name?: string;
  /** Only the entry of this source (or `<composite>/<source>`). */
  readonly source?: string;
  /**
   * The API of the server that will open the database: it must not answer during a restore
   * (Jellyfin stopped), and it tells the installed version.
   */
  readonly api?: JellyfinApiOption;
  /**
   * The version of the installed Jellyfin, e.g. `10.11.11`. When neither this nor the API tells,
   * the version the live database was last written by is used.
   */
  readonly installedVersion?: string;
  /** Restore into a temporary folder, verify counts, delete it; touch nothing live (for drills). */
  readonly scratch?: boolean;
  readonly scratchDir?: string;
  /** Restore even while Jellyfin answers or holds the database (unsafe). */
  readonly force?: boolean;
  readonly integrity?: 'full' | 'quick';
}

type DbName = 'jellyfin.db' | 'library.db';

interface Parts {
  readonly artifacts: Partial<Record<DbName, ResolvedArtifact>>;
  readonly perDb: Record<string, Record<string, JsonValue>>;
}

function partsOf(input: RestoreInput): Parts {
  const artifacts: Partial<Record<DbName, ResolvedArtifact>> = {};
  for (const a of input.artifacts) {
    const base = path.posix.basename(a.path);
    if (a.format === 'sqlite' && (base === 'jellyfin.db' || base === 'library.db')) artifacts[base] = a;
  }
  const perDb = (input.entry.metadata.databases ?? {}) as Record<string, Record<string, JsonValue>>;
  return { artifacts, perDb };
}

/**
 * Read a database Jellyfin is not running on. Read-write on purpose: a read-only connection to a
 * WAL file leaves `-wal`/`-shm` behind, owned by whoever ran the restore, which Jellyfin's own
 * user may then be unable to open; the last read-write connection removes them on close.
 */
async function withDb<T>(file: string, fn: (db: SqliteDatabase) => T): Promise<T> {
  const Database = await loadSqliteDriver();
  const db = new Database(file, { fileMustExist: true });
  try {
    return fn(db);
  } finally {
    closeQuietly(db);
  }
}

/**
 * The version a snapshot needs at least: the API's answer at backup time, else the fingerprint.
 *
 * @example
 * ```ts
 * snapshotVersion(entry.metadata); // '10.11.11' | undefined
 * ```
 */
export function snapshotVersion(metadata: Readonly<Record<string, JsonValue>>): string | undefined {
  const v = (metadata.version ?? {}) as Record<string, JsonValue>;
  const server = typeof v.serverVersion === 'string' ? v.serverVersion : undefined;
  const min = typeof v.minVersion === 'string' ? v.minVersion : undefined;
  return server ?? min;
}

/**
 * Restores Jellyfin database snapshots (`jellyfin.db`, and `library.db` for the 10.10 layout).
 *
 * - verify: `integrity_check`, table counts per file, the Jellyfin counts (users, API keys,
 *   items, played items, resume positions) against the manifest, and the version gate: never a
 *   snapshot from a newer Jellyfin than the installed one (Jellyfin cannot downgrade a database);
 *   a warning across the 10.10 → 10.11 layout change.
 * - restore: refuses while Jellyfin answers its API or holds the database, unless `force`; keeps a
 *   safety copy of `.db`, `-wal`, `-shm`; puts each snapshot in place through a temp file, fsync
 *   and rename with stale `-wal`/`-shm` removed; keeps owner, group and mode; checks again; rolls
 *   back to the safety copy on any failure. A 10.11 snapshot moves a leftover `library.db` aside.
 * - `scratch: true` restores into a temporary folder and verifies it, for drills.
 *
 * @example
 * ```ts
 * import { createRestorePlan } from 'duplicati-kit';
 * import { JellyfinDatabaseTarget } from 'duplicati-kit/jellyfin';
 * const plan = createRestorePlan({ targets: [new JellyfinDatabaseTarget({ install: 'debian', installedVersion: '10.11.11' })] });
 * await plan.run({ from: '/restore/staging' });
 * ```
 */
export class JellyfinDatabaseTarget implements RestoreTarget {
  readonly name: string;
  readonly kind = JELLYFIN_DATABASE_KIND;
  readonly #o: JellyfinDatabaseTargetOptions;
  readonly #client: JellyfinClient | undefined;

  constructor(options: JellyfinDatabaseTargetOptions = {}) {
    const parsed = targetSchema.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid JellyfinDatabaseTarget options', parsed.error);
    this.#o = parsed.data as JellyfinDatabaseTargetOptions;
    this.name = this.#o.name ?? 'jellyfin-db';
    this.#client = clientOf(this.#o.api);
  }

  accepts(entry: ManifestEntry): boolean {
    const s = this.#o.source;
    return (
      entry.kind === JELLYFIN_DATABASE_KIND && (s === undefined || entry.name === s || entry.name.endsWith(`/${s}`))
    );
  }

  #where<P extends 'verify' | 'restore' | 'rollback' | 'finalize'>(phase: P) {
    return { source: this.name, kind: this.kind, phase };
  }

  /** Where the live databases are (for the layout of the snapshot being restored). */
  async #livePaths(): Promise<{ dbDir: string; jellyfin: string; library: string }> {
    const explicit = this.#o.databases?.jellyfin;
    const dbDir = explicit ? path.dirname(explicit) : (await resolveJellyfinPaths(this.#o)).dbDir;
    return {
      dbDir,
      jellyfin: explicit ?? path.join(dbDir, 'jellyfin.db'),
      library: this.#o.databases?.library ?? path.join(dbDir, 'library.db'),
    };
  }

  /** The installed version: option, then API, then the live database's fingerprint. */
  async #installed(signal: AbortSignal): Promise<{ version: string | undefined; from: string }> {
    if (this.#o.installedVersion) return { version: this.#o.installedVersion, from: 'option' };
    if (this.#client) {
      try {
        return { version: (await this.#client.publicInfo({ signal })).version, from: 'api' };
      } catch {
        // A stopped server does not answer; fall back to the live database.
      }
    }
    const live = await this.#livePaths();
    if (await exists(live.jellyfin)) {
      try {
        const v = await withDb(live.jellyfin, readDbVersion);
        if (v.minVersion) return { version: v.minVersion, from: 'live database' };
      } catch {
        // An unreadable live database says nothing about the version; the restore replaces it.
      }
    }
    return { version: undefined, from: 'unknown' };
  }

  async #checks(files: Partial<Record<DbName, string>>, input: RestoreInput): Promise<Check[]> {
    const { perDb } = partsOf(input);
    const checks: Check[] = [];
    for (const [name, file] of Object.entries(files) as [DbName, string][]) {
      const counts = manifestCounts(perDb[name] ?? {});
      const got = await checkDatabaseFile(file, {
        counts,
        readWrite: true,
        ...(this.#o.integrity ? { integrity: this.#o.integrity } : {}),
      });
      checks.push(...got.map((c) => ({ ...c, name: `${name}: ${c.name}` })));
    }
    if (checks.some((c) => !c.ok)) return checks;
    // The Jellyfin counts, read the same way the source read them.
    const want = manifestCounts({ counts: input.entry.metadata.counts ?? {} });
    if (Object.keys(want).length === 0) return checks;
    const jf = files['jellyfin.db'];
    if (!jf) return [...checks, { name: 'jellyfin.db', ok: false, detail: 'no jellyfin.db snapshot' }];
    const accounts = await withDb(jf, countAccounts);
    const lib = await withDb(files['library.db'] ?? jf, countLibrary);
    const got: Record<string, number> = { ...accounts, ...lib };
    for (const [k, v] of Object.entries(want)) {
      checks.push(
        got[k] === v
          ? { name: `count:${k}`, ok: true, detail: String(v) }
          : { name: `count:${k}`, ok: false, detail: `${got[k]} in the snapshot, manifest says ${v}` },
      );
    }
    return checks;
  }

  async #gate(input: RestoreInput, signal: AbortSignal): Promise<Check[]> {
    const checks: Check[] = [];
    const needed = snapshotVersion(input.entry.metadata);
    const installed = await this.#installed(signal);
    if (!needed) {
      checks.push({ name: 'version', ok: true, detail: 'the snapshot records no Jellyfin version' });
    } else if (!installed.version) {
      checks.push({
        name: 'version',
        ok: true,
        detail: `installed version unknown; it must be ${needed} or newer (pass installedVersion or api)`,
      });
    } else if (compareVersions(needed, installed.version) > 0) {
      checks.push({
        name: 'version',
        ok: false,
        detail: `the snapshot is from Jellyfin ${needed}, newer than the installed ${installed.version} (${installed.from}); Jellyfin cannot downgrade a database: install ${needed} or newer first`,
      });
    } else {
      checks.push({ name: 'version', ok: true, detail: `snapshot ${needed}, installed ${installed.version}` });
    }
    const layout = input.entry.metadata.layout;
    const live = await this.#livePaths();
    const liveLayout = (await exists(live.library)) ? '10.10' : (await exists(live.jellyfin)) ? '10.11' : undefined;
    if (liveLayout && layout && liveLayout !== layout && !this.#o.scratch) {
      checks.push({
        name: 'layout',
        ok: true,
        detail: `warning: restoring a ${layout} layout over a ${liveLayout} one; ${layout === '10.11' ? 'library.db is moved aside with the safety copy' : 'Jellyfin 10.11+ will migrate library.db again at start'}`,
      });
    }
    return checks;
  }

  async verify(input: RestoreInput, ctx: SourceContext): Promise<VerificationReport> {
    const { artifacts } = partsOf(input);
    const files: Partial<Record<DbName, string>> = {};
    for (const [k, a] of Object.entries(artifacts)) files[k as DbName] = a.file;
    if (input.entry.metadata.layout === '10.10' && !files['library.db']) {
      return { ok: false, checks: [{ name: 'library.db', ok: false, detail: 'the 10.10 layout needs library.db' }] };
    }
    const checks = await this.#checks(files, { ...input });
    if (checks.every((c) => c.ok)) checks.push(...(await this.#gate(input, ctx.signal)));
    return { ok: checks.every((c) => c.ok), checks };
  }

  /** True when the Jellyfin API answers (the server is running). */
  #answers(signal: AbortSignal): Promise<boolean> {
    if (!this.#client) return Promise.resolve(false);
    return this.#client.publicInfo({ signal }).then(
      () => true,
      () => false,
    );
  }

  /**
   * The live side, read-only, before anything is touched: the version gate, Jellyfin not answering
   * its API, its databases not held open. The last two name the service `jellyfin`, so a
   * maintenance window that stops Jellyfin waives them in a dry run.
   */
  async precheck(input: RestoreInput, ctx: SourceContext): Promise<VerificationReport> {
    if (this.#o.scratch) return { ok: true, checks: [] };
    const { artifacts } = partsOf(input);
    const checks: Check[] = [...(await this.#gate(input, ctx.signal))];
    if (!this.#o.force) {
      if (this.#client) {
        const running = await this.#answers(ctx.signal);
        checks.push({
          name: 'jellyfin-stopped',
          ok: !running,
          detail: running
            ? `Jellyfin answers at ${this.#client.baseUrl}; it must be stopped before its database is restored`
            : `Jellyfin does not answer at ${this.#client.baseUrl}`,
          ...(running ? { service: 'jellyfin' } : {}),
        });
      }
      const live = await this.#livePaths();
      const files = (['jellyfin.db', 'library.db'] as const)
        .filter((n) => artifacts[n])
        .map((n) => (n === 'jellyfin.db' ? live.jellyfin : live.library));
      checks.push(...(await liveInUseChecks(files, 'jellyfin')));
    }
    return { ok: checks.every((c) => c.ok), checks };
  }

  async restore(input: RestoreInput, ctx: SourceContext): Promise<RestoreOutput> {
    const { artifacts } = partsOf(input);
    const order = (['jellyfin.db', 'library.db'] as const).filter((n) => artifacts[n]);
    if (!artifacts['jellyfin.db']) {
      throw new RestoreError('the entry has no jellyfin.db snapshot', this.#where('restore'));
    }
    if (this.#o.scratch) return this.#scratch(input, order, ctx);
    const gate = await this.#gate(input, ctx.signal);
    const refused = gate.filter((c) => !c.ok);
    if (refused.length > 0) {
      throw installError(
        new InstallFailure('the version gate refused the snapshot', 'precheck', refused),
        this.#where('restore'),
      );
    }
    if (this.#client && !this.#o.force) {
      if (await this.#answers(ctx.signal)) {
        throw new RestoreError(
          `Jellyfin answers at ${this.#client.baseUrl}; stop it before restoring its database (or pass force: true)`,
          this.#where('restore'),
          { code: 'ERR_JELLYFIN_RUNNING' },
        );
      }
    }
    const live = await this.#livePaths();
    if (ctx.dryRun) {
      ctx.logger.info('dry run: would replace the Jellyfin databases', { dbDir: live.dbDir });
      return { restored: [], metadata: { dryRun: true } };
    }
    const states: InstallState[] = [];
    try {
      for (const name of order) {
        const target = name === 'jellyfin.db' ? live.jellyfin : live.library;
        const artifact = artifacts[name] as ResolvedArtifact;
        states.push(
          await installDatabase({
            snapshot: artifact.file,
            live: target,
            journalMode: 'wal',
            check: (file) => this.#checks({ [name]: file }, withoutAppCounts(input)),
            signal: ctx.signal,
            ...(this.#o.force ? { force: true } : {}),
          }),
        );
      }
      if (!order.includes('library.db') && (await exists(live.library))) {
        // A 10.11 database beside a 10.10 library.db would be migrated again at start.
        states.push(await moveAside(live.library));
      }
      const placed: Partial<Record<DbName, string>> = { 'jellyfin.db': live.jellyfin };
      if (order.includes('library.db')) placed['library.db'] = live.library;
      const after = (await this.#checks(placed, input)).filter((c) => !c.ok);
      if (after.length > 0) throw new InstallFailure('the restored databases failed their checks', 'postcheck', after);
    } catch (e) {
      for (const s of [...states].reverse()) await putBack(s);
      if (ctx.signal.aborted) throw ctx.signal.reason;
      throw installError(e, this.#where('restore'));
    }
    ctx.logger.info('jellyfin databases restored', { dbDir: live.dbDir });
    return {
      restored: order.map((n) => (n === 'jellyfin.db' ? live.jellyfin : live.library)),
      ...(states[0]?.safety ? { safetyCopy: states[0].safety } : {}),
      state: { installs: states },
    };
  }

  async #scratch(input: RestoreInput, order: readonly DbName[], ctx: SourceContext): Promise<RestoreOutput> {
    const dir = await mkdtemp(path.join(this.#o.scratchDir ?? tmpdir(), 'dk-jellyfin-scratch-'));
    try {
      const { artifacts } = partsOf(input);
      const files: Partial<Record<DbName, string>> = {};
      for (const name of order) {
        const file = path.join(dir, name);
        await installDatabase({
          snapshot: (artifacts[name] as ResolvedArtifact).file,
          live: file,
          check: async () => [],
          signal: ctx.signal,
        });
        files[name] = file;
      }
      const checks = await this.#checks(files, input);
      const failed = checks.filter((c) => !c.ok);
      if (failed.length > 0) {
        throw installError(
          new InstallFailure('the scratch restore failed its checks', 'postcheck', failed),
          this.#where('restore'),
        );
      }
      return {
        restored: [],
        metadata: { scratch: true, verified: true, checks: checks.map((c) => ({ name: c.name, ok: c.ok })) },
      };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async rollback(output: RestoreOutput, ctx: SourceContext): Promise<void> {
    const states = statesOf(output);
    try {
      for (const s of [...states].reverse()) await putBack(s);
      if (states.length) ctx.logger.info('jellyfin database restore rolled back');
    } catch (e) {
      throw new RestoreError('rolling back the Jellyfin databases failed', this.#where('rollback'), { cause: e });
    }
  }

  async finalize(output: RestoreOutput, _ctx: SourceContext): Promise<void> {
    try {
      for (const s of statesOf(output)) await dropSafetyCopy(s);
    } catch (e) {
      throw new RestoreError('removing the safety copies failed', this.#where('finalize'), { cause: e });
    }
  }

  /** The restored server's files, for the recovery hooks. */
  async #recoveryPaths(): Promise<JellyfinRecoveryPaths> {
    const live = await this.#livePaths();
    const dataDir = (await resolveJellyfinPaths(this.#o)).dataDir;
    return { dataDir, jellyfinDb: live.jellyfin, ...((await exists(live.library)) ? { libraryDb: live.library } : {}) };
  }

  /**
   * Recovery on a new host: rewrite the library folders and item paths Jellyfin stores under the
   * map (see `rewriteJellyfinPaths`). Jellyfin must be stopped (its API, when given, must not answer).
   */
  async rewriteStoredPaths(map: readonly StoredPathMapping[], ctx: RecoveryContext): Promise<JsonValue> {
    if (this.#o.scratch) return { skipped: 'scratch target' };
    if (this.#client && !this.#o.force) {
      const up = await this.#client.publicInfo({ signal: ctx.signal }).then(
        () => true,
        () => false,
      );
      if (up) {
        throw new RestoreError(
          'Jellyfin is running: stop it before its stored paths are rewritten',
          this.#where('restore'),
        );
      }
    }
    return rewriteJellyfinPaths(await this.#recoveryPaths(), map, ctx.signal);
  }

  /** Recovery on a new host: integrity and counts of the databases, library folders present. */
  async recoveryCheck(_ctx: RecoveryContext): Promise<VerificationReport> {
    if (this.#o.scratch)
      return { ok: true, checks: [{ name: 'jellyfin-recovery', ok: true, detail: 'scratch target' }] };
    return checkJellyfinRecovery(
      await this.#recoveryPaths(),
      this.#o.integrity ? { integrity: this.#o.integrity } : {},
    );
  }
}

/** During the swap only per-file checks run; the Jellyfin counts need both files in place. */
function withoutAppCounts(input: RestoreInput): RestoreInput {
  return { ...input, entry: { ...input.entry, metadata: { ...input.entry.metadata, counts: {} } } };
}

function statesOf(output: RestoreOutput): InstallState[] {
  const list = (output.state?.installs ?? []) as unknown as InstallState[];
  return Array.isArray(list) ? list : [];
}
