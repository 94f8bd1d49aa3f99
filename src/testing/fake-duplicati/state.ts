/**
 * The fake server's state machine: jobs, a serial task queue, versions, job logs, notifications
 * and the event counter long-polls wait on. It knows nothing about HTTP.
 *
 * @module
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../core/logger.js';
import { compactUtc, logLineTime, sizeString, timeSpanText } from './format.js';
import { existingTargetFolder, FILESET_FILE, filesetText, readRemoteVersions, remoteVersionDir } from './remote.js';
import { type BeforeOutcome, jobScripts, runAfter, runBefore } from './run-script.js';
import {
  type BackendFigures,
  backupResult,
  genericResult,
  logLine,
  type OperationOutcome,
  type ParsedResult,
  parsedResultOf,
  restoreResult,
} from './results.js';
import {
  type JobFilter,
  matchesExpression,
  restoreEntries,
  type SnapshotIssues,
  type StoredEntry,
  snapshotSources,
} from './store.js';

/** One setting of a job as the server stores it. */
export interface FakeSetting {
  Name: string;
  Value: string | null;
  Filter: string | null;
  Argument: unknown;
}

/** A job's schedule as stored (the `Schedule` object of the wire format). */
export interface FakeSchedule {
  ID: number;
  Tags: string[] | null;
  Time: string | null;
  Repeat: string;
  LastRun: string | null;
  Rule: string | null;
  AllowedDays: string[] | null;
}

/** The user-editable part of a job, as create and update take it. */
export interface JobSpec {
  name: string;
  description: string;
  tags: string[];
  targetUrl: string;
  sources: string[];
  settings: FakeSetting[];
  filters: JobFilter[];
  /** Undefined keeps what is stored (a `null` on the wire). */
  metadata: Record<string, string> | undefined;
  schedule: FakeSchedule | null;
}

/** One stored version (a fileset). Version numbers count from the newest (0). */
export interface FakeVersion {
  readonly key: number;
  readonly time: Date;
  readonly dir: string;
  readonly entries: readonly StoredEntry[];
  readonly fileCount: number;
  readonly fileSizes: number;
  /** False for the partial version a stopped run leaves (`IsFullBackup: 0`). */
  readonly isFull: boolean;
}

/** One row of a job log (`LogData`), exactly as `GET backup/{id}/log` returns it. */
export interface FakeLogRow {
  readonly ID: number;
  readonly OperationID: number;
  readonly Timestamp: number;
  readonly Type: string;
  readonly Message: string;
  readonly Exception: string | null;
}

/** A job held by the fake. */
export interface FakeBackup {
  readonly id: string;
  name: string;
  description: string;
  tags: string[];
  targetUrl: string;
  readonly dbPath: string;
  sources: string[];
  settings: FakeSetting[];
  filters: JobFilter[];
  metadata: Record<string, string>;
  schedule: FakeSchedule | null;
  deleted: boolean;
  readonly versions: FakeVersion[];
  readonly log: FakeLogRow[];
  operationCounter: number;
  versionCounter: number;
  /** An in-memory backup (`POST /backups?temporary=true`, `copytotemp`): GUID id, never listed. */
  readonly temporary: boolean;
  /** False for a temporary backup whose local database was never built (`repair` builds it from the target). */
  hasLocalDb: boolean;
}

/** Queue operations, named as the server's `DuplicatiOperation` enum. */
export type FakeOperation = 'Backup' | 'Restore' | 'Verify' | 'Compact' | 'Repair' | 'Vacuum' | 'Remove' | 'Other';

/** Task states as `GET task/{id}` reports them. */
export type FakeTaskStatus = 'Waiting' | 'Running' | 'Completed' | 'Failed';

/** Parameters of a restore task. */
export interface RestoreRequest {
  readonly paths: readonly string[];
  readonly time: Date | undefined;
  readonly restorePath: string | undefined;
  readonly overwrite: boolean;
}

/** A task of the queue, with its outcome once finished. */
export interface FakeTask {
  readonly id: number;
  readonly backupId: string | undefined;
  readonly operation: FakeOperation;
  status: FakeTaskStatus;
  startedAt: Date | undefined;
  finishedAt: Date | undefined;
  errorMessage: string | null;
  exception: string | null;
  /** The `ParsedResult` of the operation once it has finished. */
  result: ParsedResult | undefined;
  readonly controller: AbortController;
  readonly restore?: RestoreRequest;
  /** `repair` with a `time`: build the local database of that version only. */
  readonly repairTime?: Date;
}

/** A notification as the server lists it. */
export interface FakeNotification {
  ID: number;
  Type: 'Information' | 'Warning' | 'Error';
  Title: string;
  Message: string;
  Exception: string;
  BackupID: string | null;
  Action: string;
  Timestamp: Date;
  LogEntryID: string | null;
  MessageID: string | null;
  MessageLogTag: string | null;
}

/** A forced outcome for the next backup run. */
export interface RunFault {
  readonly result: 'Warning' | 'Error' | 'Fatal';
  readonly message: string;
}

