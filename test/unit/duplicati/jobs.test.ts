import nock from 'nock';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/core/errors.js';
import { DuplicatiClient, type JobSpec } from '../../../src/duplicati/index.js';
import { desiredSettings, nextRun } from '../../../src/duplicati/resources/jobs.js';
import { BASE, jwt } from './helpers.js';

beforeAll(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());

const MASK = '***************';
const spec: JobSpec = {
  name: 'Immich files',
  sources: ['/srv/immich/library/'],
  target: 's3://bucket/immich?auth-username=AKIA1&auth-password=s3-secret-key',
  passphrase: 'family-photos-passphrase',
  schedule: { time: '03:00', repeat: '1D' },
  retention: { keepTime: '30D' },
  filters: [{ include: false, expression: '*/thumbs/*' }],
  options: { 'dblock-size': '100mb' },
  hooks: { before: '/usr/local/bin/dk-hook', timeout: '30m' },
};

function dup(): DuplicatiClient {
  return new DuplicatiClient({ baseUrl: BASE, auth: { type: 'token', token: jwt('t') }, retryMinDelayMs: 1 });
}

/** What a 2.3+ server returns for the job the spec created: secrets masked. */
function storedJob(overrides: { settings?: { Name: string; Value: string }[]; time?: string } = {}): object {
  return {
    Schedule: {
      ID: 1,
      Tags: ['ID=7'],
      Time: overrides.time ?? new Date(2026, 10, 30, 3, 0).toISOString(),
      Repeat: '1D',
      LastRun: null,
      Rule: '',
      AllowedDays: [],
    },
    Backup: {
      ID: '7',
      Name: 'Immich files',
      Description: '',
      Tags: [],
      TargetURL: `s3://bucket/immich?auth-username=AKIA1&auth-password=${MASK}`,
      DBPath: '/data/X.sqlite',
      Sources: ['/srv/immich/library/'],
      Settings: overrides.settings ?? [
        { Name: 'encryption-module', Value: 'aes' },
        { Name: 'passphrase', Value: MASK },
        { Name: 'keep-time', Value: '30D' },
        { Name: 'dblock-size', Value: '100mb' },
        { Name: '--run-script-before', Value: '/usr/local/bin/dk-hook' },
        { Name: '--run-script-timeout', Value: '30m' },
        { Name: 'compression-module', Value: 'zip' },
      ],
      Filters: [{ Order: 0, Include: false, Expression: '*/thumbs/*' }],
      Metadata: {},
      IsTemporary: false,
    },
    DisplayNames: {},
  };
}

const listed = [
  {
    Backup: { ID: '7', Name: 'immich FILES', TargetURL: 's3://bucket/immich', Metadata: {} },
    Schedule: null,
  },
];

