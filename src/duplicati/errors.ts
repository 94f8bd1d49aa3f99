/**
 * Turning HTTP outcomes into the error classes of `src/core/errors.ts`, without ever letting a
 * secret (password, token, cookie, XSRF value, passphrase, target-URL credential) through.
 *
 * @module
 */
import {
  type ApiErrorDetails,
  DuplicatiAPIError,
  DuplicatiAuthenticationError,
  DuplicatiBadRequestError,
  DuplicatiConflictError,
  DuplicatiNotFoundError,
  DuplicatiPermissionDeniedError,
  DuplicatiServerError,
} from '../core/errors.js';
import { REDACTED, redactText, redactUrl } from '../core/redact.js';

/** Redact known secrets, URL credentials and secret query values from free text. */
export function scrubText(text: string, secrets: Iterable<string>): string {
  const out = redactText(text, [...secrets]);
  return out.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi, (url) => redactUrl(url));
}

/** Redact secret values in a request path's query string. */
export function scrubPath(path: string): string {
  const q = path.indexOf('?');
  if (q < 0) return path;
  return path.slice(0, q) + redactUrl(`x://h/${path.slice(q)}`).slice('x://h/'.length);
}

/**
 * A stand-in for a transport error (axios error, socket error): it keeps the `code` and a redacted
 * message, and nothing else. Axios errors hold the request config, headers and cookies, so they
 * must never become a `cause` as they are.
 */
export class SanitizedCause extends Error {
  readonly code: string | undefined;
  constructor(error: unknown, secrets: Iterable<string>) {
    const raw = error instanceof Error ? error.message : String(error);
    super(scrubText(raw, secrets));
    this.name = 'TransportError';
    const code = (error as { code?: unknown } | null)?.code;
    this.code = typeof code === 'string' ? code : undefined;
    // The stack would point into axios internals and repeat the raw message; keep it short.
    this.stack = `${this.name}: ${this.message}`;
  }
}

const MAX_BODY = 2000;

/** Build the status-mapped error for a failed HTTP response. */
export function apiError(
  details: { status: number; statusText: string; method: string; path: string; body: string },
  secrets: Iterable<string>,
): DuplicatiAPIError {
  const list = [...secrets];
  const body = details.body ? scrubText(details.body, list).slice(0, MAX_BODY) : undefined;
  const statusText = details.statusText ? scrubText(details.statusText, list) : undefined;
  const path = scrubPath(details.path);
  let detail = statusText ?? '';
  if (body) {
    try {
      const parsed = JSON.parse(body) as { Error?: unknown; Reason?: unknown; Message?: unknown };
      const msg = parsed.Error ?? parsed.Reason ?? parsed.Message;
      if (typeof msg === 'string' && msg) detail = msg;
    } catch {
      // not JSON: the reason phrase is the best description (2.0.x puts its messages there)
    }
  }
  const message = `${details.method} ${path} failed with HTTP ${details.status}${detail ? `: ${detail}` : ''}`;
  const d: ApiErrorDetails = {
    status: details.status,
    method: details.method,
    path,
    ...(body === undefined ? {} : { body }),
    ...(statusText === undefined ? {} : { statusText }),
  };
  const opts = { secrets: list };
  const s = details.status;
  if (s === 400) return new DuplicatiBadRequestError(message, d, opts);
  if (s === 401) return new DuplicatiAuthenticationError(message, d, opts);
  if (s === 403) return new DuplicatiPermissionDeniedError(message, d, opts);
  if (s === 404) return new DuplicatiNotFoundError(message, d, opts);
  if (s === 409) return new DuplicatiConflictError(message, d, opts);
  if (s >= 500) return new DuplicatiServerError(message, d, opts);
  return new DuplicatiAPIError(message, d, opts);
}

export { REDACTED };