/** A gate that keeps started tasks `Running` until released. */
export interface TaskHold {
  /** Resolves with the first task that started while the hold was active. */
  readonly started: Promise<FakeTask>;
  /** Let held tasks (and later ones) run to their end. */
  release(): void;
}

interface Waiter {
  readonly lastId: number;
  readonly resolve: () => void;
}

/** Settings of the state machine that come from the server options. */
export interface StateConfig {
  readonly versionText: string;
  readonly dataDir: string;
  readonly now: () => Date;
  readonly logger: Logger;
  /** 2.1.2+: a fatal run ends `Failed`; before that it still says `Completed`. */
  readonly fatalMarksFailed: boolean;
  /** 2.1.2+: `run` queues at the end unless `skipQueue`; before that at the front. */
  readonly runQueuesAtEnd: boolean;
  /** 2.1+: a clean backup dismisses the job's notifications (2.0.7.3 keeps them, recording 35). */
  readonly cleanRunDismisses: boolean;
  /** 2.0.9.110+ (all of 2.1): a run-script's `LOG:` lines go to the job log; 2.0.x ignores them. */
  readonly readsScriptLogLines: boolean;
}

const MAX_TASK_HISTORY = 100;

/** What changed between the previous version's entries and a new snapshot's (folders have size < 0). */
function diffVersion(previous: { readonly entries: readonly StoredEntry[] } | undefined, entries: StoredEntry[]) {
  const prevMap = new Map((previous?.entries ?? []).map((e) => [e.path, e]));
  const curMap = new Map(entries.map((e) => [e.path, e]));
  const files = entries.filter((e) => e.size >= 0);
  let added = 0;
  let addedSize = 0;
  let modified = 0;
  let modifiedSize = 0;
  let addedFolders = 0;
  for (const e of entries) {
    const p = prevMap.get(e.path);
    if (e.size < 0) {
      if (!p) addedFolders++;
    } else if (!p) {
      added++;
      addedSize += e.size;
    } else if (p.sha256 !== e.sha256) {
      modified++;
      modifiedSize += e.size;
    }
  }
  const deletedFiles = [...prevMap.values()].filter((e) => e.size >= 0 && !curMap.has(e.path)).length;
  const deletedFolders = [...prevMap.values()].filter((e) => e.size < 0 && !curMap.has(e.path)).length;
  const changed = added + modified + deletedFiles + addedFolders + deletedFolders > 0;
  return { files, added, addedSize, modified, modifiedSize, addedFolders, deletedFiles, deletedFolders, changed };
}

function settingValue(b: FakeBackup, name: string): string | undefined {
  for (const s of b.settings) {
    const n = s.Name.replace(/^--/, '');
    if (n === name) return s.Value ?? '';
  }
  return undefined;
}

function isTrue(v: string | undefined): boolean {
  return v !== undefined && (v === '' || v.toLowerCase() === 'true' || v === '1');
}

