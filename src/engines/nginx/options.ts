/**
 * The options of the Nginx engine: its kind id, the zod schemas and types of `NginxSource` and
 * `NginxTarget`, and their defaults.
 *
 * @module
 */
import path from 'node:path';
import { z } from 'zod';

/** `kind` of nginx sources and targets, and the manifest entries they write: the config `type:` name. */
export const NGINX_KIND = 'nginx';

/** Certificates expiring within this many days raise a warning. */
export const EXPIRY_WARNING_DAYS = 14;

/** What `NginxSource` uses for the options it is not given. */
export const NGINX_SOURCE_DEFAULTS = {
  name: 'nginx',
  configDir: '/etc/nginx',
  letsencryptDir: '/etc/letsencrypt',
} as const;

/** What `NginxTarget` uses for the options it is not given. */
export const NGINX_TARGET_DEFAULTS = {
  name: 'nginx',
} as const;

/** Options of `NginxSource`. */
export interface NginxSourceOptions {
  /** Name in the plan and the manifest. @default 'nginx' */
  readonly name?: string;
  /** The nginx configuration folder (holding `nginx.conf`). @default '/etc/nginx' */
  readonly configDir?: string;
  /**
   * The certbot folder, or `false` for none. The default is skipped when it does not exist; a
   * folder given explicitly must exist. @default '/etc/letsencrypt'
   */
  readonly letsencryptDir?: string | false;
  /** Certificate files outside both trees (absolute paths), archived and listed too. */
  readonly extraCertFiles?: readonly string[];
  /** A config that fails `nginx -t` is a warning (`warn`) or fails the backup (`fail`). @default 'warn' */
  readonly onInvalidConfig?: 'warn' | 'fail';
  /** The nginx binary. @default the first of `nginx`, `/usr/sbin/nginx`, … that runs */
  readonly nginxBinary?: string;
}

const absolute = z.string().refine((p) => path.isAbsolute(p), { message: 'must be an absolute path' });

/** The zod schema of {@link NginxSourceOptions}. */
export const nginxSourceSchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'must be a simple name (letters, digits, . _ -)')
      .optional(),
    configDir: z.string().min(1).optional(),
    letsencryptDir: z.union([z.string().min(1), z.literal(false)]).optional(),
    extraCertFiles: z.array(absolute).optional(),
    onInvalidConfig: z.enum(['warn', 'fail']).optional(),
    nginxBinary: z.string().min(1).optional(),
  })
  .strict();

/** Options of `NginxTarget`. */
export interface NginxTargetOptions {
  /** Name in the restore plan. @default 'nginx' */
  readonly name?: string;
  /** Only accept the manifest entry of this source name. @default any `nginx` entry */
  readonly source?: string;
  /** Where the configuration goes. */
  readonly configDir: string;
  /** Where the certbot folder goes; required when the backup holds one. */
  readonly letsencryptDir?: string;
  /** Where the extra certificate files go (under their full paths); skipped with a warning when absent. */
  readonly extraCertsDir?: string;
  /** Replace existing folders (kept as safety copies until `finalize`). @default false */
  readonly overwrite?: boolean;
  /** Keep the safety copies after `finalize`. @default false */
  readonly keepSafetyCopy?: boolean;
  /** Run `nginx -t` on the restored config before reporting success. @default true */
  readonly testConfig?: boolean;
  /** The nginx binary. @default the first of `nginx`, `/usr/sbin/nginx`, … that runs */
  readonly nginxBinary?: string;
}

/** The zod schema of {@link NginxTargetOptions}. */
export const nginxTargetSchema = z
  .object({
    name: z.string().min(1).optional(),
    source: z.string().min(1).optional(),
    configDir: z.string().min(1),
    letsencryptDir: z.string().min(1).optional(),
    extraCertsDir: z.string().min(1).optional(),
    overwrite: z.boolean().optional(),
    keepSafetyCopy: z.boolean().optional(),
    testConfig: z.boolean().optional(),
    nginxBinary: z.string().min(1).optional(),
  })
  .strict();
