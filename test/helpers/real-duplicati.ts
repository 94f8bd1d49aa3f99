/**
 * Start a real Duplicati 2.0.7.3 server (the Mono build installed at
 * `$HOME/.cache/duplicati-kit/duplicati-2.0.7.3/dist`) on loopback with its own empty data folder,
 * for live tests that need a server of their own (e.g. a second, fresh server to recover on).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** The installed server's folder, or undefined when it is not installed (or mono is missing). */
export function realDuplicatiDist(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dist = env.DUPLICATI_DIST ?? path.join(os.homedir(), '.cache/duplicati-kit/duplicati-2.0.7.3/dist');
  if (!existsSync(path.join(dist, 'Duplicati.Server.exe'))) return undefined;
  const mono = (env.PATH ?? '').split(':').some((d) => existsSync(path.join(d, 'mono')));
  return mono ? dist : undefined;
}

/** A started server; `stop()` ends exactly this process. */
export interface RealServer {
  readonly url: string;
  readonly dataDir: string;
  stop(): Promise<void>;
}

/** Start a server on `port` with an empty data folder `dataDir`; resolves once it answers. */
export async function startRealDuplicati(
  dist: string,
  port: number,
  dataDir: string,
  password: string,
): Promise<RealServer> {
  await mkdir(dataDir, { recursive: true });
  const child = spawn(
    'mono',
    [
      path.join(dist, 'Duplicati.Server.exe'),
      `--webservice-port=${port}`,
      '--webservice-interface=loopback',
      `--webservice-password=${password}`,
      `--server-datafolder=${dataDir}`,
    ],
    {
      stdio: 'ignore',
      env: {
        ...process.env,
        AUTOUPDATER_Duplicati_SKIP_UPDATE: '1',
        AUTOUPDATER_Duplicati_URLS: 'http://127.0.0.1:9/updates/canary/latest.manifest',
        USAGEREPORTER_Duplicati_LEVEL: 'none',
      },
    },
  );
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  for (let i = 0; i < 150; i++) {
    if (child.exitCode !== null) throw new Error(`Duplicati on port ${port} exited with ${child.exitCode}`);
    try {
      await fetch(`${url}/`, { signal: AbortSignal.timeout(1000) });
      return { url, dataDir, stop };
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  await stop();
  throw new Error(`Duplicati did not answer on ${url}`);
}
