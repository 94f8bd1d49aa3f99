/**
 * `FakeDuplicatiServer`: an in-process Duplicati server for tests, speaking the 2.0.x or the
 * 2.1+ wire protocol over real HTTP on 127.0.0.1.
 *
 * @module
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { raceSignal } from '../../core/abort.js';
import { ConfigError } from '../../core/errors.js';
import { type Logger, silentLogger } from '../../core/logger.js';
import { Auth20, Auth21 } from './auth.js';
import { compareVersions, httpDate, isoSecondsOffset, isoSecondsZ } from './format.js';
import { appendRuns, type FakeSeedRun } from './history.js';
import { fail, type RouteContext, routeApi, WEEKDAYS } from './routes.js';
import { storedPath } from './store.js';
import { type FakeLogRow, type FakeOperation, FakeState, type FakeTaskStatus, type TaskHold } from './state.js';
import {
  cookie20,
  type Exchange,
  type FakeGeneration,
  parseCookies,
  prop,
  type Reply,
  readBody,
  write20,
  write21,
} from './wire.js';

export type { FakeGeneration } from './wire.js';
export type { FakeLogRow, TaskHold } from './state.js';
export type { FakeSeedRun } from './history.js';

const optionsSchema = z
  .object({
    generation: z.enum(['2.0', '2.1']),
    version: z
      .string()
      .regex(/^2\.\d+\.\d+(\.\d+)?$/, 'a Duplicati version such as 2.0.7.3 or 2.2.0.3')
      .optional(),
    password: z.string().min(1).nullable().optional(),
    host: z.string().min(1).optional(),
    port: z.number().int().min(0).max(65_535).optional(),
    tokenLifetimeMs: z.number().int().positive().optional(),
    refreshTokenLifetimeMs: z.number().int().positive().optional(),
    preAuthTokens: z.array(z.string().regex(/^[A-Za-z0-9_-]{10,}$/)).optional(),
    enableForeverToken: z.boolean().optional(),
    dataDir: z.string().min(1).optional(),
    now: z.custom<() => Date>((v) => typeof v === 'function', 'a function returning a Date').optional(),
    logger: z
      .custom<Logger>(
        (v) => typeof v === 'object' && v !== null && typeof (v as Logger).warn === 'function',
        'a Logger',
      )
      .optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (o.version === undefined) return;
    const is20 = compareVersions(o.version, '2.1') < 0;
    if (is20 !== (o.generation === '2.0')) {
      ctx.addIssue({
        code: 'custom',
        path: ['version'],
        message: `version ${o.version} is not of generation ${o.generation}`,
      });
    }
  });

/**
 * Options of {@link FakeDuplicatiServer.start}.
 *
 * @example
 * ```ts
 * const options: FakeDuplicatiServerOptions = { generation: '2.1', version: '2.1.0.5', tokenLifetimeMs: 2_000 };
 * ```
 */
export interface FakeDuplicatiServerOptions {
  /** Which wire protocol to speak: the 2.0.x mono server or the 2.1+ Kestrel server. */
  readonly generation: FakeGeneration;
  /**
   * Reported and emulated server version (default `2.0.7.3` / `2.2.0.3`). Within 2.1+ it selects
   * version-specific behaviour: refresh nonces and `task/{id}/stop` from 2.1.1, task timestamps,
   * `Failed` status and end-of-queue runs from 2.1.2, secret masking from 2.3.
   */
  readonly version?: string;
  /** UI password (default `fake-password`); `null` runs without a password. */
  readonly password?: string | null;
  /** Interface to listen on (default `127.0.0.1`). */
  readonly host?: string;
  /** Port (default 0: any free port). */
  readonly port?: number;
  /** 2.1+: access-token lifetime (default 15 min). 2.0: session lifetime (default 1 h, sliding). */
  readonly tokenLifetimeMs?: number;
  /** 2.1+: lifetime of a RememberMe refresh token (default 30 days). */
  readonly refreshTokenLifetimeMs?: number;
  /** 2.1.2+: tokens accepted as `Authorization: PreAuth <token>`. */
  readonly preAuthTokens?: readonly string[];
  /** 2.1+: allow `POST /api/v1/auth/issue-forever-token`. */
  readonly enableForeverToken?: boolean;
  /** Folder for versions and job databases (default: a new temp folder, removed by `close()`). */
  readonly dataDir?: string;
  /** Clock (default `() => new Date()`). */
  readonly now?: () => Date;
  /** Logger for the fake's own diagnostics (default silent). */
  readonly logger?: Logger;
}

/** Which requests a fault applies to. */
export interface FakeRequestMatch {
  /** HTTP method, e.g. `GET`. */
  readonly method?: string;
  /** A path prefix (`/api/v1/backup/1`) or a pattern tested against path + query. */
  readonly path?: string | RegExp;
}

