/**
 * The drill's version listing against a real Duplicati 2.0.7.3: the files read from the job's
 * local database are exactly the files the server's search lists for the same version (files
 * with odd names, nested folders, a symlink, an empty folder), and the database path falls back
 * to the server when it cannot be used. Runs when the Mono build is installed (see
 * test/helpers/real-duplicati.ts); skips with one line otherwise.
 */
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuplicatiClient } from '../../src/duplicati/index.js';
import { filesFromJobDatabase, listVersionFiles } from '../../src/ops/drill-check.js';
import { tempDir } from '../helpers/context.js';
import { realDuplicatiDist, type RealServer, startRealDuplicati } from '../helpers/real-duplicati.js';

const dist = realDuplicatiDist();
if (!dist) console.warn('skipping the live version listing test: real Duplicati 2.0.7.3 (mono) absent');
const PORT = Number(process.env.DUPLICATI_LISTING_PORT ?? 18371);
const PW = 'listing-live-pw';

describe.runIf(dist)('version listing from the job database vs the real server search', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let server: RealServer;
  let dup: DuplicatiClient;
  let jobId: string;
  let time: string;
  let dbPath: string;
  let photos: string;
  const signal = new AbortController().signal;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('dk-listing-live-'));
    server = await startRealDuplicati(dist as string, PORT, path.join(dir, 'server'), PW);
    dup = new DuplicatiClient({ baseUrl: server.url, auth: { type: 'password', password: PW }, timeout: 120_000 });
    photos = path.join(dir, 'photos');
    const names = ['a.jpg', 'with space.jpg', 'ünïcödé-😀.heic', "it's [1].png"];
    for (const [i, sub] of ['2024/01', '2024/02/raw', 'other'].entries()) {
      await mkdir(path.join(photos, sub), { recursive: true });
      for (const n of names) await writeFile(path.join(photos, sub, `${i}-${n}`), `photo ${sub} ${n}`);
    }
    await mkdir(path.join(photos, 'empty'), { recursive: true });
    await symlink('2024/01/0-a.jpg', path.join(photos, 'latest.jpg'));
    await writeFile(path.join(dir, 'outside.txt'), 'not below the folder');
    await mkdir(path.join(dir, 'offsite'));
    const job = await dup.jobs.apply({
      name: 'Listing',
      sources: [`${photos}/`, path.join(dir, 'outside.txt')],
      target: `file://${path.join(dir, 'offsite')}`,
      passphrase: null,
      schedule: null,
    });
    jobId = job.id as string;
    expect((await dup.backups.runAndWait(jobId)).result).toBe('Success');
    const versions = await dup.backups.versions(jobId);
    time = versions[0]?.time as string;
    dbPath = (await dup.backups.get(jobId)).dbPath as string;
    expect(dbPath).toBeTruthy();
  }, 300_000);

  afterAll(async () => {
    await server?.stop();
    await cleanup?.();
  });

  it('reads the same files as the server search lists, folders left out', async () => {
    const fromServer = await listVersionFiles(dup, jobId, time, photos, signal);
    const fromDb = await filesFromJobDatabase(dbPath, time, `${photos}/`, signal);
    expect(fromServer.length).toBe(13);
    expect(fromDb?.slice().sort()).toEqual(fromServer.slice().sort());
    expect(fromDb).toContain(path.join(photos, '2024/02/raw/1-ünïcödé-😀.heic'));
    expect(fromDb?.some((p) => p.endsWith('/') || p.includes('outside.txt'))).toBe(false);
    // Through the drill's entry point with the job's database path: the same list.
    expect((await listVersionFiles(dup, jobId, time, photos, signal, { dbPath })).sort()).toEqual(fromServer.sort());
  }, 120_000);

  it('falls back to the server when the database cannot answer', async () => {
    expect(await filesFromJobDatabase(path.join(dir, 'nope.sqlite'), time, photos, signal)).toBeUndefined();
    expect(await filesFromJobDatabase(dbPath, '2001-01-01T00:00:00Z', photos, signal)).toBeUndefined();
    expect(await filesFromJobDatabase(dbPath, 'not a time', photos, signal)).toBeUndefined();
    const other = path.join(dir, 'other.sqlite');
    new Database(other).exec('CREATE TABLE t (x)').close();
    expect(await filesFromJobDatabase(other, time, photos, signal)).toBeUndefined();
    const listed = await listVersionFiles(dup, jobId, time, photos, signal, { dbPath: other });
    expect(listed).toHaveLength(13);
    await expect(filesFromJobDatabase(dbPath, time, photos, AbortSignal.abort(new Error('stop')))).rejects.toThrow(
      'stop',
    );
  }, 120_000);
});
