/**
 * Composition: several sources as one (an app = its database + its folders), and the matching
 * restore side. A composite writes each part's artifacts under `<name>/<part>/` and records the
 * parts in its manifest metadata, so a restore plan can route each part to its own target.
 *
 * @module
 */
import path from 'node:path';
import { throwIfAborted } from '../core/abort.js';
import type { ArtifactRef } from '../core/artifact-writer.js';
import { ConfigError, RestoreError } from '../core/errors.js';
import { childLogger } from '../core/logger.js';
import type {
  BackupSource,
  JsonValue,
  ManifestEntry,
  PreparedSource,
  RecoveryContext,
  RestoreInput,
  RestoreOutput,
  RestoreTarget,
  SourceContext,
  StoredPathMapping,
  VerificationReport,
} from '../contracts/types.js';

/** `kind` of a composite source's manifest entry. */
export const COMPOSITE_KIND = 'composite';

interface PartRecord {
  name: string;
  kind: string;
  artifacts: string[];
  includePaths: string[];
  excludePatterns: string[];
  metadata: Record<string, JsonValue>;
}

function partContext(ctx: SourceContext, parent: string, part: BackupSource): SourceContext {
  return {
    ...ctx,
    logger: childLogger(ctx.logger, { part: part.name }),
    sourceDir: path.join(ctx.sourceDir, part.name),
    artifacts: ctx.artifacts.scoped(part.name),
    onProgress: (e) => ctx.onProgress({ ...e, source: e.source ?? `${parent}/${part.name}` }),
  };
}

/** A composite source: a {@link BackupSource} made of parts. */
export interface CompositeSource extends BackupSource {
  readonly parts: readonly BackupSource[];
}

/**
 * Turn several sources into one. Parts prepare in order; `check` checks every part; `cleanup`
 * cleans every part (and reports the first failure after trying all).
 *
 * @example
 * ```ts
 * const app = composeSources('immich', [dbSource, librarySource]);
 * createBackupPlan({ workDir, sources: [app] });
 * ```
 */
export function composeSources(name: string, parts: readonly BackupSource[]): CompositeSource {
  const names = new Set<string>();
  parts.forEach((p, i) => {
    if (names.has(p.name)) {
      throw new ConfigError(`composite source ${name} has two parts named ${p.name}`, [
        { path: `parts.${i}.name`, message: 'duplicate part name' },
      ]);
    }
    names.add(p.name);
  });
  if (parts.length === 0)
    throw new ConfigError(`composite source ${name} has no parts`, [
      { path: 'parts', message: 'at least one part is needed' },
    ]);
  const list = [...parts];
  return {
    name,
    kind: COMPOSITE_KIND,
    parts: list,
    async check(ctx) {
      for (const p of list) await p.check?.(partContext(ctx, name, p));
    },
    async prepare(ctx): Promise<PreparedSource> {
      const artifacts: ArtifactRef[] = [];
      const records: PartRecord[] = [];
      for (const p of list) {
        throwIfAborted(ctx.signal);
        const r = await p.prepare(partContext(ctx, name, p));
        artifacts.push(...r.artifacts);
        records.push({
          name: p.name,
          kind: p.kind,
          artifacts: r.artifacts.map((a) => a.path),
          includePaths: [...(r.includePaths ?? [])],
          excludePatterns: [...(r.excludePatterns ?? [])],
          metadata: { ...(r.metadata ?? {}) },
        });
      }
      return {
        artifacts,
        includePaths: [...new Set(records.flatMap((r) => r.includePaths))],
        excludePatterns: [...new Set(records.flatMap((r) => r.excludePatterns))],
        metadata: { parts: records as unknown as JsonValue },
      };
    },
    async cleanup(ctx) {
      let first: unknown;
      for (const p of list) {
        try {
          await p.cleanup?.(partContext(ctx, name, p));
        } catch (e) {
          first ??= e;
        }
      }
      if (first !== undefined) throw first;
    },
  };
}

/**
 * Split a composite manifest entry into one entry per part (empty for any other entry). Part
 * entries are named `<composite>/<part>`.
 */
