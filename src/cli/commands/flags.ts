/**
 * Flags several commands share, parsed without loading what the commands themselves need (the
 * Duplicati client and axios stay unloaded for a restore from a folder).
 *
 * @module
 */
import { ConfigError } from '../../core/errors.js';
import type { CliContext } from '../types.js';

/** `--version N` (0 = newest), validated. */
export function versionFlag(ctx: CliContext): number | undefined {
  const v = ctx.flags.version;
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^\d+$/.test(v)) {
    throw new ConfigError('bad --version', [{ path: '--version', message: 'a version number, 0 = newest' }]);
  }
  return Number(v);
}

/** `--time ISO`, checked. */
export function timeFlag(ctx: CliContext): string | undefined {
  const t = ctx.flags.time;
  if (t === undefined) return undefined;
  if (typeof t !== 'string' || Number.isNaN(Date.parse(t))) {
    throw new ConfigError('bad --time', [{ path: '--time', message: 'an ISO date or time, e.g. 2026-11-01T03:00Z' }]);
  }
  return t;
}
