import { inspect } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import {
  ConfigError,
  DumpError,
  DuplicatiAuthenticationError,
  DuplicatiKitError,
  isConfigError,
  isDuplicatiAPIError,
  isDuplicatiError,
  isDuplicatiKitError,
  isDumpError,
  isPlanError,
  isSourceError,
  PlanError,
} from '../../../src/core/errors.js';

describe('error hierarchy', () => {
  it('sets name, code and keeps the cause', () => {
    const cause = new Error('driver said no');
    const e = new DumpError('dump failed', { source: 'db', kind: 'postgres', phase: 'prepare' }, { cause });
    expect(e.name).toBe('DumpError');
    expect(e.code).toBe('ERR_DUMP');
    expect(e.cause).toBe(cause);
    expect(e.source).toBe('db');
    expect(e).toBeInstanceOf(DuplicatiKitError);
    expect(isDumpError(e)).toBe(true);
    expect(isSourceError(e)).toBe(true);
    expect(isConfigError(e)).toBe(false);
    expect(isDuplicatiKitError(new Error('x'))).toBe(false);
    expect(isDuplicatiKitError(null)).toBe(false);
  });

  it('guards work across two copies of the module (duplicated installs)', async () => {
    vi.resetModules();
    const other = (await import(
      '../../../src/core/errors.js?copy=2' as string
    )) as typeof import('../../../src/core/errors.js');
    const foreign = new other.DuplicatiAuthenticationError('no', {
      status: 401,
      method: 'GET',
      path: '/api/v1/backups',
    });
    expect(foreign instanceof DuplicatiAuthenticationError).toBe(false);
    expect(isDuplicatiAPIError(foreign)).toBe(true);
    expect(isDuplicatiError(foreign)).toBe(true);
    expect(isDuplicatiKitError(foreign)).toBe(true);
    expect(isPlanError(foreign)).toBe(false);
  });

  it('redacts secrets from message, stack, JSON and inspect', () => {
    const secret = 'correct horse battery staple';
    const e = new ConfigError(`login with ${secret} failed`, [{ path: 'auth.password', message: 'wrong' }], {
      secrets: [secret],
    });
    for (const text of [e.message, e.stack ?? '', JSON.stringify(e), inspect(e)]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(encodeURIComponent(secret));
    }
    expect(e.message).toContain('***');
    expect(e.message).toContain('auth.password: wrong');
  });

  it('PlanError lists failed steps', () => {
    const e = new PlanError('plan failed', [
      { name: 'a', kind: 'sqlite', ok: true, durationMs: 1 },
      { name: 'b', kind: 'postgres', ok: false, durationMs: 2, error: new Error('connection refused') },
    ]);
    expect(e.message).toContain('b (postgres): connection refused');
    expect(e.message).not.toContain('a (sqlite)');
    expect(e.results).toHaveLength(2);
  });
});
