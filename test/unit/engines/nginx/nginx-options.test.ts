import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isConfigError } from '../../../../src/core/errors.js';
import { NginxSource } from '../../../../src/engines/nginx/source.js';
import { NginxTarget } from '../../../../src/engines/nginx/target.js';
import { readCertificate, walkTree } from '../../../../src/engines/nginx/certs.js';
import { tempDir } from '../../../helpers/context.js';

function issues(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    if (isConfigError(e)) return e.issues.map((i) => i.path);
    throw e;
  }
  throw new Error('no ConfigError');
}

describe('NginxSource / NginxTarget options', () => {
  it('name every bad field', () => {
    expect(
      issues(() => new NginxSource({ name: '', extraCertFiles: ['relative.pem'], onInvalidConfig: 'ignore' } as never)),
    ).toEqual(expect.arrayContaining(['name', 'extraCertFiles.0', 'onInvalidConfig']));
    expect(issues(() => new NginxTarget({ overwrite: 'yes' } as never))).toEqual(
      expect.arrayContaining(['configDir', 'overwrite']),
    );
  });

  it('routes nginx entries, by source name when one is set', () => {
    const t = new NginxTarget({ configDir: '/etc/nginx', source: 'web' });
    expect(t.accepts({ kind: 'nginx', name: 'web' } as never)).toBe(true);
    expect(t.accepts({ kind: 'nginx', name: 'other' } as never)).toBe(false);
    expect(t.accepts({ kind: 'archive', name: 'web' } as never)).toBe(false);
    expect(new NginxSource().name).toBe('nginx');
  });
});

describe('certificate reading', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    tmp = await tempDir('dk-nginx-unit-');
  });
  afterAll(async () => tmp.cleanup());

  it('skips files that hold no certificate and lists links without following them', async () => {
    await fsp.writeFile(
      path.join(tmp.dir, 'key.pem'),
      '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n',
    );
    await fsp.mkdir(path.join(tmp.dir, 'd'));
    await fsp.symlink('/etc/passwd', path.join(tmp.dir, 'd', 'abs'));
    expect(await readCertificate(path.join(tmp.dir, 'key.pem'))).toBeUndefined();
    expect(await readCertificate(path.join(tmp.dir, 'missing.pem'))).toBeUndefined();
    expect(await walkTree(tmp.dir)).toEqual([
      { rel: 'd/abs', link: '/etc/passwd', file: false },
      { rel: 'key.pem', file: true },
    ]);
  });
});
