/**
 * The options of the PostgreSQL engine: the `type:` name configs use for it, the zod schemas and types of
 * {@link PostgresSource} and {@link PostgresTarget}, their defaults, and the dump hook types apps build on.
 * Types live here, not in source.ts, so the dump helpers can use them without importing the source back.
 *
 * @module
 */
import { z } from 'zod';
import type { JsonValue } from '../../contracts/types.js';
import type { ParallelGzipOptions } from '../_shared/gzip-parallel.js';
import { type PgConnectionOptions, pgConnectionSchema, safeNameSchema } from './connection.js';
import { parsePgDumpArgs } from './dump-args.js';
import type { PgCountSelection, PgDumpFormat, PgServerInfo } from './dump.js';
import { type FoundPgTool, type PgExecutorOptions, pgExecutorSchema } from './executor.js';
import type { SqlSession } from './session.js';
import type { ToolVersionCache } from '../../core/tool-versions.js';

/** A {@link ToolVersionCache} passed in code (a config file cannot name one). */
export const toolVersionCacheSchema = z.custom<ToolVersionCache>(
  (v) =>
    typeof v === 'object' &&
    v !== null &&
    typeof (v as ToolVersionCache).lookup === 'function' &&
    typeof (v as ToolVersionCache).remember === 'function',
  'must be a ToolVersionCache (lookup and remember), passed in code',
);

/** `kind` of PostgreSQL sources and targets, and the manifest entries they write: the config `type:` name. */
export const POSTGRES_KIND = 'postgres';

/** What {@link PostgresSource} uses for the options it is not given. */
export const POSTGRES_SOURCE_DEFAULTS = {
  name: 'postgres',
  executor: 'local',
  binDirs: [],
  format: 'sql',
  counts: 'all',
  excludeDatabases: [],
  globals: true,
  rolePasswords: true,
  concurrency: 1,
} as const;

/** What {@link PostgresTarget} uses for the options it is not given (`jobs` defaults to the cores, at most 4). */
export const POSTGRES_TARGET_DEFAULTS = {
  name: 'postgres',
  maintenanceDatabase: 'postgres',
  scratch: false,
  keepSafetyCopy: false,
  globals: true,
} as const;

/** Which databases the all-databases mode dumps: every one, or these. */
export type PgDatabaseSelection = 'all' | readonly string[];

/**
 * Options of {@link PostgresSource}.
 */
export interface PostgresSourceOptions {
  /** Name in the plan and the manifest. @default 'postgres' */
  readonly name?: string;
  /**
   * The server. Its `database` is the database dumped, or, with `databases`, the one the source
   * connects to in order to list databases and run pg_dumpall (usually `postgres`).
   */
  readonly connection: PgConnectionOptions;
  /**
   * Dump several databases instead of the connection's one: `'all'` (every database that
   * accepts connections, except templates and an empty `postgres`) or a list of names. Each is
   * dumped in its own snapshot into `databases/<db>.<ext>`, next to `globals.sql` from
   * `pg_dumpall --globals-only`. Not with `fileName`; `counts` must be `'all'` or `'none'`.
   */
  readonly databases?: PgDatabaseSelection;
  /** With `databases: 'all'`: names (globs with `*` and `?`) to leave out. */
  readonly excludeDatabases?: readonly string[];
  /** With `databases`: also dump roles and tablespaces (`pg_dumpall --globals-only`). @default true */
  readonly globals?: boolean;
  /**
   * With `globals`: include role password hashes. `false` runs `--no-role-passwords`, which
   * also works for a non-superuser (managed servers). @default true
   */
  readonly rolePasswords?: boolean;
  /** With `databases`: how many databases are dumped at once. @default 1 */
  readonly concurrency?: number;
  /** Where pg_dump runs. @default 'local' */
  readonly executor?: PgExecutorOptions;
  /**
   * `sql` (plain, best for Duplicati's deduplication), `sql.gz` (gzip on all cores, a
   * multi-member stream `gunzip` reads) or `custom` (`pg_dump -Fc`, restored with
   * `pg_restore --jobs`). @default 'sql'
   */
  readonly format?: PgDumpFormat;
  /** Tables whose rows are counted into the manifest. @default 'all' */
  readonly counts?: PgCountSelection;
  /**
   * Parallel gzip tuning for `sql.gz`: level 1 over a 4 KiB window unless given (1.01–1.03× the size
   * of `gzip -6` for a fifth to a third of its CPU); a level given here gets gzip's own 32 KiB window.
   */
  readonly gzip?: ParallelGzipOptions;
  /** Folders searched first for pg_dump/psql (local executor). */
  readonly binDirs?: readonly string[];
  /** `--version` outputs remembered between runs (code only; the CLI passes its own). */
  readonly toolVersions?: ToolVersionCache;
  /**
   * Extra pg_dump options that choose what is dumped, e.g. `['--exclude-table-data=audit_log']`:
   * table and schema filters, `--no-owner`, `--no-privileges` and similar (see docs/engines.md).
   * Options that change where or how the dump is written (file, format, compression, encoding,
   * connection) are refused, and so are abbreviated long options.
   */
  readonly pgDumpArgs?: readonly string[];
  /** Base name of the dump file (extension added). @default the database name */
  readonly fileName?: string;
}

/** A database name the all-databases mode may dump. */
export const databaseNameSchema = z
  .string()
  .min(1)
  .max(63)
  .refine((n) => n !== 'template0' && n !== 'template1', 'template databases are not dumped');