/** One request the fake answered. */
export interface FakeRequestRecord {
  readonly method: string;
  /** Path and query as sent. */
  readonly url: string;
  readonly status: number;
  /** Milliseconds since the epoch (the server's clock) when the request arrived. */
  readonly at: number;
  /** Which fault, if any, answered it. */
  readonly fault?: 'status' | 'garbage' | 'delay' | 'drop';
}

/** Counters of authentication events. */
export interface FakeAuthCounters {
  logins: number;
  failedLogins: number;
  refreshes: number;
  failedRefreshes: number;
  /** Refresh tokens presented again after they had been rotated (their family is revoked). */
  replayedRefreshTokens: number;
}

/** A job as the fake holds it. */
export interface FakeBackupInfo {
  readonly id: string;
  readonly name: string;
  readonly sources: readonly string[];
  readonly targetUrl: string;
  readonly settings: Readonly<Record<string, string | null>>;
  readonly metadata: Readonly<Record<string, string>>;
}

/** A stored version of a job. */
export interface FakeVersionInfo {
  /** Version number as the API numbers them: 0 is the newest. */
  readonly version: number;
  readonly time: Date;
  readonly fileCount: number;
  readonly fileSizes: number;
  /** Paths in the version; folders end with `/`. */
  readonly paths: readonly string[];
}

/** A task of the queue or its history. */
export interface FakeTaskInfo {
  readonly id: number;
  readonly backupId: string | undefined;
  readonly operation: FakeOperation;
  readonly status: FakeTaskStatus;
  readonly result: 'Success' | 'Warning' | 'Error' | 'Fatal' | undefined;
}

/** Options of {@link FakeDuplicatiServer.restart}. */
export interface FakeRestartOptions {
  /** Kill queued and running tasks (they leave no result), as a crash would. Default false. */
  readonly dropTasks?: boolean;
  /** 2.1+: keep the JWT signing key and token families (a real restart does). Default false. */
  readonly keepTokens?: boolean;
}

/** A job to register directly, without going through the API. */
export interface FakeBackupSeed {
  readonly name: string;
  readonly sources: readonly string[];
  readonly targetUrl?: string;
  /** Job settings by name; `no-encryption` defaults to `true`. */
  readonly settings?: Readonly<Record<string, string>>;
  /** Exclude filters (Duplicati expressions, e.g. a plan's `excludePatterns`), in order. */
  readonly exclude?: readonly string[];
}

type RequestFault =
  | { kind: 'status'; remaining: number; match: FakeRequestMatch; status: number }
  | { kind: 'garbage'; remaining: number; match: FakeRequestMatch; body: string }
  | { kind: 'delay'; remaining: number; match: FakeRequestMatch; ms: number }
  | { kind: 'drop'; remaining: number; match: FakeRequestMatch };

const PUBLIC_21 = new Set(['/api/v1/auth/login', '/api/v1/auth/refresh', '/api/v1/auth/refresh/logout']);

/**
 * A Duplicati server in a box, for tests: a real HTTP server on 127.0.0.1 with a real state
 * machine (jobs, a serial task queue, runs that copy their source folders into versions,
 * restores that write files back, job logs with `Result` rows, long-poll, expiring tokens) that
 * speaks the wire format of a 2.0.x or a 2.1+ server, plus fault injection.
 *
 * The remote target is modelled for `file://` URLs whose folder exists: a run keeps its version
 * there, and a fresh server reads it directly (temporary backup, `filesets?from-remote-only=true`,
 * `copytotemp`, `repair` with a time, `files`, `restore`), with 2.0.7.3's errors for a wrong or
 * missing passphrase, a missing folder and a folder without versions (see `remote.ts`).
 * Not modelled: encryption (a salted check value stands for it), compression, other target
 * schemes (`TargetURL` is stored, never written), symlinks (skipped), schedules (stored, never fire; `setSchedule` sets what the scheduler would), the WebSocket and `/api/v2`.
 * The real server tolerates a refresh token replayed within 30 s; the fake rejects every replay.
 *
 * @example
 * ```ts
 * import { FakeDuplicatiServer } from 'duplicati-kit/testing';
 * import { DuplicatiClient } from 'duplicati-kit/duplicati';
 *
 * const server = await FakeDuplicatiServer.start({ generation: '2.1', password: 'pw' });
 * const id = server.createBackup({ name: 'photos', sources: ['/srv/photos/'] });
 * const dup = new DuplicatiClient({ baseUrl: server.url, auth: { type: 'password', password: 'pw' } });
 * const outcome = await dup.backups.runAndWait(id);
 * server.failNextRequests(2);            // the next two requests answer 500
 * await server.close();
 * ```
 */
export class FakeDuplicatiServer {
  /** Wire generation. */
  readonly generation: FakeGeneration;
  /** Emulated server version. */
  readonly version: string;
  /** The UI password (null: none). */
  readonly password: string | null;
  /** Every request answered so far, oldest first. */
  readonly requests: FakeRequestRecord[] = [];
  /** Authentication counters. */
  readonly authCounters: FakeAuthCounters = {
    logins: 0,
    failedLogins: 0,
    refreshes: 0,
    failedRefreshes: 0,
    replayedRefreshTokens: 0,
  };

