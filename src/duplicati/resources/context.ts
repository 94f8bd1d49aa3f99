/**
 * What every resource of the client gets.
 *
 * @module
 */
import type { DuplicatiClient } from '../client.js';
import type { Generation, HttpCore } from '../http.js';

/** Shared state handed to each resource namespace. */
export interface ClientContext {
  readonly core: HttpCore;
  generation(signal?: AbortSignal): Promise<Generation>;
  readonly client: DuplicatiClient;
}

/** Prefix of every v1 route. */
export const API = '/api/v1';

/** Path segment encoding for ids. */
export function seg(v: string | number): string {
  return encodeURIComponent(String(v));
}
