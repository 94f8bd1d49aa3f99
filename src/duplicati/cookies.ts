/**
 * A minimal cookie jar for the two Duplicati server generations: 2.0.x keeps its session in
 * `xsrf-token` / `session-nonce` / `session-auth` cookies, 2.1+ its refresh token in
 * `RefreshToken_<port>` (path `/api/v1/auth/refresh`).
 *
 * @module
 */

interface StoredCookie {
  readonly value: string;
  readonly path: string;
}

/**
 * Cookies received from one server. Expiry dates are deliberately ignored: the server enforces
 * them, and a client clock that runs ahead must not drop a session the server still honours.
 */
export class CookieJar {
  readonly #cookies = new Map<string, StoredCookie>();

  /** Store every `Set-Cookie` header of a response. */
  store(setCookie: string | readonly string[] | undefined): void {
    if (setCookie === undefined) return;
    for (const line of typeof setCookie === 'string' ? [setCookie] : setCookie) {
      const parts = line.split(';');
      const first = parts.shift() ?? '';
      const eq = first.indexOf('=');
      if (eq <= 0) continue;
      const name = first.slice(0, eq).trim();
      const value = first.slice(eq + 1).trim();
      let path = '/';
      let remove = value === '';
      for (const attr of parts) {
        const [k = '', v = ''] = attr.split('=', 2).map((s) => s.trim());
        if (k.toLowerCase() === 'path' && v) path = v;
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) remove = true;
      }
      if (remove) this.#cookies.delete(name);
      else this.#cookies.set(name, { value, path });
    }
  }

  /** Raw (still URL-encoded) value of a cookie. */
  get(name: string): string | undefined {
    return this.#cookies.get(name)?.value;
  }

  /** Name of the first cookie whose name starts with `prefix`. */
  findName(prefix: string): string | undefined {
    for (const name of this.#cookies.keys()) if (name.startsWith(prefix)) return name;
    return undefined;
  }

  delete(name: string): void {
    this.#cookies.delete(name);
  }

  clear(): void {
    this.#cookies.clear();
  }

  /** Every stored value, for redaction. */
  values(): string[] {
    return [...this.#cookies.values()].map((c) => c.value);
  }

  /** The `Cookie` header for a request path, or undefined when no cookie applies (never an empty header). */
  header(requestPath: string): string | undefined {
    const pairs: string[] = [];
    for (const [name, c] of this.#cookies) {
      if (requestPath === c.path || requestPath.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)) {
        pairs.push(`${name}=${c.value}`);
      }
    }
    return pairs.length ? pairs.join('; ') : undefined;
  }
}
