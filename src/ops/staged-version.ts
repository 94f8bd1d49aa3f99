/**
 * Fetching one version of a plan's staged work folder back from Duplicati: find the job, pick the
 * version (a number, or the newest at or before a time), find the work folder among the job's
 * sources, have Duplicati restore it into a folder, and locate the restored `manifest.json`.
 * Shared by restore drills and gated restores.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { throwIfAborted } from '../core/abort.js';
import { DuplicatiKitError } from '../core/errors.js';
import { asFolderPath } from '../core/fs.js';
import { MANIFEST_FILE } from '../core/manifest.js';
import type { DuplicatiClient } from '../duplicati/client.js';
import type { WaitOptions } from '../duplicati/resources/tasks.js';
import type { Fileset, OperationOutcome } from '../duplicati/types.js';

/** A job, by id and name. */
export interface JobRef {
  readonly id: string;
  readonly name: string;
}

/** Which version: `version` exactly, else the newest at or before `time`, else the newest. */
export interface VersionSelection {
  readonly version?: number | undefined;
  readonly time?: Date | string | undefined;
}

/** Pick a version: `version` exactly, else the newest at or before `time`, else the newest. */
export function pickVersion(versions: readonly Fileset[], sel: VersionSelection): Fileset | undefined {
  if (sel.version !== undefined) return versions.find((v) => v.version === sel.version);
  const sorted = [...versions].sort((a, b) => Date.parse(b.time) - Date.parse(a.time));
  if (sel.time === undefined) return sorted[0];
  const limit = sel.time instanceof Date ? sel.time.getTime() : Date.parse(sel.time);
  return sorted.find((v) => Date.parse(v.time) <= limit);
}

/** The job whose id or name (case-insensitive) is `job`; a `DuplicatiKitError` (`ERR_NO_SUCH_JOB`) otherwise. */
export async function findJob(client: DuplicatiClient, job: string, signal?: AbortSignal): Promise<JobRef> {
  const all = await client.backups.list(signal ? { signal } : {});
  const found = all.find((b) => b.id === job) ?? all.find((b) => b.name.toLowerCase() === job.toLowerCase());
  if (!found) {
    throw new DuplicatiKitError(`no Duplicati job "${job}" (known: ${all.map((b) => b.name).join(', ')})`, {
      code: 'ERR_NO_SUCH_JOB',
    });
  }
  return { id: found.id, name: found.name };
}

/** The selected version of a job; a `DuplicatiKitError` (`ERR_NO_SUCH_VERSION`) when there is none. */
export async function chooseVersion(
  client: DuplicatiClient,
  job: JobRef,
  sel: VersionSelection,
  signal?: AbortSignal,
): Promise<Fileset> {
  const versions = await client.backups.versions(job.id, signal ? { signal } : {});
  const chosen = pickVersion(versions, sel);
  if (chosen) return chosen;
  throw new DuplicatiKitError(
    versions.length === 0
      ? `job "${job.name}" has no backup versions yet`
      : sel.version !== undefined
        ? `job "${job.name}" has no version ${sel.version} (it has ${versions.length})`
        : `job "${job.name}" has no version at or before ${String(sel.time)}`,
    { code: 'ERR_NO_SUCH_VERSION' },
  );
}

/** The job's source folder whose listing in `version` holds a `manifest.json` (the staged work folder). */
export async function locateWorkDir(
  client: DuplicatiClient,
  job: JobRef,
  version: Fileset,
  signal?: AbortSignal,
): Promise<string> {
  const req = signal ? { signal } : {};
  const full = await client.backups.get(job.id, req);
  for (const source of full.sources.filter((s) => /[/\\]$/.test(s))) {
    const { files } = await client.backups.files(job.id, { ...req, time: version.time, path: source });
    if (files.some((f) => !f.isFolder && f.path === `${source}${MANIFEST_FILE}`)) return source;
  }
  throw new DuplicatiKitError(
    `no source folder of job "${job.name}" holds a ${MANIFEST_FILE} in version ${version.version}; pass workDir`,
    { code: 'ERR_NOT_STAGED' },
  );
}

