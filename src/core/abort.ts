/**
 * AbortSignal helpers: every async call in the library takes a signal and hands it down.
 *
 * @module
 */
import { TimeoutError } from './errors.js';

/** A signal that never aborts, for callers that did not pass one. */
export function neverAborted(): AbortSignal {
  return new AbortController().signal;
}

/** Combine signals; the result aborts with the reason of the first one that does. */
export function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal {
  const list = signals.filter((s): s is AbortSignal => s !== undefined);
  if (list.length === 0) return neverAborted();
  if (list.length === 1) return list[0] as AbortSignal;
  return AbortSignal.any(list);
}

/**
 * A signal that aborts with a {@link TimeoutError} after `ms` (combined with `signal`, whose own
 * reason wins when it fires first). Returns `signal` unchanged when `ms` is undefined.
 */
export function withTimeout(signal: AbortSignal | undefined, ms: number | undefined, what = 'operation'): AbortSignal {
  if (ms === undefined || !Number.isFinite(ms)) return signal ?? neverAborted();
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(new TimeoutError(`${what} timed out after ${ms} ms`, ms)), ms);
  timer.unref?.();
  const onAbort = (): void => clearTimeout(timer);
  ctl.signal.addEventListener('abort', onAbort, { once: true });
  signal?.addEventListener('abort', onAbort, { once: true });
  return anySignal(signal, ctl.signal);
}

/** Sleep `ms`, rejecting with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Throw the signal's reason if it has aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason;
}

/** Settle with `p`, or reject with the signal's reason as soon as it aborts. */
export function raceSignal<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
