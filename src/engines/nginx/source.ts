/**
 * `NginxSource` / `NginxTarget`: the Nginx configuration tree and the TLS material (Let's Encrypt
 * `live`/`archive`/`renewal` with their symlinks), archived with the tar packer, every certificate
 * in use listed in the manifest, `nginx -t` on both sides.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { throwIfAborted } from '../../core/abort.js';
import { DumpError, isDuplicatiKitError, type Phase, RestoreError, SourceUnavailableError } from '../../core/errors.js';
import { isInside, safeRelativePath } from '../../core/fs.js';
import { ArchiveSource, ArchiveTarget } from '../archive/index.js';
import { certificateFiles, listCertificates, type NginxTestResult, testNginxConfig, walkTree } from './certs.js';
import { configErrorFrom } from '../../core/validate.js';
import { compileExcludes } from '../_shared/tar-pack.js';
import type {
  BackupSource,
  JsonValue,
  ManifestEntry,
  PreparedSource,
  RestoreInput,
  RestoreOutput,
  RestoreTarget,
  SourceContext,
  VerificationReport,
} from '../../contracts/types.js';

/** Manifest kind of {@link NginxSource}. */
export const NGINX_KIND = 'nginx';

/** Certificates expiring within this many days raise a warning. */
export const EXPIRY_WARNING_DAYS = 14;

/** The trees a source archives, by artifact base name. */
const PARTS = { config: 'nginx-config', letsencrypt: 'letsencrypt', extra: 'extra-certs' } as const;
type Part = keyof typeof PARTS;

/** Options of {@link NginxSource}. */
export interface NginxSourceOptions {
  /** Name in the plan and the manifest. @default 'nginx' */
  readonly name?: string;
  /** The nginx configuration folder (holding `nginx.conf`). @default '/etc/nginx' */
  readonly configDir?: string;
  /**
   * The certbot folder, or `false` for none. The default is skipped when it does not exist; a
   * folder given explicitly must exist. @default '/etc/letsencrypt'
   */
  readonly letsencryptDir?: string | false;
  /** Certificate files outside both trees (absolute paths), archived and listed too. */
  readonly extraCertFiles?: readonly string[];
  /** A config that fails `nginx -t` is a warning (`warn`) or fails the backup (`fail`). @default 'warn' */
  readonly onInvalidConfig?: 'warn' | 'fail';
  /** The nginx binary. @default the first of `nginx`, `/usr/sbin/nginx`, … that runs */
  readonly nginxBinary?: string;
}

const absolute = z.string().refine((p) => path.isAbsolute(p), { message: 'must be an absolute path' });

const sourceSchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'must be a simple name (letters, digits, . _ -)')
      .optional(),
    configDir: z.string().min(1).optional(),
    letsencryptDir: z.union([z.string().min(1), z.literal(false)]).optional(),
    extraCertFiles: z.array(absolute).optional(),
    onInvalidConfig: z.enum(['warn', 'fail']).optional(),
    nginxBinary: z.string().min(1).optional(),
  })
  .strict();

/** An absolute symlink kept aside (the safe extraction refuses them) and recreated on restore. */
interface AbsoluteLink {
  readonly path: string;
  readonly target: string;
}

function toJson<T>(v: T): JsonValue {
  return JSON.parse(JSON.stringify(v)) as JsonValue;
}

/**
 * Nginx configuration and TLS material as a backup source.
 *
 * Artifacts: `nginx-config.tar` (the whole `configDir`), `letsencrypt.tar` (the whole certbot
 * folder: `live` symlinks into `archive`, `renewal` configs, accounts; relative symlinks kept),
 * `extra-certs.tar` (the `extraCertFiles`, under their full paths). Absolute symlinks, such as
 * Debian's `sites-enabled/default → /etc/nginx/sites-available/default`, are listed in the
 * metadata (`absoluteLinks`) instead, because the safe extraction refuses them; the target
 * recreates them.
 *
 * When nginx is installed, `nginx -t -c <configDir>/nginx.conf` runs first (`onInvalidConfig`
 * decides whether a failure warns or fails); when it is not, a warning says so. Every certificate
 * in use is listed in `certificates` (subject, SANs, notAfter, issuer, file); those expiring
 * within 14 days (or expired) are logged as warnings and listed in `expiringSoon`. Private keys
 * are archived (the work directory must be as private as the keys) but never read.
 *
 * @throws {ConfigError} from the constructor when the options are invalid.
 * @example
 * ```ts
 * import { createBackupPlan, NginxSource } from 'duplicati-kit';
 * const plan = createBackupPlan({
 *   workDir: '/srv/backup/staging',
 *   sources: [new NginxSource({ extraCertFiles: ['/etc/ssl/certs/home.crt'] })],
 * });
 * ```
 */
