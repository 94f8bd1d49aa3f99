/**
 * The options of the MySQL/MariaDB engine: its kind id, the zod schemas and types of `MysqlSource`
 * and `MysqlTarget`, and their defaults.
 *
 * @module
 */
import { z } from 'zod';
import { type MysqlConnectionOptions, mysqlConnectionSchema, mysqlIdentSchema } from './client.js';

/** `kind` of MySQL sources and targets, and the manifest entries they write: the config `type:` name. */
export const MYSQL_KIND = 'mysql';

/** What `MysqlSource` uses for the options it is not given. */
export const MYSQL_SOURCE_DEFAULTS = {
  name: 'mysql',
  format: 'sql',
  counts: 'all',
} as const;

/** What `MysqlTarget` uses for the options it is not given. */
export const MYSQL_TARGET_DEFAULTS = {
  name: 'mysql',
} as const;

/** Options of `MysqlSource`. */
export interface MysqlSourceOptions {
  /** Name in the plan and the manifest. @default 'mysql' */
  readonly name?: string;
  /** Server, credentials and which databases (`database`, `databases` or `databases: 'all'`). */
  readonly connection: MysqlConnectionOptions;
  /**
   * Tables whose rows are counted into the manifest (`table` or `db.table`). @default 'all'
   */
  readonly counts?: 'all' | 'none' | readonly string[];
  /** `sql` (best for Duplicati's deduplication) or `sql.gz`. @default 'sql' */
  readonly format?: 'sql' | 'sql.gz';
}

/** The zod schema of {@link MysqlSourceOptions}. */
export const mysqlSourceSchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'must be a simple name (letters, digits, . _ -)')
      .optional(),
    connection: mysqlConnectionSchema.refine((c) => (c.database === undefined) !== (c.databases === undefined), {
      message: 'give exactly one of database or databases',
      path: ['database'],
    }),
    counts: z.union([z.literal('all'), z.literal('none'), z.array(z.string().min(1))]).optional(),
    format: z.enum(['sql', 'sql.gz']).optional(),
  })
  .strict();

/** Options of `MysqlTarget`. */
export interface MysqlTargetOptions {
  /** Name in the restore plan. @default 'mysql' */
  readonly name?: string;
  /**
   * Server and credentials. Its `database`, when given, is the database restored into, as if
   * given as the target's `database` (the two must not disagree); `databases` is refused, since
   * the target restores every database of the entry under its own name.
   */
  readonly connection: MysqlConnectionOptions;
  /**
   * Restore the entry's only database under this name (an entry with several databases is then
   * refused). @default `connection.database`, else the dumped database's name
   */
  readonly database?: string;
  /** Only load into throwaway databases, compare, drop them; never touch live ones. */
  readonly scratch?: boolean;
  /** Keep `<db>_before_restore_<timestamp>` after `finalize`. @default false */
  readonly keepSafetyCopy?: boolean;
  /** Only accept the manifest entry of this source name. @default any `mysql` entry */
  readonly source?: string;
}

/** The zod schema of {@link MysqlTargetOptions}. */
export const mysqlTargetSchema = z
  .object({
    name: z.string().min(1).optional(),
    connection: mysqlConnectionSchema,
    database: mysqlIdentSchema.optional(),
    scratch: z.boolean().optional(),
    keepSafetyCopy: z.boolean().optional(),
    source: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (o.connection.databases !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['connection', 'databases'],
        message:
          "is not used by MysqlTarget: it restores every database of the entry under its own name; to restore one database under another name give 'database'",
      });
    }
    if (o.database !== undefined && o.connection.database !== undefined && o.database !== o.connection.database) {
      ctx.addIssue({
        code: 'custom',
        path: ['connection', 'database'],
        message: `names "${o.connection.database}" but database names "${o.database}": give the database to restore into once`,
      });
    }
  });
