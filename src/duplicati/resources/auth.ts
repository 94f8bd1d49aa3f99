/**
 * `client.auth`: explicit login / logout and the detected server generation.
 *
 * @module
 */
import type { Generation, RequestOptions } from '../http.js';
import { API, type ClientContext } from './context.js';

/** Session handling. Logging in is automatic; these are for scripts that want it explicit. */
export class AuthResource {
  readonly #ctx: ClientContext;
  constructor(ctx: ClientContext) {
    this.#ctx = ctx;
  }

  /**
   * Log in now (normally done on the first call) by making one cheap authenticated request.
   *
   * @example
   * ```ts
   * await dup.auth.login(); // throws DuplicatiAuthenticationError on a wrong password
   * ```
   */
  async login(options: RequestOptions = {}): Promise<void> {
    await this.#ctx.core.call({ method: 'GET', path: `${API}/serverstate`, operation: 'auth.login' }, options);
  }

  /**
   * End the session on the server (2.0.x `logout.cgi`, 2.1+ refresh-token revocation).
   *
   * @example
   * ```ts
   * try { await work(); } finally { await dup.auth.logout(); }
   * ```
   */
  async logout(options: RequestOptions = {}): Promise<void> {
    await this.#ctx.core.logout(options.signal);
  }

  /**
   * Which server generation answers (`2.0` or `2.1`), detected without credentials.
   *
   * @example
   * ```ts
   * const g = await dup.auth.generation();
   * ```
   */
  generation(options: RequestOptions = {}): Promise<Generation> {
    return this.#ctx.generation(options.signal);
  }
}
