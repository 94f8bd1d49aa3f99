/**
 * Reading an Immich installation's own `.env` (the one next to its docker-compose.yml): database
 * connection (`DB_URL` or `DB_HOSTNAME`/`DB_PORT`/`DB_USERNAME`/`DB_PASSWORD`/`DB_DATABASE_NAME`,
 * each also as a `_FILE` secret) and `UPLOAD_LOCATION`.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { throwIfAborted } from '../../core/abort.js';
import { ConfigError } from '../../core/errors.js';
import type { PgConnectionOptions } from '../../engines/postgres/index.js';

/**
 * Parse dotenv text the way docker compose reads `.env`: `KEY=value`, optional `export `,
 * `#` comments, single quotes (literal) and double quotes (with `\n`, `\"`, `\\` escapes), and
 * ` #` starting a comment after an unquoted value. No variable interpolation.
 *
 * @example
 * ```ts
 * parseDotenv('DB_PASSWORD="p w" # note\nUPLOAD_LOCATION=./library'); // { DB_PASSWORD: 'p w', UPLOAD_LOCATION: './library' }
 * ```
 */
export function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    const key = m[1] as string;
    let value = m[2] as string;
    if (value.startsWith("'")) {
      const end = value.indexOf("'", 1);
      value = end > 0 ? value.slice(1, end) : value.slice(1);
    } else if (value.startsWith('"')) {
      let v = '';
      let i = 1;
      for (; i < value.length && value[i] !== '"'; i++) {
        const c = value[i] as string;
        if (c === '\\' && i + 1 < value.length) {
          const n = value[++i] as string;
          v += n === 'n' ? '\n' : n === 't' ? '\t' : n;
        } else v += c;
      }
      value = v;
    } else {
      value = value.replace(/\s+#.*$/, '').trim();
    }
    out[key] = value;
  }
  return out;
}

/** What {@link fromImmichEnv} found. */
export interface ImmichEnvConfig {
  /** The database connection (a `passwordFile` when the password is a `_FILE` secret). */
  readonly connection: PgConnectionOptions;
  /** Absolute UPLOAD_LOCATION on the host (relative values resolve against the `.env` folder). */
  readonly uploadLocation: string | undefined;
  /** Absolute DB_DATA_LOCATION, if set. */
  readonly dbDataLocation: string | undefined;
  /** IMMICH_VERSION (e.g. `v2.5.6` or `release`), if set. */
  readonly immichVersion: string | undefined;
}

/**
 * Read an Immich `.env` file. Defaults follow Immich's documentation (`postgres`/`postgres`,
 * database `immich`, host `database` — the compose service, reachable only inside the compose
 * network, which is why the Immich sources default to running the tools through `docker exec`).
 *
 * @example
 * ```ts
 * const env = await fromImmichEnv('/opt/immich/.env');
 * const db = new ImmichDatabaseSource({ connection: env.connection });
 * const files = new ImmichLibrarySource({ uploadLocation: env.uploadLocation ?? '/opt/immich/library' });
 * ```
 */
export async function fromImmichEnv(file: string, options: { signal?: AbortSignal } = {}): Promise<ImmichEnvConfig> {
  throwIfAborted(options.signal);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read the Immich .env file ${file}`, [
      { path: 'env', message: (e as NodeJS.ErrnoException).code ?? 'unreadable' },
    ]);
  }
  const env = parseDotenv(text);
  const dir = path.dirname(path.resolve(file));
  const abs = (p: string | undefined): string | undefined => (p ? path.resolve(dir, p) : undefined);
  const read = async (name: string): Promise<string | undefined> => {
    const direct = env[name];
    const secretFile = env[`${name}_FILE`];
    if (direct !== undefined && direct !== '') return direct;
    if (!secretFile) return undefined;
    try {
      return (await fsp.readFile(path.resolve(dir, secretFile), 'utf8')).replace(/\r?\n$/, '');
    } catch (e) {
      throw new ConfigError(`cannot read ${name}_FILE from ${file}`, [
        { path: `${name}_FILE`, message: (e as NodeJS.ErrnoException).code ?? 'unreadable' },
      ]);
    }
  };
  const url = await read('DB_URL');
  let connection: PgConnectionOptions;
  if (url) connection = { url };
  else {
    const passwordFile = env.DB_PASSWORD ? undefined : env.DB_PASSWORD_FILE;
    const port = Number((await read('DB_PORT')) ?? 5432);
    connection = {
      host: (await read('DB_HOSTNAME')) ?? 'database',
      port: Number.isInteger(port) && port > 0 ? port : 5432,
      user: (await read('DB_USERNAME')) ?? 'postgres',
      database: (await read('DB_DATABASE_NAME')) ?? 'immich',
      ...(passwordFile
        ? { passwordFile: path.resolve(dir, passwordFile) }
        : { password: env.DB_PASSWORD !== undefined ? env.DB_PASSWORD : 'postgres' }),
    };
  }
  return {
    connection,
    uploadLocation: abs(env.UPLOAD_LOCATION),
    dbDataLocation: abs(env.DB_DATA_LOCATION),
    immichVersion: env.IMMICH_VERSION || undefined,
  };
}