/** Where a restore of `workDir` into `restoreDir` put the manifest (Duplicati strips the common prefix). */
export async function findRestoredWorkDir(restoreDir: string, workDir: string): Promise<string | undefined> {
  const trimmed = workDir.replace(/[/\\]+$/, '');
  const candidates = [
    restoreDir,
    path.join(restoreDir, path.basename(trimmed)),
    path.join(
      restoreDir,
      ...trimmed
        .replace(/^[A-Za-z]:/, '')
        .split(/[/\\]/)
        .filter(Boolean),
    ),
  ];
  for (const c of candidates) {
    const found = await fsp.stat(path.join(c, MANIFEST_FILE)).catch(() => undefined);
    if (found?.isFile()) return c;
  }
  return undefined;
}

/** Files and bytes under `dir` (0 when it does not exist). */
export async function countFiles(dir: string, signal: AbortSignal): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  const walk = async (d: string): Promise<void> => {
    throwIfAborted(signal);
    for (const e of await fsp.readdir(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) await walk(full);
      else if (e.isFile()) {
        files++;
        bytes += (await fsp.stat(full)).size;
      }
    }
  };
  await walk(dir).catch(() => {
    if (signal.aborted) throw signal.reason;
  });
  return { files, bytes };
}

/** What {@link restoreStagedFolder} did. */
export interface StagedRestore {
  readonly outcome: OperationOutcome;
  readonly restoredFiles: number;
  readonly restoredBytes: number;
  /** The restored folder holding `manifest.json`; undefined when the version holds none (see {@link notStagedError}). */
  readonly from: string | undefined;
  readonly durationMs: number;
}

/**
 * Have Duplicati restore `workDir` of `version` into `restoreDir` (a new folder, never over
 * anything) and find the restored manifest. Throws a `DuplicatiKitError` when the restore ends
 * with `Error`/`Fatal` (`ERR_DUPLICATI_RESTORE`); `onOutcome` sees Duplicati's outcome first,
 * whatever it was.
 */
export async function restoreStagedFolder(
  client: DuplicatiClient,
  job: JobRef,
  options: {
    version: Fileset;
    workDir: string;
    restoreDir: string;
    wait?: Omit<WaitOptions, 'signal'> | undefined;
    signal: AbortSignal;
    onOutcome?: (outcome: OperationOutcome, durationMs: number) => void;
  },
): Promise<StagedRestore> {
  const t0 = performance.now();
  const outcome = await client.backups.restoreAndWait(job.id, {
    ...options.wait,
    time: options.version.time,
    to: options.restoreDir,
    paths: [asFolderPath(options.workDir)],
    overwrite: false,
    signal: options.signal,
  });
  const durationMs = performance.now() - t0;
  options.onOutcome?.(outcome, durationMs);
  // A restore into a new folder warns that it created it; only Error and Fatal mean lost files.
  if (outcome.result === 'Error' || outcome.result === 'Fatal') {
    throw new DuplicatiKitError(
      `Duplicati restore ended with ${outcome.result}: ${outcome.errors[0] ?? 'no error message'}`,
      { code: 'ERR_DUPLICATI_RESTORE' },
    );
  }
  const { files, bytes } = await countFiles(options.restoreDir, options.signal);
  const from = await findRestoredWorkDir(options.restoreDir, options.workDir);
  return { outcome, restoredFiles: files, restoredBytes: bytes, from, durationMs };
}

/** The error for a restored version that holds no manifest (`ERR_NOT_STAGED`). */
export function notStagedError(workDir: string, restoredFiles: number): DuplicatiKitError {
  return new DuplicatiKitError(
    `the restored version holds no ${MANIFEST_FILE} under ${workDir} (${restoredFiles} file(s) restored): it is not a staged plan`,
    { code: 'ERR_NOT_STAGED' },
  );
}