export class NginxSource implements BackupSource {
  readonly name: string;
  readonly kind = NGINX_KIND;
  readonly #options: NginxSourceOptions;
  readonly #configDir: string;

  /** @param options validated here; a ConfigError names every bad field */
  constructor(options: NginxSourceOptions = {}) {
    const parsed = sourceSchema.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid NginxSource options', parsed.error);
    this.#options = options;
    this.name = options.name ?? 'nginx';
    this.#configDir = path.resolve(options.configDir ?? '/etc/nginx');
  }

  #where(phase: 'check' | 'prepare') {
    return { source: this.name, kind: this.kind, phase };
  }

  /** The certbot folder to archive, or undefined (none configured, or the default is absent). */
  async #letsencryptDir(phase: 'check' | 'prepare'): Promise<string | undefined> {
    const opt = this.#options.letsencryptDir;
    if (opt === false) return undefined;
    const dir = path.resolve(opt ?? '/etc/letsencrypt');
    const st = await fsp.stat(dir).catch(() => undefined);
    if (st?.isDirectory()) return dir;
    if (opt === undefined) return undefined;
    throw new SourceUnavailableError(`letsencryptDir ${dir} is not a folder`, this.#where(phase));
  }

  /** Preflight: the folders and extra files are readable. */
  async check(ctx: SourceContext): Promise<void> {
    throwIfAborted(ctx.signal);
    try {
      await fsp.access(path.join(this.#configDir, 'nginx.conf'));
      await this.#letsencryptDir('check');
      for (const f of this.#options.extraCertFiles ?? []) await fsp.access(f);
    } catch (e) {
      if (isDuplicatiKitError(e)) throw e;
      throw new SourceUnavailableError(`cannot read the nginx files: ${(e as Error).message}`, this.#where('check'), {
        cause: e,
      });
    }
  }

  /** Absolute symlinks of `root`, and the exclude patterns that leave exactly them out. */
  async #absoluteLinks(root: string): Promise<{ links: AbsoluteLink[]; exclude: string[] }> {
    const entries = await walkTree(root);
    const links = entries.flatMap((e) =>
      e.link !== undefined && path.isAbsolute(e.link) ? [{ path: e.rel, target: e.link }] : [],
    );
    const exclude = links.map((l) => (l.path.includes('/') ? l.path : `/${l.path}`));
    const excluded = compileExcludes(exclude);
    const wanted = new Set(links.map((l) => l.path));
    const wrong = entries.filter((e) => excluded(e.rel) !== wanted.has(e.rel)).map((e) => e.rel);
    if (wrong.length) {
      throw new DumpError(
        `cannot set the absolute symlinks of ${root} aside without also touching ${wrong.join(', ')}; make those links relative`,
        this.#where('prepare'),
      );
    }
    return { links, exclude };
  }

  /** Test the config, list the certificates, archive the trees. */
  async prepare(ctx: SourceContext): Promise<PreparedSource> {
    const signal = ctx.signal;
    const le = await this.#letsencryptDir('prepare');
    const extra = (this.#options.extraCertFiles ?? []).map((f) => path.resolve(f));
    const conf = path.join(this.#configDir, 'nginx.conf');
    const nginxTest = await testNginxConfig(conf, this.#options.nginxBinary, signal);
    if (!nginxTest.ran) ctx.logger.warn('nginx is not installed: the configuration was not validated', { conf });
    else if (!nginxTest.ok) {
      if (this.#options.onInvalidConfig === 'fail') {
        throw new DumpError(`nginx -t rejects ${conf}:\n${nginxTest.output}`, this.#where('prepare'), {
          code: 'ERR_NGINX_CONFIG',
        });
      }
      ctx.logger.warn('nginx -t rejects the configuration; backing it up anyway', { conf, output: nginxTest.output });
    }

    const certificates = await listCertificates(await certificateFiles(this.#configDir, le, extra));
    const expiringSoon = certificates.filter((c) => c.daysLeft < EXPIRY_WARNING_DAYS);
    for (const c of expiringSoon) {
      ctx.logger.warn(c.daysLeft < 0 ? 'certificate has expired' : 'certificate expires soon', {
        subject: c.subject,
        file: c.file,
        notAfter: c.notAfter,
        daysLeft: c.daysLeft,
      });
    }
    const parts: { part: Part; source: ArchiveSource; links: AbsoluteLink[] }[] = [];
    const tree = async (part: Part, root: string) => {
      const { links, exclude } = await this.#absoluteLinks(root);
      const source = new ArchiveSource({
        name: this.name,
        root,
        artifactName: PARTS[part],
        ...(exclude.length ? { exclude } : {}),
      });
      parts.push({ part, source, links });
    };
    await tree('config', this.#configDir);
    if (le) await tree('letsencrypt', le);
    if (extra.length) {
      parts.push({
        part: 'extra',
        source: new ArchiveSource({
          name: this.name,
          root: '/',
          include: extra.map((f) => f.slice(1)),
          artifactName: PARTS.extra,
        }),
        links: [],
      });
    }
    if (ctx.dryRun) {
      return {
        artifacts: [],
        metadata: { dryRun: true, certificates: toJson(certificates), expiringSoon: toJson(expiringSoon) },
      };
    }
    const artifacts = [];
    const metadata: Record<string, JsonValue> = {
      configDir: this.#configDir,
      letsencryptDir: le ?? null,
      extraCertFiles: extra,
      nginxTest: toJson(nginxTest),
      certificates: toJson(certificates),
      expiringSoon: toJson(expiringSoon),
    };
    for (const p of parts) {
      const prepared = await p.source.prepare(ctx);
      artifacts.push(...prepared.artifacts);
      metadata[p.part] = { ...(prepared.metadata ?? {}), absoluteLinks: toJson(p.links) };
    }
    ctx.logger.info('archived nginx configuration', {
      certificates: certificates.length,
      expiringSoon: expiringSoon.length,
    });
    return { artifacts, metadata };
  }
}

/** Options of {@link NginxTarget}. */
export interface NginxTargetOptions {
  /** Name in the restore plan. @default 'nginx' */
  readonly name?: string;
  /** Only accept the manifest entry of this source name. @default any `nginx` entry */
  readonly source?: string;
  /** Where the configuration goes. */
  readonly configDir: string;
  /** Where the certbot folder goes; required when the backup holds one. */
  readonly letsencryptDir?: string;
  /** Where the extra certificate files go (under their full paths); skipped with a warning when absent. */
  readonly extraCertsDir?: string;
  /** Replace existing folders (kept as safety copies until `finalize`). @default false */
  readonly overwrite?: boolean;
  /** Keep the safety copies after `finalize`. @default false */
  readonly keepSafetyCopy?: boolean;
  /** Run `nginx -t` on the restored config before reporting success. @default true */
  readonly testConfig?: boolean;
  /** The nginx binary. @default the first of `nginx`, `/usr/sbin/nginx`, … that runs */
  readonly nginxBinary?: string;
}

const targetSchema = z
  .object({
    name: z.string().min(1).optional(),
    source: z.string().min(1).optional(),
    configDir: z.string().min(1),
    letsencryptDir: z.string().min(1).optional(),
    extraCertsDir: z.string().min(1).optional(),
    overwrite: z.boolean().optional(),
    keepSafetyCopy: z.boolean().optional(),
    testConfig: z.boolean().optional(),
    nginxBinary: z.string().min(1).optional(),
  })
  .strict();

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
    const parsed = targetSchema.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid NginxTarget options', parsed.error);
    this.#options = options;
    this.name = options.name ?? 'nginx';
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
          kind: 'archive',
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
        const output = await p.target.restore(p.sub, ctx);
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
      const safety = applied.flatMap((a) => (a.output.safetyCopy ? [a.output.safetyCopy] : []));
      return {
        restored: applied.flatMap((a) => a.output.restored),
        ...(safety.length ? { safetyCopy: safety.join(', ') } : {}),
        state: { parts: applied.map((a) => ({ part: a.part, output: toJson(a.output) })) },
        metadata: { nginxTest: test ? toJson(test) : null },
      };
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