export function expandEntry(entry: ManifestEntry): ManifestEntry[] {
  if (entry.kind !== COMPOSITE_KIND) return [];
  const parts = entry.metadata.parts;
  if (!Array.isArray(parts)) return [];
  return parts.flatMap((raw) => {
    const p = raw as unknown as Partial<PartRecord>;
    if (typeof p?.name !== 'string' || typeof p.kind !== 'string') return [];
    const paths = new Set(Array.isArray(p.artifacts) ? p.artifacts : []);
    return [
      {
        ...entry,
        name: `${entry.name}/${p.name}`,
        kind: p.kind,
        artifacts: entry.artifacts.filter((a) => paths.has(a.path)),
        includePaths: Array.isArray(p.includePaths) ? p.includePaths : [],
        excludePatterns: Array.isArray(p.excludePatterns) ? p.excludePatterns : [],
        metadata: (p.metadata ?? {}) as Record<string, JsonValue>,
      },
    ];
  });
}

/**
 * The restore side of {@link composeSources}: one target taking a composite entry and handing
 * each part to the first of `targets` that accepts it. Verification covers every part; restore
 * applies parts in order and rolls back the applied ones when a later part fails.
 */
export function composeTargets(
  name: string,
  targets: readonly RestoreTarget[],
  options: { source?: string } = {},
): RestoreTarget {
  const list = [...targets];
  const assign = (entry: ManifestEntry) =>
    expandEntry(entry).map((part) => {
      const t = list.find((x) => x.accepts(part));
      if (!t)
        throw new RestoreError(`no target for part ${part.name}`, {
          source: part.name,
          kind: part.kind,
          phase: 'verify',
        });
      return { part, t };
    });
  const sub = (input: RestoreInput, part: ManifestEntry): RestoreInput => ({
    ...input,
    entry: part,
    artifacts: input.artifacts.filter((a) => part.artifacts.some((p) => p.path === a.path)),
  });
  type Applied = { t: RestoreTarget; out: RestoreOutput };
  // The parts' outputs travel in the composite's own output as JSON, so a restore point written
  // to disk can be rolled back or finalized by another process (`restore-points rollback`).
  const appliedOf = (output: RestoreOutput): Applied[] => {
    const parts = output.state?.parts;
    if (!Array.isArray(parts)) return [];
    return parts.map((p) => {
      const rec = p as { index?: unknown; target?: unknown; output?: unknown };
      const t = typeof rec.index === 'number' ? list[rec.index] : undefined;
      if (!t || t.name !== rec.target) {
        throw new RestoreError(`no part target named ${String(rec.target)} in ${name}`, {
          source: name,
          kind: COMPOSITE_KIND,
          phase: 'rollback',
        });
      }
      return { t, out: rec.output as RestoreOutput };
    });
  };
  return {
    name,
    kind: COMPOSITE_KIND,
    accepts: (entry) =>
      entry.kind === COMPOSITE_KIND &&
      (options.source === undefined || entry.name === options.source) &&
      expandEntry(entry).every((p) => list.some((t) => t.accepts(p))),
    // A recovery on a new host reaches the parts' hooks (Jellyfin's database part rewrites paths).
    ...(list.some((t) => t.rewriteStoredPaths)
      ? {
          async rewriteStoredPaths(map: readonly StoredPathMapping[], ctx: RecoveryContext): Promise<JsonValue> {
            const out: Record<string, JsonValue> = {};
            for (const t of list) if (t.rewriteStoredPaths) out[t.name] = await t.rewriteStoredPaths(map, ctx);
            return out;
          },
        }
      : {}),
    ...(list.some((t) => t.recoveryCheck)
      ? {
          async recoveryCheck(ctx: RecoveryContext): Promise<VerificationReport> {
            const checks: VerificationReport['checks'][number][] = [];
            for (const t of list) {
              if (!t.recoveryCheck) continue;
              for (const c of (await t.recoveryCheck(ctx)).checks) checks.push({ ...c, name: `${t.name}: ${c.name}` });
            }
            return { ok: checks.every((c) => c.ok), checks };
          },
        }
      : {}),
    async verify(input, ctx): Promise<VerificationReport> {
      const checks: { name: string; ok: boolean; detail?: string }[] = [];
      // Parts' staged work, kept per part so each gets its own back at restore.
      const staged: Record<string, JsonValue> = {};
      const kept: { t: RestoreTarget; r: VerificationReport }[] = [];
      const release = async () => {
        for (const k of kept) await k.t.discard?.(k.r, ctx);
      };
      try {
        for (const { part, t } of assign(input.entry)) {
          const r = await t.verify(sub(input, part), ctx);
          if (r.staged) {
            kept.push({ t, r });
            staged[part.name] = {
              target: t.name,
              checks: r.checks.map((c) => ({ name: c.name, ok: c.ok, detail: c.detail ?? null })),
              staged: r.staged,
            };
          }
          for (const c of r.checks) checks.push({ ...c, name: `${part.name}: ${c.name}` });
          if (!r.ok && r.checks.length === 0) checks.push({ name: part.name, ok: false });
        }
      } catch (e) {
        await release();
        throw e;
      }
      const ok = checks.every((c) => c.ok);
      if (!ok) await release();
      return { ok, checks, ...(ok && kept.length ? { staged: { parts: staged } } : {}) };
    },
    async precheck(input, ctx): Promise<VerificationReport> {
      const checks: VerificationReport['checks'][number][] = [];
      for (const { part, t } of assign(input.entry)) {
        if (!t.precheck) continue;
        const r = await t.precheck(sub(input, part), ctx);
        for (const c of r.checks) checks.push({ ...c, name: `${part.name}: ${c.name}` });
      }
      return { ok: checks.every((c) => c.ok), checks };
    },
    async restore(input, ctx): Promise<RestoreOutput> {
      const applied: Applied[] = [];
      try {
        for (const { part, t } of assign(input.entry)) {
          const verified = stagedPart(input.verified, part.name);
          const partInput = sub(input, part);
          applied.push({ t, out: await t.restore(verified ? { ...partInput, verified } : partInput, ctx) });
        }
      } catch (e) {
        for (const a of [...applied].reverse()) await a.t.rollback?.(a.out, ctx);
        throw e;
      }
      const safety = applied.flatMap((a) => (a.out.safetyCopy ? [a.out.safetyCopy] : []));
      return {
        restored: applied.flatMap((a) => a.out.restored),
        ...(safety.length ? { safetyCopy: safety.join(', ') } : {}),
        state: {
          parts: applied.map((a) => ({
            index: list.indexOf(a.t),
            target: a.t.name,
            output: a.out as unknown as JsonValue,
          })),
        },
      };
    },
    async rollback(output, ctx) {
      for (const a of appliedOf(output).reverse()) await a.t.rollback?.(a.out, ctx);
    },
    async finalize(output, ctx) {
      for (const a of appliedOf(output)) await a.t.finalize?.(a.out, ctx);
    },
    async discard(report, ctx) {
      const parts = report.staged?.parts;
      if (!parts || typeof parts !== 'object' || Array.isArray(parts)) return;
      for (const name of Object.keys(parts)) {
        const part = stagedPart(report, name);
        const owner = (parts as Record<string, { target?: unknown }>)[name]?.target;
        const t = list.find((x) => x.name === owner);
        if (part && t?.discard) await t.discard(part, ctx);
      }
    },
  };
}

/** One part's verification report out of a composite's staged report, if it kept any. */
function stagedPart(report: VerificationReport | undefined, part: string): VerificationReport | undefined {
  const parts = report?.staged?.parts;
  if (!parts || typeof parts !== 'object' || Array.isArray(parts)) return undefined;
  const p = (parts as Record<string, JsonValue>)[part];
  if (!p || typeof p !== 'object' || Array.isArray(p)) return undefined;
  const { checks, staged } = p as { checks?: JsonValue; staged?: JsonValue };
  if (!staged || typeof staged !== 'object' || Array.isArray(staged) || !Array.isArray(checks)) return undefined;
  return {
    ok: true,
    checks: checks.map((c) => {
      const x = c as { name?: unknown; ok?: unknown; detail?: unknown };
      return {
        name: String(x.name),
        ok: x.ok === true,
        ...(typeof x.detail === 'string' ? { detail: x.detail } : {}),
      };
    }),
    staged: staged as Record<string, JsonValue>,
  };
}
