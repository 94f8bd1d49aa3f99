import { describe, expect, it } from 'vitest';
import type { LogEntry, Schedule } from '../../../src/duplicati/types.js';
import {
  classifyTarget,
  type HookScriptInfo,
  jobOptions,
  judgeEncryption,
  judgeHooks,
  judgeRetention,
  judgeSchedule,
  type MountEntry,
  optionIsTrue,
  parseMetadataTime,
  parseMountInfo,
  summarizeRuns,
} from '../../../src/ops/audit-rules.js';
import { hookWrapperScript } from '../../../src/ops/hook-install.js';

const set = (name: string, value: string | null, filter: string | null = null) => ({ name, value, filter });

describe('jobOptions (settings as the server applies them)', () => {
  it('strips dashes, lower-cases, lets --names override plain ones and drops filter-scoped settings', () => {
    const o = jobOptions([
      set('--keep-versions', '5'),
      set('keep-versions', '3'),
      set('Passphrase', 'pw'),
      set('--no-encryption', 'true', '*.tmp'),
    ]);
    expect(o.get('keep-versions')).toBe('5');
    expect(o.get('passphrase')).toBe('pw');
    expect(o.has('no-encryption')).toBe(false);
  });

  it('server-wide default options come first; the job overrides them', () => {
    const o = jobOptions([set('keep-versions', '3')], {
      '--keep-versions': '9',
      '--no-encryption': 'true',
      'server-port': '8200',
    });
    expect(o.get('keep-versions')).toBe('3');
    expect(o.get('no-encryption')).toBe('true');
    expect(o.has('server-port')).toBe(false);
  });

  it('reads booleans like Duplicati: present and empty is true, false/0/off/no are false', () => {
    const o = jobOptions([set('a', ''), set('b', 'false'), set('c', 'TRUE'), set('d', '0'), set('e', null)]);
    expect(['a', 'b', 'c', 'd', 'e', 'missing'].map((k) => optionIsTrue(o, k))).toEqual([
      true,
      false,
      true,
      false,
      true,
      false,
    ]);
  });
});

describe('judgeEncryption', () => {
  it('passes with a passphrase (also a masked one) and no --no-encryption', () => {
    expect(judgeEncryption(jobOptions([set('encryption-module', 'aes'), set('passphrase', 's3cret')])).status).toBe(
      'pass',
    );
    expect(judgeEncryption(jobOptions([set('passphrase', '***************')])).status).toBe('pass');
  });

  it('fails with --no-encryption, or without a passphrase, saying which', () => {
    // The live 2.0.7.3 job (recording 09): encryption-module "" and --no-encryption true.
    const off = judgeEncryption(jobOptions([set('encryption-module', ''), set('--no-encryption', 'true')]));
    expect(off).toMatchObject({ status: 'fail', reason: expect.stringContaining('--no-encryption') });
    const none = judgeEncryption(jobOptions([set('encryption-module', 'aes')]));
    expect(none).toMatchObject({ status: 'fail', reason: expect.stringContaining('no passphrase') });
    expect(JSON.stringify(judgeEncryption(jobOptions([set('passphrase', 'pw-value')])))).not.toContain('pw-value');
  });

  it('--no-encryption=false does not turn encryption off', () => {
    expect(judgeEncryption(jobOptions([set('--no-encryption', 'false'), set('passphrase', 'x')])).status).toBe('pass');
  });
});

describe('judgeRetention', () => {
  it('passes with keep-versions, keep-time or retention-policy', () => {
    expect(judgeRetention(jobOptions([set('keep-versions', '7')]))).toMatchObject({
      status: 'pass',
      reason: 'keep-versions=7',
    });
    expect(judgeRetention(jobOptions([set('--keep-time', '3M')])).status).toBe('pass');
    expect(judgeRetention(jobOptions([set('retention-policy', '1W:1D,4W:1W,12M:1M')])).status).toBe('pass');
  });

  it('fails with none, an empty one, or keep-versions=0 (keep all)', () => {
    for (const s of [[], [set('keep-time', '')], [set('keep-versions', '0')]]) {
      expect(judgeRetention(jobOptions(s))).toMatchObject({
        status: 'fail',
        reason: expect.stringContaining('no keep-versions'),
      });
    }
  });
});