  private readonly state: FakeState;
  private readonly auth20: Auth20;
  private readonly auth21: Auth21;
  private readonly ctx: RouteContext;
  private readonly now: () => Date;
  private readonly logger: Logger;
  private readonly host: string;
  private readonly preAuthTokens: ReadonlySet<string>;
  private readonly enableForeverToken: boolean;
  private readonly sockets = new Set<Socket>();
  private faults: RequestFault[] = [];
  private requestWaiters: { match: FakeRequestMatch; resolve: (url: string) => void }[] = [];
  private server: Server | undefined;
  private lifetime = new AbortController();
  private boundPort = 0;

  private constructor(
    options: FakeDuplicatiServerOptions,
    private readonly dataDir: string,
    private readonly ownsDataDir: boolean,
  ) {
    this.generation = options.generation;
    this.version = options.version ?? (options.generation === '2.0' ? '2.0.7.3' : '2.2.0.3');
    this.password = options.password === undefined ? 'fake-password' : options.password;
    this.now = options.now ?? (() => new Date());
    this.logger = options.logger ?? silentLogger;
    this.host = options.host ?? '127.0.0.1';
    this.boundPort = options.port ?? 0;
    this.preAuthTokens = new Set(options.preAuthTokens ?? []);
    this.enableForeverToken = options.enableForeverToken ?? false;
    const is212 = compareVersions(this.version, '2.1.2') >= 0;
    this.state = new FakeState({
      versionText: `${this.version} (${this.version}_fake)`,
      dataDir,
      now: this.now,
      logger: this.logger,
      fatalMarksFailed: this.generation === '2.1' && is212,
      runQueuesAtEnd: this.generation === '2.1' && is212,
      cleanRunDismisses: this.generation === '2.1',
      readsScriptLogLines: compareVersions(this.version, '2.0.9.110') >= 0,
    });
    this.auth20 = new Auth20(this.password, options.tokenLifetimeMs ?? 3_600_000);
    this.auth21 = new Auth21(
      this.password,
      options.tokenLifetimeMs ?? 15 * 60_000,
      options.refreshTokenLifetimeMs ?? 30 * 86_400_000,
      2 * 3_600_000,
    );
    this.ctx = { state: this.state, generation: this.generation, version: this.version, now: this.now };
  }

