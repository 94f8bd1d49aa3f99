import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRestoreError } from '../../../../src/core/errors.js';
import type { Logger } from '../../../../src/core/logger.js';
import { NginxSource } from '../../../../src/engines/nginx/source.js';
import { NginxTarget } from '../../../../src/engines/nginx/target.js';
import type { SourceContext } from '../../../../src/contracts/types.js';
import { makeContext, tempDir } from '../../../helpers/context.js';
import { restoreInputFor } from '../../../helpers/restore-input.js';

async function tool(name: string, args: string[]): Promise<boolean> {
  const r = await execa(name, args, { reject: false });
  return r.exitCode === 0;
}

async function nginxPresent(): Promise<boolean> {
  const found = (await tool('nginx', ['-v'])) || (await tool('/usr/sbin/nginx', ['-v']));
  const ssl = await tool('openssl', ['version']);
  if (found && ssl) return true;
  const missing = [found ? '' : 'nginx', ssl ? '' : 'openssl'].filter(Boolean).join(' and ');
  if (process.env.CI) throw new Error(`${missing} is required in CI (apt-get install -y nginx-light openssl)`);
  console.warn(`skipping the nginx tests: ${missing} is not installed`);
  return false;
}

const up = await nginxPresent();

/** A self-signed certificate valid for `days`, its key beside it. */
async function makeCert(cert: string, key: string, cn: string, days: number): Promise<void> {
  await fsp.mkdir(path.dirname(cert), { recursive: true });
  await fsp.mkdir(path.dirname(key), { recursive: true });
  await execa('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    String(days),
    '-subj',
    `/CN=${cn}`,
    '-addext',
    `subjectAltName=DNS:${cn},DNS:www.${cn}`,
  ]);
}

function capture(ctx: SourceContext): { ctx: SourceContext; warnings: string[] } {
  const warnings: string[] = [];
  const logger: Logger = { ...ctx.logger, warn: (m, f) => warnings.push(`${m} ${JSON.stringify(f ?? {})}`) };
  return { ctx: { ...ctx, logger }, warnings };
}

