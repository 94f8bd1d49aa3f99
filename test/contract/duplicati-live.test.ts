/**
 * Opt-in check against a real Duplicati server (any generation). Set `DUPLICATI_LIVE_URL` and
 * `DUPLICATI_LIVE_PASSWORD` (the notes in shared/reference/duplicati-2.0-live.md say how to run a
 * 2.0.7.3 server under Mono). The server must run on this machine: the test creates a scratch
 * source and target folder for a throw-away job, which it deletes at the end.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuplicatiClient } from '../../src/duplicati/index.js';
import { tempDir } from '../helpers/context.js';

const url = process.env.DUPLICATI_LIVE_URL;
const password = process.env.DUPLICATI_LIVE_PASSWORD;
if (!url || !password) {
  console.warn('skipping the live Duplicati test: set DUPLICATI_LIVE_URL and DUPLICATI_LIVE_PASSWORD to run it');
}

async function hashes(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) await walk(full);
      else
        out.set(
          e.name,
          createHash('sha256')
            .update(await readFile(full))
            .digest('hex'),
        );
    }
  };
  await walk(root);
  return out;
}

describe.runIf(url && password)('live Duplicati server', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let dup: DuplicatiClient;
  let id: string | undefined;
  const name = `duplicati-kit-live-${process.pid}`;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('dk-live-'));
    await mkdir(path.join(dir, 'src', 'sub'), { recursive: true });
    await writeFile(path.join(dir, 'src', 'hello.txt'), 'hello from duplicati-kit\n');
    await writeFile(path.join(dir, 'src', 'sub', 'data.bin'), Buffer.alloc(20_000, 3));
    dup = new DuplicatiClient({ baseUrl: url ?? '', auth: { type: 'password', password: password ?? '' } });
  });

  afterAll(async () => {
    if (id) {
      const { taskId } = await dup.backups.delete(id, { deleteLocalDb: true });
      if (taskId) await dup.tasks.wait(taskId, { totalTimeout: 60_000 });
    }
    await dup.auth.logout();
    await cleanup();
  });

  it('logs in, runs a job to its true outcome, lists it and restores files equal to the source', async () => {
    const info = await dup.server.systemInfo();
    expect(info.serverVersion).toMatch(/^2\.\d+\.\d+\.\d+$/);
    ({ id } = await dup.backups.create({
      name,
      targetUrl: `file://${path.join(dir, 'target')}`,
      sources: [`${path.join(dir, 'src')}/`],
      settings: [
        { name: 'encryption-module', value: '' },
        { name: '--no-encryption', value: 'true' },
      ],
    }));
    const run = await dup.backups.runAndWait(id, { totalTimeout: 300_000 });
    expect(run).toMatchObject({ result: 'Success', operation: 'Backup', interrupted: false });

    const versions = await dup.backups.versions(id, { withSizes: true });
    expect(versions[0]).toMatchObject({ version: 0, fileCount: 2 });
    const listing = await dup.backups.files(id, { version: 0, path: `${path.join(dir, 'src')}/` });
    expect(listing.files.map((f) => path.basename(f.path))).toEqual(expect.arrayContaining(['sub', 'hello.txt']));

    const to = path.join(dir, 'restored');
    const restore = await dup.backups.restoreAndWait(id, { version: 0, to, totalTimeout: 300_000 });
    expect(['Success', 'Warning']).toContain(restore.result);
    expect(await hashes(to)).toEqual(await hashes(path.join(dir, 'src')));
  });
});
