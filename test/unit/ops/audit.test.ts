import { describe, expect, it } from 'vitest';
import { auditBackups } from '../../../src/ops/audit.js';
import type { BackupSource } from '../../../src/contracts/types.js';

const source = (name: string, check?: BackupSource['check']): BackupSource => ({
  name,
  kind: 'memory',
  ...(check ? { check } : {}),
  prepare: async () => ({ artifacts: [] }),
});

describe('auditBackups: live data', () => {
  it('a check that never answers (and ignores its signal) fails at the timeout; a throwing one fails with its reason', async () => {
    const r = await auditBackups({
      sources: [
        source('hangs', () => new Promise<void>(() => {})),
        source('refuses', async () => {
          throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
        }),
        source('fine', async () => {}),
        source('unchecked'),
      ],
      checkTimeoutMs: 50,
    });
    expect(r.rules.map((x) => [x.subject, x.status, x.reason])).toEqual([
      ['hangs', 'fail', 'memory check did not answer within 50 ms'],
      ['refuses', 'fail', 'memory unreachable: connect ECONNREFUSED 127.0.0.1:5432'],
      ['fine', 'pass', expect.stringMatching(/^memory answered its check in \d+ ms$/)],
      ['unchecked', 'warn', 'memory source has no preflight check: presence not verified'],
    ]);
    expect(r).toMatchObject({ ok: false, counts: { pass: 1, fail: 2, warn: 1, unknown: 0 }, notifications: [] });
  });

  it('rejects bad options with a ConfigError naming the field, and an unknown time zone', async () => {
    await expect(auditBackups({ graceMs: -1 })).rejects.toThrow(/graceMs/);
    await expect(auditBackups({ timeZone: 'Nowhere/Land' })).rejects.toThrow(/unknown time zone/);
    await expect(auditBackups({ localCopies: { dir: 'relative' } })).rejects.toThrow(/absolute path/);
  });

  it("rethrows the caller's abort", async () => {
    const ctl = new AbortController();
    ctl.abort(new Error('stop'));
    await expect(auditBackups({ sources: [source('fine', async () => {})], signal: ctl.signal })).rejects.toThrow(
      'stop',
    );
  });
});
