/**
 * The options of the MongoDB engine: its kind id, the zod schemas and types of `MongoSource` and
 * `MongoTarget`, and their defaults.
 *
 * @module
 */
import { z } from 'zod';
import { mongoDatabaseSchema, mongoUriFields, withExactlyOneMongoUri } from './tools.js';

/** `kind` of MongoDB sources and targets, and the manifest entries they write: the config `type:` name. */
export const MONGO_KIND = 'mongodb';

/** What `MongoSource` uses for the options it is not given. */
export const MONGO_SOURCE_DEFAULTS = {
  name: 'mongodb',
  mongodumpBinary: 'mongodump',
} as const;

/** What `MongoTarget` uses for the options it is not given. */
export const MONGO_TARGET_DEFAULTS = {
  name: 'mongodb',
  mongorestoreBinary: 'mongorestore',
  mongodumpBinary: 'mongodump',
  mongoshBinary: 'mongosh',
} as const;

/** Options of `MongoSource`. */
export interface MongoSourceOptions {
  /** Name in the plan and the manifest. @default 'mongodb' */
  readonly name?: string;
  /** Connection string (may hold credentials: it reaches mongodump through a 0600 config file). */
  readonly uri?: string;
  /** A file whose first line is the connection string. */
  readonly uriFile?: string;
  /** Only this database. @default every database */
  readonly database?: string;
  /** `mongodump --gzip`. @default false */
  readonly gzip?: boolean;
  /** The mongodump binary. @default 'mongodump' */
  readonly mongodumpBinary?: string;
}

/** The zod schema of {@link MongoSourceOptions}. */
export const mongoSourceSchema = withExactlyOneMongoUri(
  z
    .object({
      name: z
        .string()
        .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'must be a simple name (letters, digits, . _ -)')
        .optional(),
      ...mongoUriFields,
      database: mongoDatabaseSchema.optional(),
      gzip: z.boolean().optional(),
      mongodumpBinary: z.string().min(1).optional(),
    })
    .strict(),
);

/** Options of `MongoTarget`. */
export interface MongoTargetOptions {
  /** Name in the restore plan. @default 'mongodb' */
  readonly name?: string;
  /** Connection string (may hold credentials: it reaches the tools through a 0600 config file). */
  readonly uri?: string;
  /** A file whose first line is the connection string. */
  readonly uriFile?: string;
  /**
   * Only restore into `<db>_scratch_<timestamp>` databases, count their documents and drop them;
   * never touch the live databases (restore drills).
   */
  readonly scratch?: boolean;
  /** Keep the safety archive after `finalize`. @default false */
  readonly keepSafetyCopy?: boolean;
  /**
   * Where the safety archive goes when the restore keeps no restore record (a plain restore plan;
   * the checklist restore and the CLI put it in the restore state folder). Without either it goes
   * into the run's work folder, and is lost when that folder is removed. Must not be inside the
   * folder restored from or the work folder.
   */
  readonly safetyDir?: string;
  /** Only accept the manifest entry of this source name. @default any `mongodb` entry */
  readonly source?: string;
  /** @default 'mongorestore' */
  readonly mongorestoreBinary?: string;
  /** Takes the safety copy. @default 'mongodump' */
  readonly mongodumpBinary?: string;
  /** Counts and drops scratch databases when installed. @default 'mongosh' */
  readonly mongoshBinary?: string;
}

/** The zod schema of {@link MongoTargetOptions}. */
export const mongoTargetSchema = withExactlyOneMongoUri(
  z
    .object({
      name: z.string().min(1).optional(),
      ...mongoUriFields,
      scratch: z.boolean().optional(),
      keepSafetyCopy: z.boolean().optional(),
      safetyDir: z.string().min(1).optional(),
      source: z.string().min(1).optional(),
      mongorestoreBinary: z.string().min(1).optional(),
      mongodumpBinary: z.string().min(1).optional(),
      mongoshBinary: z.string().min(1).optional(),
    })
    .strict(),
);
