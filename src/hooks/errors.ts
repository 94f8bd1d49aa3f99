/**
 * Errors of the Duplicati hook runtime.
 *
 * @module
 */
import { DuplicatiKitError, type ErrorOptions, isDuplicatiKitError } from '../core/errors.js';

// The base class records the class chain under this registered symbol; checking it (not
// `instanceof`) keeps the guards working across two installed copies of the package.
const BRAND = Symbol.for('duplicati-kit/error');

function hasBrand(e: unknown, name: string): boolean {
  if (!isDuplicatiKitError(e)) return false;
  const chain = (e as unknown as Record<symbol, unknown>)[BRAND];
  return Array.isArray(chain) && chain.includes(name);
}

/**
 * The `DUPLICATI__*` environment a hook received is missing a variable or holds a value the
 * runtime cannot interpret (an unknown event, a bad timespan, an unreadable result file).
 * `variable` names the environment variable at fault; values of secret options never appear.
 *
 * @example
 * ```ts
 * try { readDuplicatiEnv({}); } catch (e) {
 *   if (isHookEnvError(e)) console.error(e.variable); // 'DUPLICATI__EVENTNAME'
 * }
 * ```
 */
export class HookEnvError extends DuplicatiKitError {
  static override readonly errorName: string = 'HookEnvError';
  static override readonly defaultCode: string = 'ERR_HOOK_ENV';
  /** The environment variable at fault, e.g. `DUPLICATI__EVENTNAME`. */
  readonly variable: string;
  constructor(message: string, variable: string, options: ErrorOptions = {}) {
    super(message, options);
    this.variable = variable;
  }
}

/**
 * True when `e` is a {@link HookEnvError}, from this copy of the package or another.
 *
 * @example
 * ```ts
 * if (isHookEnvError(e)) process.exitCode = 5;
 * ```
 */
export function isHookEnvError(e: unknown): e is HookEnvError {
  return hasBrand(e, 'HookEnvError');
}

/**
 * A hook tried something the Duplicati script protocol cannot carry: an option line with a line
 * break in its value, an option name Duplicati ignores, or option lines outside a `BEFORE` event.
 * It is a programming error in the hook, reported instead of silently losing the line.
 *
 * @example
 * ```ts
 * output.option('dblock-size', 'a\nb'); // throws HookProtocolError
 * ```
 */
export class HookProtocolError extends DuplicatiKitError {
  static override readonly errorName: string = 'HookProtocolError';
  static override readonly defaultCode: string = 'ERR_HOOK_PROTOCOL';
}

/**
 * True when `e` is a {@link HookProtocolError}.
 *
 * @example
 * ```ts
 * if (isHookProtocolError(e)) console.error('fix the hook:', e.message);
 * ```
 */
export function isHookProtocolError(e: unknown): e is HookProtocolError {
  return hasBrand(e, 'HookProtocolError');
}
