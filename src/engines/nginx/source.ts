/**
 * `NginxSource`: the Nginx configuration tree and the TLS material (Let's Encrypt
 * `live`/`archive`/`renewal` with their symlinks), archived with the tar packer, every certificate
 * in use listed in the manifest, `nginx -t` first.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { throwIfAborted } from '../../core/abort.js';
import { DumpError, isDuplicatiKitError, SourceUnavailableError } from '../../core/errors.js';
import { configErrorFrom } from '../../core/validate.js';
import type { BackupSource, JsonValue, PreparedSource, SourceContext } from '../../contracts/types.js';
import { ArchiveSource } from '../_shared/archive-source.js';
import { compileExcludes } from '../_shared/tar-pack.js';
import { type CertificateInfo, certificateFiles, listCertificates, testNginxConfig, walkTree } from './certs.js';
import { type AbsoluteLink, PARTS, type Part, toJson } from './common.js';
import {
  EXPIRY_WARNING_DAYS,
  NGINX_KIND,
  NGINX_SOURCE_DEFAULTS,
  type NginxSourceOptions,
  nginxSourceSchema,
} from './options.js';

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
    const parsed = nginxSourceSchema.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid NginxSource options', parsed.error);
    this.#options = options;
    this.name = options.name ?? NGINX_SOURCE_DEFAULTS.name;
    this.#configDir = path.resolve(options.configDir ?? NGINX_SOURCE_DEFAULTS.configDir);
  }

  #where(phase: 'check' | 'prepare') {
    return { source: this.name, kind: this.kind, phase };
  }

  /** The certbot folder to archive, or undefined (none configured, or the default is absent). */
  async #letsencryptDir(phase: 'check' | 'prepare'): Promise<string | undefined> {
    const opt = this.#options.letsencryptDir;
    if (opt === false) return undefined;
    const dir = path.resolve(opt ?? NGINX_SOURCE_DEFAULTS.letsencryptDir);
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

  /**
   * The certificates in use (the config tree's certificate files, Let's Encrypt's `live/` ones and
   * the extra files). Reads files only.
   *
   * @example
   * ```ts
   * for (const c of await nginx.certificates()) console.error(c.subject, c.daysLeft);
   * ```
   */
  async certificates(): Promise<CertificateInfo[]> {
    const le = await this.#letsencryptDir('check');
    const extra = (this.#options.extraCertFiles ?? []).map((f) => path.resolve(f));
    return listCertificates(await certificateFiles(this.#configDir, le, extra));
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
