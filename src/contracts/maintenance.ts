/**
 * The maintenance window's contract with the apps: what pausing and resuming Immich's job queues
 * needs. `ImmichClient` implements it; a test or another app can too.
 *
 * @module
 */

/** Queues paused by `ImmichClient.pauseQueues`, to hand to `resumeQueues`. */
export interface PausedQueues {
  /** `queues` (v2.3+ `PUT /api/queues/{name}`) or `jobs` (older `PUT /api/jobs/{name}`). */
  readonly api: 'queues' | 'jobs';
  /** Only the queues this call paused (ones the admin had paused stay paused). */
  readonly names: readonly string[];
}

/** What pausing and resuming Immich's queues needs (an `ImmichClient` is one). */
export interface QueuePauser {
  pauseQueues(options?: { signal?: AbortSignal }): Promise<PausedQueues>;
  resumeQueues(paused: PausedQueues, options?: { signal?: AbortSignal }): Promise<void>;
}
