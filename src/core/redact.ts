/**
 * Redaction helpers. Every error that could carry a secret and every log line the library writes
 * passes through these, so passwords, tokens, cookies, passphrases and credentials inside target
 * URLs never reach a message, a log or `util.inspect` output.
 *
 * @module
 */

/** What a redacted value is replaced with. */
export const REDACTED = '***';

/** Query parameter and option names whose values are secrets (matched case-insensitively). */
const SECRET_KEY = /(pass(word|phrase)?|secret|token|key|auth|cookie|credential|session|nonce|salt|sig(nature)?)/i;

/** True when an option, header or field name denotes a secret value. */
export function isSecretKey(name: string): boolean {
  return SECRET_KEY.test(name);
}

/**
 * Replace every occurrence of each secret in `text` (also in its URL-encoded form) with `***`.
 * Empty and very short secrets (under 3 characters) are ignored to avoid mangling text.
 *
 * @example
 * ```ts
 * redactText('login failed for hunter2', ['hunter2']); // 'login failed for ***'
 * ```
 */
export function redactText(text: string, secrets: readonly (string | undefined | null)[]): string {
  let out = text;
  const list = [...new Set(secrets.filter((s): s is string => typeof s === 'string' && s.length >= 3))]
    .flatMap((s) => {
      const forms = [s, encodeURIComponent(s), encodeURIComponent(s).replace(/%20/g, '+')];
      return [...new Set(forms)];
    })
    .sort((a, b) => b.length - a.length);
  for (const s of list) out = out.split(s).join(REDACTED);
  return out;
}

/**
 * Remove credentials from a URL-like string: the userinfo part (`user:pass@`) and the values of
 * query parameters with secret names (`passphrase`, `auth-password`, `token`, `key`, …). Works on
 * Duplicati target URLs such as `ssh://u:p@host/path?auth-password=x` and on strings that are not
 * valid WHATWG URLs.
 *
 * @example
 * ```ts
 * redactUrl('s3://AKIA:secret@bucket/x?auth-password=p'); // 's3://***@bucket/x?auth-password=***'
 * ```
 */
export function redactUrl(url: string): string {
  let out = url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^/?#@]*)@/i, (_m, scheme: string) => `${scheme}${REDACTED}@`);
  out = out.replace(/([?&;])([^=&;#]+)=([^&;#]*)/g, (m, sep: string, key: string) =>
    isSecretKey(decodeSafe(key)) ? `${sep}${key}=${REDACTED}` : m,
  );
  return out;
}

function decodeSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Copy of a header map with secret-bearing headers (Authorization, Cookie, X-XSRF-Token…) masked. */
export function redactHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(headers)) {
    out[k] =
      /^(authorization|cookie|set-cookie|x-xsrf-token|x-api-key|proxy-authorization)$/i.test(k) || isSecretKey(k)
        ? REDACTED
        : v;
  }
  return out;
}

/**
 * Copy of a plain object with values under secret-named keys masked, recursively. Useful before
 * logging options or a config.
 */
export function redactObject<T>(value: T, depth = 8): T {
  if (depth <= 0 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactObject(v, depth - 1)) as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (isSecretKey(k) && (typeof v === 'string' || typeof v === 'number')) out[k] = REDACTED;
    else if (typeof v === 'string' && /^[a-z][a-z0-9+.-]*:\/\//i.test(v)) out[k] = redactUrl(v);
    else out[k] = redactObject(v, depth - 1);
  }
  return out as T;
}
