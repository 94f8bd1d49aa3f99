import path from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isSourceUnavailableError } from '../../../../src/core/errors.js';
import { JellyfinApiError, JellyfinClient, JellyfinDatabaseSource } from '../../../../src/apps/jellyfin/index.js';
import { makeContext, tempDir } from '../../../helpers/context.js';
import { startFakeJellyfin } from './fake-server.js';
import { build1011Db } from './fixtures.js';

let server: Awaited<ReturnType<typeof startFakeJellyfin>>;
let dir: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  server = await startFakeJellyfin();
  ({ dir, cleanup } = await tempDir('dk-jellyfin-api-'));
});
afterEach(async () => {
  await server.close();
  await cleanup();
});

const playing = {
  UserName: 'mum',
  DeviceName: 'Living room TV',
  Client: 'Android TV',
  NowPlayingItem: { Name: 'Holiday 2019' },
  PlayState: { IsPaused: false },
};

describe('JellyfinClient', () => {
  it('reads the public info without a key and sends the key as a MediaBrowser token', async () => {
    const jf = new JellyfinClient({ baseUrl: server.url, apiKey: server.state.apiKey });
    expect(await jf.publicInfo()).toEqual({
      version: '10.11.11',
      id: 'abc',
      serverName: 'test',
      startupWizardCompleted: true,
    });
    server.state.sessions = [playing, { UserName: 'idle', NowPlayingItem: null }];
    expect(await jf.activePlayback()).toEqual([
      { userName: 'mum', deviceName: 'Living room TV', client: 'Android TV', item: 'Holiday 2019', paused: false },
    ]);
    const auth = server.state.seen.find((s) => s.url === '/Sessions')?.authorization;
    expect(auth).toBe(`MediaBrowser Client="duplicati-kit", Token="${server.state.apiKey}"`);
    expect(server.state.seen.every((s) => !s.url.includes(server.state.apiKey))).toBe(true);
  });

  it('waits until the library scan is over', async () => {
    const running = {
      Key: 'RefreshLibrary',
      Name: 'Scan Media Library',
      State: 'Running',
      CurrentProgressPercentage: 40,
    };
    server.state.tasks = [[running], [{ ...running, CurrentProgressPercentage: 90 }], [{ ...running, State: 'Idle' }]];
    const jf = new JellyfinClient({ baseUrl: server.url, apiKey: server.state.apiKey });
    const waited = await jf.waitForTasks({ pollMs: 1 });
    expect(waited.map((t) => t.key)).toEqual(['RefreshLibrary']);
    expect(server.state.seen.filter((s) => s.url.startsWith('/ScheduledTasks')).length).toBe(3);
    expect(server.state.seen.at(-1)?.url).toBe('/ScheduledTasks?isHidden=false');
  });

  it('gives up waiting with ERR_JELLYFIN_BUSY', async () => {
    server.state.tasks = [[{ Key: 'OptimizeDatabaseTask', Name: 'Optimize database', State: 'Running' }]];
    const jf = new JellyfinClient({ baseUrl: server.url, apiKey: server.state.apiKey });
    const err = await jf.waitForTasks({ pollMs: 1, timeoutMs: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JellyfinApiError);
    expect((err as JellyfinApiError).code).toBe('ERR_JELLYFIN_BUSY');
  });

  it('keeps a wrong key out of errors and inspect output', async () => {
    const secret = 'wrong-key-123456';
    const jf = new JellyfinClient({ baseUrl: server.url, apiKey: secret });
    const err = await jf.activePlayback().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JellyfinApiError);
    expect((err as JellyfinApiError).status).toBe(401);
    expect((err as Error).message).toMatch(/API key/);
    expect(inspect(err, { depth: 5 })).not.toContain(secret);
    expect(inspect(jf, { depth: 5 })).not.toContain(secret);
    expect(JSON.stringify(jf)).not.toContain(secret);
  });

  it('creates, lists and reads 10.11 built-in backups', async () => {
    const jf = new JellyfinClient({ baseUrl: server.url, apiKey: server.state.apiKey, backupTimeoutMs: 60_000 });
    const created = await jf.createBackup({ metadata: true });
    expect(created).toEqual({
      serverVersion: '10.11.11.0',
      backupEngineVersion: '0.2.0',
      dateCreated: '2026-11-29T08:00:00Z',
      path: '/config/data/backups/jellyfin-backup-1.zip',
    });
    expect(server.state.createBodies).toEqual([{ Metadata: true, Trickplay: false, Subtitles: false, Database: true }]);
    expect((await jf.listBackups()).map((b) => b.path)).toEqual(['/config/data/backups/jellyfin-backup-1.zip']);
    expect((await jf.backupManifest('jellyfin-backup-1.zip'))?.backupEngineVersion).toBe('0.2.0');
    const missing = await jf.backupManifest('nope.zip').catch((e: unknown) => e);
    expect((missing as JellyfinApiError).status).toBe(404);
  });

  it('reports an unreachable server as ERR_JELLYFIN_UNREACHABLE', async () => {
    await server.close();
    const jf = new JellyfinClient({ baseUrl: server.url, timeoutMs: 2000 });
    const err = await jf.publicInfo().catch((e: unknown) => e);
    expect((err as JellyfinApiError).code).toBe('ERR_JELLYFIN_UNREACHABLE');
    server = await startFakeJellyfin();
  });
});

describe('JellyfinDatabaseSource with the API', () => {
  it('records the server version, and fails while someone is playing when asked to', async () => {
    const dataDir = path.join(dir, 'data');
    build1011Db(path.join(dataDir, 'data'));
    const api = { baseUrl: server.url, apiKey: server.state.apiKey };
    const source = new JellyfinDatabaseSource({ dataDir, api });
    const prepared = await source.prepare(makeContext(path.join(dir, 'w1'), source.name));
    expect(prepared.metadata).toMatchObject({ version: { serverVersion: '10.11.11' } });

    server.state.sessions = [playing];
    const strict = new JellyfinDatabaseSource({ dataDir, api, whilePlaying: 'fail' });
    const err = await strict.prepare(makeContext(path.join(dir, 'w2'), strict.name)).catch((e: unknown) => e);
    expect(isSourceUnavailableError(err)).toBe(true);
    expect((err as { code: string }).code).toBe('ERR_JELLYFIN_PLAYING');
    expect((err as Error).message).toContain('mum on Living room TV');
  });

  it('backs up without the API checks when the server does not answer', async () => {
    const dataDir = path.join(dir, 'data');
    build1011Db(path.join(dataDir, 'data'));
    await server.close();
    const source = new JellyfinDatabaseSource({ dataDir, api: { baseUrl: server.url, timeoutMs: 2000 } });
    const prepared = await source.prepare(makeContext(path.join(dir, 'w'), source.name));
    expect(prepared.metadata).toMatchObject({ version: { serverVersion: null } });
    server = await startFakeJellyfin();
  });
});
