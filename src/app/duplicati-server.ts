/**
 * Where the Duplicati server is and how to log in, for every command that talks to it: one
 * resolver over the command line, the environment and the config's `duplicati:` section, so a
 * systemd unit started with a clean environment (`env -i`) finds the server through its
 * `--config` alone.
 *
 * Precedence, field by field (the first that is set wins):
 *
 * | what | 1. command line | 2. environment | 3. config `duplicati:` |
 * |---|---|---|---|
 * | server | `--url` | `DUPLICATI_URL` | `url` |
 * | login | `--password-file` | `DUPLICATI_PREAUTH_TOKEN`, `DUPLICATI_TOKEN`, `DUPLICATI_PASSWORD_FILE`, `DUPLICATI_PASSWORD` | `passwordFile`, then the variable `passwordEnv` names |
 *
 * Without any, the URL is `http://127.0.0.1:8200` and the login is a {@link ConfigError}.
 *
 * @module
 */
import path from 'node:path';
import { ConfigError } from '../core/errors.js';
import { optionsFromEnv, type DuplicatiClientOptions } from '../duplicati/options.js';
import type { DuplicatiServerConfig } from './config.js';

/** What {@link resolveDuplicatiServer} reads. */
export interface DuplicatiServerInputs {
  /** The environment (passed explicitly; the library never reads `process.env`). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The config's `duplicati:` section, if any. */
  readonly config?: DuplicatiServerConfig | undefined;
  /** The config file: a relative `passwordFile` is read relative to its folder. */
  readonly configFile?: string | undefined;
  /** `--url`. */
  readonly url?: string | undefined;
  /** `--password-file`, already absolute. */
  readonly passwordFile?: string | undefined;
}

const ENV_LOGIN = ['DUPLICATI_PREAUTH_TOKEN', 'DUPLICATI_TOKEN', 'DUPLICATI_PASSWORD_FILE', 'DUPLICATI_PASSWORD'];

/**
 * Client options (URL and login) from the command line, the environment and the config, in that
 * order. Other `DUPLICATI_*` variables (`DUPLICATI_GENERATION`, `DUPLICATI_TIMEOUT_MS`) still apply.
 *
 * @throws {ConfigError} when no login is given anywhere; it names every place one may be given.
 * @example
 * ```ts
 * const options = resolveDuplicatiServer({ env: process.env, config: cfg.config.duplicati, configFile: cfg.file });
 * const dup = new DuplicatiClient({ ...options, logger });
 * ```
 */
export function resolveDuplicatiServer(inputs: DuplicatiServerInputs): DuplicatiClientOptions {
  const { env, config, configFile } = inputs;
  const url = inputs.url || env.DUPLICATI_URL || config?.url;
  const base = { ...env, DUPLICATI_URL: url ?? '' };
  if (inputs.passwordFile) {
    return optionsFromEnv(base, { auth: { type: 'password', passwordFile: inputs.passwordFile } });
  }
  if (ENV_LOGIN.some((k) => env[k])) return optionsFromEnv(base);
  if (config?.passwordFile) {
    const file = path.resolve(configFile ? path.dirname(configFile) : '.', config.passwordFile);
    return optionsFromEnv(base, { auth: { type: 'password', passwordFile: file } });
  }
  const fromVar = config ? env[config.passwordEnv ?? 'DUPLICATI_PASSWORD'] : undefined;
  if (fromVar) return optionsFromEnv(base, { auth: { type: 'password', password: fromVar } });
  throw new ConfigError(
    'no Duplicati login: nothing in the command line, the environment or the config',
    [
      { path: '--password-file', message: 'a file holding the Duplicati UI password' },
      { path: 'DUPLICATI_PASSWORD_FILE', message: `or one of ${ENV_LOGIN.join(', ')} in the environment` },
      {
        path: 'duplicati.passwordFile',
        message: config
          ? `or passwordFile in the config's duplicati section${config.passwordEnv ? ` (${config.passwordEnv} is not set)` : ''}`
          : 'or a duplicati: { url, passwordFile } section in the config',
      },
    ],
    { code: 'ERR_DUPLICATI_NO_CREDENTIALS' },
  );
}
