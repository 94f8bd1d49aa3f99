/**
 * Restoring an all-databases entry of `PostgresSource` (`databases: 'all'` or a list): the globals
 * first (missing roles and tablespaces are created; existing ones are left exactly as they are),
 * then every database loaded next to its live one, checked, and swapped in only when all of them
 * loaded and matched. Rollback and finalize work over the whole set.
 *
 * @module
 */
import { neverAborted } from '../../core/abort.js';
import { isDuplicatiKitError, type Phase, RestoreError, VerificationError } from '../../core/errors.js';
import { databaseInfo, dropDatabase, failedName, type PgDatabaseInfo, scratchName } from './admin.js';
import { PG_GLOBALS_FORMAT } from './cluster-source.js';
import { quoteIdent, type ResolvedPgConnection } from './connection.js';
import { type PgDumpFormat, readAvailableExtensions, readServerInfo } from './dump.js';
import { createGlobalsFilter } from './globals.js';
import { loadDump } from './load.js';
import {
  asCounts,
  type Check,
  claimAndSweep,
  DUMP_FORMATS,
  loadAndInspect,
  serverVersionCheck,
  swapAllBack,
  swapInAll,
} from './restore-steps.js';
import type { SqlSession } from './session.js';
import type { PgEndpoint } from './endpoint.js';
import type {
  JsonValue,
  ManifestEntry,
  ResolvedArtifact,
  RestoreInput,
  RestoreOutput,
  SourceContext,
  VerificationReport,
} from '../../contracts/types.js';

/** True for a manifest entry written by `PostgresSource` with `databases`. */
export function isClusterEntry(entry: ManifestEntry): boolean {
  return entry.metadata.cluster === true && Array.isArray(entry.metadata.databases);
}

/** What the all-databases restore needs from `PostgresTarget`. */
export interface ClusterTargetContext {
  readonly endpoint: PgEndpoint;
  readonly where: { readonly source: string; readonly kind: string };
  /** The maintenance database the user named, if any. */
  readonly maintenanceDatabase: string | undefined;
  /** True when the user named one live database (`database`): meaningless for these entries. */
  readonly singleDatabase: boolean;
  readonly only: readonly string[] | undefined;
  readonly globals: boolean;
  readonly jobs: number;
  readonly scratch: boolean;
  readonly keepSafetyCopy: boolean;
}

/** One database of the entry, resolved against the restored files. */
interface DbPart {
  readonly name: string;
  readonly artifact: ResolvedArtifact | undefined;
  readonly format: PgDumpFormat | undefined;
  readonly like: PgDatabaseInfo | undefined;
  readonly extensions: readonly string[];
  readonly counts: Record<string, number> | undefined;
}

