import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSource, buildTarget } from '../../../src/app/registry.js';
import { isConfigError } from '../../../src/core/errors.js';
import { fileToolVersionCache } from '../../../src/core/tool-versions.js';
import { requireBuiltCli, runCli } from '../../helpers/cli.js';
import { PG, pgAvailable, sql } from '../engines/postgres/pg-helpers.js';

const available = await pgAvailable();
const root = mkdtempSync(path.join(tmpdir(), 'dk-tool-cache-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const runsOf = (file: string): number => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').length - 1 : 0);

describe.skipIf(!available)('the CLI remembers what the PostgreSQL tools said to --version', () => {
  const bin = path.join(root, 'bin');
  const runs = path.join(root, 'runs');
  const home = path.join(root, 'home');
  const config = path.join(root, 'config.yaml');

  beforeAll(async () => {
    requireBuiltCli();
    const [v] = await sql<{ v: string }>('postgres', "SELECT current_setting('server_version_num') AS v");
    const major = Math.floor(Number(v?.v) / 10000);
    // A pg_dump of the server's major in `binDirs`, searched first: it answers --version and
    // notes every start (a dry run never dumps).
    mkdirSync(bin, { recursive: true });
    writeFileSync(
      path.join(bin, 'pg_dump'),
      `#!/bin/sh\necho "$*" >> '${runs}'\necho 'pg_dump (PostgreSQL) ${major}.99'\n`,
      { mode: 0o755 },
    );
    mkdirSync(home);
    writeFileSync(
      config,
      [
        `workDir: ${path.join(root, 'work')}`,
        'sources:',
        '  - type: postgres',
        '    name: db',
        `    connection: { host: ${PG.host}, port: ${PG.port}, user: ${PG.user}, database: postgres }`,
        `    binDirs: [${bin}]`,
        '',
      ].join('\n'),
    );
  });

  const dryRun = (env: Record<string, string> = {}) =>
    runCli(['prepare', '--dry-run', '--config', config], { env: { HOME: home, XDG_CACHE_HOME: '', ...env } });

  it('asks once, then not again until the tool changes; off asks every time', async () => {
    const first = await dryRun();
    expect(first.code, first.stderr).toBe(0);
    expect(runsOf(runs)).toBe(1);
    const cacheFile = path.join(home, '.cache', 'duplicati-kit', 'tool-versions.json');
    expect(statSync(cacheFile).mode & 0o777).toBe(0o600);
    expect(fileToolVersionCache(cacheFile).lookup(path.join(bin, 'pg_dump'))).toMatch(
      /^pg_dump \(PostgreSQL\) \d+\.99/,
    );

    const second = await dryRun();
    expect(second.code, second.stderr).toBe(0);
    expect(runsOf(runs)).toBe(1);

    const off = await dryRun({ DUPLICATI_KIT_TOOL_CACHE: 'off' });
    expect(off.code, off.stderr).toBe(0);
    expect(runsOf(runs)).toBe(2);

    // The tool rewritten in place (an upgrade): asked again, once.
    writeFileSync(path.join(bin, 'pg_dump'), readFileSync(path.join(bin, 'pg_dump')));
    expect((await dryRun()).code).toBe(0);
    expect((await dryRun()).code).toBe(0);
    expect(runsOf(runs)).toBe(3);
  });
});

describe('which config entries get the tool cache', () => {
  // Something that is not a cache: a constructor that receives it refuses it, by its field name.
  const notACache = { toolVersions: { lookup: 'no' } } as never;
  const connection = { host: PG.host, port: PG.port, user: PG.user, database: 'postgres' };
  const refusal = async (build: () => Promise<unknown>): Promise<string> => {
    try {
      await build();
      return 'built';
    } catch (e) {
      if (!isConfigError(e)) throw e;
      return e.issues.map((i) => i.path).join(',');
    }
  };

  it('the PostgreSQL and Immich database entries, and only those', async () => {
    expect(await refusal(() => buildSource({ type: 'postgres', connection } as never, notACache))).toBe('toolVersions');
    expect(await refusal(() => buildTarget({ type: 'postgres', connection } as never, notACache))).toBe('toolVersions');
    expect(await refusal(() => buildSource({ type: 'immich-database', connection } as never, notACache))).toBe(
      'toolVersions',
    );
    expect(await refusal(() => buildTarget({ type: 'immich-database', connection } as never, notACache))).toBe(
      'toolVersions',
    );
    const immich = { type: 'immich', database: { connection }, library: { uploadLocation: root } };
    expect(await refusal(() => buildSource(immich as never, notACache))).toBe('toolVersions');
    // Other types never see it.
    const sqlite = { type: 'sqlite', name: 'app', path: path.join(root, 'app.db') };
    expect(await refusal(() => buildSource(sqlite as never, notACache))).toBe('built');
    expect(
      await refusal(() => buildSource({ type: 'directory', name: 'files', paths: [root] } as never, notACache)),
    ).toBe('built');
    // A real cache is taken as it is.
    const cache = fileToolVersionCache(path.join(root, 'c.json'));
    expect(await refusal(() => buildSource({ type: 'postgres', connection } as never, { toolVersions: cache }))).toBe(
      'built',
    );
  });
});
