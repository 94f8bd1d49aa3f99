/**
 * Re-create the Duplicati jobs of `recovery/jobs.json` on the new host's server: sources and hook
 * paths through the path map, the passphrase given again for encrypted jobs, and the target URL's
 * credentials taken from the recovery's own target URL when the stored one had them removed.
 *
 * @module
 */
import type { JsonValue } from '../../core/json.js';
import { redactUrl } from '../../core/redact.js';
import type { DuplicatiClient } from '../../duplicati/client.js';
import type { JobSpec } from '../../duplicati/resources/jobs.js';
import type { RecoveryJobsFile } from './types.js';

/** Options of {@link recreateJobs}. */
export interface RecreateJobsOptions {
  readonly mapPath: (p: string) => string;
  readonly passphrase: string | null;
  readonly targetUrl?: string;
  readonly signal?: AbortSignal;
  /** Rebuild each job's local database from the target (needed before its next backup). @default true */
  readonly repair?: boolean;
}

/** Apply every job of the jobs file; one line per job of what was done. */
export async function recreateJobs(
  dup: DuplicatiClient,
  file: RecoveryJobsFile,
  o: RecreateJobsOptions,
): Promise<JsonValue> {
  const out: JsonValue[] = [];
  for (const j of file.jobs) {
    let target = j.spec.target;
    if (j.targetCredentialsRemoved) {
      if (o.targetUrl && redactUrl(o.targetUrl) === target) target = o.targetUrl;
      else {
        out.push({
          name: j.spec.name,
          action: 'not re-created',
          why: 'its target URL needs credentials; apply it with `duplicati-kit jobs apply`',
        });
        continue;
      }
    }
    if (j.encrypted && !o.passphrase) {
      out.push({ name: j.spec.name, action: 'not re-created', why: 'encrypted job and no passphrase given' });
      continue;
    }
    const hooks = j.spec.hooks
      ? Object.fromEntries(Object.entries(j.spec.hooks).map(([k, v]) => [k, k === 'timeout' ? v : o.mapPath(v)]))
      : undefined;
    const spec: JobSpec = {
      ...j.spec,
      target,
      sources: j.spec.sources.map((p) => o.mapPath(p)),
      passphrase: j.encrypted ? o.passphrase : null,
      ...(hooks ? { hooks } : {}),
    };
    const req = o.signal ? { signal: o.signal } : {};
    const r = await dup.jobs.apply(spec, req);
    // The new server has no local database for a target that already holds versions: without a
    // repair (database recreate) its next backup fails with "remote files not recorded".
    let repaired: string | null = null;
    if (r.id !== null && o.repair !== false) {
      const { taskId } = await dup.backups.repair(r.id, req);
      repaired =
        taskId === null ? 'queued' : (await dup.tasks.wait(taskId, { ...req, totalTimeout: 86_400_000 })).status;
    }
    out.push({ name: spec.name, action: r.action, id: r.id, sources: [...spec.sources], repair: repaired });
  }
  return out;
}