function str(v: JsonValue | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function parts(input: RestoreInput): DbPart[] {
  const list = input.entry.metadata.databases as JsonValue[];
  return list.map((raw) => {
    const d = (raw && typeof raw === 'object' && !Array.isArray(raw) ? raw : {}) as Record<string, JsonValue>;
    const artifact = input.artifacts.find((a) => a.path === d.artifact);
    const owner = str(d.owner);
    const encoding = str(d.encoding);
    const collate = str(d.collate);
    const ctype = str(d.ctype);
    const ext = d.extensions && typeof d.extensions === 'object' && !Array.isArray(d.extensions) ? d.extensions : {};
    return {
      name: str(d.name) ?? '',
      artifact,
      format: artifact ? DUMP_FORMATS[artifact.format] : undefined,
      like: owner && encoding && collate && ctype ? { owner, encoding, collate, ctype } : undefined,
      extensions: Object.keys(ext),
      counts: d.counts && typeof d.counts === 'object' && !Array.isArray(d.counts) ? asCounts(d.counts) : undefined,
    };
  });
}

function globalsArtifact(input: RestoreInput): ResolvedArtifact | undefined {
  const p = input.entry.metadata.globals;
  return typeof p === 'string' ? input.artifacts.find((a) => a.path === p) : undefined;
}

/** The databases to restore: all of the entry's, or those named in `only`. */
function selected(c: ClusterTargetContext, all: DbPart[]): DbPart[] {
  return c.only ? all.filter((d) => c.only?.includes(d.name)) : all;
}

/**
 * The database to run CREATE/RENAME/DROP on: the one the user named, else `postgres`, else
 * `template1` when `postgres` itself is restored (a session cannot rename its own database).
 */
function adminDatabase(c: ClusterTargetContext, names: readonly string[]): string {
  if (c.maintenanceDatabase !== undefined) return c.maintenanceDatabase;
  return names.includes('postgres') ? 'template1' : 'postgres';
}

/** Roles and tablespaces a restore created, kept in the output so rollback can remove them. */
interface Created {
  roles: string[];
  tablespaces: string[];
}

/**
 * Run the globals file on the maintenance database: roles and tablespaces that exist are skipped
 * (never altered, never dropped), missing ones are created, memberships are granted. Stops at the
 * first error; whatever it created before is dropped again.
 */
async function applyGlobals(
  c: ClusterTargetContext,
  conn: ResolvedPgConnection,
  admin: SqlSession,
  adminDb: string,
  file: ResolvedArtifact,
  phase: Phase,
  ctx: SourceContext,
): Promise<Created & { kept: string[] }> {
  const roles = new Set((await admin.query<{ n: string }>('SELECT rolname AS n FROM pg_roles')).map((r) => r.n));
  const tablespaces = new Set(
    (await admin.query<{ n: string }>('SELECT spcname AS n FROM pg_tablespace')).map((r) => r.n),
  );
  const filter = createGlobalsFilter({ roles, tablespaces });
  const server = await readServerInfo(admin);
  const psql = await c.endpoint.tool('psql', server.major, phase, ctx.signal);
  try {
    await loadDump({
      executor: c.endpoint.executor,
      tool: psql,
      conn,
      database: adminDb,
      file: file.file,
      format: 'sql',
      transform: () => filter.stream,
      singleTransaction: false,
      terse: true,
      signal: ctx.signal,
      where: { ...c.where, phase },
      secrets: c.endpoint.secrets(conn),
    });
  } catch (e) {
    await dropCreated(admin, { roles: filter.result.createdRoles, tablespaces: filter.result.createdTablespaces }, ctx);
    throw e;
  }
  ctx.logger.info('applied PostgreSQL globals', {
    createdRoles: filter.result.createdRoles,
    keptRoles: filter.result.keptRoles,
    createdTablespaces: filter.result.createdTablespaces,
  });
  return {
    roles: filter.result.createdRoles,
    tablespaces: filter.result.createdTablespaces,
    kept: filter.result.keptRoles,
  };
}

/** Drop roles and tablespaces a restore created (best effort: a failure is logged, not thrown). */
async function dropCreated(admin: SqlSession, created: Created, ctx: SourceContext): Promise<string[]> {
  const left: string[] = [];
  for (const t of [...created.tablespaces].reverse()) {
    await admin.exec(`DROP TABLESPACE IF EXISTS ${quoteIdent(t)}`).catch((e: unknown) => {
      left.push(`tablespace ${t}`);
      ctx.logger.warn('could not drop a tablespace the restore created', { tablespace: t, error: String(e) });
    });
  }
  for (const r of [...created.roles].reverse()) {
    await admin.exec(`DROP ROLE IF EXISTS ${quoteIdent(r)}`).catch((e: unknown) => {
      left.push(`role ${r}`);
      ctx.logger.warn('could not drop a role the restore created', { role: r, error: String(e) });
    });
  }
  return left;
}

/** Checks that need no load. */
async function preflight(
  c: ClusterTargetContext,
  input: RestoreInput,
  dbs: DbPart[],
  admin: SqlSession,
  adminDb: string,
): Promise<Check[]> {
  const checks: Check[] = [];
  const meta = input.entry.metadata;
  if (c.singleDatabase) {
    checks.push({
      name: 'database',
      ok: false,
      detail:
        'this entry holds several databases, each restored under its own name; remove the target\'s "database" option (use "only" to pick databases)',
    });
  }
  const all = parts(input);
  const unknown = (c.only ?? []).filter((n) => !all.some((d) => d.name === n));
  if (unknown.length) {
    checks.push({
      name: 'only',
      ok: false,
      detail: `the backup holds no database ${unknown.join(', ')} (it holds ${all.map((d) => d.name).join(', ') || 'none'})`,
    });
  }
  checks.push(await serverVersionCheck(admin, meta));
  const noDump = dbs.filter((d) => !d.artifact || !d.format).map((d) => d.name || '(unnamed)');
  checks.push({
    name: 'dumps',
    ok: noDump.length === 0,
    detail: noDump.length
      ? `no PostgreSQL dump artifact for ${noDump.join(', ')}`
      : `${dbs.length} database dump(s): ${dbs.map((d) => `${d.name} (${d.format})`).join(', ')}`,
  });
  const noCounts = dbs.filter((d) => d.counts === undefined).map((d) => d.name);
  checks.push({
    name: 'counts-recorded',
    ok: noCounts.length === 0,
    detail: noCounts.length ? `the manifest has no row counts for ${noCounts.join(', ')}` : 'row counts recorded',
  });
  const available = await readAvailableExtensions(admin);
  const missing = dbs.flatMap((d) => d.extensions.filter((x) => !available.has(x)).map((x) => `${d.name}: ${x}`));
  checks.push({
    name: 'extensions',
    ok: missing.length === 0,
    detail: missing.length ? `not available on the target server: ${missing.join(', ')}` : 'all available',
  });
  if (c.globals && meta.globals !== null && meta.globals !== undefined) {
    const g = globalsArtifact(input);
    checks.push({
      name: 'globals',
      ok: g?.format === PG_GLOBALS_FORMAT,
      detail: g ? 'roles and tablespaces file present' : `no globals artifact ${String(meta.globals)}`,
    });
  }
  if (dbs.some((d) => d.name === adminDb)) {
    checks.push({
      name: 'maintenance-database',
      ok: false,
      detail: `"${adminDb}" is restored itself; set maintenanceDatabase to another database (e.g. template1)`,
    });
  }
  return checks;
}

function failures(checks: readonly Check[]) {
  return checks.filter((x) => !x.ok).map((x) => ({ check: x.name, message: x.detail ?? 'failed' }));
}

/** Everything one all-databases verify or restore shares. */
interface Run {
  readonly conn: ResolvedPgConnection;
  readonly admin: SqlSession;
  readonly adminDb: string;
  readonly dbs: DbPart[];
}

async function open(c: ClusterTargetContext, input: RestoreInput, phase: Phase, ctx: SourceContext): Promise<Run> {
  const conn = await c.endpoint.resolve(ctx.signal);
  const dbs = selected(c, parts(input));
  const adminDb = adminDatabase(
    c,
    dbs.map((d) => d.name),
  );
  // The admin session ignores the caller's signal: after an abort it still drops what it created.
  const admin = await c.endpoint.open(conn, adminDb, phase, neverAborted());
  try {
    await claimAndSweep(
      admin,
      dbs.map((d) => d.name),
      { ...c.where, phase },
      ctx,
    );
  } catch (e) {
    await admin.close(true);
    throw e;
  }
  return { conn, admin, adminDb, dbs };
}

function wrap(c: ClusterTargetContext, e: unknown, phase: Phase, conn: ResolvedPgConnection, signal: AbortSignal) {
  if (signal.aborted) return signal.reason;
  if (isDuplicatiKitError(e)) return e;
  return new RestoreError(
    `${phase} of the PostgreSQL databases failed: ${(e as Error)?.message ?? String(e)}`,
    { ...c.where, phase },
    { cause: e, secrets: c.endpoint.secrets(conn), code: 'ERR_PG_RESTORE' },
  );
}

/**
 * Load every database into a new one and check it. `stopEarly` (restore) stops at the first
 * failure; verify loads them all to report every problem. Returns the checks and the new
 * databases by live name (the caller drops or swaps them).
 */
async function loadAll(
  c: ClusterTargetContext,
  run: Run,
  phase: Phase,
  ctx: SourceContext,
  stopEarly: boolean,
  fresh: Map<string, string>,
): Promise<Check[]> {
  const checks: Check[] = [];
  for (const d of run.dbs) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    const db = scratchName(d.name);
    fresh.set(d.name, db);
    try {
      const live = await databaseInfo(run.admin, d.name);
      checks.push(
        ...(await loadAndInspect({
          endpoint: c.endpoint,
          conn: run.conn,
          admin: run.admin,
          db,
          like: live ?? d.like,
          // Owner and locale recorded on another server may not exist here.
          createFallback: live === undefined,
          artifact: d.artifact as ResolvedArtifact,
          format: d.format as PgDumpFormat,
          jobs: c.jobs,
          phase,
          ctx,
          where: c.where,
          expected: d.counts ?? {},
          countsCheck: `counts:${d.name}`,
        })),
      );
      checks.push({ name: `load:${d.name}`, ok: true, detail: 'loaded without error' });
    } catch (e) {
      if (ctx.signal.aborted || stopEarly) throw e;
      checks.push({ name: `load:${d.name}`, ok: false, detail: (e as Error).message });
    }
    if (stopEarly && checks.some((x) => !x.ok)) break;
  }
  return checks;
}

