import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  isDuplicatiAPIError,
  isDuplicatiAuthenticationError,
  isDuplicatiError,
  isDuplicatiTimeoutError,
} from '../../../src/core/errors.js';
import { DuplicatiClient } from '../../../src/duplicati/index.js';
import { FakeDuplicatiServer, type FakeDuplicatiServerOptions } from '../../../src/testing/index.js';
import { tempDir } from '../../helpers/context.js';

/**
 * Full flows through the real `DuplicatiClient` against `FakeDuplicatiServer`, for the 2.0.x and
 * the 2.1+ wire protocol: login, job creation, runs, versions, files, restores whose files equal
 * the source, token expiry and server restarts in the middle of a wait, 5xx and garbage answers,
 * wrong passwords.
 */

const PASSWORD = 'correct horse battery staple';

const generations: {
  label: string;
  options: Partial<FakeDuplicatiServerOptions> & Pick<FakeDuplicatiServerOptions, 'generation'>;
}[] = [
  { label: '2.0.7.3', options: { generation: '2.0' } },
  { label: '2.1.0.5', options: { generation: '2.1', version: '2.1.0.5' } },
  { label: '2.2.0.3', options: { generation: '2.1' } },
  { label: '2.3.1.0', options: { generation: '2.1', version: '2.3.1.0' } },
];

async function tree(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) {
        out.set(`${path.relative(root, full)}/`, 'dir');
        await walk(full);
      } else {
        out.set(
          path.relative(root, full),
          createHash('sha256')
            .update(await readFile(full))
            .digest('hex'),
        );
      }
    }
  };
  await walk(root);
  return out;
}