  /**
   * Start a fake server listening on `host:port` (127.0.0.1 and a free port by default).
   * Invalid options throw a `ConfigError` naming every bad field.
   */
  static async start(options: FakeDuplicatiServerOptions): Promise<FakeDuplicatiServer> {
    const parsed = optionsSchema.safeParse(options);
    if (!parsed.success) {
      throw new ConfigError(
        'Invalid FakeDuplicatiServer options',
        parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
      );
    }
    const owns = options.dataDir === undefined;
    const dataDir = options.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'fake-duplicati-')));
    const server = new FakeDuplicatiServer(options, dataDir, owns);
    await server.listen();
    return server;
  }

  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  get url(): string {
    return `http://${this.host}:${this.boundPort}`;
  }

  /** The port listened on. */
  get port(): number {
    return this.boundPort;
  }

  private listen(): Promise<void> {
    this.lifetime = new AbortController();
    const server = createServer((req, res) => {
      void this.handle(req, res);
    });
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.boundPort, this.host, () => {
        server.off('error', reject);
        this.boundPort = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  private async stopListening(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.lifetime.abort();
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await closed;
  }

  /** Stop the server, end its tasks and remove its temp folder (when it created one). */
  async close(): Promise<void> {
    this.state.close();
    await this.stopListening();
    if (this.ownsDataDir) await rm(this.dataDir, { recursive: true, force: true });
  }

  /**
   * Simulate a server restart on the same port: open connections are cut, sessions, XSRF tokens,
   * nonces and (unless `keepTokens`) JWTs are lost, the event counter starts again and finished
   * task results are forgotten (`GET task/{id}` answers 404, as on a real server). Jobs, versions,
   * job logs and notifications are kept. Queued and running tasks carry on unless `dropTasks`.
   *
   * @example
   * ```ts
   * await server.restart();                      // clients must log in again
   * await server.restart({ dropTasks: true });   // the running backup dies with the server
   * ```
   */
  async restart(options: FakeRestartOptions = {}): Promise<void> {
    await this.stopListening();
    if (options.dropTasks) this.state.dropTasks();
    this.state.forgetFinishedTasks();
    this.state.resetEvents();
    this.auth20.reset();
    if (!options.keepTokens) this.auth21.reset();
    await this.listen();
  }

  // ------------------------------------------------------------------ inspection

  /** Jobs currently defined. */
  backups(): FakeBackupInfo[] {
    return this.state.listBackups().map((b) => ({
      id: b.id,
      name: b.name,
      sources: [...b.sources],
      targetUrl: b.targetUrl,
      settings: Object.fromEntries(b.settings.map((s) => [s.Name, s.Value])),
      metadata: { ...b.metadata },
    }));
  }

  /** Versions of a job, newest (version 0) first. */
  versions(backupId: string): FakeVersionInfo[] {
    const b = this.state.getBackup(backupId);
    if (!b) return [];
    return this.state.versionsOf(b).map(({ version, v }) => ({
      version,
      time: v.time,
      fileCount: v.fileCount,
      fileSizes: v.fileSizes,
      paths: v.entries.map((e) => e.path),
    }));
  }

  /**
   * Where a version (0 = newest) stores its copy of `filePath` (as Duplicati lists it), so a test
   * can damage it the way bit rot at the destination would. The fake keeps whole files and does
   * not verify blocks on restore: damaged content is restored as it is (a real server would
   * report the block hash mismatch), so what catches it is the restore's own verification.
   *
   * @example
   * ```ts
   * await appendFile(server.storedFile(id, '/srv/backup/staging/app/app.db'), 'bit rot');
   * ```
   */
  storedFile(backupId: string, filePath: string, version = 0): string {
    const b = this.state.getBackup(backupId);
    const found = b ? this.state.versionsOf(b).find((x) => x.version === version) : undefined;
    if (!found) throw new Error(`fake: job ${backupId} has no version ${version}`);
    if (!found.v.entries.some((e) => e.path === filePath && e.size >= 0)) {
      throw new Error(`fake: version ${version} of job ${backupId} holds no file ${filePath}`);
    }
    return storedPath(found.v.dir, filePath);
  }

  /** The job log, newest row first, exactly as `GET backup/{id}/log` would return it. */
  logRows(backupId: string): FakeLogRow[] {
    return [...(this.state.getBackup(backupId)?.log ?? [])].reverse();
  }

  /**
   * Delete the job's log rows written before `before`, as the server's log retention does (all of
   * them when the table empties, the next row's id starts again at 1, as SQLite's rowid does).
   *
   * @example
   * ```ts
   * server.purgeLog(id, new Date(Date.now() - 30 * 86_400_000));
   * ```
   */
  purgeLog(backupId: string, before: Date): number {
    const b = this.state.getBackup(backupId);
    if (!b) throw new Error(`no backup ${backupId}`);
    const kept = b.log.filter((r) => r.Timestamp * 1000 >= before.getTime());
    const removed = b.log.length - kept.length;
    b.log.splice(0, b.log.length, ...kept);
    return removed;
  }

  /** Known tasks (queued, running and the remembered finished ones), by id. */
  tasks(): FakeTaskInfo[] {
    return [...this.state.tasks.values()].map((t) => ({
      id: t.id,
      backupId: t.backupId,
      operation: t.operation,
      status: t.status,
      result: t.result,
    }));
  }

  /**
   * Resolve once no task is queued or running; rejects with the signal's reason on abort.
   *
   * @example
   * ```ts
   * await fetch(`${server.url}/api/v1/backup/1/run`, { method: 'POST', headers });
   * await server.whenIdle();
   * expect(server.versions('1')).toHaveLength(1);
   * ```
   */
  whenIdle(options: { signal?: AbortSignal } = {}): Promise<void> {
    return raceSignal(this.state.whenIdle(), options.signal);
  }

  /**
   * Register a job directly (not through the API) and return its id.
   *
   * @example
   * ```ts
   * const id = server.createBackup({ name: 'photos', sources: ['/srv/photos/'], settings: { 'keep-versions': '3' } });
   * ```
   */
  createBackup(seed: FakeBackupSeed): string {
    const settings = { 'no-encryption': 'true', ...(seed.settings ?? {}) };
    return this.state.addBackup({
      name: seed.name,
      description: '',
      tags: [],
      targetUrl: seed.targetUrl ?? `file://${path.join(this.dataDir, 'target')}`,
      sources: [...seed.sources],
      settings: Object.entries(settings).map(([Name, Value]) => ({
        Name: Name === 'no-encryption' ? '--no-encryption' : Name,
        Value,
        Filter: '',
        Argument: null,
      })),
      filters: (seed.exclude ?? []).map((Expression, Order) => ({ Order, Include: false, Expression })),
      metadata: {},
      schedule: null,
    }).id;
  }

  /**
   * Set a job's schedule the way the server's scheduler leaves it (the fake never fires
   * schedules): `time` is the next planned run, `lastRun` when the scheduler last started the job
   * (null: never). `null` removes the schedule. Times come out in the generation's wire format.
   *
   * @example
   * ```ts
   * server.setSchedule(id, { time: tomorrow0200, repeat: '1D', lastRun: today0200, allowedDays: ['mon', 'tue'] });
   * ```
   */
  setSchedule(
    backupId: string,
    schedule: {
      readonly time: Date;
      readonly repeat: string;
      readonly lastRun?: Date | null;
      readonly allowedDays?: readonly string[];
    } | null,
  ): void {
    const b = this.state.getBackup(backupId);
    if (!b) throw new RangeError(`no backup ${backupId}`);
    if (!schedule) {
      b.schedule = null;
    } else {
      const text = this.generation === '2.0' ? isoSecondsOffset : isoSecondsZ;
      const days = (schedule.allowedDays ?? []).map((d) => d.slice(0, 3).toLowerCase());
      const full = days.map((d) => WEEKDAYS[d] ?? d);
      b.schedule = {
        ID: Number(b.id),
        Tags: [`ID=${b.id}`],
        Time: text(schedule.time),
        Repeat: schedule.repeat,
        LastRun: schedule.lastRun ? text(schedule.lastRun) : null,
        Rule: full.length ? `AllowedWeekDays=${full.join(',')}` : '',
        AllowedDays: days.length ? days : null,
      };
    }
    this.state.signal('data');
  }

  /**
   * Write past backup runs into a job's log (oldest first) and its metadata, as the server would
   * have after running them; no version is stored. For tests of history, dashboards and audits.
   *
   * @example
   * ```ts
   * server.seedRuns(id, [{ begin: new Date('2026-11-01T02:00:00Z'), examinedFiles: 120, sizeOfExaminedFiles: 4e6 }]);
   * ```
   */
  seedRuns(backupId: string, runs: readonly FakeSeedRun[]): void {
    const b = this.state.getBackup(backupId);
    if (!b) throw new RangeError(`no backup ${backupId}`);
    appendRuns(b, `${this.version} (${this.version}_fake)`, runs);
    this.state.signal('data');
  }

  // ------------------------------------------------------------------ faults

  private addFault(f: RequestFault): void {
    if (!Number.isInteger(f.remaining) || f.remaining < 1) throw new RangeError('count must be a positive integer');
    this.faults.push(f);
  }

  /**
   * The next `count` matching requests (default: any `/api/` request) answer `status` (500),
   * in the generation's error shape.
   *
   * @example
   * ```ts
   * server.failNextRequests(2, { status: 503, method: 'GET' });
   * await dup.backups.list(); // retried twice, then answered
   * ```
   */
  failNextRequests(count: number, options: FakeRequestMatch & { status?: number } = {}): void {
    this.addFault({ kind: 'status', remaining: count, match: options, status: options.status ?? 500 });
  }

  /** The next `count` matching requests answer 200 with a body that is not valid JSON. */
  garbageNextResponses(count: number, options: FakeRequestMatch & { body?: string } = {}): void {
    const body =
      options.body ?? (this.generation === '2.0' ? '\uFEFF{\n  "Status": "OK",\n  "Tr' : '<html><body>proxy');
    this.addFault({ kind: 'garbage', remaining: count, match: options, body });
  }

  /** The next `count` matching requests are answered only after `ms`. */
  delayNextRequests(count: number, ms: number, options: FakeRequestMatch = {}): void {
    this.addFault({ kind: 'delay', remaining: count, match: options, ms });
  }

  /** The next `count` matching requests get their connection cut without an answer. */
  dropNextConnections(count: number, options: FakeRequestMatch = {}): void {
    this.addFault({ kind: 'drop', remaining: count, match: options });
  }

  /**
   * The next backup run ends with `result`: `Warning`/`Error` still store a version, `Fatal`
   * stores none, sets `LastErrorMessage` and (2.1.2+ only) marks the task `Failed`.
   *
   * @example
   * ```ts
   * server.failNextRun('Fatal', 'target unreachable');
   * expect((await dup.backups.runAndWait(id)).result).toBe('Fatal');
   * ```
   */
  failNextRun(result: 'Warning' | 'Error' | 'Fatal', message = `Injected ${result.toLowerCase()}`): void {
    this.state.runFaults.push({ result, message });
  }

  /**
   * Keep tasks that start from now on `Running` until `release()`; `started` gives the first.
   * Lets a test act while a run is in progress without sleeping.
   *
   * @example
   * ```ts
   * const hold = server.holdTasks();
   * const waiting = dup.backups.runAndWait(id);
   * await hold.started;
   * server.expireTokens();
   * hold.release();
   * expect((await waiting).result).toBe('Success');
   * ```
   */
  holdTasks(): TaskHold {
    return this.state.holdTasks();
  }

  /**
   * Expire credentials now: 2.1+ access tokens already issued stop working (refresh tokens stay
   * valid), 2.0 sessions are dropped.
   */
  expireTokens(): void {
    this.auth21.expireAccessTokens();
    this.auth20.sessions.clear();
  }

  // ------------------------------------------------------------------ HTTP

  private static matches(match: FakeRequestMatch, method: string, url: string, anyPath: boolean): boolean {
    if (match.method && match.method.toUpperCase() !== method) return false;
    const p = match.path;
    if (p === undefined) return anyPath || url.startsWith('/api/');
    return typeof p === 'string' ? url.startsWith(p) : p.test(url);
  }

  /**
   * Resolve with the path and query of the next request matching `match` (any request when
   * empty), as soon as it arrives: a test can act at a known point of a client's flow, e.g.
   * restart once the client is waiting on its task.
   *
   * @example
   * ```ts
   * const waiting = dup.backups.runAndWait(id);
   * await server.waitForRequest({ method: 'GET', path: /^\/api\/v1\/task\// });
   * await server.restart();
   * ```
   */
  waitForRequest(match: FakeRequestMatch = {}, options: { signal?: AbortSignal } = {}): Promise<string> {
    const waiter = { match, resolve: (_url: string): void => {} };
    const arrived = new Promise<string>((resolve) => {
      waiter.resolve = resolve;
    });
    this.requestWaiters.push(waiter);
    options.signal?.addEventListener('abort', () => {
      this.requestWaiters = this.requestWaiters.filter((w) => w !== waiter);
    });
    return raceSignal(arrived, options.signal);
  }

  private takeFault(method: string, url: string): RequestFault | undefined {
    const f = this.faults.find((c) => FakeDuplicatiServer.matches(c.match, method, url, false));
    if (!f) return undefined;
    f.remaining--;
    if (f.remaining <= 0) this.faults = this.faults.filter((c) => c !== f);
    return f;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = this.now().getTime();
    const method = (req.method ?? 'GET').toUpperCase();
    const url = req.url ?? '/';
    const record = (status: number, fault?: FakeRequestRecord['fault']): void => {
      this.requests.push({ method, url, status, at, ...(fault ? { fault } : {}) });
    };
    const requestAbort = new AbortController();
    res.on('close', () => requestAbort.abort());
    const signal = AbortSignal.any([requestAbort.signal, this.lifetime.signal]);
    const write = this.generation === '2.0' ? write20 : write21;
    const waiting = this.requestWaiters.filter((w) => FakeDuplicatiServer.matches(w.match, method, url, true));
    if (waiting.length > 0) {
      this.requestWaiters = this.requestWaiters.filter((w) => !waiting.includes(w));
      for (const w of waiting) w.resolve(url);
    }
    try {
      const body = await readBody(req);
      const fault = this.takeFault(method, url);
      if (fault?.kind === 'drop') {
        record(0, 'drop');
        req.socket.destroy();
        return;
      }
      if (fault?.kind === 'delay') {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, fault.ms);
          signal.addEventListener('abort', () => {
            clearTimeout(t);
            resolve();
          });
        });
        if (signal.aborted) return;
      }
      const x = this.exchange(req, method, url, body, signal);
      let reply: Reply;
      if (fault?.kind === 'status') {
        reply =
          this.generation === '2.0'
            ? {
                status: fault.status,
                reason: 'Injected failure',
                json: { Message: 'Injected failure', Type: 'System.Exception' },
              }
            : { status: fault.status, json: { Error: 'An error occurred', Code: fault.status } };
      } else if (fault?.kind === 'garbage') {
        reply = { status: 200, text: fault.body, contentType: 'application/json' };
      } else {
        reply = this.generation === '2.0' ? await this.handle20(x) : await this.handle21(x);
      }
      if (res.destroyed) return;
      record(reply.status, fault?.kind === 'delay' ? 'delay' : fault?.kind);
      write(res, x, reply, x.now);
    } catch (e) {
      this.logger.warn('fake duplicati request failed', { url, error: String(e) });
      if (res.headersSent || res.destroyed) return;
      record(500);
      const reply: Reply =
        this.generation === '2.0'
          ? { status: 500, reason: 'Internal Server Error', json: { Message: String(e), Type: 'System.Exception' } }
          : { status: 500, json: { Error: 'An error occurred', Code: 500 } };
      write(res, { setCookies: [] }, reply, this.now());
    }
  }

  private exchange(req: IncomingMessage, method: string, url: string, body: Buffer, signal: AbortSignal): Exchange {
    const q = url.indexOf('?');
    const pathPart = q < 0 ? url : url.slice(0, q);
    const queryList = [...new URLSearchParams(q < 0 ? '' : url.slice(q + 1))];
    const params = new Map<string, string>();
    const contentType = String(req.headers['content-type'] ?? '');
    let json: unknown;
    const text = body.toString('utf8').replace(/^\uFEFF/, '');
    if (contentType.includes('json') || /^\s*[[{]/.test(text)) {
      try {
        json = text === '' ? undefined : JSON.parse(text);
      } catch {
        json = undefined;
      }
    }
    if (this.generation === '2.0' && contentType.includes('application/x-www-form-urlencoded')) {
      for (const [k, v] of new URLSearchParams(text)) if (!params.has(k.toLowerCase())) params.set(k.toLowerCase(), v);
    }
    for (const [k, v] of queryList) if (!params.has(k.toLowerCase())) params.set(k.toLowerCase(), v);
    return {
      req,
      method,
      path: pathPart,
      queryList,
      params,
      body,
      json,
      cookies: parseCookies(req.headers.cookie),
      setCookies: [],
      signal,
      now: this.now(),
    };
  }

  // ------------------------------------------------------------------ 2.0

  private async handle20(x: Exchange): Promise<Reply> {
    const now = x.now;
    const raw = x.req.rawHeaders;
    for (let i = 1; i < raw.length; i += 2) {
      // HttpServer.dll chokes on empty header values; Node fetch then sees this answer.
      if ((raw[i] ?? '').trim() === '') return { status: 404, reason: 'Resource not found', contentType: '' };
    }
    let xsrf = x.cookies.get('xsrf-token');
    let freshXsrf = false;
    if (!this.auth20.xsrf.valid(xsrf, now.getTime())) {
      xsrf = this.auth20.newXsrf(now.getTime());
      freshXsrf = true;
      x.setCookies.push(cookie20('xsrf-token', xsrf, new Date(now.getTime() + Auth20.XSRF_LIFETIME_MS)));
    }
    if (x.path === '/' && x.method === 'GET')
      return { status: 302, reason: 'Redirect', headers: [['location', '/login.html']], contentType: '' };
    if (x.path === '/login.cgi') return this.login20(x, now);
    if (x.path === '/logout.cgi') {
      const session = x.cookies.get('session-auth');
      if (session) this.auth20.sessions.delete(session);
      return { status: 204, reason: 'OK', contentType: '' };
    }
    if (!x.path.startsWith('/api/v1/')) return { status: 404, reason: 'Resource not found', contentType: '' };
    const header = x.req.headers['x-xsrf-token'];
    const given = (typeof header === 'string' ? header : undefined) ?? x.params.get('x-xsrf-token');
    if (!this.auth20.xsrf.valid(given, now.getTime())) {
      return { status: 400, reason: 'Missing XSRF Token. Please reload the page', contentType: '' };
    }
    if (!freshXsrf && xsrf) {
      this.auth20.xsrf.touch(xsrf, now.getTime() + Auth20.XSRF_LIFETIME_MS);
      x.setCookies.push(cookie20('xsrf-token', xsrf, new Date(now.getTime() + Auth20.XSRF_LIFETIME_MS)));
    }
    if (this.auth20.passwordRequired) {
      const session = x.cookies.get('session-auth') ?? x.params.get('auth-token');
      if (!session || !this.auth20.sessions.valid(session, now.getTime())) {
        return { status: 401, reason: 'Not logged in', headers: [['Location', 'login.html']], contentType: '' };
      }
      const expires = now.getTime() + this.auth20.sessionLifetimeMs;
      this.auth20.sessions.touch(session, expires);
      x.setCookies.push(cookie20('session-auth', session, new Date(expires)));
    }
    const segments = x.path
      .slice('/api/v1/'.length)
      .split('/')
      .filter((s) => s !== '');
    try {
      return (await routeApi(this.ctx, x, segments)) ?? fail(this.ctx, 404, 'No such API method');
    } catch (e) {
      this.logger.warn('fake duplicati route crashed', { path: x.path, error: String(e) });
      return { status: 500, reason: 'Internal Server Error', json: { Message: String(e), Type: 'System.Exception' } };
    }
  }

  private login20(x: Exchange, now: Date): Reply {
    if (x.method !== 'POST' && x.method !== 'GET')
      return { status: 405, reason: 'Method Not Allowed', contentType: '' };
    const form = new URLSearchParams(x.body.toString('utf8'));
    const get = (k: string): string | undefined => form.get(k) ?? x.params.get(k) ?? undefined;
    if (get('get-nonce') !== undefined) {
      const { nonce, salt } = this.auth20.newNonce(now.getTime());
      x.setCookies.push(cookie20('session-nonce', nonce, new Date(now.getTime() + Auth20.NONCE_LIFETIME_MS)));
      return { status: 200, json: { Status: 'OK', Nonce: nonce, Salt: salt } };
    }
    const session = this.auth20.login(x.cookies.get('session-nonce'), get('password'), now.getTime());
    if (!session) {
      this.authCounters.failedLogins++;
      x.setCookies.length = 0;
      return { status: 401, reason: 'Unauthorized', contentType: 'application/json', noCache: false };
    }
    this.authCounters.logins++;
    x.setCookies.push(cookie20('session-auth', session, new Date(now.getTime() + this.auth20.sessionLifetimeMs)));
    return { status: 200, json: { Status: 'OK' } };
  }

  // ------------------------------------------------------------------ 2.1

  private refreshCookieName(x: Exchange): string {
    const host = x.req.headers.host ?? '';
    const m = /:(\d+)$/.exec(host);
    return `RefreshToken_${m ? m[1] : '0'}`;
  }

  private refreshCookie(x: Exchange, token: string, expires: Date): string {
    const domain = (x.req.headers.host ?? '').replace(/:\d+$/, '');
    return `${this.refreshCookieName(x)}=${token}; expires=${httpDate(expires)}; domain=${domain}; path=/api/v1/auth/refresh; samesite=strict; httponly`;
  }

  private get nonceRefresh(): boolean {
    return compareVersions(this.version, '2.1.1') >= 0;
  }

  private async handle21(x: Exchange): Promise<Reply> {
    const now = x.now.getTime();
    if (x.path === '/health' && x.method === 'GET') return { status: 200, text: 'Healthy', contentType: 'text/plain' };
    if (x.path === '/' && x.method === 'GET') {
      return { status: 200, text: '<!DOCTYPE html><title>Duplicati</title>', contentType: 'text/html' };
    }
    if (!x.path.startsWith('/api/v1/')) return { status: 404 };
    const k = (s: string): string => s.toLowerCase();
    if (PUBLIC_21.has(k(x.path)) && x.method === 'POST') return this.auth21Route(x, k(x.path), now);
    if (this.auth21.passwordRequired) {
      const header = String(x.req.headers.authorization ?? '');
      const [scheme, token] = header.split(/\s+/, 2);
      const preAuth =
        scheme?.toLowerCase() === 'preauth' &&
        token !== undefined &&
        compareVersions(this.version, '2.1.2') >= 0 &&
        this.preAuthTokens.has(token);
      if (!preAuth) {
        if (scheme?.toLowerCase() !== 'bearer' || !token) {
          return { status: 401, headers: [['WWW-Authenticate', 'Bearer']] };
        }
        const check = this.auth21.checkAccess(token, now);
        if (!check.ok) {
          const value =
            check.why === 'expired'
              ? `Bearer error="invalid_token", error_description="The token expired at '${new Date(check.claims?.xms ?? now).toUTCString()}'"`
              : 'Bearer error="invalid_token"';
          return { status: 401, headers: [['WWW-Authenticate', value]] };
        }
      }
    }
    if (k(x.path) === '/api/v1/auth/issue-forever-token' && x.method === 'POST') {
      if (!this.enableForeverToken) return fail(this.ctx, 401, 'Forever tokens are not enabled');
      if (this.auth21.foreverTokenIssued) {
        return fail(this.ctx, 401, 'Cannot generate multiple forever tokens, restart the server to generate a new one');
      }
      return { status: 200, json: { AccessToken: this.auth21.forever(now), RefreshNonce: null } };
    }
    const segments = x.path
      .slice('/api/v1/'.length)
      .split('/')
      .filter((s) => s !== '')
      .map((s, i) => (i === 0 || i === 2 ? s.toLowerCase() : s));
    try {
      return (await routeApi(this.ctx, x, segments)) ?? { status: 404 };
    } catch (e) {
      this.logger.warn('fake duplicati route crashed', { path: x.path, error: String(e) });
      return { status: 500, json: { Error: 'An error occurred', Code: 500 } };
    }
  }

  private auth21Route(x: Exchange, route: string, now: number): Reply {
    const cookieName = this.refreshCookieName(x);
    if (route === '/api/v1/auth/login') {
      if (x.json === undefined || typeof x.json !== 'object') return { status: 400 };
      if (!this.auth21.checkPassword(prop(x.json, 'Password'))) {
        this.authCounters.failedLogins++;
        return fail(this.ctx, 401, 'Failed to log in');
      }
      this.authCounters.logins++;
      const rememberMe = prop(x.json, 'RememberMe') === true;
      const refresh = this.nonceRefresh || rememberMe;
      const issued = this.auth21.issue(now, { refresh, longRefresh: rememberMe, withNonce: this.nonceRefresh });
      if (issued.refresh) {
        x.setCookies.push(this.refreshCookie(x, issued.refresh, new Date(now + this.auth21.refreshLifetimeMs)));
      }
      return {
        status: 200,
        json: this.nonceRefresh
          ? { AccessToken: issued.access, RefreshNonce: issued.nonce ?? null }
          : { AccessToken: issued.access },
      };
    }
    const token = x.cookies.get(cookieName);
    if (route === '/api/v1/auth/refresh/logout') {
      this.auth21.revoke(token);
      x.setCookies.push(this.refreshCookie(x, '', new Date(0)));
      return { status: 200, json: { success: true } };
    }
    if (!token) {
      this.authCounters.failedRefreshes++;
      return fail(this.ctx, 401, 'Authorization failed due to missing cookie.');
    }
    const result = this.auth21.refresh(token, prop(x.json, 'Nonce'), now, { requireNonce: this.nonceRefresh });
    if (!result.ok) {
      this.authCounters.failedRefreshes++;
      if (result.reused) this.authCounters.replayedRefreshTokens++;
      return fail(this.ctx, 401, 'Failed to refresh token');
    }
    this.authCounters.refreshes++;
    x.setCookies.push(this.refreshCookie(x, result.refresh, new Date(now + this.auth21.refreshLifetimeMs)));
    return {
      status: 200,
      json: this.nonceRefresh
        ? { AccessToken: result.access, RefreshNonce: result.nonce ?? null }
        : { AccessToken: result.access },
    };
  }
}