describe('classifyTarget', () => {
  const mounts: MountEntry[] = [
    { mountPoint: '/', fsType: 'ext4', source: '/dev/sda1' },
    { mountPoint: '/mnt/nas', fsType: 'cifs', source: '//nas.lan/backup' },
    { mountPoint: '/mnt/usb', fsType: 'ext4', source: '/dev/sdb1' },
  ];

  it('a file:// target or a plain path is a local folder (fail)', () => {
    expect(classifyTarget('file:///srv/duplicati-kit/target', mounts)).toMatchObject({
      kind: 'local-folder',
      status: 'fail',
    });
    expect(classifyTarget('file:///mnt/usb/backups', mounts).reason).toContain('ext4 at /mnt/usb');
    expect(classifyTarget('/var/backups/duplicati', mounts)).toMatchObject({ kind: 'local-path', status: 'fail' });
    expect(classifyTarget('C:\\Backups', mounts).status).toBe('fail');
  });

  it('a file:// target on a network mount or a UNC share is a warning', () => {
    const nas = classifyTarget('file:///mnt/nas/duplicati', mounts);
    expect(nas).toMatchObject({ kind: 'network-mount', status: 'warn' });
    expect(nas.reason).toContain('cifs mount of //nas.lan/backup');
    expect(classifyTarget('\\\\nas\\share\\backup', mounts).status).toBe('warn');
  });

  it('remote backends pass; this host and the local network warn; credentials are redacted', () => {
    const b2 = classifyTarget('b2://bucket/folder?auth-username=id&auth-password=topsecret', mounts);
    expect(b2).toMatchObject({ kind: 'remote', status: 'pass' });
    expect(JSON.stringify(b2)).not.toContain('topsecret');
    expect(classifyTarget('s3://my-bucket/prefix?s3-server-name=s3.eu-central-1.amazonaws.com').status).toBe('pass');
    expect(classifyTarget('ssh://backup.example.org:22/srv/backup?auth-username=me').status).toBe('pass');
    expect(classifyTarget('ssh://127.0.0.1/srv/backup')).toMatchObject({ kind: 'same-host', status: 'warn' });
    expect(classifyTarget('webdav://192.168.1.20/remote.php/dav')).toMatchObject({
      kind: 'local-network',
      status: 'warn',
    });
    const sftp = classifyTarget('sftp://user:hunter2@nas.local/backups');
    expect(sftp.status).toBe('warn');
    expect(JSON.stringify(sftp)).not.toContain('hunter2');
  });

  it('parses /proc/self/mountinfo, octal escapes included', () => {
    const text = [
      '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
      '95 22 0:50 / /mnt/my\\040nas rw,relatime shared:50 - nfs4 nas:/export/backup rw,vers=4.2',
      'garbage',
    ].join('\n');
    const parsed = parseMountInfo(text);
    expect(parsed).toEqual([
      { mountPoint: '/', fsType: 'ext4', source: '/dev/sda1' },
      { mountPoint: '/mnt/my nas', fsType: 'nfs4', source: 'nas:/export/backup' },
    ]);
    expect(classifyTarget('file:///mnt/my%20nas/dup', parsed).kind).toBe('network-mount');
  });
});

describe('judgeHooks', () => {
  const wrapper = hookWrapperScript(['/usr/bin/node', '/opt/dk/main.js', 'hook', '--config', '/etc/dk.yaml']);
  const script = (over: Partial<HookScriptInfo> = {}): HookScriptInfo => ({
    readable: true,
    executable: true,
    text: wrapper,
    ...over,
  });

  it('passes when before(-required) and after run duplicati-kit hook', () => {
    const o = jobOptions([
      set('--run-script-before-required', '/usr/local/bin/dk-hook'),
      set('--run-script-after', '/usr/local/bin/dk-hook'),
    ]);
    const v = judgeHooks(o, new Map([['/usr/local/bin/dk-hook', script()]]));
    expect(v).toMatchObject({ status: 'pass', reason: expect.stringContaining('(required)') });
    // A command line (run-script-with-arguments) needs no file.
    const cmd = jobOptions([
      set('--run-script-before', 'duplicati-kit --config /etc/dk.yaml hook'),
      set('--run-script-after', 'duplicati-kit --config /etc/dk.yaml hook'),
    ]);
    expect(judgeHooks(cmd, new Map()).status).toBe('pass');
  });

  it('fails without the settings, with a foreign or non-executable script; warns when unreadable', () => {
    expect(judgeHooks(jobOptions([]), new Map())).toMatchObject({
      status: 'fail',
      reason: expect.stringContaining('no run-script-before and no run-script-after'),
    });
    const o = jobOptions([set('--run-script-before', '/s/before.sh'), set('--run-script-after', '/s/after.sh')]);
    expect(
      judgeHooks(
        o,
        new Map([
          ['/s/before.sh', script({ text: '#!/bin/sh\necho hi\n' })],
          ['/s/after.sh', script()],
        ]),
      ),
    ).toMatchObject({ status: 'fail', reason: expect.stringContaining('does not run duplicati-kit hook') });
    expect(
      judgeHooks(
        o,
        new Map([
          ['/s/before.sh', script({ executable: false })],
          ['/s/after.sh', script()],
        ]),
      ).reason,
    ).toContain('not executable');
    expect(
      judgeHooks(
        o,
        new Map([
          ['/s/before.sh', script({ readable: false, text: '' })],
          ['/s/after.sh', script()],
        ]),
      ),
    ).toMatchObject({ status: 'warn', reason: expect.stringContaining('not readable here') });
  });
});

function resultRow(id: number, result: string, begin: string, extra: Record<string, unknown> = {}): LogEntry {
  return {
    id,
    operationId: id,
    timestamp: new Date(begin),
    type: 'Result',
    message: JSON.stringify({
      ParsedResult: result,
      MainOperation: 'Backup',
      BeginTime: begin,
      EndTime: begin,
      Errors: result === 'Success' ? [] : ['target unreachable'],
      ...extra,
    }),
    exception: null,
  };
}

