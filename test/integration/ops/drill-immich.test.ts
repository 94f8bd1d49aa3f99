/**
 * The Immich consistency check of a restore drill, end to end: an Immich-shaped database on the
 * real PostgreSQL and a photo library on disk, staged by a real plan (ImmichDatabaseSource +
 * ImmichLibrarySource), backed up by a FakeDuplicatiServer job that holds the work folder and the
 * library; the drill loads the restored dump into a throwaway database, streams every asset's
 * originalPath and looks it up in the same version's file listing. A consistent version passes; a
 * version whose library lacks a photo the database references fails naming it — and the older,
 * consistent version still passes, because each version is checked against its own listing.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuplicatiClient } from '../../../src/duplicati/client.js';
import { ImmichDatabaseSource, ImmichDatabaseTarget, ImmichLibrarySource } from '../../../src/apps/immich/index.js';
import { restoreDrill } from '../../../src/ops/drill.js';
import { createBackupPlan } from '../../../src/plan/backup-plan.js';
import { FakeDuplicatiServer } from '../../../src/testing/index.js';
import { ExitCode } from '../../../src/cli/exit-codes.js';
import { requireBuiltCli, runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/context.js';
import { createImmichSchema, type ImmichFixture, writeFakeDocker } from '../apps/immich/fixture.js';
import { databasesLike, dropDatabases, PG, pgAvailable, sql, uniqueDb } from '../engines/postgres/pg-helpers.js';

const available = await pgAvailable();
const PASSWORD = 'immich-drill-pw';

describe.skipIf(!available).each([
  { generation: 'singular' as const, executor: 'docker' as const, version: 'v2.5.6' },
  { generation: 'plural' as const, executor: 'local' as const, version: 'v1.135.3' },
])('Immich drill consistency check ($generation schema, $executor executor)', ({ generation, executor, version }) => {
  const db = uniqueDb(`idrill_${generation}`);
  let work: { dir: string; cleanup: () => Promise<void> };
  let server: FakeDuplicatiServer;
  let dup: DuplicatiClient;
  let fixture: ImmichFixture;
  let upload: string;
  let workDir: string;
  let jobId: string | undefined;
  let offsetMs = 0;
  let live: string[];
  let exec: 'local' | { docker: { container: string; command: string } };

  beforeAll(async () => {
    requireBuiltCli();
    work = await tempDir('dk-idrill-');
    upload = path.join(work.dir, 'immich-library');
    workDir = path.join(work.dir, 'staging');
    exec =
      executor === 'local'
        ? 'local'
        : { docker: { container: 'immich_postgres', command: (await writeFakeDocker(work.dir)).command } };
    await sql('postgres', `CREATE DATABASE ${db}`);
    fixture = await createImmichSchema(db, generation, { version, seed: 11 });
    const table = generation === 'singular' ? 'asset' : 'assets';
    live = (
      await sql<{ p: string }>(db, `SELECT "originalPath" AS p FROM ${table} WHERE status <> 'deleted' ORDER BY id`)
    ).map((r) => r.p);
    // The photos of every asset Immich still has (deleted ones are gone from disk, as in Immich).
    for (const p of live) {
      const file = path.join(upload, p.slice('/data/'.length));
      await fsp.mkdir(path.dirname(file), { recursive: true });
      await fsp.writeFile(file, `jpeg ${p}`);
    }
    for (const f of ['upload', 'library', 'profile', 'thumbs']) {
      await fsp.mkdir(path.join(upload, f), { recursive: true });
      await fsp.writeFile(path.join(upload, f, '.immich'), '1');
    }
    server = await FakeDuplicatiServer.start({
      generation: '2.1',
      password: PASSWORD,
      now: () => new Date(Date.now() + offsetMs),
    });
    dup = new DuplicatiClient({ baseUrl: server.url, auth: { type: 'password', password: PASSWORD } });
  });

  afterAll(async () => {
    await server?.close();
    await dropDatabases(await databasesLike(db));
    await work?.cleanup();
  });

  const connection = () => ({ ...PG, database: db });

  /** Stage the plan, back up the work folder and the library folders, clean up. */
  async function backup(): Promise<void> {
    const plan = createBackupPlan({
      workDir,
      sources: [
        new ImmichDatabaseSource({ connection: connection(), executor: exec }),
        new ImmichLibrarySource({ uploadLocation: upload }),
      ],
    });
    const prepared = await plan.prepare();
    expect(prepared.ok).toBe(true);
    jobId ??= server.createBackup({ name: 'Immich', sources: [`${workDir}/`, ...prepared.includePaths] });
    offsetMs += 60_000;
    expect((await dup.backups.runAndWait(jobId)).result).toBe('Success');
    await plan.cleanup();
  }

  const target = (drillCheck?: ConstructorParameters<typeof ImmichDatabaseTarget>[0]['drillCheck']) =>
    new ImmichDatabaseTarget({
      connection: connection(),
      executor: exec,
      scratch: true,
      ...(drillCheck !== undefined ? { drillCheck } : {}),
    });

  it('passes on a consistent version, with the assets checked in the evidence', async () => {
    await backup();
    const scratch = path.join(work.dir, 'scratch');
    const drill = await restoreDrill({
      client: dup,
      job: 'Immich',
      targets: [target()],
      scratchDir: scratch,
      scratchRestore: executor === 'docker',
      evidenceDir: path.join(work.dir, 'evidence'),
    });
    expect(drill.errors).toEqual([]);
    expect(drill.verdict).toBe('pass');
    expect(drill.consistency).toHaveLength(1);
    const c = drill.consistency[0];
    expect(c).toMatchObject({ name: 'immich-library-consistency', status: 'pass', ok: true });
    expect(c?.figures).toMatchObject({
      assets: live.length,
      checked: live.length,
      missing: 0,
      unmapped: 0,
    });
    // Deleted assets are not referenced files any more: they are not checked.
    expect(live.length).toBe(fixture.originalPaths.length - fixture.assets.deleted);
    expect(c?.detail).toContain(`${live.length} asset file(s) checked against`);
    expect(c?.detail).toContain(`${upload}/`);
    const md = await fsp.readFile(drill.files?.markdown as string, 'utf8');
    expect(md).toContain('## Consistency checks');
    expect(md).toContain('✓ immich-library-consistency (pass)');
    // The check's throwaway database is gone.
    expect((await databasesLike(db)).filter((n) => n !== db)).toEqual([]);
  });

  it('fails a version whose library lacks a photo the database references, naming it', async () => {
    const lost = live[3] as string;
    const file = path.join(upload, lost.slice('/data/'.length));
    const bytes = await fsp.readFile(file);
    await fsp.rm(file);
    try {
      await backup();
      const scratch = path.join(work.dir, 'scratch');
      const bad = await restoreDrill({
        client: dup,
        job: 'Immich',
        targets: [target({ liveLibrary: upload, samples: 5 })],
        scratchDir: scratch,
        // The consistency check reads the dump as a file: loading it again adds nothing here.
        scratchRestore: false,
      });
      expect(bad.verdict).toBe('fail');
      const c = bad.consistency[0];
      expect(c).toMatchObject({ status: 'fail', ok: false, samples: [lost] });
      expect(c?.figures).toMatchObject({ checked: live.length, missing: 1, liveMissing: 1 });
      expect(c?.detail).toContain(
        `1 of ${live.length} asset file(s) the database references are not in the backup: ${lost}`,
      );
      expect(c?.detail).toContain(`1 asset file(s) missing from the live library ${upload}: ${lost}`);
      expect(bad.errors.join('\n')).toContain(`immich-library-consistency: 1 of ${live.length}`);
      // Every checksum and the target's own checks passed: only the consistency check caught it.
      expect(bad.checksums.every((x) => x.ok)).toBe(true);
      expect(bad.entries.every((e) => e.ok)).toBe(true);

      // The built CLI: an immich-database target in the config is drilled in scratch mode and
      // brings its consistency check; the lost photo fails the drill (exit 4).
      await fsp.writeFile(path.join(work.dir, 'pw'), PASSWORD);
      const cfg = path.join(work.dir, 'duplicati-kit.json');
      await fsp.writeFile(
        cfg,
        JSON.stringify({
          workDir,
          sources: [
            {
              type: 'immich',
              database: { connection: connection(), executor: exec },
              library: { uploadLocation: upload },
            },
          ],
          restore: { targets: [{ type: 'immich-database', connection: connection(), executor: exec }] },
          duplicati: { url: server.url, passwordFile: path.join(work.dir, 'pw') },
        }),
      );
      const cli = await runCli(
        ['drill', '--job', 'Immich', '--config', cfg, '--scratch', scratch, '--evidence', path.join(work.dir, 'ev')],
        { env: { DUPLICATI_URL: '', DUPLICATI_PASSWORD: '', DUPLICATI_PASSWORD_FILE: '' } },
      );
      expect(cli.code).toBe(ExitCode.VerificationFailed);
      expect(cli.stdout).toContain('mode scratch-restore');
      expect(cli.stdout).toMatch(
        new RegExp(
          `check fail\\s+immich-library-consistency: 1 of ${live.length} asset file\\(s\\) the database references are not in the backup: ${lost}`,
        ),
      );
      expect(cli.stderr).not.toContain(PASSWORD);

      // A threshold tolerates it.
      const tolerated = await restoreDrill({
        client: dup,
        job: 'Immich',
        targets: [target({ maxMissing: 1 })],
        scratchDir: scratch,
        // The consistency check reads the dump as a file: loading it again adds nothing here.
        scratchRestore: false,
      });
      expect(tolerated.verdict).toBe('pass');
      expect(tolerated.consistency[0]).toMatchObject({ status: 'pass', figures: { missing: 1 }, samples: [lost] });

      // The previous version is checked against its own listing, where the photo is.
      const older = await restoreDrill({
        client: dup,
        job: 'Immich',
        version: 1,
        targets: [target()],
        scratchDir: scratch,
        // The consistency check reads the dump as a file: loading it again adds nothing here.
        scratchRestore: false,
      });
      expect(older.verdict).toBe('pass');
      expect(older.consistency[0]?.figures).toMatchObject({ missing: 0 });

      // A mapping that matches nothing is a failure, not a vacuous pass; drillCheck: false turns it off.
      const wrongMap = await restoreDrill({
        client: dup,
        job: 'Immich',
        version: 1,
        targets: [target({ pathMap: [{ from: '/photos/', to: `${upload}/` }] })],
        scratchDir: scratch,
        // The consistency check reads the dump as a file: loading it again adds nothing here.
        scratchRestore: false,
      });
      expect(wrongMap.consistency[0]?.status).toBe('fail');
      expect(wrongMap.consistency[0]?.detail).toContain('fix pathMap');
      const off = await restoreDrill({
        client: dup,
        job: 'Immich',
        targets: [target(false)],
        scratchDir: scratch,
        scratchRestore: false,
      });
      expect(off.consistency).toEqual([]);
      expect(off.verdict).toBe('pass');
    } finally {
      await fsp.writeFile(file, bytes);
    }
    expect((await databasesLike(db)).filter((n) => n !== db)).toEqual([]);
  });
});
