/**
 * `client.backups`: backup jobs, their operations, versions, files and logs, and the
 * `runAndWait` / `restoreAndWait` composites that report the true outcome.
 *
 * @module
 */
import { z } from 'zod';
import { sleep } from '../../core/abort.js';
import { ConfigError, DuplicatiError, isDuplicatiNotFoundError } from '../../core/errors.js';
import { asFolderPath } from '../../core/fs.js';
import { isSecretKey } from '../../core/redact.js';
import type { Generation, RequestOptions } from '../http.js';
import { buildOutcome, findResultRow, newestLogId } from '../outcome.js';
import {
  backupGetWire,
  backupListItemWire,
  createdWire,
  filesWire,
  filesetWire,
  isActiveWire,
  logEntryWire,
  remoteLogEntryWire,
  taskStartedWire,
} from '../schemas.js';
import type {
  Backup,
  BackupInput,
  BackupSummary,
  FileEntry,
  Fileset,
  LogEntry,
  OperationOutcome,
  RemoteLogEntry,
} from '../types.js';
import { API, type ClientContext, seg } from './context.js';
import type { ServerResource } from './server.js';
import type { TasksResource, WaitOptions } from './tasks.js';

/** A queued task. `taskId` is null only for a 2.0.x `run`, which does not return one. */
export interface TaskStarted {
  readonly taskId: string | null;
}

/** Which version to act on: `version` (0 = newest) or an exact `time` as the server listed it. */
export type VersionSelector = { readonly version?: number; readonly time?: string };

/** Options of {@link BackupsResource.files}. */
export interface FilesOptions extends RequestOptions, VersionSelector {
  /** Folder to list (its direct children). Omitted: the backup's root folders. */
  readonly path?: string;
  /** A Duplicati filter such as `*.jpg` or `*2024*` to search the version for. */
  readonly search?: string;
}

/** Options of {@link BackupsResource.restore}. */
export interface RestoreOptions extends RequestOptions, VersionSelector {
  /** Files (exact paths) and folders (ending in `/`) to restore; omitted: everything. */
  readonly paths?: readonly string[];
  /** Folder to restore into. Required unless `toOriginalLocation` is set. */
  readonly to?: string;
  /** Restore over the original files (dangerous; must be asked for explicitly). */
  readonly toOriginalLocation?: boolean;
  readonly overwrite?: boolean;
  readonly permissions?: boolean;
  readonly skipMetadata?: boolean;
  /** Encryption passphrase, when the server does not store it. */
  readonly passphrase?: string;
}

/** Options of the `…AndWait` composites. */
export type AndWaitOptions = WaitOptions;

const filesetsWire = z.array(filesetWire);
const logWire = z.array(logEntryWire);