/** The zod schema of {@link PostgresSourceOptions}. */
export const postgresSourceSchema = z
  .object({
    name: safeNameSchema.optional(),
    connection: pgConnectionSchema,
    databases: z
      .union([
        z.literal('all'),
        z
          .array(databaseNameSchema)
          .min(1)
          .refine((a) => new Set(a).size === a.length, 'names a database twice'),
      ])
      .optional(),
    excludeDatabases: z.array(z.string().min(1)).optional(),
    globals: z.boolean().optional(),
    rolePasswords: z.boolean().optional(),
    concurrency: z.number().int().min(1).max(16).optional(),
    executor: pgExecutorSchema.optional(),
    format: z.enum(['sql', 'sql.gz', 'custom']).optional(),
    counts: z.union([z.literal('all'), z.literal('none'), z.array(z.string().min(1))]).optional(),
    gzip: z
      .object({
        level: z.number().int().min(1).max(9).optional(),
        blockSize: z
          .number()
          .int()
          .min(64 * 1024)
          .max(64 << 20)
          .optional(),
        inFlight: z.number().int().min(1).max(64).optional(),
      })
      .strict()
      .optional(),
    binDirs: z.array(z.string().min(1)).optional(),
    toolVersions: toolVersionCacheSchema.optional(),
    pgDumpArgs: z
      .array(z.string())
      .superRefine((a, ctx) => {
        try {
          parsePgDumpArgs(a);
        } catch (e) {
          ctx.addIssue({ code: 'custom', message: (e as Error).message });
        }
      })
      .optional(),
    fileName: safeNameSchema.optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    const needs = (key: string, what: string): void =>
      ctx.addIssue({ code: 'custom', path: [key], message: `only with ${what}` });
    if (o.databases === undefined) {
      for (const key of ['globals', 'rolePasswords', 'concurrency', 'excludeDatabases'] as const) {
        if (o[key] !== undefined) needs(key, 'databases');
      }
      return;
    }
    if (o.excludeDatabases !== undefined && o.databases !== 'all') needs('excludeDatabases', "databases: 'all'");
    if (o.fileName !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['fileName'], message: 'not with databases (one file per database)' });
    }
    if (Array.isArray(o.counts)) {
      ctx.addIssue({ code: 'custom', path: ['counts'], message: "with databases, give 'all' or 'none'" });
    }
  });

/** What a {@link PostgresDumpHooks} callback learns about the dump in progress. */
export interface PgDumpInfo {
  readonly database: string;
  readonly server: PgServerInfo;
  readonly pgDump: FoundPgTool;
  readonly format: PgDumpFormat;
  readonly startedAt: Date;
}

/**
 * Extension points for app-specific sources built on {@link PostgresSource} (Immich uses them).
 * Every callback runs inside the dump's snapshot.
 */
export interface PostgresDumpHooks {
  /**
   * Metadata read first in the dump's snapshot, while pg_dump starts (e.g. the app version, needed
   * for the file name). When it throws, the dump is stopped and the error is the source's.
   */
  before?(session: SqlSession, info: PgDumpInfo): Promise<Record<string, JsonValue>>;
  /**
   * The artifact's file name, from what `before` read. The dump is written under the default name
   * (`<source>.<ext>.partial`) until it is committed under this one.
   */
  artifactName?(info: PgDumpInfo, before: Readonly<Record<string, JsonValue>>): string;
  /**
   * Metadata read while pg_dump runs (e.g. app-specific counts). The source's snapshot
   * transaction, and its connection, end once this has returned and pg_dump has written its
   * first bytes (pg_dump holds the snapshot in its own transaction by then).
   */
  during?(session: SqlSession, info: PgDumpInfo): Promise<Record<string, JsonValue>>;
}

/** Options of {@link PostgresTarget}. */
export interface PostgresTargetOptions {
  /** Name in the restore plan. @default 'postgres' */
  readonly name?: string;
  /** Server to restore into; its `database` is the live database unless `database` is given. */
  readonly connection: PgConnectionOptions;
  /** The live database to replace. @default the connection's database */
  readonly database?: string;
  /** Database used for CREATE/RENAME/DROP. @default 'postgres' */
  readonly maintenanceDatabase?: string;
  /** Only restore into a throwaway database, check it, drop it; never touch the live one. */
  readonly scratch?: boolean;
  /** Keep `<db>_before_restore_<timestamp>` after `finalize` instead of dropping it. @default false */
  readonly keepSafetyCopy?: boolean;
  /** Only accept manifest entries with this source name. @default any entry of the right kind */
  readonly source?: string;
  readonly executor?: PgExecutorOptions;
  readonly binDirs?: readonly string[];
  /** `--version` outputs remembered between runs (code only; the CLI passes its own). */
  readonly toolVersions?: ToolVersionCache;
  /** pg_restore `--jobs` for custom-format dumps (local executor). @default the cores, at most 4 */
  readonly jobs?: number;
  /**
   * All-databases entries: restore only these databases. With it, the target accepts only
   * all-databases entries. @default every database of the entry
   */
  readonly only?: readonly string[];
  /**
   * All-databases entries: run the backup's globals first (create missing roles and
   * tablespaces; existing ones are never altered or dropped). @default true
   */
  readonly globals?: boolean;
}

/** The zod schema of {@link PostgresTargetOptions}. */
export const postgresTargetSchema = z
  .object({
    name: z.string().min(1).optional(),
    connection: pgConnectionSchema,
    database: z.string().min(1).max(63).optional(),
    maintenanceDatabase: z.string().min(1).optional(),
    scratch: z.boolean().optional(),
    keepSafetyCopy: z.boolean().optional(),
    source: z.string().min(1).optional(),
    executor: pgExecutorSchema.optional(),
    binDirs: z.array(z.string().min(1)).optional(),
    toolVersions: toolVersionCacheSchema.optional(),
    jobs: z.number().int().min(1).max(64).optional(),
    only: z.array(z.string().min(1).max(63)).min(1).optional(),
    globals: z.boolean().optional(),
  })
  .strict();
