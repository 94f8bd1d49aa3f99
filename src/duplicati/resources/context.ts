/**
 * What every resource of the client gets.
 *
 * @module
 */
import type { Generation, HttpCore } from '../http.js';

/**
 * Shared state handed to each resource namespace. A resource that calls another one gets it in its
 * constructor (tasks → server; backups → server, tasks; jobs → backups), so no resource imports the client.
 */
export interface ClientContext {
  readonly core: HttpCore;
  generation(signal?: AbortSignal): Promise<Generation>;
}

/** Prefix of every v1 route. */
export const API = '/api/v1';

/** Path segment encoding for ids. */
export function seg(v: string | number): string {
  return encodeURIComponent(String(v));
}