async function dropAll(admin: SqlSession, names: Iterable<string>, ctx: SourceContext): Promise<void> {
  for (const db of names) {
    await dropDatabase(admin, db).catch((e) =>
      ctx.logger.warn('could not drop a scratch database', { db, error: String(e) }),
    );
  }
}

/**
 * Verify an all-databases entry: preflight, then (unless a dry run) every database loaded into a
 * scratch database and its counts compared. Missing roles are created for the check (the dumps
 * need their owners) and dropped again with the scratch databases; existing roles are untouched.
 */
export async function verifyCluster(
  c: ClusterTargetContext,
  input: RestoreInput,
  ctx: SourceContext,
): Promise<VerificationReport> {
  const run = await open(c, input, 'verify', ctx);
  const fresh = new Map<string, string>();
  let created: Created = { roles: [], tablespaces: [] };
  try {
    const checks = await preflight(c, input, run.dbs, run.admin, run.adminDb);
    if (checks.some((x) => !x.ok)) return { ok: false, checks };
    if (ctx.dryRun) {
      checks.push({ name: 'load', ok: true, detail: 'dry run: not loaded' });
      return { ok: true, checks };
    }
    const g = c.globals ? globalsArtifact(input) : undefined;
    if (g) {
      try {
        created = await applyGlobals(c, run.conn, run.admin, run.adminDb, g, 'verify', ctx);
        checks.push({
          name: 'globals-load',
          ok: true,
          detail: `${created.roles.length} missing role(s) created for the check`,
        });
      } catch (e) {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        checks.push({ name: 'globals-load', ok: false, detail: (e as Error).message });
        return { ok: false, checks };
      }
    }
    checks.push(...(await loadAll(c, run, 'verify', ctx, false, fresh)));
    return { ok: checks.every((x) => x.ok), checks };
  } catch (e) {
    throw wrap(c, e, 'verify', run.conn, ctx.signal);
  } finally {
    await dropAll(run.admin, fresh.values(), ctx);
    await dropCreated(run.admin, created, ctx);
    await run.admin.close(true);
  }
}