describe('jobs as code', () => {
  it('maps a spec to Duplicati settings', () => {
    expect(Object.fromEntries(desiredSettings(spec))).toEqual({
      'encryption-module': 'aes',
      passphrase: 'family-photos-passphrase',
      'keep-time': '30D',
      'dblock-size': '100mb',
      '--run-script-before': '/usr/local/bin/dk-hook',
      '--run-script-timeout': '30m',
    });
    expect(
      Object.fromEntries(desiredSettings({ ...spec, passphrase: null, retention: { keepVersions: 14 } })),
    ).toMatchObject({ 'encryption-module': '', '--no-encryption': 'true', 'keep-versions': '14' });
  });

  it('computes the next run at HH:MM on an allowed day', () => {
    const wed = new Date(2026, 10, 25, 12, 0); // a Wednesday
    expect(nextRun('02:00', undefined, wed)).toEqual(new Date(2026, 10, 26, 2, 0));
    expect(nextRun('13:30', undefined, wed)).toEqual(new Date(2026, 10, 25, 13, 30));
    expect(nextRun('04:00', ['sun'], wed)).toEqual(new Date(2026, 10, 29, 4, 0));
  });

  it('rejects a bad spec naming every bad field', () => {
    const err = (() => {
      try {
        dup().jobs.validate({ ...spec, schedule: { time: '25:00' }, retention: { keepTime: 'forever' }, extra: 1 });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    const paths = (err as ConfigError).issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['schedule.time', 'retention.keepTime', '']));
    expect((err as Error).message).not.toContain('family-photos-passphrase');
  });

  it('creates a missing job (dry run sends nothing, then for real)', async () => {
    nock(BASE).get('/api/v1/backups').times(2).reply(200, []);
    const dry = await dup().jobs.apply(spec, { dryRun: true, now: new Date(2026, 10, 25, 12, 0) });
    expect(dry).toMatchObject({ action: 'create', id: null, dryRun: true });
    expect(dry.changes.find((c) => c.field === 'settings.passphrase')?.after).toBe('***');
    expect(dry.changes.find((c) => c.field === 'target')?.after).toBe(
      's3://bucket/immich?auth-username=***&auth-password=***',
    );
    let body: Record<string, { Settings?: unknown; Schedule?: unknown }> = {};
    nock(BASE)
      .post('/api/v1/backups', (b: typeof body) => {
        body = b;
        return true;
      })
      .reply(200, { ID: '7', Temporary: false });
    const real = await dup().jobs.apply(spec, { now: new Date(2026, 10, 25, 12, 0) });
    expect(real).toMatchObject({ action: 'create', id: '7' });
    expect(body.Backup).toMatchObject({ Name: 'Immich files', TargetURL: spec.target, Sources: spec.sources });
    expect(body.Schedule).toMatchObject({ Repeat: '1D', Time: new Date(2026, 10, 26, 3, 0).toISOString() });
    expect(nock.isDone()).toBe(true);
  });

  it('is idempotent against a 2.3+ server that masks secrets: nothing to change, no PUT', async () => {
    nock(BASE).get('/api/v1/backups').reply(200, listed).get('/api/v1/backup/7').reply(200, storedJob());
    const r = await dup().jobs.apply(spec);
    expect(r).toMatchObject({ action: 'unchanged', id: '7', changes: [] });
    expect(r.maskedKept).toEqual(['target', 'settings.passphrase']);
    expect(nock.isDone()).toBe(true);
  });

  it('an update keeps masked secrets as the placeholder (the server keeps the stored value) and unmanaged settings', async () => {
    let put:
      | { Backup: { TargetURL: string; Settings: { Name: string; Value: string }[] }; Schedule: { Time: string } }
      | undefined;
    nock(BASE)
      .get('/api/v1/backups')
      .reply(200, listed)
      .get('/api/v1/backup/7')
      .reply(200, storedJob())
      .put('/api/v1/backup/7', (b: NonNullable<typeof put>) => {
        put = b;
        return true;
      })
      .reply(200, '');
    const r = await dup().jobs.apply({ ...spec, retention: { keepTime: '60D' } });
    expect(r.action).toBe('update');
    expect(r.changes).toEqual([{ field: 'settings.keep-time', before: '30D', after: '60D' }]);
    expect(put?.Backup.TargetURL).toContain(`auth-password=${MASK}`);
    const settings = Object.fromEntries((put?.Backup.Settings ?? []).map((s) => [s.Name, s.Value]));
    expect(settings).toMatchObject({ passphrase: MASK, 'keep-time': '60D', 'compression-module': 'zip' });
    expect(put?.Schedule.Time).toBe(new Date(2026, 10, 30, 3, 0).toISOString());
  });

  it('overwriteMaskedSecrets writes the spec’s secrets', async () => {
    let put: { Backup: { TargetURL: string; Settings: { Name: string; Value: string }[] } } | undefined;
    nock(BASE)
      .get('/api/v1/backups')
      .reply(200, listed)
      .get('/api/v1/backup/7')
      .reply(200, storedJob())
      .put('/api/v1/backup/7', (b: NonNullable<typeof put>) => {
        put = b;
        return true;
      })
      .reply(200, '');
    const r = await dup().jobs.apply(spec, { overwriteMaskedSecrets: true });
    expect(r.action).toBe('update');
    expect(put?.Backup.TargetURL).toBe(spec.target);
    expect(put?.Backup.Settings.find((s) => s.Name === 'passphrase')?.Value).toBe(spec.passphrase);
    expect(JSON.stringify(r)).not.toContain('s3-secret-key');
  });

  it('reports schedule, filter, source and removed managed settings changes', async () => {
    nock(BASE).get('/api/v1/backups').reply(200, listed).get('/api/v1/backup/7').reply(200, storedJob());
    const r = await dup().jobs.apply(
      {
        ...spec,
        sources: ['/srv/immich/library/', '/srv/immich/upload/'],
        schedule: { time: '04:00', repeat: '1W', days: ['sun'] },
        filters: [],
        hooks: {},
      },
      { dryRun: true },
    );
    expect(r.changes.map((c) => c.field).sort()).toEqual(
      ['--run-script-before', '--run-script-timeout']
        .map((n) => `settings.${n}`)
        .concat(['filters', 'schedule', 'sources'])
        .sort(),
    );
    expect(r.changes.find((c) => c.field === 'schedule')).toEqual({
      field: 'schedule',
      before: '1D at 03:00',
      after: '1W at 04:00 on sun',
    });
  });
});