describe.skipIf(!up)('NginxSource and NginxTarget with real nginx and openssl certificates', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let conf: string;
  let le: string;
  let extra: string;

  async function writeConfig(broken = false): Promise<void> {
    const live = path.join(le, 'live', 'photos.example.org');
    await fsp.writeFile(
      path.join(conf, 'nginx.conf'),
      `pid ${tmp.dir}/nginx.pid;
error_log ${tmp.dir}/error.log;
events {}
http {
  access_log off;
  include ${conf}/sites-enabled/*;
}
`,
    );
    await fsp.writeFile(
      path.join(conf, 'sites-available', 'photos'),
      `server {
  listen 127.0.0.1:18443 ssl;
  server_name photos.example.org;
  ssl_certificate ${live}/fullchain.pem;
  ssl_certificate_key ${live}/privkey.pem;
  ${broken ? 'no_such_directive on;' : ''}
}
`,
    );
  }

  beforeAll(async () => {
    tmp = await tempDir('dk-nginx-');
    conf = path.join(tmp.dir, 'etc', 'nginx');
    le = path.join(tmp.dir, 'etc', 'letsencrypt');
    await fsp.mkdir(path.join(conf, 'sites-available'), { recursive: true });
    await fsp.mkdir(path.join(conf, 'sites-enabled'), { recursive: true });
    // Debian's layout: an absolute symlink, which the safe extraction refuses as such.
    await fsp.symlink(path.join(conf, 'sites-available', 'photos'), path.join(conf, 'sites-enabled', 'photos'));
    // certbot's layout: live/ holds relative symlinks to the numbered files in archive/.
    const arch = path.join(le, 'archive', 'photos.example.org');
    await makeCert(path.join(arch, 'cert1.pem'), path.join(arch, 'privkey1.pem'), 'photos.example.org', 60);
    await fsp.copyFile(path.join(arch, 'cert1.pem'), path.join(arch, 'fullchain1.pem'));
    await fsp.chmod(path.join(arch, 'privkey1.pem'), 0o600);
    const live = path.join(le, 'live', 'photos.example.org');
    await fsp.mkdir(live, { recursive: true });
    for (const f of ['cert', 'privkey', 'fullchain']) {
      await fsp.symlink(`../../archive/photos.example.org/${f}1.pem`, path.join(live, `${f}.pem`));
    }
    await fsp.mkdir(path.join(le, 'renewal'));
    await fsp.writeFile(path.join(le, 'renewal', 'photos.example.org.conf'), 'version = 2.9.0\n');
    // One certificate about to expire, inside the nginx tree; an extra one outside both trees.
    await makeCert(path.join(conf, 'ssl', 'old.pem'), path.join(conf, 'ssl', 'old.key'), 'old.example.org', 5);
    extra = path.join(tmp.dir, 'etc', 'ssl', 'home.crt');
    await makeCert(extra, path.join(tmp.dir, 'etc', 'ssl', 'home.key'), 'home.lan', 365);
    await writeConfig();
  });

  afterAll(async () => {
    await tmp?.cleanup();
  });

  async function backup(dir: string) {
    const source = new NginxSource({ name: 'nginx', configDir: conf, letsencryptDir: le, extraCertFiles: [extra] });
    const { ctx, warnings } = capture(makeContext(dir, 'nginx'));
    await source.check(ctx);
    const prepared = await source.prepare(ctx);
    return { source, prepared, warnings, input: restoreInputFor(source, prepared, dir) };
  }

  it('lists every certificate in use, warns about the one expiring in 5 days, and records nginx -t', async () => {
    const { prepared, warnings } = await backup(path.join(tmp.dir, 'work1'));
    const meta = prepared.metadata as Record<string, unknown>;
    expect(prepared.artifacts.map((a) => a.path).sort()).toEqual([
      'nginx/extra-certs.tar',
      'nginx/letsencrypt.tar',
      'nginx/nginx-config.tar',
    ]);
    expect(meta.nginxTest).toMatchObject({ ran: true, ok: true });
    const certs = meta.certificates as {
      subject: string;
      sans: string[];
      file: string;
      daysLeft: number;
      issuer: string;
    }[];
    expect(certs.map((c) => c.subject).sort()).toEqual(['CN=home.lan', 'CN=old.example.org', 'CN=photos.example.org']);
    const photos = certs.find((c) => c.subject === 'CN=photos.example.org');
    expect(photos).toMatchObject({
      sans: ['photos.example.org', 'www.photos.example.org'],
      issuer: 'CN=photos.example.org',
      file: path.join(le, 'live', 'photos.example.org', 'cert.pem'),
    });
    const soon = meta.expiringSoon as { subject: string; daysLeft: number }[];
    expect(soon.map((c) => c.subject)).toEqual(['CN=old.example.org']);
    expect(soon[0]?.daysLeft).toBeLessThan(14);
    expect(warnings.some((w) => w.includes('expires soon') && w.includes('old.example.org'))).toBe(true);
    expect((meta.config as { absoluteLinks: unknown }).absoluteLinks).toEqual([
      { path: 'sites-enabled/photos', target: path.join(conf, 'sites-available', 'photos') },
    ]);
    expect((meta.letsencrypt as { symlinks: number }).symlinks).toBe(3);
  });

  it('restores over the live folders with links and modes, tests the config, rolls back and finalizes', async () => {
    const dir = path.join(tmp.dir, 'work2');
    const { input } = await backup(dir);
    const target = new NginxTarget({
      configDir: conf,
      letsencryptDir: le,
      extraCertsDir: path.join(tmp.dir, 'restored-extra'),
      overwrite: true,
    });
    const ctx = makeContext(dir, 'nginx');
    expect((await target.verify(input, ctx)).ok).toBe(true);

    // Damage after the backup: a lost site and a lost key.
    await fsp.rm(path.join(conf, 'sites-available', 'photos'));
    await fsp.rm(path.join(le, 'archive', 'photos.example.org', 'privkey1.pem'));
    const out = await target.restore(input, ctx);
    expect(out.metadata?.nginxTest).toMatchObject({ ran: true, ok: true });
    expect(await fsp.readlink(path.join(conf, 'sites-enabled', 'photos'))).toBe(
      path.join(conf, 'sites-available', 'photos'),
    );
    expect(await fsp.readlink(path.join(le, 'live', 'photos.example.org', 'privkey.pem'))).toBe(
      '../../archive/photos.example.org/privkey1.pem',
    );
    expect((await fsp.stat(path.join(le, 'archive', 'photos.example.org', 'privkey1.pem'))).mode & 0o777).toBe(0o600);
    expect(await fsp.readFile(path.join(tmp.dir, 'restored-extra', extra.slice(1)), 'utf8')).toContain(
      'BEGIN CERTIFICATE',
    );

    await target.rollback(out, ctx);
    await expect(fsp.access(path.join(conf, 'sites-available', 'photos'))).rejects.toThrow();

    const again = await target.restore(input, ctx);
    await target.finalize(again, ctx);
    await fsp.access(path.join(conf, 'sites-available', 'photos'));
    const leftovers = (await fsp.readdir(path.join(tmp.dir, 'etc'))).filter((n) => n.includes('safety'));
    expect(leftovers).toEqual([]);
  });

  it('a restored config that nginx -t rejects fails the restore and puts the previous files back', async () => {
    await writeConfig(true);
    const dir = path.join(tmp.dir, 'work3');
    const { input, prepared, warnings } = await backup(dir);
    expect(prepared.metadata?.nginxTest).toMatchObject({ ran: true, ok: false });
    expect(warnings.some((w) => w.includes('nginx -t rejects'))).toBe(true);
    await writeConfig(false);
    const target = new NginxTarget({ configDir: conf, letsencryptDir: le, overwrite: true });
    const err = await target.restore(input, makeContext(dir, 'nginx')).catch((e: unknown) => e);
    expect(isRestoreError(err)).toBe(true);
    expect((err as Error).message).toMatch(/no_such_directive/);
    expect(await fsp.readFile(path.join(conf, 'sites-available', 'photos'), 'utf8')).not.toContain('no_such_directive');
    const leftovers = (await fsp.readdir(path.join(tmp.dir, 'etc'))).filter(
      (n) => n !== 'nginx' && n !== 'letsencrypt' && n !== 'ssl',
    );
    expect(leftovers).toEqual([]);
  });

  it('onInvalidConfig: fail refuses to back up a config nginx rejects', async () => {
    await writeConfig(true);
    try {
      const source = new NginxSource({ configDir: conf, letsencryptDir: false, onInvalidConfig: 'fail' });
      const err = await source.prepare(makeContext(path.join(tmp.dir, 'work4'), 'nginx')).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/nginx -t rejects/);
    } finally {
      await writeConfig(false);
    }
  });
});
