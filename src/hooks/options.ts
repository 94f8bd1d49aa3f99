/**
 * The option dictionary a hook receives as `DUPLICATI__<option>` variables.
 *
 * @module
 */
import { inspect } from 'node:util';
import { isSecretKey, REDACTED, redactUrl } from '../core/redact.js';
import { HookEnvError } from './errors.js';
import { ENV_PREFIX, parseDuplicatiBool, parseDuplicatiSize, parseDuplicatiTimespan } from './protocol.js';

export { ENV_PREFIX };

/**
 * Variables Duplicati sets for the script itself (not options). They are upper case, unlike
 * option variables, which keep the lower-case option name.
 */
export const RESERVED_VARIABLES: readonly string[] = Object.freeze([
  'EVENTNAME',
  'OPERATIONNAME',
  'REMOTEURL',
  'LOCALPATH',
  'PARSED_RESULT',
  'RESULTFILE',
]);

/**
 * The option name behind a variable: `DUPLICATI__dblock_size` → `dblock-size`. Duplicati writes
 * each option as `DUPLICATI__` + the name with every `-` replaced by `_`; option names never
 * contain `_`, so the mapping reverses exactly.
 *
 * @example
 * ```ts
 * optionNameFromVariable('DUPLICATI__run_script_timeout'); // 'run-script-timeout'
 * ```
 */
export function optionNameFromVariable(variable: string): string {
  return variable.slice(ENV_PREFIX.length).replace(/_/g, '-').toLowerCase();
}

/**
 * The variable Duplicati sets for an option: `dblock-size` → `DUPLICATI__dblock_size`.
 *
 * @example
 * ```ts
 * variableFromOptionName('backup-id'); // 'DUPLICATI__backup_id'
 * ```
 */
export function variableFromOptionName(name: string): string {
  return `${ENV_PREFIX}${name.replace(/-/g, '_')}`;
}

/** A filter entry of the `filter` option: `+pattern` includes, `-pattern` excludes. */
export interface DuplicatiFilter {
  readonly include: boolean;
  readonly pattern: string;
}

/**
 * The job's options, read-only. Names are Duplicati option names (`dblock-size`,
 * `run-script-timeout`); values are the raw strings. Typed readers follow Duplicati's own
 * parsing. `toJSON` and `util.inspect` mask secret options (passphrase, passwords, tokens) and
 * credentials inside URLs; `get` returns the real value.
 *
 * @example
 * ```ts
 * const env = readDuplicatiEnv(process.env);
 * env.options.size('dblock-size');            // 52428800, or undefined when unset
 * env.options.bool('disable-autocreate-folder');
 * env.options.timespanMs('run-script-timeout');
 * ```
 */
export class DuplicatiOptions {
  readonly #values: ReadonlyMap<string, string>;

  /** Build from option names (dash form) to raw values. */
  constructor(entries: Iterable<readonly [string, string]>) {
    this.#values = new Map(entries);
    Object.freeze(this);
  }

  /**
   * Collect every `DUPLICATI__<option>` variable of `env` (the script's own variables such as
   * `DUPLICATI__EVENTNAME` are left out).
   */
  static fromEnv(env: Readonly<Record<string, string | undefined>>): DuplicatiOptions {
    const entries: [string, string][] = [];
    for (const [key, value] of Object.entries(env)) {
      if (!key.startsWith(ENV_PREFIX) || value === undefined) continue;
      const rest = key.slice(ENV_PREFIX.length);
      if (rest === '' || RESERVED_VARIABLES.includes(rest)) continue;
      entries.push([optionNameFromVariable(key), value]);
    }
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return new DuplicatiOptions(entries);
  }

  /** Number of options. */
  get size(): number {
    return this.#values.size;
  }

  /** True when the option is set (even to an empty value, as a bare `--flag` is). */
  has(name: string): boolean {
    return this.#values.has(name);
  }

  /** The raw value, or `undefined` when the option is not set. */
  get(name: string): string | undefined {
    return this.#values.get(name);
  }

  /** Option names, sorted. */
  names(): string[] {
    return [...this.#values.keys()];
  }

  /** `[name, raw value]` pairs, sorted by name. These carry secrets: do not log them. */
  entries(): [string, string][] {
    return [...this.#values.entries()];
  }

  /**
   * Read a boolean the way Duplicati does: unset is `fallback` (default false); set with an
   * empty or unrecognised value is true; `false/0/off/no` is false.
   */
  bool(name: string, fallback = false): boolean {
    const v = this.#values.get(name);
    return v === undefined ? fallback : parseDuplicatiBool(v, true);
  }

  /**
   * Read a size (`25mb`, `1GB`) in bytes; `undefined` when unset.
   * @throws HookEnvError when the value is not a Duplicati size.
   */
  sizeBytes(name: string, defaultUnit = 'b'): number | undefined {
    const v = this.#values.get(name);
    if (v === undefined) return undefined;
    const n = parseDuplicatiSize(v, defaultUnit);
    if (n === undefined) throw this.#bad(name, v, 'a size such as 25mb');
    return n;
  }

  /**
   * Read a timespan (`60s`, `1h12m03s`) in milliseconds; `undefined` when unset.
   * @throws HookEnvError when the value is not a Duplicati timespan.
   */
  timespanMs(name: string): number | undefined {
    const v = this.#values.get(name);
    if (v === undefined) return undefined;
    const n = parseDuplicatiTimespan(v);
    if (n === undefined) throw this.#bad(name, v, 'a timespan such as 60s, 5m or 1h30m');
    return n;
  }

  /** The options as a plain object with secrets masked, safe to log. */
  toJSON(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of this.#values) out[k] = maskOption(k, v);
    return out;
  }

  [inspect.custom](): string {
    return `DuplicatiOptions ${inspect(this.toJSON())}`;
  }

  #bad(name: string, value: string, expected: string): HookEnvError {
    const shown = isSecretKey(name) ? REDACTED : JSON.stringify(value);
    return new HookEnvError(
      `${variableFromOptionName(name)} is ${shown}, expected ${expected}`,
      variableFromOptionName(name),
    );
  }
}

/** The value of one option as it may be shown in a log. */
export function maskOption(name: string, value: string): string {
  if (isSecretKey(name)) return value === '' ? '' : REDACTED;
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? redactUrl(value) : value;
}

/**
 * Split the `filter` option (`+*.txt:-[.*\.tmp]`, joined with the OS path separator) into
 * entries. An entry without a leading `+` or `-` is an include, as Duplicati treats it.
 *
 * @example
 * ```ts
 * parseFilterOption('+*.jpg:-*.tmp', ':'); // [{ include: true, pattern: '*.jpg' }, { include: false, pattern: '*.tmp' }]
 * ```
 */
export function parseFilterOption(value: string | undefined, separator: string): DuplicatiFilter[] {
  if (!value) return [];
  return value
    .split(separator)
    .filter((p) => p !== '')
    .map((p) =>
      p.startsWith('-')
        ? { include: false, pattern: p.slice(1) }
        : { include: true, pattern: p.startsWith('+') ? p.slice(1) : p },
    );
}
