/**
 * Output helpers of the CLI: one JSON document with `--json`, short human text otherwise, and a
 * progress line on stderr only when it is a TTY.
 *
 * @module
 */
import type { Writable } from 'node:stream';
import {
  describeError,
  isConfigError,
  isDuplicatiAuthenticationError,
  isDuplicatiConnectionError,
  isDuplicatiKitError,
  isDuplicatiTaskFailedError,
  isLockedError,
  isManifestError,
  isPlanError,
  isVerificationError,
} from '../core/errors.js';
import type { ProgressEvent } from '../contracts/types.js';
import { ExitCode } from './exit-codes.js';
import type { CliContext } from './types.js';

/** Write one JSON document (and a newline) to stdout. */
export function printJson(out: Writable, value: unknown): void {
  out.write(`${JSON.stringify(value, jsonReplacer, 2)}\n`);
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    return isDuplicatiKitError(value) ? value.toJSON() : { name: value.name, message: value.message };
  }
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/** Human-readable byte count. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** Milliseconds as `1.2 s` / `340 ms`. */
export function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

/** The exit code an error deserves (see exit-codes.ts). */
export function exitCodeFor(e: unknown, signal?: AbortSignal): number {
  if (signal?.aborted) return ExitCode.Interrupted;
  // No credentials: the server cannot be logged in to, like a wrong password.
  if (isConfigError(e) && e.code === 'ERR_DUPLICATI_NO_CREDENTIALS') return ExitCode.Unavailable;
  if (isConfigError(e)) return ExitCode.Usage;
  if (isLockedError(e)) return ExitCode.Locked;
  if (isVerificationError(e) || isManifestError(e)) return ExitCode.VerificationFailed;
  if (isPlanError(e)) {
    return e.results.some((r) => r.error && isVerificationError(r.error))
      ? ExitCode.VerificationFailed
      : ExitCode.PlanFailed;
  }
  if (isDuplicatiTaskFailedError(e)) {
    return e.result === 'Warning'
      ? ExitCode.DuplicatiWarning
      : e.result === 'Error'
        ? ExitCode.DuplicatiError
        : ExitCode.DuplicatiFatal;
  }
  if (isDuplicatiConnectionError(e) || isDuplicatiAuthenticationError(e)) return ExitCode.Unavailable;
  return ExitCode.Error;
}

/** Report an error the way the context asks (JSON on stdout, or a message on stderr). */
export function reportError(ctx: Pick<CliContext, 'json' | 'stdout' | 'stderr' | 'signal'>, e: unknown): number {
  const code = exitCodeFor(e, ctx.signal);
  if (ctx.json) {
    printJson(ctx.stdout, { ok: false, exitCode: code, error: e instanceof Error ? e : { message: String(e) } });
  } else {
    const msg = e instanceof Error ? e.message : describeError(e);
    ctx.stderr.write(`duplicati-kit: ${code === ExitCode.Interrupted ? 'interrupted' : msg}\n`);
  }
  return code;
}

/** A progress callback drawing one updating line on a TTY, or nothing. */
export function progressPrinter(ctx: Pick<CliContext, 'interactive' | 'stderr' | 'json'>): {
  onProgress: ((e: ProgressEvent) => void) | undefined;
  done: () => void;
} {
  if (!ctx.interactive) return { onProgress: undefined, done: () => {} };
  let last = 0;
  let drawn = false;
  return {
    onProgress: (e) => {
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      const amount =
        e.unit === 'bytes'
          ? `${formatBytes(e.completed)}${e.total ? ` / ${formatBytes(e.total)}` : ''}`
          : `${e.completed}${e.total ? `/${e.total}` : ''} ${e.unit}`;
      ctx.stderr.write(`\r\x1b[2K${e.phase} ${e.source}: ${amount}`);
      drawn = true;
    },
    done: () => {
      if (drawn) ctx.stderr.write('\r\x1b[2K');
    },
  };
}
