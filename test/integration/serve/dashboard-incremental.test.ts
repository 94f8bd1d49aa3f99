import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DuplicatiClient } from '../../../src/duplicati/index.js';
import { collectSnapshot, createHistoryCache, readJobLog } from '../../../src/serve/collect.js';
import type { DashboardSnapshot } from '../../../src/serve/types.js';
import { FakeDuplicatiServer, type FakeSeedRun } from '../../../src/testing/index.js';

// The dashboard's background refresh reads only the log rows written since the previous refresh,
// keeps what it read when the log is purged or the server is down, and drops it when another job
// takes the id. Counted on the fake's request log (its paging is the real 2.0.7.3's, see
// test/conformance).

const DAY = 86_400_000;
const PW = 'incremental-pw';
let server: FakeDuplicatiServer;
let client: DuplicatiClient;
let photos: string;
let never: string;
let clock: number;

const runs = (n: number, from: number): FakeSeedRun[] =>
  Array.from({ length: n }, (_, i) => ({
    begin: new Date(from + i * DAY),
    result: i % 7 === 3 ? ('Error' as const) : ('Success' as const),
    message: 'disk full (seeded)',
    examinedFiles: 100 + i,
    sizeOfExaminedFiles: 1e6 + i,
  }));

const logRequests = (id: string) =>
  server.requests.filter((r) => r.method === 'GET' && r.url.startsWith(`/api/v1/backup/${id}/log`));
const offsetOf = (url: string) => {
  const v = new URL(url, 'http://x').searchParams.get('offset');
  return v === null ? undefined : Number(v);
};

beforeEach(async () => {
  server = await FakeDuplicatiServer.start({ generation: '2.0', password: PW });
  client = new DuplicatiClient({ baseUrl: server.url, auth: { type: 'password', password: PW }, maxRetries: 0 });
  photos = server.createBackup({ name: 'Photos', sources: ['/srv/photos/'] });
  never = server.createBackup({ name: 'Never ran', sources: ['/srv/new/'] });
  clock = Date.now() - 200 * DAY;
  server.seedRuns(photos, runs(100, clock));
  clock += 100 * DAY;
});

afterEach(async () => {
  await server.close().catch(() => undefined);
});

