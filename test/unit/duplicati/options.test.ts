import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/core/errors.js';
import { DuplicatiClient } from '../../../src/duplicati/index.js';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('no ConfigError');
}

describe('client options', () => {
  it('names every bad field and never echoes a secret', () => {
    const err = configError(
      () =>
        new DuplicatiClient({
          baseUrl: 'ftp://x',
          auth: { type: 'password', password: 'secret-pw-1', passwordFile: '/x' } as never,
          timeout: -1,
          bogus: true,
        } as never),
    );
    expect(err.issues.map((i) => i.path)).toEqual(expect.arrayContaining(['baseUrl', 'auth', 'timeout', '']));
    expect(err.message).not.toContain('secret-pw-1');
  });

  it('rejects a pre-auth token the server would silently drop', () => {
    const err = configError(
      () => new DuplicatiClient({ baseUrl: 'http://h:8200', auth: { type: 'preAuth', token: 'short' } }),
    );
    expect(err.issues[0]?.path).toBe('auth.token');
  });

  it('fromEnv reads the explicit environment only', async () => {
    const dup = DuplicatiClient.fromEnv({ DUPLICATI_URL: 'http://10.0.0.5:8200', DUPLICATI_PASSWORD: 'pw-from-env' });
    expect(dup.baseUrl).toBe('http://10.0.0.5:8200');
    expect(JSON.stringify(dup)).not.toContain('pw-from-env');
    const file = DuplicatiClient.fromEnv({ DUPLICATI_PASSWORD_FILE: '/run/secrets/dup', DUPLICATI_GENERATION: '2.0' });
    expect(await file.generation()).toBe('2.0');
    const tok = DuplicatiClient.fromEnv({ DUPLICATI_PREAUTH_TOKEN: 'abcdefghij_KLM' });
    expect(await tok.generation()).toBe('2.1');
    expect(configError(() => DuplicatiClient.fromEnv({})).issues[0]?.path).toBe('DUPLICATI_PASSWORD');
  });
});