describe.each(generations)('DuplicatiClient against FakeDuplicatiServer $label', ({ options }) => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let src: string;
  let server: FakeDuplicatiServer;
  let client: DuplicatiClient;

  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir('dk-fake-flow-'));
    src = path.join(dir, 'photos');
    await mkdir(path.join(src, '2024', 'summer'), { recursive: true });
    await writeFile(path.join(src, 'readme.txt'), 'family photos\n');
    await writeFile(path.join(src, '2024', 'summer', 'beach.jpg'), Buffer.alloc(64 * 1024, 0xab));
    await writeFile(path.join(src, '2024', 'index.json'), JSON.stringify({ count: 1 }));
    server = await FakeDuplicatiServer.start({ password: PASSWORD, ...options });
    client = new DuplicatiClient({
      baseUrl: server.url,
      auth: { type: 'password', password: PASSWORD },
      retryMinDelayMs: 1,
    });
  });

  afterEach(async () => {
    await server.close();
    await cleanup();
  });

  async function createJob(): Promise<string> {
    const { id } = await client.backups.create({
      name: 'family-photos',
      targetUrl: `file://${path.join(dir, 'target')}`,
      sources: [`${src}/`],
      settings: [{ name: '--no-encryption', value: 'true' }],
    });
    return id;
  }

  it('creates a job, runs it, lists versions and files, restores files equal to the source', async () => {
    const id = await createJob();
    expect((await client.backups.list()).map((b) => b.name)).toEqual(['family-photos']);

    const run = await client.backups.runAndWait(id);
    expect(run.result).toBe('Success');
    expect(run.status).toBe('Completed');
    expect(run.operation).toBe('Backup');

    const versions = await client.backups.versions(id, { withSizes: true });
    expect(versions).toHaveLength(1);
    expect(versions[0]).toMatchObject({ version: 0 });

    const listing = await client.backups.files(id, { version: 0, path: `${src}/` });
    expect(listing.files.map((f) => f.path)).toEqual([`${src}/2024/`, `${src}/readme.txt`]);

    const to = path.join(dir, 'restored');
    const restored = await client.backups.restoreAndWait(id, { version: 0, to, paths: [`${src}/`] });
    expect(restored.result).toBe('Success');
    expect(restored.operation).toBe('Restore');
    expect(await tree(to)).toEqual(await tree(src));
  });

  it('restores an older version after the source changed', async () => {
    const id = await createJob();
    expect((await client.backups.runAndWait(id)).result).toBe('Success');
    const before = await tree(src);
    await writeFile(path.join(src, 'readme.txt'), 'family photos, edited\n');
    expect((await client.backups.runAndWait(id)).result).toBe('Success');
    expect(server.versions(id)).toHaveLength(2);

    const to = path.join(dir, 'old');
    const r = await client.backups.restoreAndWait(id, { version: 1, to, paths: [`${src}/`] });
    expect(r.result).toBe('Success');
    expect(await tree(to)).toEqual(before);
  });

  it('reports the true outcome of a failed run even where the task says Completed', async () => {
    const id = await createJob();
    server.failNextRun('Fatal', 'target unreachable');
    const fatal = await client.backups.runAndWait(id);
    expect(fatal.result).toBe('Fatal');
    expect(fatal.status).toBe(options.version === '2.1.0.5' || options.generation === '2.0' ? 'Completed' : 'Failed');
    expect(fatal.errors.join('\n')).toContain('target unreachable');
    server.failNextRun('Error', 'one photo unreadable');
    const error = await client.backups.runAndWait(id);
    expect(error).toMatchObject({ result: 'Error', status: 'Completed' });
    server.failNextRun('Warning', 'a file changed while read');
    expect((await client.backups.runAndWait(id)).result).toBe('Warning');
  });

  it('survives access-token / session expiry in the middle of a wait', async () => {
    const id = await createJob();
    const hold = server.holdTasks();
    const waiting = client.backups.runAndWait(id);
    await hold.started;
    server.expireTokens();
    hold.release();
    const r = await waiting;
    expect(r.result).toBe('Success');
    expect(server.authCounters.logins + server.authCounters.refreshes).toBeGreaterThanOrEqual(2);
    expect(server.authCounters.replayedRefreshTokens).toBe(0);
  });

  it('survives a server restart in the middle of a wait', async () => {
    const id = await createJob();
    const hold = server.holdTasks();
    const waiting = client.backups.runAndWait(id);
    await hold.started;
    // Restart once the client has its task and is waiting on it, not while `run` is in flight.
    await server.waitForRequest({ method: 'GET', path: /^\/api\/v1\/(task\/|serverstate\?)/ });
    await server.restart();
    hold.release();
    const r = await waiting;
    expect(r.result).toBe('Success');
    expect(server.versions(id)).toHaveLength(1);
  });

  it('does not call a run that died with the server a success', async () => {
    const id = await createJob();
    const hold = server.holdTasks();
    const waiting = client.backups.runAndWait(id);
    await hold.started;
    await server.waitForRequest({ method: 'GET', path: /^\/api\/v1\/(task\/|serverstate\?)/ });
    await server.restart({ dropTasks: true });
    hold.release();
    const r = await waiting;
    expect(r.status).toBe('Unknown');
    expect(['Error', 'Fatal']).toContain(r.result);
    expect(server.logRows(id)).toEqual([]);
  });

  it('retries 503s and dropped connections on idempotent calls; a 500 is an API error', async () => {
    await createJob();
    server.failNextRequests(2, { status: 503, method: 'GET' });
    expect(await client.backups.list()).toHaveLength(1);
    server.dropNextConnections(1, { method: 'GET' });
    expect(await client.backups.list()).toHaveLength(1);
    server.failNextRequests(1, { status: 500, method: 'GET' });
    const e = await client.backups.list().catch((x: unknown) => x);
    expect(isDuplicatiAPIError(e)).toBe(true);
    expect((e as { status: number }).status).toBe(500);
  });

  it('a server that does not answer in time is a timeout error', async () => {
    const impatient = new DuplicatiClient({
      baseUrl: server.url,
      auth: { type: 'password', password: PASSWORD },
      timeout: 300,
      maxRetries: 0,
    });
    await impatient.backups.list();
    server.delayNextRequests(1, 60_000, { method: 'GET', path: '/api/v1/backups' });
    const e = await impatient.backups.list().catch((x: unknown) => x);
    expect(isDuplicatiTimeoutError(e)).toBe(true);
  });

  it('turns a garbage body into a typed error, not a crash', async () => {
    await createJob();
    server.garbageNextResponses(1, { method: 'GET', path: '/api/v1/backups' });
    const e = await client.backups.list().catch((x: unknown) => x);
    expect(isDuplicatiError(e)).toBe(true);
    expect(await client.backups.list()).toHaveLength(1);
  });

  it('applies jobs as code idempotently and runs the applied job', async () => {
    const spec = {
      name: 'immich-files',
      sources: [`${src}/`],
      target: `file://${path.join(dir, 'offsite')}`,
      passphrase: 'a-long-family-passphrase',
      schedule: { time: '03:00', repeat: '1D' },
      retention: { keepVersions: 30 },
    };
    const created = await client.jobs.apply(spec);
    expect(created.action).toBe('create');
    expect((await client.jobs.apply(spec)).action).toBe('unchanged');
    const dry = await client.jobs.apply({ ...spec, retention: { keepVersions: 14 } }, { dryRun: true });
    expect(dry.action).toBe('update');
    expect(server.backups()[0]?.settings['keep-versions']).toBe('30');
    expect(server.backups()[0]?.settings.passphrase).toBe('a-long-family-passphrase');
    const run = await client.backups.runAndWait(created.id ?? '');
    expect(run.result).toBe('Success');
  });

  it('reads and writes server settings and exports a job as a command line', async () => {
    const id = await createJob();
    await client.server.updateSettings({ 'startup-delay': '5m' });
    expect(await client.server.setting('startup-delay')).toBe('5m');
    const command = await client.backups.exportCommandLine(id);
    expect(command).toContain(`${src}/`);
    expect(command).toContain('--no-encryption=true');
  });

  it('a wrong password is an authentication error that does not leak the password', async () => {
    const wrong = 'not-the-family-password-123';
    const bad = new DuplicatiClient({ baseUrl: server.url, auth: { type: 'password', password: wrong } });
    const e = await bad.backups.list().catch((x: unknown) => x);
    expect(isDuplicatiAuthenticationError(e)).toBe(true);
    expect(inspect(e, { depth: 8 })).not.toContain(wrong);
    expect(server.authCounters.failedLogins).toBeGreaterThanOrEqual(1);
    expect(server.authCounters.logins).toBe(0);
  });
});

describe('jobs.apply against a secret-masking 2.3 server', () => {
  it('keeps the stored passphrase the server masks instead of overwriting it with the mask', async () => {
    const { dir, cleanup } = await tempDir('dk-fake-23-');
    const server = await FakeDuplicatiServer.start({ generation: '2.1', version: '2.3.1.0', password: PASSWORD });
    try {
      const client = new DuplicatiClient({ baseUrl: server.url, auth: { type: 'password', password: PASSWORD } });
      const spec = {
        name: 'configs',
        sources: [`${dir}/`],
        target: 'ssh://backup.example/configs?auth-username=me&auth-password=s3cr3t-pw',
        passphrase: 'weekly-config-passphrase',
      };
      expect((await client.jobs.apply(spec)).action).toBe('create');
      const again = await client.jobs.apply({ ...spec, description: 'weekly' });
      expect(again.action).toBe('update');
      const stored = server.backups()[0];
      expect(stored?.settings.passphrase).toBe('weekly-config-passphrase');
      expect(stored?.targetUrl).toContain('auth-password=s3cr3t-pw');
      expect(JSON.stringify(again)).not.toContain('weekly-config-passphrase');
    } finally {
      await server.close();
      await cleanup();
    }
  });
});
