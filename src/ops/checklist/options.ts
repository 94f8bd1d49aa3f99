/**
 * The checklist restore's options schema: checked before any gate runs.
 *
 * @module
 */
import { z } from 'zod';
import type { Logger } from '../../core/logger.js';
import type { DuplicatiClient } from '../../duplicati/client.js';
import type { RestoreTarget } from '../../contracts/types.js';
import type { Notifier } from '../../contracts/notifier.js';
import type { SessionMessenger } from './types.js';

/** What `restoreWithChecklist` accepts; invalid options throw a ConfigError before any gate runs. */
export const optionsSchema = z
  .object({
    targets: z.array(z.custom<RestoreTarget>((t) => typeof t === 'object' && t !== null)).min(1, 'at least one target'),
    from: z.string().min(1).optional(),
    duplicati: z
      .object({
        client: z.custom<DuplicatiClient>(
          (c) => typeof c === 'object' && c !== null && typeof (c as DuplicatiClient).backups === 'object',
          'must be a DuplicatiClient',
        ),
        job: z.string().min(1),
        version: z.number().int().min(0).optional(),
        time: z
          .union([z.date(), z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO time')])
          .optional(),
        workDir: z.string().min(1).optional(),
        verify: z.boolean().optional(),
        wait: z.record(z.string(), z.unknown()).optional(),
      })
      .strict()
      .refine((d) => d.version === undefined || d.time === undefined, {
        message: 'give version or time, not both',
        path: ['time'],
      })
      .optional(),
    stagingDir: z.string().min(1).optional(),
    keepStaging: z.boolean().optional(),
    stateDir: z.string().min(1),
    only: z.array(z.string().min(1)).optional(),
    maintenance: z.record(z.string(), z.unknown()).optional(),
    notifiers: z.array(z.custom<Notifier>((n) => typeof n === 'object' && n !== null)).optional(),
    jellyfin: z
      .custom<SessionMessenger>(
        (j) => typeof j === 'object' && j !== null && typeof (j as SessionMessenger).messageSessions === 'function',
        'must have messageSessions (a JellyfinClient)',
      )
      .optional(),
    warning: z.string().min(1).optional(),
    allowNoWayBack: z.union([z.boolean(), z.array(z.string())]).optional(),
    finalize: z.boolean().optional(),
    dryRun: z.boolean().optional(),
    signal: z.custom<AbortSignal>((s) => s instanceof AbortSignal).optional(),
    logger: z.custom<Logger>((l) => typeof l === 'object' && l !== null).optional(),
    onProgress: z.function().optional(),
    onGate: z.function().optional(),
  })
  .strict()
  .refine((o) => (o.from === undefined) !== (o.duplicati === undefined), {
    message: 'give exactly one of from (a folder) or duplicati (a job and version)',
    path: ['from'],
  });