describe('incremental dashboard refresh', () => {
  it('reads the year once, then only the rows written since; a job that never ran is an empty log', async () => {
    const cache = createHistoryCache();
    const o = { servers: [{ name: 'home', client }], history: cache };
    const first = await collectSnapshot(o);
    expect(first.servers[0]?.ok).toBe(true);
    expect(first.history[`home/${photos}`]).toHaveLength(100);
    // The real 2.0.7.3 answers a never-run job's log with HTTP 500 "no such table: LogData".
    expect(first.history[`home/${never}`]).toEqual([]);
    expect(first.servers[0]?.jobs.find((j) => j.name === 'Never ran')?.runs).toBe(0);

    // Nothing new: one request of the smallest page, no offset (and the audit's own look at the
    // newest row, the same page).
    server.requests.length = 0;
    const rowsBefore = cache.rowsRead;
    const second = await collectSnapshot(o, first);
    const page = `/api/v1/backup/${photos}/log?pagesize=10`;
    expect(logRequests(photos).map((r) => r.url)).toEqual([page, page]);
    expect(cache.rowsRead - rowsBefore).toBe(10);
    expect(second.history[`home/${photos}`]).toEqual(first.history[`home/${photos}`]);

    // Three new runs: still one page, and they are appended in order.
    const marker = server.logRows(photos)[0]?.ID as number;
    server.seedRuns(photos, runs(3, clock));
    clock += 3 * DAY;
    server.requests.length = 0;
    const third = await collectSnapshot(o, second);
    const h3 = third.history[`home/${photos}`] ?? [];
    expect(h3).toHaveLength(103);
    expect(h3.slice(0, 100)).toEqual(first.history[`home/${photos}`]);
    expect(h3.at(-1)?.t).toBe(Math.floor((clock - DAY) / 1000));
    expect(logRequests(photos)).toHaveLength(2);

    // 40 new runs: several pages, none of them below the previous marker.
    const marker2 = server.logRows(photos)[0]?.ID as number;
    expect(marker2).toBe(marker + 3);
    server.seedRuns(photos, runs(40, clock));
    clock += 40 * DAY;
    server.requests.length = 0;
    const rows3 = cache.rowsRead;
    const fourth = await collectSnapshot(o, third);
    expect(fourth.history[`home/${photos}`]).toHaveLength(143);
    const reqs = logRequests(photos);
    expect(reqs.length).toBeGreaterThan(1);
    for (const r of reqs) expect(offsetOf(r.url) ?? Number.POSITIVE_INFINITY).toBeGreaterThan(marker2);
    expect(cache.rowsRead - rows3).toBeLessThanOrEqual(40 + 100);
    // The job list view counts what is held.
    expect(fourth.servers[0]?.jobs.find((j) => j.name === 'Photos')?.runs).toBe(143);
  });

  it('keeps the runs of a purged log, and follows its ids when they start again', async () => {
    const cache = createHistoryCache();
    const o = { servers: [{ name: 'home', client }], history: cache };
    const first = await collectSnapshot(o);
    expect(first.history[`home/${photos}`]).toHaveLength(100);

    // Log retention deleted the older rows: what was read stays.
    expect(server.purgeLog(photos, new Date(clock - 10 * DAY))).toBe(90);
    const second = await collectSnapshot(o, first);
    expect(second.history[`home/${photos}`]).toEqual(first.history[`home/${photos}`]);

    // Every row purged; the next rows get ids 1, 2 (below the held marker): read by time.
    server.purgeLog(photos, new Date(clock + DAY));
    expect(server.logRows(photos)).toHaveLength(0);
    const third = await collectSnapshot(o, second);
    expect(third.history[`home/${photos}`]).toHaveLength(100);
    server.seedRuns(photos, runs(2, clock));
    expect(server.logRows(photos).map((r) => r.ID)).toEqual([2, 1]);
    const fourth = await collectSnapshot(o, third);
    const h = fourth.history[`home/${photos}`] ?? [];
    expect(h).toHaveLength(102);
    expect(h.at(-1)?.t).toBe(Math.floor((clock + DAY) / 1000));
    // And the next refresh is incremental again.
    server.requests.length = 0;
    await collectSnapshot(o, fourth);
    expect(logRequests(photos).map((r) => r.url)).toEqual([
      `/api/v1/backup/${photos}/log?pagesize=10`,
      `/api/v1/backup/${photos}/log?pagesize=10`,
    ]);
  });

  it('drops the held runs when another job (another database) has taken the id', async () => {
    const { dbPath } = await client.backups.get(photos);
    expect(dbPath).not.toBeNull();
    const since = Date.now() - 365 * DAY;
    const stranger = {
      dbPath: '/var/lib/duplicati/OTHERJOB.sqlite',
      newest: { id: 5000, at: Date.now() - DAY },
      runs: [
        {
          t: 1,
          result: 'Success',
          durationS: 1,
          examinedFiles: 1,
          sizeExamined: 1,
          bytesUploaded: 0,
          addedFiles: 0,
          modifiedFiles: 0,
        },
      ],
    };
    const log = await readJobLog(client, photos, dbPath, stranger, since);
    expect(log.runs).toHaveLength(100);
    expect(log.runs.some((r) => r.t === 1)).toBe(false);
    expect(log.newest?.id).toBe(server.logRows(photos)[0]?.ID);

    // The same database (a recreated one, ids started again): the held runs stay, newer rows join.
    const same = {
      dbPath,
      newest: { id: 5000, at: since + DAY },
      runs: [{ ...stranger.runs[0], t: Math.floor((since + DAY) / 1000) }],
    };
    const kept = await readJobLog(client, photos, dbPath, same as typeof stranger, since);
    expect(kept.runs[0]?.t).toBe(same.runs[0]?.t);
    expect(kept.runs).toHaveLength(101);
  });

  it('keeps the last good read of a server that is down, and reads again when it is back', async () => {
    const cache = createHistoryCache();
    const o = { servers: [{ name: 'home', client }], history: cache };
    const first = await collectSnapshot(o);
    server.dropNextConnections(1000);
    const down: DashboardSnapshot = await collectSnapshot(o, first);
    expect(down.servers[0]?.ok).toBe(false);
    expect(down.servers[0]?.jobs.map((j) => j.name)).toEqual(['Photos', 'Never ran']);
    expect(down.history[`home/${photos}`]).toEqual(first.history[`home/${photos}`]);
    expect(cache.jobs.get(`home/${photos}`)?.runs).toHaveLength(100);
  });
});
