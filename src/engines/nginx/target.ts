/**
 * `NginxTarget`: restores an `NginxSource` backup tree by tree with the archive target, recreates
 * the absolute symlinks, and runs `nginx -t` on the restored configuration.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { isDuplicatiKitError, type Phase, RestoreError } from '../../core/errors.js';
import { isInside, safeRelativePath } from '../../core/fs.js';
import { configErrorFrom } from '../../core/validate.js';
import type {
  JsonValue,
  ManifestEntry,
  RestoreInput,
  RestoreOutput,
  RestoreTarget,
  SourceContext,
  VerificationReport,
} from '../../contracts/types.js';
import { ARCHIVE_KIND } from '../_shared/archive-options.js';
import { ArchiveTarget } from '../_shared/archive-target.js';
import { type NginxTestResult, testNginxConfig } from './certs.js';
import { type AbsoluteLink, PARTS, type Part, toJson } from './common.js';
import { NGINX_KIND, NGINX_TARGET_DEFAULTS, type NginxTargetOptions, nginxTargetSchema } from './options.js';

function asObject(v: JsonValue | undefined): Record<string, JsonValue> | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
}

function linksOf(meta: Record<string, JsonValue>): AbsoluteLink[] {
  const list = meta.absoluteLinks;
  if (!Array.isArray(list)) return [];
  return list.flatMap((l) => {
    const o = asObject(l);
    return o && typeof o.path === 'string' && typeof o.target === 'string' ? [{ path: o.path, target: o.target }] : [];
  });
}

/**
 * Restores an {@link NginxSource} backup: each tree through {@link ArchiveTarget} (safe
 * extraction into staging, symlinks and modes kept, the old folder kept as a safety copy), the
 * absolute symlinks recreated, then `nginx -t -c <configDir>/nginx.conf` on the restored files;
 * a failing test rolls everything back and fails the restore. `rollback`/`finalize` act on every
 * tree like {@link ArchiveTarget}. Reload nginx yourself afterwards (`systemctl reload nginx`).
 *
 * @throws {ConfigError} from the constructor when the options are invalid.
 * @example
 * ```ts
 * import { createRestorePlan, NginxTarget } from 'duplicati-kit';
 * const plan = createRestorePlan({
 *   targets: [new NginxTarget({ configDir: '/etc/nginx', letsencryptDir: '/etc/letsencrypt', overwrite: true })],
 * });
 * await plan.run({ from: '/restore/staging' });
 * ```
 */
export class NginxTarget implements RestoreTarget {
  readonly name: string;
  readonly kind = NGINX_KIND;
  readonly #options: NginxTargetOptions;

  /** @param options validated here; a ConfigError names every bad field */
  constructor(options: NginxTargetOptions) {
    const parsed = nginxTargetSchema.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid NginxTarget options', parsed.error);
    this.#options = options;
    this.name = options.name ?? NGINX_TARGET_DEFAULTS.name;
  }

  /** Every configured folder this target replaces. */
  replaces(): readonly string[] {
    return (Object.keys(PARTS) as Part[]).flatMap((p) => this.#dest(p) ?? []);
  }

  /** True for `nginx` entries (of the configured source name, when one is set). */
  accepts(entry: ManifestEntry): boolean {
    return entry.kind === NGINX_KIND && (this.#options.source === undefined || entry.name === this.#options.source);
  }

  #where(phase: Phase) {
    return { source: this.name, kind: this.kind, phase };
  }

  #dest(part: Part): string | undefined {
    const o = this.#options;
    const d = part === 'config' ? o.configDir : part === 'letsencrypt' ? o.letsencryptDir : o.extraCertsDir;
    return d === undefined ? undefined : path.resolve(d);
  }