/** The job, queue and event machinery behind both wire generations. */
export class FakeState {
  readonly backups = new Map<string, FakeBackup>();
  readonly tasks = new Map<number, FakeTask>();
  readonly queue: FakeTask[] = [];
  readonly notifications: FakeNotification[] = [];
  current: FakeTask | undefined;
  progress: Record<string, unknown> | undefined;
  paused = false;
  pauseEnd: Date | undefined;
  lastEventId = 1;
  lastDataUpdateId = 1;
  lastNotificationUpdateId = 0;
  readonly runFaults: RunFault[] = [];
  /** Server settings (`serversettings`); keys with `--` are global default options. */
  readonly serverSettings = new Map<string, string | null>([
    ['startup-delay', '0s'],
    ['backup-list-sort-order', ''],
    ['disable-tray-icon-login', 'false'],
  ]);
  private nextBackupId = 1;
  private nextTaskId = 1;
  private nextNotificationId = 1;
  private waiters: Waiter[] = [];
  private hold: { gate: Promise<void>; release: () => void; onStart: (t: FakeTask) => void } | undefined;
  private pauseTimer: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];
  private closed = false;

  constructor(private readonly config: StateConfig) {}

  // ------------------------------------------------------------------ events

  /** Bump the event counter and wake long-polls. */
  signal(kind: 'data' | 'notification' | 'task' = 'task'): void {
    this.lastEventId++;
    if (kind === 'data') this.lastDataUpdateId++;
    if (kind === 'notification') this.lastNotificationUpdateId++;
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) w.resolve();
  }

  /** Resolve when the event counter differs from `lastId`, after `ms`, or when `signal` aborts. */
  waitForEvent(lastId: number, ms: number, signal: AbortSignal): Promise<void> {
    if (lastId !== this.lastEventId || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve();
      };
      const waiter: Waiter = { lastId, resolve: done };
      const timer = setTimeout(done, ms);
      timer.unref();
      signal.addEventListener('abort', done, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Restart semantics: the event counter starts again, long-polls are released. */
  resetEvents(): void {
    this.lastEventId = 1;
    this.lastDataUpdateId = 1;
    this.lastNotificationUpdateId = 0;
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) w.resolve();
  }

  // ------------------------------------------------------------------ jobs

  /** Register a job and return it. */
  addBackup(input: JobSpec & { metadata: Record<string, string> }, temporary = false): FakeBackup {
    const id = temporary ? randomUUID() : String(this.nextBackupId++);
    const letters = [...randomBytes(10)].map((b) => String.fromCharCode(65 + (b % 26)));
    const backup: FakeBackup = {
      id,
      ...input,
      schedule: input.schedule ? { ...input.schedule, Tags: [`ID=${id}`] } : null,
      dbPath: path.join(this.config.dataDir, `${letters.join('')}.sqlite`),
      deleted: false,
      versions: [],
      log: [],
      operationCounter: 0,
      versionCounter: 0,
      temporary,
      hasLocalDb: !temporary,
    };
    this.backups.set(id, backup);
    this.signal('data');
    return backup;
  }

  /** A live (not deleted) job by id. */
  getBackup(id: string): FakeBackup | undefined {
    const b = this.backups.get(id);
    return b && !b.deleted ? b : undefined;
  }

  /** Live jobs in id order. */
  listBackups(): FakeBackup[] {
    return [...this.backups.values()].filter((b) => !b.deleted && !b.temporary);
  }

  /** A job whose name equals `name`, compared without case as the server does. */
  findByName(name: string): FakeBackup | undefined {
    return this.listBackups().find((b) => b.name.toLowerCase() === name.toLowerCase());
  }

  /** A List operation (filesets, files): 2.0 gives it a task id and a job-DB operation id. */
  consumeListOperation(b: FakeBackup): void {
    this.nextTaskId++;
    b.operationCounter++;
  }

  /** A listing that failed inside the server: a Fatal `List` row in the job's log, as 2.0.7.3 writes it. */
  logFatalList(b: FakeBackup, message: string): void {
    const at = this.config.now();
    const line = logLine(
      at,
      'Error',
      'Controller-FailedOperation',
      `The operation List has failed with error: ${message}`,
    );
    const outcome: OperationOutcome = {
      begin: at,
      end: at,
      messages: [],
      warnings: [],
      errors: [line],
      interrupted: false,
      forced: 'Fatal',
    };
    this.writeResult(b, at, genericResult(this.config.versionText, 'List', outcome), `System.Exception: ${message}`);
  }

  /** Versions newest first with their version numbers. */
  versionsOf(b: FakeBackup): { version: number; v: FakeVersion }[] {
    return [...b.versions].reverse().map((v, version) => ({ version, v }));
  }

  /** The version a `time` argument selects: the newest at or before it (newest when absent). */
  versionAt(b: FakeBackup, time: Date | undefined): { version: number; v: FakeVersion } | undefined {
    const list = this.versionsOf(b);
    if (time === undefined) return list[0];
    if (Number.isNaN(time.getTime())) return undefined;
    return list.find(({ v }) => v.time.getTime() <= time.getTime() + 999);
  }

  // ------------------------------------------------------------------ queue

  /** Tasks of one job that are queued or running. */
  activeTaskFor(backupId: string): FakeTask | undefined {
    if (this.current?.backupId === backupId) return this.current;
    return this.queue.find((t) => t.backupId === backupId);
  }

  /** Queue a task; `front` puts it before the waiting ones. */
  enqueue(
    backupId: string | undefined,
    operation: FakeOperation,
    front: boolean,
    restore?: RestoreRequest,
    repairTime?: Date,
  ): FakeTask {
    const task: FakeTask = {
      id: this.nextTaskId++,
      backupId,
      operation,
      status: 'Waiting',
      startedAt: undefined,
      finishedAt: undefined,
      errorMessage: null,
      exception: null,
      result: undefined,
      controller: new AbortController(),
      ...(restore ? { restore } : {}),
      ...(repairTime ? { repairTime } : {}),
    };
    this.tasks.set(task.id, task);
    for (const old of [...this.tasks.keys()].slice(0, Math.max(0, this.tasks.size - MAX_TASK_HISTORY))) {
      this.tasks.delete(old);
    }
    if (front) this.queue.unshift(task);
    else this.queue.push(task);
    this.signal();
    queueMicrotask(() => this.pump());
    return task;
  }

  /** `run` as the server does it: an already queued or running task of the job is reused. */
  enqueueRun(backupId: string, skipQueue: boolean): FakeTask {
    const existing = this.activeTaskFor(backupId);
    if (existing) return existing;
    return this.enqueue(backupId, 'Backup', !this.config.runQueuesAtEnd || skipQueue);
  }

  /** Stop or abort a task; a waiting one is dropped from the queue. */
  stopTask(task: FakeTask, how: 'stop' | 'abort'): void {
    const i = this.queue.indexOf(task);
    if (i >= 0) {
      this.queue.splice(i, 1);
      task.status = 'Completed';
      task.result = 'Warning';
      task.finishedAt = this.config.now();
      this.signal();
      return;
    }
    if (task.status === 'Running') task.controller.abort(how);
  }

  /** Pause the queue (running tasks finish), optionally for `ms`. */
  pause(ms: number | undefined): void {
    this.paused = true;
    clearTimeout(this.pauseTimer);
    this.pauseEnd = ms === undefined ? undefined : new Date(this.config.now().getTime() + ms);
    if (ms !== undefined) {
      this.pauseTimer = setTimeout(() => this.resume(), ms);
      this.pauseTimer.unref();
    }
    this.signal();
  }

  /** Resume the queue. */
  resume(): void {
    this.paused = false;
    this.pauseEnd = undefined;
    clearTimeout(this.pauseTimer);
    this.signal();
    this.pump();
  }

  /** Keep tasks that start from now on `Running` until the hold is released. */
  holdTasks(): TaskHold {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let onStart!: (t: FakeTask) => void;
    const started = new Promise<FakeTask>((r) => {
      onStart = r;
    });
    const hold = { gate, release, onStart };
    this.hold = hold;
    if (this.current) onStart(this.current);
    return {
      started,
      release: () => {
        if (this.hold === hold) this.hold = undefined;
        release();
      },
    };
  }

  /** Resolve once no task is queued or running. */
  whenIdle(): Promise<void> {
    if (!this.current && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Drop queued and running tasks (a server that died mid-task). */
  dropTasks(): void {
    for (const t of this.queue.splice(0)) this.tasks.delete(t.id);
    if (this.current) {
      this.current.controller.abort('killed');
      this.tasks.delete(this.current.id);
    }
  }

  /** Forget finished task results (they live in memory only on a real server). */
  forgetFinishedTasks(): void {
    for (const [id, t] of this.tasks) if (t.status === 'Completed' || t.status === 'Failed') this.tasks.delete(id);
  }

  /** Stop the queue for good (server closed). */
  close(): void {
    this.closed = true;
    clearTimeout(this.pauseTimer);
    this.hold?.release();
    this.dropTasks();
    this.resetEvents();
  }

  private pump(): void {
    if (this.closed || this.current || this.paused) return;
    const next = this.queue.shift();
    if (!next) {
      const idle = this.idleWaiters;
      this.idleWaiters = [];
      for (const r of idle) r();
      return;
    }
    this.current = next;
    void this.execute(next).finally(() => {
      if (this.current === next) this.current = undefined;
      this.pump();
    });
  }

  private async execute(task: FakeTask): Promise<void> {
    const now = this.config.now;
    task.status = 'Running';
    task.startedAt = now();
    this.setProgress(task, task.operation === 'Restore' ? 'Restore_Begin' : 'Backup_Begin');
    this.signal();
    const hold = this.hold;
    if (hold) {
      hold.onStart(task);
      await Promise.race([
        hold.gate,
        new Promise<void>((r) => task.controller.signal.addEventListener('abort', () => r(), { once: true })),
      ]);
    }
    const backup = task.backupId === undefined ? undefined : this.backups.get(task.backupId);
    try {
      if (task.controller.signal.reason === 'killed') return;
      if (!backup) {
        task.result = 'Success';
      } else if (task.operation === 'Backup') {
        await this.withScripts(task, backup, (hook) => this.runBackup(task, backup, hook));
      } else if (task.operation === 'Restore') {
        await this.runRestore(task, backup);
      } else if (task.operation === 'Repair' && !backup.hasLocalDb) {
        await this.rebuildFromTarget(task, backup);
      } else if (task.operation === 'Remove') {
        backup.deleted = true;
        this.backups.delete(backup.id);
        await rm(path.join(this.config.dataDir, `backup-${backup.id}`), { recursive: true, force: true });
        task.result = 'Success';
        this.signal('data');
      } else {
        this.runGeneric(task, backup);
      }
    } catch (e) {
      this.config.logger.warn('fake duplicati task crashed', { task: task.id, error: String(e) });
      task.result = 'Fatal';
      task.errorMessage = (e as Error).message;
      task.exception = String(e);
    } finally {
      if (this.tasks.has(task.id) || task.controller.signal.reason !== 'killed') {
        task.finishedAt = now();
        task.status = task.result === 'Fatal' && this.config.fatalMarksFailed ? 'Failed' : 'Completed';
        if (task.controller.signal.reason === 'abort' && this.config.fatalMarksFailed) task.status = 'Failed';
      }
      this.signal();
    }
  }

  private backendFigures(b: FakeBackup, uploadedBytes: number, uploadedFiles: number): BackendFigures {
    const newest = b.versions.at(-1);
    const known = b.versions.reduce((n, v) => n + v.fileSizes, 0);
    return {
      uploadedBytes,
      uploadedFiles,
      downloadedBytes: 0,
      downloadedFiles: 0,
      knownFileCount: b.versions.length * 3,
      knownFileSize: known,
      lastBackupDate: newest?.time,
      backupListCount: b.versions.length,
    };
  }

  private writeResult(b: FakeBackup, at: Date, result: Record<string, unknown>, exception: string | null): void {
    b.operationCounter++;
    b.log.push({
      ID: (b.log.at(-1)?.ID ?? 0) + 1,
      OperationID: b.operationCounter,
      Timestamp: Math.floor(at.getTime() / 1000),
      Type: 'Result',
      Message: JSON.stringify(result),
      Exception: exception,
    });
  }

  private setProgress(task: FakeTask, phase: string, fields: Record<string, unknown> = {}): void {
    this.progress = {
      BackupID: task.backupId ?? null,
      TaskID: task.id,
      BackendAction: 'Get',
      BackendPath: '',
      BackendFileSize: 0,
      BackendFileProgress: 0,
      BackendSpeed: -1,
      BackendIsBlocking: false,
      CurrentFilename: null,
      CurrentFilesize: 0,
      CurrentFileoffset: 0,
      CurrentFilecomplete: false,
      Phase: phase,
      OverallProgress: 0,
      ProcessedFileCount: 0,
      ProcessedFileSize: 0,
      TotalFileCount: 0,
      TotalFileSize: 0,
      StillCounting: false,
      ...fields,
    };
  }

  private notify(b: FakeBackup, type: 'Warning' | 'Error', count: number, exception: string, at: Date): void {
    this.notifications.push({
      ID: this.nextNotificationId++,
      Type: type,
      Title: `${type} while running ${b.name}`,
      Message: `Got ${count} ${type.toLowerCase()}(s)`,
      Exception: exception,
      BackupID: b.id,
      Action: 'backup:show-log',
      Timestamp: at,
      LogEntryID: null,
      MessageID: null,
      MessageLogTag: 'backup:show-log',
    });
    this.signal('notification');
  }

  private finishNotifications(b: FakeBackup, parsed: ParsedResult, outcome: OperationOutcome, exception: string): void {
    if (parsed === 'Success' && outcome.forced === undefined) {
      if (!this.config.cleanRunDismisses) return;
      const before = this.notifications.length;
      for (let i = this.notifications.length - 1; i >= 0; i--) {
        if (this.notifications[i]?.BackupID === b.id) this.notifications.splice(i, 1);
      }
      if (this.notifications.length !== before) this.signal('notification');
    } else if (parsed === 'Warning') {
      this.notify(b, 'Warning', outcome.warnings.length, '', outcome.end);
    } else if (parsed === 'Error' || parsed === 'Fatal') {
      this.notify(b, 'Error', Math.max(1, outcome.errors.length), exception, outcome.end);
    }
  }

  /** Remove a notification; false when unknown. */
  dismissNotification(id: number): boolean {
    const i = this.notifications.findIndex((n) => n.ID === id);
    if (i < 0) return false;
    this.notifications.splice(i, 1);
    this.signal('notification');
    return true;
  }

  /**
   * Run a backup between the job's run-script calls (see run-script.ts): BEFORE may fail it
   * (required script), skip it (plain script) or add log lines; AFTER runs once it has ended.
   */
  private async withScripts(
    task: FakeTask,
    b: FakeBackup,
    run: (hook: BeforeOutcome | undefined) => Promise<void>,
  ): Promise<void> {
    const scripts = jobScripts(b);
    if (!scripts) return run(undefined);
    const readsLogLines = this.config.readsScriptLogLines;
    const pre = await runBefore(b, scripts, 'Backup', readsLogLines);
    if (pre.fatal !== undefined || pre.abort !== undefined) this.stoppedByScript(task, b, pre);
    else await run(pre);
    await runAfter(b, scripts, {
      // 2.0.x saves the operation name only once BEFORE succeeded.
      operation: pre.fatal === undefined ? 'Backup' : undefined,
      mainAction: 'Backup',
      parsed: task.result ?? 'Error',
      readsLogLines,
    });
  }

  /** A BEFORE script stopped the backup: Fatal (required script) or an interrupted run. */
  private stoppedByScript(task: FakeTask, b: FakeBackup, pre: BeforeOutcome): void {
    const at = this.config.now();
    const outcome: OperationOutcome = {
      begin: at,
      end: at,
      messages: pre.messages,
      warnings: pre.warnings,
      errors: pre.errors,
      interrupted: pre.fatal === undefined,
      ...(pre.fatal === undefined ? {} : { forced: 'Fatal' as const }),
    };
    const parsed = parsedResultOf(outcome);
    const exception =
      pre.fatal === undefined ? null : `Duplicati.Library.Interface.UserInformationException: ${pre.fatal}`;
    // A job that never ran has no database yet: 2.0.7.3 then writes no Result row at all.
    if (pre.fatal === undefined || b.log.length > 0) {
      this.writeResult(b, at, genericResult(this.config.versionText, 'Backup', outcome), null);
    }
    task.result = parsed;
    if (pre.fatal !== undefined) {
      task.errorMessage = pre.fatal;
      task.exception = exception;
      b.metadata.LastErrorDate = compactUtc(at);
      b.metadata.LastErrorMessage = pre.fatal;
    }
    this.finishNotifications(b, parsed, outcome, exception ?? '');
    this.signal('data');
  }

  private async runBackup(task: FakeTask, b: FakeBackup, hook?: BeforeOutcome): Promise<void> {
    const now = this.config.now;
    const begin = now();
    const fault = this.runFaults.shift();
    const issues: SnapshotIssues = { warnings: [], errors: [], filesWithError: 0 };
    const messages = [
      logLine(begin, 'Information', 'Controller-StartingOperation', 'The operation Backup has started'),
      ...(hook?.messages ?? []),
    ];
    this.setProgress(task, 'Backup_Begin');
    const key = ++b.versionCounter;
    // A file:// target whose folder exists gets the version itself, so another server can read it.
    const remote = await existingTargetFolder(b.targetUrl);
    const dir = remote ? remoteVersionDir(remote) : path.join(this.config.dataDir, `backup-${b.id}`, `v${key}`);
    await mkdir(dir, { recursive: true });
    let entries: StoredEntry[] = [];
    let fatal: string | undefined;
    let interrupted = false;
    try {
      this.setProgress(task, 'Backup_ProcessingFiles');
      const snap = await snapshotSources(b.sources, b.filters, dir, issues, task.controller.signal);
      entries = snap.entries;
      if (snap.missing.length > 0) {
        if (isTrue(settingValue(b, 'allow-missing-source'))) {
          for (const m of snap.missing) issues.warnings.push(`The source folder ${m} does not exist`);
        } else {
          fatal = `The source folder ${snap.missing[0]} does not exist, aborting backup`;
        }
      }
    } catch (e) {
      if (!task.controller.signal.aborted) throw e;
      if (task.controller.signal.reason === 'killed') return;
      interrupted = true;
    }
    if (fault?.result === 'Fatal') fatal = fault.message;
    if (fault?.result === 'Error') issues.errors.push(fault.message);
    if (fault?.result === 'Warning') issues.warnings.push(fault.message);
    const aborted = interrupted && task.controller.signal.reason === 'abort';
    if (aborted) issues.errors.push('The operation was aborted');
    else if (interrupted) issues.warnings.push('The backup was stopped before it finished; the version is partial');

    const previous = b.versions.at(-1);
    const { files, added, addedSize, modified, modifiedSize, addedFolders, deletedFiles, deletedFolders, changed } =
      diffVersion(previous, entries);
    // A stopped run keeps what it stored as a partial version, but never an empty one that
    // would become the newest.
    const keepVersion =
      fatal === undefined &&
      !aborted &&
      (!interrupted || files.length > 0) &&
      (changed || !previous || isTrue(settingValue(b, 'upload-unchanged-backups')));

    let end = now();
    let uploaded = 0;
    const verified: string[] = [];
    if (keepVersion) {
      verified.push(await this.storeVersion(b, { key, begin, dir, entries, files, interrupted, remote: !!remote }));
      uploaded = addedSize + modifiedSize;
    } else {
      await rm(dir, { recursive: true, force: true });
    }
    if (end.getTime() < begin.getTime()) end = begin;
    for (const w of issues.warnings) messages.push(logLine(end, 'Information', 'Operation.BackupHandler-Warning', w));
    const outcome: OperationOutcome = {
      begin,
      end,
      messages,
      warnings: [
        ...(hook?.warnings ?? []),
        ...issues.warnings.map((w) => logLine(end, 'Warning', 'Operation.BackupHandler-FileAccessError', w)),
      ],
      errors: [
        ...(hook?.errors ?? []),
        ...issues.errors.map((x) => logLine(end, 'Error', 'Operation.BackupHandler-Error', x)),
        ...(fatal
          ? [logLine(end, 'Error', 'Controller-FailedOperation', `The operation Backup has failed: ${fatal}`)]
          : []),
      ],
      interrupted,
      ...(fatal ? { forced: 'Fatal' as const } : aborted ? { forced: 'Error' as const } : {}),
    };
    const parsed = parsedResultOf(outcome);
    const exception = fatal ? `Duplicati.Library.Interface.UserInformationException: ${fatal}` : null;
    const result = backupResult(
      this.config.versionText,
      outcome,
      {
        examinedFiles: files.length,
        sizeOfExaminedFiles: files.reduce((n, e) => n + e.size, 0),
        addedFiles: added,
        sizeOfAddedFiles: addedSize,
        modifiedFiles: modified,
        sizeOfModifiedFiles: modifiedSize,
        deletedFiles,
        addedFolders,
        deletedFolders,
        filesWithError: issues.filesWithError,
        verified,
      },
      this.backendFigures(b, uploaded, keepVersion ? 3 : 0),
    );
    this.writeResult(b, end, result, exception);
    task.result = parsed;
    if (fatal) {
      task.errorMessage = fatal;
      task.exception = exception;
      b.metadata.LastErrorDate = compactUtc(end);
      b.metadata.LastErrorMessage = fatal;
    } else if (!interrupted) {
      this.updateBackupMetadata(b, begin, end, files);
    }
    this.finishNotifications(b, parsed, outcome, exception ?? '');
    this.setProgress(task, 'Backup_Complete', {
      OverallProgress: 1,
      ProcessedFileCount: files.length,
      ProcessedFileSize: files.reduce((n, e) => n + e.size, 0),
      TotalFileCount: files.length,
      TotalFileSize: files.reduce((n, e) => n + e.size, 0),
    });
    this.signal('data');
  }

  /**
   * Keep a run's snapshot as the job's newest version (at least a second after the previous one)
   * and apply `keep-versions`; the name of the dlist file it verified.
   */
  private async storeVersion(
    b: FakeBackup,
    run: {
      key: number;
      begin: Date;
      dir: string;
      entries: StoredEntry[];
      files: StoredEntry[];
      interrupted: boolean;
      remote: boolean;
    },
  ): Promise<string> {
    const { key, dir, entries, files } = run;
    const previous = b.versions.at(-1);
    let time = new Date(Math.floor(run.begin.getTime() / 1000) * 1000);
    if (previous && time.getTime() <= previous.time.getTime()) time = new Date(previous.time.getTime() + 1000);
    const fileSizes = files.reduce((n, e) => n + e.size, 0);
    b.versions.push({ key, time, dir, entries, fileCount: files.length, fileSizes, isFull: !run.interrupted });
    if (run.remote) {
      const encrypted = !isTrue(settingValue(b, 'no-encryption'));
      const passphrase = encrypted ? (settingValue(b, 'passphrase') ?? null) : null;
      const text = filesetText(
        { time, entries, fileCount: files.length, fileSizes, isFull: !run.interrupted },
        passphrase,
      );
      await writeFile(path.join(dir, FILESET_FILE), text);
    }
    const keep = Number(settingValue(b, 'keep-versions'));
    if (Number.isInteger(keep) && keep > 0) {
      for (const old of b.versions.splice(0, Math.max(0, b.versions.length - keep))) {
        await rm(old.dir, { recursive: true, force: true });
      }
    }
    return `duplicati-${compactUtc(time)}.dlist.zip`;
  }

  private updateBackupMetadata(b: FakeBackup, begin: Date, end: Date, files: readonly StoredEntry[]): void {
    const size = files.reduce((n, e) => n + e.size, 0);
    const target = b.versions.reduce((n, v) => n + v.fileSizes, 0);
    const newest = b.versions.at(-1);
    Object.assign(b.metadata, {
      LastBackupDate: compactUtc(newest?.time ?? end),
      BackupListCount: String(b.versions.length),
      TotalQuotaSpace: '0',
      FreeQuotaSpace: '0',
      AssignedQuotaSpace: '-1',
      TargetFilesSize: String(target),
      TargetFilesCount: String(b.versions.length * 3),
      TargetSizeString: sizeString(target),
      SourceFilesSize: String(size),
      SourceFilesCount: String(files.length),
      SourceSizeString: sizeString(size),
      LastBackupStarted: compactUtc(begin),
      LastBackupFinished: compactUtc(end),
      LastBackupDuration: timeSpanText(end.getTime() - begin.getTime()),
      LastCompactDuration: timeSpanText(0),
      LastCompactStarted: compactUtc(end),
      LastCompactFinished: compactUtc(end),
    });
  }

  private async runRestore(task: FakeTask, b: FakeBackup): Promise<void> {
    const now = this.config.now;
    const begin = now();
    const req = task.restore as RestoreRequest;
    const issues: SnapshotIssues = { warnings: [], errors: [], filesWithError: 0 };
    const messages = [
      logLine(begin, 'Information', 'Controller-StartingOperation', 'The operation Restore has started'),
    ];
    this.setProgress(task, 'Restore_Begin');
    let fatal: string | undefined;
    let chosen: { version: number; v: FakeVersion } | undefined;
    if (b.hasLocalDb) {
      chosen = this.versionAt(b, req.time);
    } else {
      // No local database: read the target directly (a temporary database for this restore).
      try {
        const list = await this.remoteVersionsOf(b);
        chosen = req.time ? list.find(({ v }) => v.time.getTime() <= (req.time as Date).getTime() + 999) : list[0];
        if (!chosen) fatal = 'No backup at the specified date';
      } catch (e) {
        fatal = (e as Error).message;
      }
    }
    let figures = { restoredFiles: 0, sizeOfRestoredFiles: 0, restoredFolders: 0 };
    let interrupted = false;
    if (fatal) {
      // reported below
    } else if (!chosen) {
      fatal = b.versions.length === 0 ? 'No filesets found on remote target' : 'No backup at the specified date';
    } else {
      const { version, v } = chosen;
      messages.push(
        logLine(
          begin,
          'Information',
          'Database.LocalRestoreDatabase-SearchingBackup',
          `Searching backup ${version} (${logLineTime(v.time)}) ...`,
        ),
      );
      const selected =
        req.paths.length === 0
          ? [...v.entries]
          : v.entries.filter((e) => req.paths.some((p) => matchesExpression(p, e.path)));
      if (selected.length === 0) issues.warnings.push('Restore completed without errors but no files were restored');
      try {
        figures = await restoreEntries(
          v.dir,
          selected,
          { restorePath: req.restorePath, overwrite: req.overwrite, at: begin, signal: task.controller.signal },
          issues,
        );
      } catch (e) {
        if (!task.controller.signal.aborted) {
          issues.errors.push(`Failed to restore: ${(e as Error).message}`);
        } else {
          if (task.controller.signal.reason === 'killed') return;
          interrupted = true;
        }
      }
    }
    const end = now();
    const outcome: OperationOutcome = {
      begin,
      end,
      messages,
      warnings: issues.warnings.map((w) => logLine(end, 'Warning', 'Operation.RestoreHandler-CreateMissingFolder', w)),
      errors: [
        ...issues.errors.map((x) => logLine(end, 'Error', 'Operation.RestoreHandler-RestoreFailed', x)),
        ...(fatal
          ? [logLine(end, 'Error', 'Controller-FailedOperation', `The operation Restore has failed: ${fatal}`)]
          : []),
      ],
      interrupted,
      ...(fatal ? { forced: 'Fatal' as const } : {}),
    };
    const parsed = parsedResultOf(outcome);
    const exception = fatal ? `Duplicati.Library.Interface.UserInformationException: ${fatal}` : null;
    this.writeResult(
      b,
      end,
      restoreResult(this.config.versionText, outcome, figures, this.backendFigures(b, 0, 0)),
      exception,
    );
    task.result = parsed;
    if (fatal) {
      task.errorMessage = fatal;
      task.exception = exception;
    }
    b.metadata.LastRestoreStarted = compactUtc(begin);
    b.metadata.LastRestoreFinished = compactUtc(end);
    b.metadata.LastRestoreDuration = timeSpanText(end.getTime() - begin.getTime());
    if (parsed !== 'Success') this.finishNotifications(b, parsed, outcome, exception ?? '');
    this.setProgress(task, 'Restore_Complete', {
      ProcessedFileCount: figures.restoredFiles,
      ProcessedFileSize: figures.sizeOfRestoredFiles,
      TotalFileCount: figures.restoredFiles,
      TotalFileSize: figures.sizeOfRestoredFiles,
    });
  }

  /**
   * Versions of a backup that has no local database, read from its target (a direct restore).
   *
   * @throws {RemoteReadError} as the real server fails the read.
   */
  async remoteVersionsOf(b: FakeBackup): Promise<{ version: number; v: FakeVersion }[]> {
    const passphrase = isTrue(settingValue(b, 'no-encryption')) ? null : (settingValue(b, 'passphrase') ?? null);
    const read = await readRemoteVersions(b.targetUrl, passphrase);
    return read
      .map((r, i) => ({ key: i + 1, ...r }))
      .reverse()
      .map((v, version) => ({ version, v }));
  }

  /**
   * `repair` of a backup without a local database: build it from the target, only the version at
   * `time` when one is given (2.0.7.3 then lists that one version, as version 0). A read that
   * fails (a wrong passphrase) leaves no database and still ends `Completed` without an error
   * message, as 2.0.7.3 does.
   */
  private async rebuildFromTarget(task: FakeTask, b: FakeBackup): Promise<void> {
    let all: { version: number; v: FakeVersion }[];
    try {
      all = await this.remoteVersionsOf(b);
    } catch {
      // 2.0.7.3 ends the task Completed without an error message (captured live); no database is built.
      task.result = 'Error';
      return;
    }
    const at = task.repairTime;
    const picked = at ? all.filter(({ v }) => v.time.getTime() <= at.getTime() + 999).slice(0, 1) : all;
    b.versions.splice(0, b.versions.length, ...picked.map(({ v }) => v).reverse());
    b.versionCounter = b.versions.length;
    b.hasLocalDb = true;
    this.runGeneric(task, b);
  }

  private runGeneric(task: FakeTask, b: FakeBackup): void {
    const at = this.config.now();
    const op =
      task.operation === 'Verify'
        ? 'Test'
        : task.operation === 'Compact' || task.operation === 'Repair' || task.operation === 'Vacuum'
          ? task.operation
          : 'Other';
    const outcome: OperationOutcome = {
      begin: at,
      end: at,
      messages: [logLine(at, 'Information', 'Controller-StartingOperation', `The operation ${op} has started`)],
      warnings: [],
      errors: [],
      interrupted: false,
    };
    if (op !== 'Other') {
      this.writeResult(b, at, genericResult(this.config.versionText, op, outcome), null);
      b.metadata[`Last${op === 'Test' ? 'Verify' : op}Finished`] = compactUtc(at);
    }
    task.result = 'Success';
  }
}
