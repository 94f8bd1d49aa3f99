/**
 * The options of the SQLite engine: its kind id, the zod schemas and types of `SqliteSource` and
 * `SqliteTarget`, the version gate type, and their defaults.
 *
 * @module
 */
import { z } from 'zod';
import { safeRelativePath } from '../../core/fs.js';
import type { JsonValue } from '../../contracts/types.js';

/** `kind` of SQLite sources and targets, and the manifest entries they write: the config `type:` name. */
export const SQLITE_KIND = 'sqlite';

/** How the snapshot is taken. */
export type SnapshotMethod = 'copy' | 'backup' | 'vacuum';

/** What `SqliteSource` (and the snapshot it takes) uses for the options it is not given. */
export const SQLITE_SOURCE_DEFAULTS = {
  method: 'copy',
  /** 16 MiB of 4 KiB pages, a few ms of copying. */
  pagesPerStep: 4096,
  /** Restarts tolerated before the rest is copied in one step. */
  maxRestarts: 1,
  /** How long SQLite waits on a lock before giving up. */
  busyTimeoutMs: 5000,
  integrity: 'full',
} as const;

/** What `SqliteTarget` uses for the options it is not given. */
export const SQLITE_TARGET_DEFAULTS = {
  name: 'sqlite',
  integrity: 'full',
} as const;

/** A source name, usable as a folder name. */
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

/** The zod schema of {@link SqliteSourceOptions}. */
export const sqliteSourceSchema = z
  .object({
    name: sourceName,
    path: z.string().min(1),
    counts: z.array(z.string().min(1)).optional(),
    method: z.enum(['copy', 'backup', 'vacuum']).optional(),
    artifactName: z
      .string()
      .min(1)
      .refine((s) => safeRelativePath(s) === s, 'must be a relative file name')
      .optional(),
    ...tuning,
  })
  .strict();

/** Options of `SqliteSource`. */
export interface SqliteSourceOptions {
  /** Name in the plan and the manifest; also the folder of its artifact. */
  readonly name: string;
  /** The live database file. */
  readonly path: string;
  /** Tables whose row counts go into the manifest (counted in the snapshot). */
  readonly counts?: readonly string[];
  /**
   * `copy` (default): in WAL mode, the database file and its `-wal` copied by `cp` while a read
   * transaction holds them still, then the WAL folded in; in rollback-journal mode (or without `cp`
   * or write access to the `-shm`), `backup`. `backup`: SQLite's online backup in large steps,
   * progress in pages, the rest in one step after `maxRestarts` restarts. `vacuum`: `VACUUM INTO`
   * (compacted output, no progress). The manifest names the method used.
   */
  readonly method?: SnapshotMethod;
  /** File name of the snapshot artifact. @default the live file's name */
  readonly artifactName?: string;
  /** Pages per backup step. @default 4096 (16 MiB of 4 KiB pages, a few ms of copying) */
  readonly pagesPerStep?: number;
  /** Restarts caused by the application's writes before the rest goes in one step. @default 1 */
  readonly maxRestarts?: number;
  /** How long to wait on the application's locks. @default 5000 */
  readonly busyTimeoutMs?: number;
  /** `full`: `PRAGMA integrity_check`; `quick`: `quick_check` (faster on big files). @default 'full' */
  readonly integrity?: 'full' | 'quick';
}

/** What a `SqliteTarget` version gate sees. */
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

/** The zod schema of {@link SqliteTargetOptions}. */
export const sqliteTargetSchema = z
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

/** Options of `SqliteTarget`. */
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