/** Values inside a target URL that must be redacted: userinfo and secret-named query values. */
export function urlSecrets(url: string): string[] {
  const out: string[] = [];
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#@]*)@/i.exec(url);
  if (m?.[1]) {
    const [user = '', pass = ''] = m[1].split(':');
    out.push(user, pass);
  }
  const q = url.indexOf('?');
  if (q >= 0) {
    for (const part of url.slice(q + 1).split('&')) {
      const [k = '', v = ''] = part.split('=');
      if (isSecretKey(k) && v) out.push(v);
    }
  }
  return out.flatMap((s) => {
    try {
      return [s, decodeURIComponent(s)];
    } catch {
      return [s];
    }
  });
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Turn user paths into Duplicati restore filters: folders by regex, files exactly. */
export function restoreFilters(paths: readonly string[]): string[] {
  return paths.map((p) => {
    if (/^[@[{]/.test(p)) return p;
    if (p.endsWith('/') || p.endsWith('\\')) return `[${escapeRegex(p)}.*]`;
    return p;
  });
}

/** The wire body of a backup create/update. */
export function backupBody(input: BackupInput, id?: string): Record<string, unknown> {
  return {
    Backup: {
      ...(id ? { ID: id } : {}),
      Name: input.name,
      Description: input.description ?? '',
      Tags: input.tags ?? [],
      TargetURL: input.targetUrl,
      DBPath: null,
      Sources: input.sources,
      Settings: (input.settings ?? []).map((s) => ({ Name: s.name, Value: s.value, Filter: s.filter ?? '' })),
      Filters: (input.filters ?? []).map((f, i) => ({
        Order: f.order ?? i,
        Include: f.include,
        Expression: f.expression,
      })),
      Metadata: input.metadata === undefined ? {} : input.metadata,
    },
    // No `Rule`: 2.0.x keeps the allowed days in it and stores whatever is sent, so an empty Rule
    // wipes the days; without one the server derives it from `AllowedDays` (2.1+ does the same).
    Schedule: input.schedule
      ? {
          Time: input.schedule.time,
          Repeat: input.schedule.repeat,
          AllowedDays: input.schedule.allowedDays ?? [],
          Tags: [],
        }
      : null,
  };
}

function inputSecrets(input: BackupInput): string[] {
  const out = urlSecrets(input.targetUrl);
  for (const s of input.settings ?? []) if (isSecretKey(s.name) && s.value) out.push(s.value);
  return out;
}

/** Backup jobs. */
export class BackupsResource {
  readonly #ctx: ClientContext;
  readonly #deps: { readonly server: ServerResource; readonly tasks: TasksResource };
  constructor(ctx: ClientContext, deps: { readonly server: ServerResource; readonly tasks: TasksResource }) {
    this.#ctx = ctx;
    this.#deps = deps;
  }

  get #core() {
    return this.#ctx.core;
  }

  /**
   * All backups (summaries: sources, settings and filters are not loaded; use {@link get}).
   *
   * @example
   * ```ts
   * for (const b of await dup.backups.list()) console.error(b.id, b.name);
   * ```
   */
  list(options: RequestOptions = {}): Promise<BackupSummary[]> {
    return this.#core.call(
      { method: 'GET', path: `${API}/backups`, operation: 'backups.list', schema: z.array(backupListItemWire) },
      options,
    );
  }

  /**
   * One backup's full configuration. Unknown id: `DuplicatiNotFoundError`.
   *
   * @example
   * ```ts
   * const b = await dup.backups.get('1');
   * ```
   */
  async get(id: string, options: RequestOptions = {}): Promise<Backup> {
    const b = await this.#core.call(
      { method: 'GET', path: `${API}/backup/${seg(id)}`, operation: 'backups.get', schema: backupGetWire },
      options,
    );
    this.#core.addSecret(...urlSecrets(b.targetUrl));
    for (const s of b.settings) if (isSecretKey(s.name)) this.#core.addSecret(s.value);
    return b;
  }

  /**
   * Find a backup by name (case-insensitive, as the server compares names); null when absent.
   *
   * @example
   * ```ts
   * const b = await dup.backups.findByName('Immich database');
   * ```
   */
  async findByName(name: string, options: RequestOptions = {}): Promise<BackupSummary | null> {
    const all = await this.list(options);
    return all.find((b) => b.name.toLowerCase() === name.toLowerCase()) ?? null;
  }

  /**
   * Create a backup job. A name that exists already: `DuplicatiConflictError`.
   *
   * @example
   * ```ts
   * const { id } = await dup.backups.create({ name: 'photos', targetUrl: 'file:///mnt/usb/photos', sources: ['/srv/photos/'], settings: [{ name: '--no-encryption', value: 'true' }] });
   * ```
   */
  create(input: BackupInput, options: RequestOptions = {}): Promise<{ id: string }> {
    const secrets = inputSecrets(input);
    this.#core.addSecret(...secrets);
    return this.#core.call(
      {
        method: 'POST',
        path: `${API}/backups`,
        operation: 'backups.create',
        body: { json: backupBody(input) },
        schema: createdWire,
        secrets,
      },
      options,
    );
  }

  /**
   * Register a temporary backup (the web UI's "Direct restore from backup files"): an in-memory
   * job with a GUID id and no local database, to list and restore the versions of a target this
   * server has never seen. The server does not validate it; a wrong URL or passphrase shows at
   * the first listing. It disappears when the server restarts.
   *
   * @example
   * ```ts
   * const { id } = await dup.backups.createTemporary({ targetUrl: 'file:///mnt/usb/photos', passphrase: '…' });
   * const versions = await dup.backups.versions(id);
   * ```
   */
  createTemporary(
    input: {
      readonly targetUrl: string;
      /** AES passphrase; omitted or null: the backup is not encrypted. */
      readonly passphrase?: string | null;
      readonly settings?: readonly { readonly name: string; readonly value: string }[];
    },
    options: RequestOptions = {},
  ): Promise<{ id: string }> {
    const secrets = [...urlSecrets(input.targetUrl), ...(input.passphrase ? [input.passphrase] : [])];
    this.#core.addSecret(...secrets);
    const settings = [
      input.passphrase ? { Name: 'passphrase', Value: input.passphrase } : { Name: '--no-encryption', Value: 'true' },
      ...(input.settings ?? []).map((x) => ({ Name: x.name, Value: x.value })),
    ];
    return this.#core.call(
      {
        method: 'POST',
        path: `${API}/backups`,
        operation: 'backups.createTemporary',
        query: { temporary: true },
        body: { json: { Backup: { TargetURL: input.targetUrl, Settings: settings } } },
        schema: createdWire,
        secrets,
        retry: false,
      },
      options,
    );
  }

  /**
   * Replace a backup's configuration. `schedule: null` removes the schedule.
   *
   * @example
   * ```ts
   * await dup.backups.update('1', { ...input, description: 'nightly' });
   * ```
   */
  async update(id: string, input: BackupInput, options: RequestOptions = {}): Promise<void> {
    const secrets = inputSecrets(input);
    this.#core.addSecret(...secrets);
    await this.#core.call(
      {
        method: 'PUT',
        path: `${API}/backup/${seg(id)}`,
        operation: 'backups.update',
        body: { json: backupBody(input, id) },
        secrets,
      },
      options,
    );
  }

  /**
   * Delete a backup job. The deletion itself is a queued task, whose id is returned; remote
   * files are kept unless `deleteRemoteFiles` (2.1+ only).
   *
   * @example
   * ```ts
   * const { taskId } = await dup.backups.delete('2');
   * if (taskId) await dup.tasks.wait(taskId);
   * ```
   */
  async delete(
    id: string,
    options: RequestOptions & { deleteLocalDb?: boolean; deleteRemoteFiles?: boolean; force?: boolean } = {},
  ): Promise<TaskStarted> {
    return this.#core.call(
      {
        method: 'DELETE',
        path: `${API}/backup/${seg(id)}`,
        operation: 'backups.delete',
        query: {
          'delete-local-db': options.deleteLocalDb,
          'delete-remote-files': options.deleteRemoteFiles,
          force: options.force,
        },
        schema: taskStartedWire,
        // A repeated DELETE after a lost answer would be a 404, not a second deletion.
        retry: false,
      },
      options,
    );
  }

  /**
   * Queue a backup run. Retried safely: the server returns the already queued task of this
   * backup instead of queuing another. 2.0.x does not return a task id (null).
   *
   * @example
   * ```ts
   * const { taskId } = await dup.backups.run('1');
   * ```
   */
  run(id: string, options: RequestOptions = {}): Promise<TaskStarted> {
    return this.#op(id, 'run', options, true);
  }

  /**
   * Verify remote files (controller operation `Test`).
   *
   * @example
   * ```ts
   * const { taskId } = await dup.backups.verify('1');
   * ```
   */
  verify(id: string, options: RequestOptions = {}): Promise<TaskStarted> {
    return this.#op(id, 'verify', options, false);
  }

  /**
   * Compact remote volumes.
   *
   * @example
   * ```ts
   * await dup.backups.compact('1');
   * ```
   */
  compact(id: string, options: RequestOptions = {}): Promise<TaskStarted> {
    return this.#op(id, 'compact', options, false);
  }

  /**
   * Repair the local database from the remote files.
   *
   * @example
   * ```ts
   * await dup.backups.repair('1');
   * ```
   */
  async repair(id: string, options: RequestOptions & { onlyPaths?: boolean } = {}): Promise<TaskStarted> {
    const gen = await this.#ctx.generation(options.signal);
    const body =
      gen === '2.0'
        ? { form: { 'only-paths': options.onlyPaths === undefined ? undefined : String(options.onlyPaths) } }
        : { json: { only_paths: options.onlyPaths ?? null } };
    return this.#core.call(
      {
        method: 'POST',
        path: `${API}/backup/${seg(id)}/repair`,
        operation: 'backups.repair',
        body,
        schema: taskStartedWire,
        retry: false,
      },
      options,
    );
  }

  /**
   * Rebuild (part of) the local database from the remote files: `onlyPaths` with `time` builds
   * just the file list of that version, as the web UI does before browsing or restoring a
   * temporary (direct-restore) backup. Returns the task id; wait with `tasks.wait`.
   *
   * @example
   * ```ts
   * const { taskId } = await dup.backups.repairUpdate(tempId, { onlyPaths: true, time: fileset.time });
   * ```
   */
  repairUpdate(
    id: string,
    options: RequestOptions & { onlyPaths?: boolean; time?: string; paths?: readonly string[] } = {},
  ): Promise<TaskStarted> {
    return this.#repairRoute('repairupdate', id, options);
  }

  /**
   * Build a partial local database for restoring `paths` of the version at `time` (the web UI
   * does this on a {@link copyToTemp} copy before a direct restore). Returns the task id.
   *
   * @example
   * ```ts
   * const { id: copy } = await dup.backups.copyToTemp(tempId);
   * const { taskId } = await dup.backups.repairForRestore(copy, { time, paths: ['/srv/backup/staging/'] });
   * ```
   */
  repairForRestore(
    id: string,
    options: RequestOptions & { time: string; paths?: readonly string[] },
  ): Promise<TaskStarted> {
    return this.#repairRoute('repair', id, options);
  }

  async #repairRoute(
    route: 'repair' | 'repairupdate',
    id: string,
    options: RequestOptions & { onlyPaths?: boolean; time?: string; paths?: readonly string[] },
  ): Promise<TaskStarted> {
    const gen = await this.#ctx.generation(options.signal);
    const paths = options.paths?.length ? restoreFilters(options.paths) : undefined;
    const body =
      gen === '2.0'
        ? {
            form: {
              'only-paths': options.onlyPaths === undefined ? undefined : String(options.onlyPaths),
              time: options.time,
              paths: paths ? JSON.stringify(paths) : undefined,
            },
          }
        : { json: { only_paths: options.onlyPaths ?? null, time: options.time ?? null, paths: paths ?? null } };
    return this.#core.call(
      {
        method: 'POST',
        path: `${API}/backup/${seg(id)}/${route}`,
        operation: `backups.${route}`,
        body,
        schema: taskStartedWire,
        retry: false,
      },
      options,
    );
  }

  /**
   * Copy a backup to a new temporary one with a fresh (empty) local database path, as the web UI
   * does before restoring from a temporary (direct-restore) backup.
   */
  copyToTemp(id: string, options: RequestOptions = {}): Promise<{ id: string }> {
    return this.#core.call(
      {
        method: 'POST',
        path: `${API}/backup/${seg(id)}/copytotemp`,
        operation: 'backups.copyToTemp',
        schema: createdWire,
        retry: false,
      },
      options,
    );
  }

  /**
   * Versions read from the remote files alone (`from-remote-only`), newest first: what a
   * temporary backup without a local database lists.
   */
  remoteVersions(id: string, options: RequestOptions = {}): Promise<Fileset[]> {
    return this.#core.call(
      {
        method: 'GET',
        path: `${API}/backup/${seg(id)}/filesets`,
        operation: 'backups.remoteVersions',
        query: { 'from-remote-only': true },
        schema: filesetsWire,
      },
      options,
    );
  }

  async #op(id: string, route: string, options: RequestOptions, retry: boolean): Promise<TaskStarted> {
    return this.#core.call(
      {
        method: 'POST',
        path: `${API}/backup/${seg(id)}/${route}`,
        operation: `backups.${route}`,
        schema: taskStartedWire,
        retry,
      },
      options,
    );
  }

  /**
   * Versions (filesets) of a backup, newest first. `withSizes` asks the server for file
   * counts and sizes (slower; otherwise they are null).
   *
   * @example
   * ```ts
   * const [newest] = await dup.backups.versions('1', { withSizes: true });
   * ```
   */
  versions(id: string, options: RequestOptions & { withSizes?: boolean } = {}): Promise<Fileset[]> {
    return this.#core.call(
      {
        method: 'GET',
        path: `${API}/backup/${seg(id)}/filesets`,
        operation: 'backups.versions',
        query: { 'include-metadata': options.withSizes ? true : undefined },
        schema: filesetsWire,
      },
      options,
    );
  }

  /** Resolve a version selector to the exact fileset time the server listed. */
  async resolveTime(id: string, sel: VersionSelector & RequestOptions): Promise<string> {
    if (sel.time !== undefined) return sel.time;
    const version = sel.version ?? 0;
    const versions = await this.versions(id, sel);
    const found = versions.find((v) => v.version === version);
    if (!found) {
      throw new DuplicatiError(`Backup ${id} has no version ${version} (it has ${versions.length})`, {
        code: 'ERR_DUPLICATI_NO_VERSION',
      });
    }
    return found.time;
  }

  /**
   * Browse a folder of a version, list its root folders, or search it.
   *
   * @example
   * ```ts
   * const { files } = await dup.backups.files('1', { version: 0, path: '/srv/photos/' });
   * const jpgs = await dup.backups.files('1', { search: '*.jpg' });
   * ```
   */
  async files(id: string, options: FilesOptions = {}): Promise<{ filesets: Fileset[]; files: FileEntry[] }> {
    const time = await this.resolveTime(id, options);
    const gen = await this.#ctx.generation(options.signal);
    let filter: string | undefined;
    let prefixOnly = false;
    let folderContents = false;
    if (options.search !== undefined) filter = options.search;
    else if (options.path !== undefined) {
      filter = asFolderPath(options.path);
      folderContents = true;
    } else {
      // The roots: 2.0.x answers a root listing without a filter with HTTP 500 ("Cannot extract
      // simple list when the type is: Empty") and a Fatal List row in the job's log.
      prefixOnly = true;
      filter = '*';
    }
    const query = { 'prefix-only': prefixOnly, 'folder-contents': folderContents, time };
    // 2.0.x takes the filter as a path suffix, 2.1+ only as the `filter` query value.
    const path =
      gen === '2.0' && filter !== undefined
        ? `${API}/backup/${seg(id)}/files/${encodeURIComponent(filter)}`
        : `${API}/backup/${seg(id)}/files`;
    return this.#core.call(
      {
        method: 'GET',
        path,
        operation: 'backups.files',
        query: gen === '2.0' ? query : { filter, ...query },
        schema: filesWire,
      },
      options,
    );
  }

  /**
   * Queue a restore. Returns the task id.
   *
   * @example
   * ```ts
   * const { taskId } = await dup.backups.restore('1', { version: 0, to: '/restore/staging', paths: ['/srv/photos/2024/'] });
   * ```
   */
  async restore(id: string, options: RestoreOptions): Promise<TaskStarted> {
    if (!options.to && !options.toOriginalLocation) {
      throw new ConfigError('Invalid restore options', [
        { path: 'to', message: 'give a folder to restore into, or set toOriginalLocation: true' },
      ]);
    }
    const time = await this.resolveTime(id, options);
    const gen: Generation = await this.#ctx.generation(options.signal);
    const paths = options.paths?.length ? restoreFilters(options.paths) : undefined;
    this.#core.addSecret(options.passphrase);
    const restorePath = options.toOriginalLocation ? undefined : options.to;
    const body =
      gen === '2.0'
        ? {
            form: {
              paths: paths ? JSON.stringify(paths) : undefined,
              time,
              'restore-path': restorePath,
              overwrite: String(options.overwrite ?? false),
              permissions: String(options.permissions ?? false),
              'skip-metadata': options.skipMetadata === undefined ? undefined : String(options.skipMetadata),
              passphrase: options.passphrase,
            },
          }
        : {
            json: {
              time,
              paths: paths ?? null,
              restore_path: restorePath ?? null,
              overwrite: options.overwrite ?? false,
              permissions: options.permissions ?? false,
              skip_metadata: options.skipMetadata ?? false,
              passphrase: options.passphrase ?? null,
            },
          };
    return this.#core.call(
      {
        method: 'POST',
        path: `${API}/backup/${seg(id)}/restore`,
        operation: 'backups.restore',
        body,
        schema: taskStartedWire,
        retry: false,
        secrets: [options.passphrase],
      },
      options,
    );
  }

  /** One page of the backup's log, newest first (rows with id below `offset`). */
  logPage(
    id: string,
    page: { offset?: number | undefined; pageSize?: number } & RequestOptions = {},
  ): Promise<LogEntry[]> {
    return this.#core.call(
      {
        method: 'GET',
        path: `${API}/backup/${seg(id)}/log`,
        operation: 'backups.log',
        query: { offset: page.offset, pagesize: page.pageSize ?? 100 },
        schema: logWire,
      },
      page,
    );
  }

  /**
   * The backup's log (results of runs, restores, …), newest first, fetched page by page.
   *
   * @example
   * ```ts
   * for await (const row of dup.backups.log('1')) if (row.type === 'Result') console.error(row.message);
   * ```
   */
  async *log(id: string, options: RequestOptions & { pageSize?: number } = {}): AsyncGenerator<LogEntry> {
    yield* this.#pages(options, (offset, pageSize) => this.logPage(id, { ...options, offset, pageSize }));
  }

  /**
   * The backup's remote-operation log (put/get/list/delete), newest first.
   *
   * @example
   * ```ts
   * for await (const op of dup.backups.remoteLog('1', { pageSize: 50 })) console.error(op.operation, op.path);
   * ```
   */
  async *remoteLog(id: string, options: RequestOptions & { pageSize?: number } = {}): AsyncGenerator<RemoteLogEntry> {
    yield* this.#pages(options, (offset, pagesize) =>
      this.#core.call(
        {
          method: 'GET',
          path: `${API}/backup/${seg(id)}/remotelog`,
          operation: 'backups.remoteLog',
          query: { offset, pagesize },
          schema: z.array(remoteLogEntryWire),
        },
        options,
      ),
    );
  }

  async *#pages<T extends { id: number }>(
    options: { pageSize?: number },
    fetch: (offset: number | undefined, pageSize: number) => Promise<T[]>,
  ): AsyncGenerator<T> {
    const pageSize = Math.min(500, Math.max(10, options.pageSize ?? 100));
    let offset: number | undefined;
    for (;;) {
      const rows = await fetch(offset, pageSize);
      for (const r of rows) yield r;
      const last = rows.at(-1);
      if (rows.length < pageSize || !last || (offset !== undefined && last.id >= offset)) return;
      offset = last.id;
    }
  }

  /**
   * True when a task of this backup is running or queued.
   *
   * @example
   * ```ts
   * if (await dup.backups.isActive('1')) console.error('busy');
   * ```
   */
  isActive(id: string, options: RequestOptions = {}): Promise<boolean> {
    return this.#core.call(
      { method: 'GET', path: `${API}/backup/${seg(id)}/isactive`, operation: 'backups.isActive', schema: isActiveWire },
      options,
    );
  }

  /**
   * Export a backup's configuration file (JSON, or AES-encrypted with `passphrase`). Passwords
   * are included only with `exportPasswords`.
   *
   * @example
   * ```ts
   * const file = await dup.backups.exportConfig('1', { passphrase: 'export-secret' });
   * ```
   */
  async exportConfig(
    id: string,
    options: RequestOptions & { passphrase?: string; exportPasswords?: boolean } = {},
  ): Promise<Buffer> {
    const gen = await this.#ctx.generation(options.signal);
    this.#core.addSecret(options.passphrase);
    let token: string | undefined;
    if (gen !== '2.0') {
      token = (
        await this.#core.call(
          {
            method: 'POST',
            path: `${API}/auth/issuetoken/export`,
            operation: 'backups.exportConfig',
            schema: z.object({ Token: z.string() }),
          },
          options,
        )
      ).Token;
      this.#core.addSecret(token);
    }
    const res = await this.#core.callRaw(
      {
        method: 'GET',
        path: `${API}/backup/${seg(id)}/export`,
        operation: 'backups.exportConfig',
        query: { token, 'export-passwords': options.exportPasswords ?? false, passphrase: options.passphrase },
        secrets: [options.passphrase, token],
      },
      options,
    );
    return res.body;
  }

  /**
   * The command line that runs this backup with the Duplicati CLI.
   *
   * @example
   * ```ts
   * const cmd = await dup.backups.exportCommandLine('1');
   * ```
   */
  async exportCommandLine(id: string, options: RequestOptions & { exportPasswords?: boolean } = {}): Promise<string> {
    const gen = await this.#ctx.generation(options.signal);
    const r = await this.#core.call(
      {
        method: 'GET',
        path: gen === '2.0' ? `${API}/backup/${seg(id)}/export` : `${API}/backup/${seg(id)}/export-cmdline`,
        operation: 'backups.exportCommandLine',
        query:
          gen === '2.0'
            ? { cmdline: true, 'export-passwords': options.exportPasswords }
            : { 'export-passwords': options.exportPasswords },
        schema: z.object({ Command: z.string() }),
      },
      options,
    );
    return r.Command;
  }

  /**
   * Import an exported configuration as a new backup (2.1+; 2.0.x only offers an HTML form).
   *
   * @example
   * ```ts
   * const { id } = await dup.backups.importConfig(await readFile('job.json'));
   * ```
   */
  async importConfig(
    config: Buffer | string,
    options: RequestOptions & { passphrase?: string; importMetadata?: boolean } = {},
  ): Promise<{ id: string | null }> {
    if ((await this.#ctx.generation(options.signal)) === '2.0') {
      throw new DuplicatiError('Importing a configuration needs a 2.1+ server (2.0.x only has an HTML upload form)', {
        code: 'ERR_DUPLICATI_UNSUPPORTED',
      });
    }
    this.#core.addSecret(options.passphrase);
    const buf = typeof config === 'string' ? Buffer.from(config, 'utf8') : config;
    const r = await this.#core.call(
      {
        method: 'POST',
        path: `${API}/backups/import`,
        operation: 'backups.importConfig',
        body: {
          json: {
            config: buf.toString('base64'),
            cmdline: false,
            import_metadata: options.importMetadata ?? false,
            direct: true,
            passphrase: options.passphrase ?? null,
          },
        },
        schema: z.object({ Id: z.union([z.string(), z.number()]).nullish() }),
        secrets: [options.passphrase],
      },
      options,
    );
    return { id: r.Id === undefined || r.Id === null ? null : String(r.Id) };
  }

  /**
   * Run a backup and wait for it; the result comes from the run's `Result` log row (a failed
   * run still says `Completed` on 2.0.x/2.1.0.x; a run aborted by a hook is `Fatal`).
   *
   * @example
   * ```ts
   * const r = await dup.backups.runAndWait('1', { signal, totalTimeout: 6 * 3_600_000 });
   * if (r.result !== 'Success') console.error(r.result, r.errors);
   * ```
   */
  async runAndWait(id: string, options: AndWaitOptions = {}): Promise<OperationOutcome> {
    const req = options.signal ? { signal: options.signal } : {};
    const afterId = await newestLogId((offset, pageSize) =>
      this.logPage(id, { ...req, pageSize, ...(offset === undefined ? {} : { offset }) }),
    );
    const notBefore = new Date();
    const started = await this.run(id, req);
    let taskId = started.taskId;
    if (taskId === null) taskId = await this.#findTask(id, req);
    return this.#finish(id, taskId, { afterId, notBefore, operation: 'Backup' }, options);
  }

  /**
   * Restore a version (or some paths of it) into a folder and wait for the true outcome.
   *
   * @example
   * ```ts
   * const r = await dup.backups.restoreAndWait('1', { version: 0, to: '/restore/staging', paths: ['/srv/immich/library/'] });
   * ```
   */
  async restoreAndWait(id: string, options: RestoreOptions & AndWaitOptions): Promise<OperationOutcome> {
    const req = options.signal ? { signal: options.signal } : {};
    const afterId = await newestLogId((offset, pageSize) =>
      this.logPage(id, { ...req, pageSize, ...(offset === undefined ? {} : { offset }) }),
    );
    const notBefore = new Date();
    const { taskId } = await this.restore(id, options);
    return this.#finish(id, taskId, { afterId, notBefore, operation: 'Restore' }, options);
  }

  /**
   * Verify the remote files of a backup (operation `Test`) and wait for the true outcome, read
   * from its `Result` log row.
   *
   * @example
   * ```ts
   * const r = await dup.backups.verifyAndWait('1', { totalTimeout: 3_600_000 });
   * if (r.result === 'Error' || r.result === 'Fatal') console.error(r.errors);
   * ```
   */
  async verifyAndWait(id: string, options: AndWaitOptions = {}): Promise<OperationOutcome> {
    const req = options.signal ? { signal: options.signal } : {};
    const afterId = await newestLogId((offset, pageSize) =>
      this.logPage(id, { ...req, pageSize, ...(offset === undefined ? {} : { offset }) }),
    );
    const notBefore = new Date();
    const started = await this.verify(id, req);
    const taskId = started.taskId ?? (await this.#findTask(id, req));
    return this.#finish(id, taskId, { afterId, notBefore, operation: 'Test' }, options);
  }

  /** 2.0.x `run` returns no id: the task is the active or queued one of this backup. */
  async #findTask(id: string, req: RequestOptions): Promise<string | null> {
    const state = await this.#deps.server.state(req);
    if (state.activeTask?.backupId === id) return state.activeTask.taskId;
    const queued = state.queue.find((q) => q.backupId === id);
    return queued?.taskId ?? null;
  }

  async #finish(
    id: string,
    taskId: string | null,
    q: { afterId: number | undefined; notBefore: Date; operation: string },
    options: AndWaitOptions,
  ): Promise<OperationOutcome> {
    const req = options.signal ? { signal: options.signal } : {};
    let status = 'Unknown';
    let taskError: string | null = null;
    let taskStarted: string | null = null;
    let taskFinished: string | null = null;
    if (taskId !== null) {
      try {
        const final = await this.#deps.tasks.wait(taskId, options);
        status = final.status;
        taskError = final.errorMessage;
        taskStarted = final.startedAt;
        taskFinished = final.finishedAt;
      } catch (e) {
        // Forgotten by the server (restart, or evicted): the log still tells the outcome.
        if (!isDuplicatiNotFoundError(e)) throw e;
      }
    }
    const fetchPage = (offset: number | undefined, pageSize: number): Promise<LogEntry[]> =>
      this.logPage(id, { ...req, pageSize, ...(offset === undefined ? {} : { offset }) });
    let row = await findResultRow(fetchPage, q, options.signal);
    // A 2.0.x run that finished before its task could be seen, or a restarted server: the Result
    // row is written when the task ends, so look a few more times before calling it unknown.
    for (let i = 0; !row && taskId === null && i < 10; i++) {
      await sleep(1000, options.signal);
      row = await findResultRow(fetchPage, q, options.signal);
    }
    return buildOutcome({ taskId, backupId: id, status, taskError, taskStarted, taskFinished, row });
  }
}