/**
 * Restore an all-databases entry: globals, then every database loaded and checked next to its
 * live one, then all swapped in. Nothing live changes until every database loaded and matched;
 * when a swap fails, the databases swapped before it are swapped back. With `scratch`, only the
 * loads and checks run and everything created is dropped.
 */
export async function restoreCluster(
  c: ClusterTargetContext,
  input: RestoreInput,
  ctx: SourceContext,
): Promise<RestoreOutput> {
  const where = { ...c.where, phase: 'restore' as const };
  const run = await open(c, input, 'restore', ctx);
  const fresh = new Map<string, string>();
  let created: Created = { roles: [], tablespaces: [] };
  let keep = false;
  try {
    const pre = await preflight(c, input, run.dbs, run.admin, run.adminDb);
    if (pre.some((x) => !x.ok)) {
      throw new VerificationError('the backup cannot be restored into this server', where, failures(pre));
    }
    const names = run.dbs.map((d) => d.name);
    if (ctx.dryRun) return { restored: [], metadata: { dryRun: true, databases: names } };
    const g = c.globals ? globalsArtifact(input) : undefined;
    let keptRoles: string[] = [];
    if (g) {
      const r = await applyGlobals(c, run.conn, run.admin, run.adminDb, g, 'restore', ctx);
      created = { roles: r.roles, tablespaces: r.tablespaces };
      keptRoles = r.kept;
    }
    const checks = await loadAll(c, run, 'restore', ctx, true, fresh);
    if (checks.some((x) => !x.ok)) {
      throw new VerificationError(
        'a restored database does not match the manifest; no live database was touched',
        where,
        failures(checks),
      );
    }
    const checkReport: JsonValue = checks.map((x) => ({ name: x.name, ok: x.ok, detail: x.detail ?? null }));
    const globalsReport = { createdRoles: created.roles, keptRoles, createdTablespaces: created.tablespaces };
    if (c.scratch) {
      return {
        restored: [],
        metadata: { scratch: true, databases: [...fresh.values()], checks: checkReport, globals: globalsReport },
      };
    }
    const swapped = await swapInAll(
      run.admin,
      run.dbs.map((d) => ({ live: d.name, fresh: fresh.get(d.name) as string })),
      where,
      (live) => fresh.delete(live),
    );
    keep = true;
    ctx.logger.info('restored PostgreSQL databases', { databases: names });
    const safeties = swapped.flatMap((s) => (s.safety ? [s.safety] : []));
    return {
      restored: names.map((n) => `postgresql database ${n}`),
      ...(safeties.length ? { safetyCopy: safeties.join(', ') } : {}),
      state: {
        cluster: true,
        databases: swapped,
        createdRoles: created.roles,
        createdTablespaces: created.tablespaces,
      },
      metadata: { databases: names, checks: checkReport, globals: globalsReport },
    };
  } catch (e) {
    throw wrap(c, e, 'restore', run.conn, ctx.signal);
  } finally {
    await dropAll(run.admin, fresh.values(), ctx);
    if (!keep) await dropCreated(run.admin, created, ctx);
    await run.admin.close(true);
  }
}

