import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fileToolVersionCache } from '../../../../src/core/tool-versions.js';
import { PgEndpoint } from '../../../../src/engines/postgres/endpoint.js';
import { PgExecutor, pickPgTool } from '../../../../src/engines/postgres/executor.js';

// Tool folders as `binDirs` names them (a custom install): each `pg_dump` reports its version
// and appends a line to `runs` every time it is started, so the tests see which were probed.
const root = mkdtempSync(path.join(tmpdir(), 'dk-tool-lookup-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function toolDir(name: string, version: string): { dir: string; runs: string } {
  const dir = path.join(root, name);
  const runs = path.join(dir, 'runs');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'pg_dump');
  writeFileSync(file, `#!/bin/sh\necho run >> '${runs}'\necho 'pg_dump (PostgreSQL) ${version}'\n`);
  chmodSync(file, 0o755);
  return { dir, runs };
}

const runsOf = (file: string): number => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').length - 1 : 0);
const signal = new AbortController().signal;

describe('finding pg_dump', () => {
  it('stops at the first tool of the server major, and picks what a full search would pick', async () => {
    const v17 = toolDir('a17', '17.2');
    const v15 = toolDir('b15', '15.1');
    const later = toolDir('c15', '15.9');
    const executor = new PgExecutor('local', [v17.dir, v15.dir, later.dir]);
    const { pick, found } = await executor.findToolFor('pg_dump', 15, signal);
    expect(pick?.path).toBe(path.join(v15.dir, 'pg_dump'));
    expect(found.map((t) => t.version)).toEqual(['17.2', '15.1']);
    expect(runsOf(later.runs)).toBe(0);
    // The full search (every candidate, the system's own tools included) picks the same one.
    expect(pickPgTool(await executor.findTools('pg_dump', signal), 15)?.path).toBe(pick?.path);
  });

  it('probes every candidate when none is of the server major, and picks the oldest newer one', async () => {
    const v18 = toolDir('d18', '18.0');
    const v16 = toolDir('e16', '16.4');
    const executor = new PgExecutor('local', [v18.dir, v16.dir]);
    const { pick, found } = await executor.findToolFor('pg_dump', 14, signal);
    expect(found.length).toBeGreaterThanOrEqual(2);
    expect(pick).toEqual(pickPgTool(found, 14));
    expect(pick?.major).toBeLessThanOrEqual(16);
    const none = await executor.findToolFor('pg_dump', 99, signal);
    expect(none.pick).toBeUndefined();
    expect(none.found.map((t) => t.version)).toEqual(expect.arrayContaining(['18.0', '16.4']));
  });

  it('warm() runs the first candidate ahead once, and the lookup then uses that run', async () => {
    const v15 = toolDir('w15', '15.4');
    const v14 = toolDir('w14', '14.9');
    const executor = new PgExecutor('local', [v15.dir, v14.dir]);
    executor.warm('pg_dump');
    executor.warm('pg_dump');
    // The warm-up runs in the background; wait for its run to be on record.
    for (let i = 0; i < 200 && runsOf(v15.runs) === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(runsOf(v15.runs)).toBe(1);
    expect(runsOf(v14.runs)).toBe(0);
    const { pick } = await executor.findToolFor('pg_dump', 15, signal);
    expect(pick?.path).toBe(path.join(v15.dir, 'pg_dump'));
    expect(pick?.version).toBe('15.4');
    expect(runsOf(v15.runs)).toBe(1);
    // A lookup for an older server goes on to the next candidate as before.
    const older = await executor.findToolFor('pg_dump', 14, signal);
    expect(older.found.map((t) => t.version)).toEqual(['15.4', '14.9']);
    expect(runsOf(v15.runs)).toBe(1);
    // A docker executor runs nothing ahead.
    new PgExecutor({ docker: { container: 'nope' } }, [v14.dir]).warm('pg_dump');
    await new Promise((r) => setTimeout(r, 50));
    expect(runsOf(v14.runs)).toBe(1);
  });

  it('an endpoint looks a tool up once, and still fails when none is new enough', async () => {
    const v15 = toolDir('f15', '15.3');
    const endpoint = new PgEndpoint({ host: '127.0.0.1', user: 'postgres', database: 'postgres' }, 'local', [v15.dir], {
      source: 'db',
      kind: 'postgres',
    });
    const first = await endpoint.tool('pg_dump', 15, 'check', signal);
    const second = await endpoint.tool('pg_dump', 15, 'prepare', signal);
    expect(second).toEqual(first);
    expect(first.path).toBe(path.join(v15.dir, 'pg_dump'));
    expect(runsOf(v15.runs)).toBe(1);
    await expect(endpoint.tool('pg_dump', 99, 'prepare', signal)).rejects.toMatchObject({
      code: 'ERR_PG_TOOL_VERSION',
    });
    await expect(endpoint.tool('pg_dump', 99, 'prepare', signal)).rejects.toMatchObject({
      code: 'ERR_PG_TOOL_VERSION',
    });
  });

  it('never asks one tool twice, whichever of the warm-up and the lookup lists the candidates first', async () => {
    const v16 = toolDir('race16', '16.3');
    const v15 = toolDir('race15', '15.4');
    // The lookup first (it starts v16's `--version`), the warm-up once that run is under way.
    const executor = new PgExecutor('local', [v16.dir, v15.dir]);
    const lookup = executor.findToolFor('pg_dump', 15, signal);
    for (let i = 0; i < 200 && runsOf(v16.runs) === 0; i++) await new Promise((r) => setTimeout(r, 5));
    executor.warm('pg_dump');
    expect((await lookup).pick?.version).toBe('15.4');
    await new Promise((r) => setTimeout(r, 100));
    expect([runsOf(v16.runs), runsOf(v15.runs)]).toEqual([1, 1]);
    // The other order: the warm-up first, the lookup in the same tick.
    const w2 = toolDir('race16b', '16.3');
    const second = new PgExecutor('local', [w2.dir, v15.dir]);
    second.warm('pg_dump');
    await second.findToolFor('pg_dump', 16, signal);
    await new Promise((r) => setTimeout(r, 100));
    expect(runsOf(w2.runs)).toBe(1);
  });

  it('with a version cache, a run after the first starts no tool to ask its version', async () => {
    const v16 = toolDir('k16', '16.2');
    const v15 = toolDir('k15', '15.6');
    const cacheFile = path.join(root, 'k-cache', 'tool-versions.json');
    // The first run asks and remembers what it asked.
    const first = new PgExecutor('local', [v16.dir, v15.dir], fileToolVersionCache(cacheFile));
    first.warm('pg_dump');
    expect((await first.findToolFor('pg_dump', 15, signal)).pick?.version).toBe('15.6');
    expect([runsOf(v16.runs), runsOf(v15.runs)]).toEqual([1, 1]);
    // The next run (a new process: a new executor and cache object) asks nothing.
    const next = new PgExecutor('local', [v16.dir, v15.dir], fileToolVersionCache(cacheFile));
    next.warm('pg_dump');
    const { pick, found } = await next.findToolFor('pg_dump', 15, signal);
    expect(pick?.path).toBe(path.join(v15.dir, 'pg_dump'));
    expect(found.map((t) => t.version)).toEqual(['16.2', '15.6']);
    await new Promise((r) => setTimeout(r, 50));
    expect([runsOf(v16.runs), runsOf(v15.runs)]).toEqual([1, 1]);
    // An upgraded tool (a new file in its place) is asked again, and its new version counts.
    const upgraded = path.join(v15.dir, 'pg_dump.new');
    writeFileSync(upgraded, `#!/bin/sh\necho run >> '${v15.runs}'\necho 'pg_dump (PostgreSQL) 15.9'\n`, {
      mode: 0o755,
    });
    renameSync(upgraded, path.join(v15.dir, 'pg_dump'));
    const after = new PgExecutor('local', [v16.dir, v15.dir], fileToolVersionCache(cacheFile));
    expect((await after.findToolFor('pg_dump', 15, signal)).pick?.version).toBe('15.9');
    expect([runsOf(v16.runs), runsOf(v15.runs)]).toEqual([1, 2]);
    // A tool that failed is not remembered: it is asked every time.
    const broken = path.join(root, 'k-broken');
    mkdirSync(broken);
    writeFileSync(path.join(broken, 'pg_dump'), `#!/bin/sh\necho run >> '${broken}/runs'\nexit 1\n`, { mode: 0o755 });
    for (let i = 0; i < 2; i++)
      await new PgExecutor('local', [broken, v15.dir], fileToolVersionCache(cacheFile)).findToolFor(
        'pg_dump',
        15,
        signal,
      );
    expect(runsOf(path.join(broken, 'runs'))).toBe(2);
    // A docker executor never uses it (its tools live in the container).
    const cache = { lookup: () => 'pg_dump (PostgreSQL) 15.0', remember: () => {} };
    const docker = new PgExecutor({ docker: { container: 'dk-no-such-container', command: 'false' } }, [], cache);
    expect((await docker.findToolFor('pg_dump', 15, signal)).found).toEqual([]);
  });
});
