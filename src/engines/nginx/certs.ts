/**
 * What the Nginx source learns from the files it archives: the certificates in use (subject,
 * SANs, expiry, issuer) read with `node:crypto`, the absolute symlinks the safe extraction would
 * refuse, and `nginx -t`.
 *
 * @module
 */
import { X509Certificate } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { runChild } from '../../core/child.js';
import { throwIfAborted } from '../../core/abort.js';

/** One certificate as listed in the manifest. */
export interface CertificateInfo {
  /** The file it was read from (the path nginx uses, symlinks not resolved). */
  readonly file: string;
  /** e.g. `CN=photos.example.org`. */
  readonly subject: string;
  readonly issuer: string;
  /** DNS names and IP addresses of the subjectAltName extension. */
  readonly sans: string[];
  /** ISO 8601. */
  readonly notBefore: string;
  /** ISO 8601. */
  readonly notAfter: string;
  /** Whole days left until `notAfter` (negative once expired). */
  readonly daysLeft: number;
  readonly fingerprint256: string;
}

const CERT_EXT = /\.(pem|crt|cer|cert)$/i;
const MAX_CERT_FILE = 1 << 20;
const DAY = 86_400_000;

/** Read the first certificate of a PEM/DER file; undefined for keys and other files. */
export async function readCertificate(file: string, now = new Date()): Promise<CertificateInfo | undefined> {
  let data: Buffer;
  try {
    const st = await fsp.stat(file);
    if (!st.isFile() || st.size > MAX_CERT_FILE) return undefined;
    data = await fsp.readFile(file);
  } catch {
    return undefined;
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(data);
  } catch {
    return undefined;
  }
  const notAfter = new Date(cert.validTo);
  return {
    file,
    subject: cert.subject.split('\n').join(', '),
    issuer: cert.issuer.split('\n').join(', '),
    sans: (cert.subjectAltName ?? '')
      .split(',')
      .map((s) => s.trim().replace(/^(DNS|IP Address):/, ''))
      .filter(Boolean),
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: notAfter.toISOString(),
    daysLeft: Math.floor((notAfter.getTime() - now.getTime()) / DAY),
    fingerprint256: cert.fingerprint256,
  };
}

/** Every path below `root`, relative, `/`-separated; symlinks are listed, never followed. */
export async function walkTree(root: string): Promise<{ rel: string; link?: string; file: boolean }[]> {
  const out: { rel: string; link?: string; file: boolean }[] = [];
  const visit = async (rel: string): Promise<void> => {
    const entries = await fsp.readdir(path.join(root, rel), { withFileTypes: true });
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await visit(r);
      else if (e.isSymbolicLink()) out.push({ rel: r, link: await fsp.readlink(path.join(root, r)), file: false });
      else out.push({ rel: r, file: e.isFile() });
    }
  };
  await visit('');
  return out;
}

/**
 * Certificate files in use: regular `*.pem`/`*.crt`/`*.cer` files of the nginx tree, the current
 * `live/<name>/cert.pem` of each Let's Encrypt lineage (old versions under `archive/` are history,
 * not in use, and would raise false expiry warnings), and the extra files named.
 */
export async function certificateFiles(
  configDir: string,
  letsencryptDir: string | undefined,
  extra: readonly string[],
): Promise<string[]> {
  const files = (await walkTree(configDir))
    .filter((e) => e.file && CERT_EXT.test(e.rel))
    .map((e) => path.join(configDir, e.rel));
  if (letsencryptDir) {
    const live = path.join(letsencryptDir, 'live');
    const names = await fsp.readdir(live, { withFileTypes: true }).catch(() => []);
    for (const n of names) if (n.isDirectory()) files.push(path.join(live, n.name, 'cert.pem'));
  }
  return [...files, ...extra];
}

/** List the certificates of `files` (files that hold none are skipped). */
export async function listCertificates(files: readonly string[], now = new Date()): Promise<CertificateInfo[]> {
  const out: CertificateInfo[] = [];
  for (const f of files) {
    const c = await readCertificate(f, now);
    if (c) out.push(c);
  }
  return out;
}

/** The outcome of `nginx -t`. */
export interface NginxTestResult {
  /** False when no nginx binary was found. */
  readonly ran: boolean;
  readonly ok: boolean;
  /** nginx's own report (stderr), trimmed. */
  readonly output: string;
  readonly binary?: string;
}

const NGINX_CANDIDATES = ['nginx', '/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'];

/** The nginx binary to run: `binary` when given, else the first that answers `-v`. */
export async function findNginx(binary: string | undefined, signal: AbortSignal): Promise<string | undefined> {
  for (const c of binary ? [binary] : NGINX_CANDIDATES) {
    const r = await runChild(c, ['-v'], { timeoutMs: 30_000, signal });
    throwIfAborted(signal);
    if (r.exitCode === 0) return c;
  }
  return undefined;
}

/** Run `nginx -t -c <conf>`; `ran: false` when nginx is not installed. */
export async function testNginxConfig(
  conf: string,
  binary: string | undefined,
  signal: AbortSignal,
): Promise<NginxTestResult> {
  const bin = await findNginx(binary, signal);
  if (!bin) return { ran: false, ok: false, output: 'nginx is not installed' };
  const r = await runChild(bin, ['-t', '-c', conf], { timeoutMs: 60_000, signal });
  throwIfAborted(signal);
  const output = `${String(r.stderr)}\n${String(r.stdout)}`.trim().split('\n').slice(-20).join('\n');
  return { ran: true, ok: r.exitCode === 0, output, binary: bin };
}