  /** The trees of the backup, each with its ArchiveTarget and the narrowed input it gets. */
  #parts(
    input: RestoreInput,
  ): { part: Part; dest: string | undefined; target?: ArchiveTarget; sub: RestoreInput; links: AbsoluteLink[] }[] {
    const out = [];
    for (const part of Object.keys(PARTS) as Part[]) {
      const meta = asObject(input.entry.metadata[part]);
      if (!meta) continue;
      const file = `${PARTS[part]}.tar`;
      const artifacts = input.artifacts.filter((a) => a.path.split('/').pop() === file);
      const dest = this.#dest(part);
      const sub: RestoreInput = {
        ...input,
        entry: {
          ...input.entry,
          kind: ARCHIVE_KIND,
          metadata: meta,
          artifacts: input.entry.artifacts.filter((a) => a.path.split('/').pop() === file),
        },
        artifacts,
      };
      const target = dest
        ? new ArchiveTarget({
            name: `${this.name}:${part}`,
            dest,
            ...(this.#options.overwrite !== undefined ? { overwrite: this.#options.overwrite } : {}),
            ...(this.#options.keepSafetyCopy !== undefined ? { keepSafetyCopy: this.#options.keepSafetyCopy } : {}),
          })
        : undefined;
      out.push({ part, dest, ...(target ? { target } : {}), sub, links: linksOf(meta) });
    }
    return out;
  }

  /** Check every archive through the safety rules and that each tree has somewhere to go. */
  async verify(input: RestoreInput, ctx: SourceContext): Promise<VerificationReport> {
    const checks: { name: string; ok: boolean; detail?: string }[] = [];
    const parts = this.#parts(input);
    if (!parts.some((p) => p.part === 'config')) {
      checks.push({ name: 'config', ok: false, detail: 'the entry holds no nginx configuration archive' });
    }
    for (const p of parts) {
      if (!p.target) {
        const required = p.part === 'letsencrypt';
        checks.push({
          name: `${p.part}:dest`,
          ok: !required,
          detail: required ? 'the backup holds TLS material; set letsencryptDir' : 'no extraCertsDir: skipped',
        });
        continue;
      }
      const report = await p.target.verify(p.sub, ctx);
      checks.push(...report.checks.map((c) => ({ ...c, name: `${p.part}:${c.name}` })));
      const bad = p.links.filter((l) => safeRelativePath(l.path) === undefined);
      checks.push({
        name: `${p.part}:absolute_links`,
        ok: bad.length === 0,
        detail: bad.length
          ? `unsafe link paths: ${bad.map((l) => l.path).join(', ')}`
          : `${p.links.length} to recreate`,
      });
    }
    return { ok: checks.every((c) => c.ok), checks };
  }

  /** Restore each tree, recreate the absolute links, then `nginx -t` the restored config. */
  async restore(input: RestoreInput, ctx: SourceContext): Promise<RestoreOutput> {
    const parts = this.#parts(input);
    if (ctx.dryRun) return { restored: [], metadata: { dryRun: true } };
    const applied: { part: Part; target: ArchiveTarget; output: RestoreOutput }[] = [];
    try {
      for (const p of parts) {
        if (!p.target || !p.dest) {
          if (p.part === 'letsencrypt') {
            throw new RestoreError('the backup holds TLS material; set letsencryptDir', this.#where('restore'));
          }
          ctx.logger.warn('extra certificate files not restored: no extraCertsDir', {});
          continue;
        }
        const output = await p.target.restore(p.sub, partContext(ctx, p.part, applied));
        applied.push({ part: p.part, target: p.target, output });
        await recreateLinks(p.dest, p.links);
      }
      let test: NginxTestResult | undefined;
      if (this.#options.testConfig !== false) {
        const conf = path.join(this.#dest('config') as string, 'nginx.conf');
        test = await testNginxConfig(conf, this.#options.nginxBinary, ctx.signal);
        if (!test.ran) ctx.logger.warn('nginx is not installed: the restored configuration was not tested', { conf });
        else if (!test.ok) {
          throw new RestoreError(
            `nginx -t rejects the restored ${conf}; rolled back:\n${test.output}`,
            this.#where('restore'),
            {
              code: 'ERR_NGINX_CONFIG',
            },
          );
        }
      }
      return { ...composite(applied), metadata: { nginxTest: test ? toJson(test) : null } };
    } catch (e) {
      for (const a of applied.reverse()) {
        await a.target
          .rollback(a.output, ctx)
          .catch((r) => ctx.logger.error('rollback failed', { part: a.part, error: String(r) }));
      }
      if (ctx.signal.aborted) throw ctx.signal.reason;
      if (isDuplicatiKitError(e)) throw e;
      throw new RestoreError(`restoring nginx failed: ${(e as Error)?.message ?? String(e)}`, this.#where('restore'), {
        cause: e,
      });
    }
  }

  #applied(output: RestoreOutput): { target: ArchiveTarget; output: RestoreOutput }[] {
    const list = output.state?.parts;
    if (!Array.isArray(list)) return [];
    return list.flatMap((x) => {
      const o = asObject(x);
      const part = o?.part;
      const out = asObject(o?.output);
      if (typeof part !== 'string' || !(part in PARTS) || !out) return [];
      const dest = this.#dest(part as Part);
      if (!dest) return [];
      const target = new ArchiveTarget({
        dest,
        ...(this.#options.keepSafetyCopy !== undefined ? { keepSafetyCopy: this.#options.keepSafetyCopy } : {}),
      });
      return [{ target, output: out as unknown as RestoreOutput }];
    });
  }

  /** Put every tree's safety copy back. */
  async rollback(output: RestoreOutput, ctx: SourceContext): Promise<void> {
    for (const a of this.#applied(output).reverse()) await a.target.rollback(a.output, ctx);
  }

  /** Remove the safety copies unless `keepSafetyCopy`. */
  async finalize(output: RestoreOutput, ctx: SourceContext): Promise<void> {
    for (const a of this.#applied(output)) await a.target.finalize(a.output, ctx);
  }
}

/** The output of the trees restored so far (what `rollback` reads back). */
function composite(applied: readonly { part: Part; output: RestoreOutput }[]): RestoreOutput {
  const safety = applied.flatMap((a) => (a.output.safetyCopy ? [a.output.safetyCopy] : []));
  return {
    restored: applied.flatMap((a) => a.output.restored),
    ...(safety.length ? { safetyCopy: safety.join(', ') } : {}),
    state: { parts: applied.map((a) => ({ part: a.part, output: toJson(a.output) })) },
  };
}

/**
 * A tree's context: what its archive target writes ahead is recorded as the whole nginx output
 * (the trees already restored plus this one), so a rollback from the record undoes them all.
 */
function partContext(
  ctx: SourceContext,
  part: Part,
  applied: readonly { part: Part; output: RestoreOutput }[],
): SourceContext {
  const journal = ctx.restoreJournal;
  if (!journal) return ctx;
  return {
    ...ctx,
    restoreJournal: {
      keepDir: journal.keepDir,
      record: (output) => journal.record(composite([...applied, { part, output }])),
    },
  };
}

/**
 * Recreate absolute symlinks inside `dest`. Every parent must be a real folder inside `dest`, so
 * a link is never created through another link.
 */
async function recreateLinks(dest: string, links: readonly AbsoluteLink[]): Promise<void> {
  for (const l of links) {
    const rel = safeRelativePath(l.path);
    if (rel === undefined) throw new Error(`unsafe link path ${JSON.stringify(l.path)}`);
    const at = path.join(dest, ...rel.split('/'));
    if (!isInside(dest, at)) throw new Error(`link ${l.path} leaves ${dest}`);
    let dir = dest;
    for (const seg of rel.split('/').slice(0, -1)) {
      dir = path.join(dir, seg);
      const st = await fsp.lstat(dir).catch(() => undefined);
      if (!st) await fsp.mkdir(dir);
      else if (!st.isDirectory()) throw new Error(`${dir} is not a folder`);
    }
    await fsp.symlink(l.target, at);
  }
}
