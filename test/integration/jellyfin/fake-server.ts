import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the fake Jellyfin answers; tests change it between calls. */
export interface FakeJellyfinState {
  version: string;
  apiKey: string;
  sessions: unknown[];
  /** Successive answers of /ScheduledTasks; the last one repeats. */
  tasks: unknown[][];
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
    if (url.pathname === '/Sessions') json(200, state.sessions);
    else if (url.pathname === '/ScheduledTasks')
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
