import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the fake Jellyfin answers; tests change it between calls. */
export interface FakeJellyfinState {
  version: string;
  apiKey: string;
  sessions: unknown[];
  /** Successive answers of /ScheduledTasks; the last one repeats. */
  tasks: unknown[][];
  /** File names of the built-in backups. */
  backups: string[];
  /** Bodies of POST /Backup/Create. */
  createBodies: unknown[];
  /** Every request seen: method, url, authorization header. */
  seen: { method: string; url: string; authorization: string | undefined }[];
}

/** A real HTTP server on 127.0.0.1 speaking the few Jellyfin routes a backup uses. */
export async function startFakeJellyfin(
  initial: Partial<FakeJellyfinState> = {},
): Promise<{ url: string; state: FakeJellyfinState; close: () => Promise<void> }> {
  const state: FakeJellyfinState = {
    version: '10.11.11',
    apiKey: 'k3y-secret-value',
    sessions: [],
    tasks: [[]],
    backups: [],
    createBodies: [],
    seen: [],
    ...initial,
  };
  const authorized = (req: IncomingMessage) =>
    (req.headers.authorization ?? '').includes(`Token="${encodeURIComponent(state.apiKey)}"`);
  const server: Server = createServer((req, res) => {
    state.seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
    const url = new URL(req.url ?? '/', 'http://x');
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/System/Info/Public') {
      json(200, { Version: state.version, Id: 'abc', ServerName: 'test', StartupWizardCompleted: true });
      return;
    }
    if (!authorized(req)) {
      json(401, { error: 'unauthorized' });
      return;
    }
    const manifest = (name: string) => ({
      ServerVersion: `${state.version}.0`,
      BackupEngineVersion: '0.2.0',
      DateCreated: '2026-11-29T08:00:00Z',
      Path: `/config/data/backups/${name}`,
      Options: { Metadata: false, Trickplay: false, Subtitles: false, Database: true },
    });
    if (url.pathname === '/Sessions') json(200, state.sessions);
    else if (url.pathname === '/Backup') json(200, state.backups.map(manifest));
    else if (url.pathname === '/Backup/Create' && req.method === 'POST') {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        state.createBodies.push(JSON.parse(body));
        const name = `jellyfin-backup-${state.backups.length + 1}.zip`;
        state.backups.push(name);
        json(200, manifest(name));
      });
    } else if (url.pathname === '/Backup/Manifest') {
      const name = url.searchParams.get('path') ?? '';
      if (state.backups.includes(name)) json(200, manifest(name));
      else json(404, {});
    } else if (url.pathname === '/ScheduledTasks')
      json(200, state.tasks.length > 1 ? state.tasks.shift() : state.tasks[0]);
    else json(404, {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    state,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