function stateOf(output: RestoreOutput): {
  databases: { database: string; safety: string | null }[];
  created: Created;
} {
  const s = output.state ?? {};
  const list = Array.isArray(s.databases) ? s.databases : [];
  const strings = (v: JsonValue | undefined) => (Array.isArray(v) ? v.filter((x) => typeof x === 'string') : []);
  return {
    databases: list.flatMap((x) => {
      const o = x && typeof x === 'object' && !Array.isArray(x) ? x : {};
      const database = str(o.database);
      return database ? [{ database, safety: str(o.safety) ?? null }] : [];
    }),
    created: { roles: strings(s.createdRoles) as string[], tablespaces: strings(s.createdTablespaces) as string[] },
  };
}

/** True for the output of {@link restoreCluster}. */
export function isClusterOutput(output: RestoreOutput): boolean {
  return output.state?.cluster === true;
}

/** Swap every database back, then drop the roles and tablespaces the restore created. */
export async function rollbackCluster(
  c: ClusterTargetContext,
  output: RestoreOutput,
  ctx: SourceContext,
): Promise<void> {
  const { databases, created } = stateOf(output);
  const conn = await c.endpoint.resolve(ctx.signal);
  const adminDb = adminDatabase(
    c,
    databases.map((d) => d.database),
  );
  const admin = await c.endpoint.open(conn, adminDb, 'rollback', neverAborted());
  try {
    // Kept from the sweep: what an interrupted earlier swap-back leaves for this one to finish.
    const keep = new Set(databases.map((d) => failedName(d.database, d.safety ?? undefined)));
    await claimAndSweep(
      admin,
      databases.map((d) => d.database),
      { ...c.where, phase: 'rollback' },
      ctx,
      keep,
    );
    const stuck = await swapAllBack(admin, databases);
    if (stuck.length) {
      throw new RestoreError(
        `rolling back failed for ${stuck.join(', ')}`,
        { ...c.where, phase: 'rollback' },
        {
          code: 'ERR_PG_ROLLBACK',
        },
      );
    }
    await dropCreated(admin, created, ctx);
  } catch (e) {
    throw wrap(c, e, 'rollback', conn, ctx.signal);
  } finally {
    await admin.close(true);
  }
}

/** Drop every safety copy, unless `keepSafetyCopy`. */
export async function finalizeCluster(
  c: ClusterTargetContext,
  output: RestoreOutput,
  ctx: SourceContext,
): Promise<void> {
  if (c.keepSafetyCopy) return;
  const { databases } = stateOf(output);
  const safeties = databases.flatMap((d) => (d.safety ? [d.safety] : []));
  if (safeties.length === 0) return;
  const conn = await c.endpoint.resolve(ctx.signal);
  const admin = await c.endpoint.open(
    conn,
    adminDatabase(
      c,
      databases.map((d) => d.database),
    ),
    'finalize',
    neverAborted(),
  );
  try {
    for (const s of safeties) await dropDatabase(admin, s);
  } catch (e) {
    throw wrap(c, e, 'finalize', conn, ctx.signal);
  } finally {
    await admin.close(true);
  }
}