describe('summarizeRuns', () => {
  it('the newest Result row is the last run; a failed one is not a success', () => {
    const rows = [
      resultRow(3, 'Fatal', '2026-11-29T02:00:00Z'),
      {
        ...resultRow(2, 'Success', '2026-11-28T12:00:00Z'),
        message: JSON.stringify({ ParsedResult: 'Success', MainOperation: 'List' }),
      },
      resultRow(1, 'Warning', '2026-11-28T02:00:00Z'),
    ];
    const s = summarizeRuns(rows, {});
    expect(s.lastRun).toMatchObject({ result: 'Fatal', errors: ['target unreachable'], from: 'log' });
    expect(s.lastSuccess).toMatchObject({ result: 'Warning', from: 'log' });
    expect(s.lastSuccess?.beginAt?.toISOString()).toBe('2026-11-28T02:00:00.000Z');
  });

  it('an interrupted run (hook exit 1, stop) is not a success', () => {
    const s = summarizeRuns([resultRow(1, 'Success', '2026-11-29T02:00:00Z', { Interrupted: true })], {});
    expect(s.lastRun?.interrupted).toBe(true);
    expect(s.lastSuccess).toBeNull();
  });

  it('falls back to metadata, comparing LastErrorDate with LastBackupFinished', () => {
    const ok = summarizeRuns([], { LastBackupStarted: '20261129T065858Z', LastBackupFinished: '20261129T065859Z' });
    expect(ok.lastSuccess).toMatchObject({ from: 'metadata', result: 'Success' });
    const failed = summarizeRuns([], {
      LastBackupFinished: '20261128T020000Z',
      LastErrorDate: '20261129T020000Z',
      LastErrorMessage: 'disk full',
    });
    expect(failed.lastRun).toMatchObject({ result: 'Fatal', errors: ['disk full'] });
    expect(failed.lastSuccess?.endAt?.toISOString()).toBe('2026-11-28T02:00:00.000Z');
    expect(summarizeRuns([], {})).toEqual({ lastRun: null, lastSuccess: null });
    expect(parseMetadataTime('20261129T065858Z')?.toISOString()).toBe('2026-11-29T06:58:58.000Z');
  });
});

describe('judgeSchedule', () => {
  const sched = (over: Partial<Schedule> = {}): Schedule => ({
    id: '1',
    tags: ['ID=1'],
    time: '2026-11-30T02:00:00Z',
    repeat: '1D',
    lastRun: '2026-11-29T02:00:00Z',
    rule: null,
    allowedDays: [],
    ...over,
  });
  const now = new Date('2026-11-29T12:00:00Z');
  const H = 3_600_000;

  it('passes when the run due today succeeded', () => {
    const v = judgeSchedule(sched(), new Date('2026-11-29T02:00:03Z'), now, H, 'UTC');
    expect(v).toMatchObject({ status: 'pass', evidence: { dueAt: '2026-11-29T02:00:00.000Z' } });
    expect(v.missed).toBeUndefined();
  });

  it('fails and counts the missed runs since the last success', () => {
    const v = judgeSchedule(sched(), new Date('2026-11-26T02:00:10Z'), now, H, 'UTC');
    expect(v).toMatchObject({ status: 'fail', missed: { dueAt: '2026-11-29T02:00:00.000Z', count: 3 } });
    expect(v.reason).toContain('missed 3 scheduled runs');
  });

  it('the grace keeps a run that is still due from counting as missed', () => {
    const early = new Date('2026-11-29T02:30:00Z');
    const v = judgeSchedule(sched(), new Date('2026-11-28T02:00:05Z'), early, H, 'UTC');
    expect(v.status).toBe('pass');
    expect(judgeSchedule(sched(), new Date('2026-11-28T02:00:05Z'), early, 0, 'UTC').status).toBe('fail');
  });

  it('a weekday-only schedule expects nothing on the weekend', () => {
    const weekdays = sched({ allowedDays: ['mon', 'tue', 'wed', 'thu', 'fri'] });
    // Sunday noon; Friday's run succeeded.
    expect(judgeSchedule(weekdays, new Date('2026-11-27T02:00:01Z'), now, H, 'UTC').status).toBe('pass');
  });

  it('no schedule, or a first run not due yet, is not a missed run', () => {
    expect(judgeSchedule(null, null, now, H, 'UTC')).toMatchObject({ status: 'warn' });
    expect(judgeSchedule(sched({ lastRun: null }), null, now, H, 'UTC')).toMatchObject({
      status: 'pass',
      reason: expect.stringContaining('no scheduled run due yet'),
    });
    expect(judgeSchedule(sched({ repeat: 'daily' }), null, now, H, 'UTC').reason).toContain('unreadable repeat');
  });

  it('a scheduler that never ran a due job, and a job never successful, are missed runs', () => {
    const stuck = sched({ time: '2026-11-27T02:00:00Z', lastRun: null });
    expect(judgeSchedule(stuck, null, now, H, 'UTC')).toMatchObject({
      status: 'fail',
      reason: expect.stringContaining('no successful run ever'),
    });
  });
});
