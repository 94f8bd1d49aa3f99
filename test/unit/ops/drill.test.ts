/**
 * The parts of a restore drill that need no server: version picking, the scratch-safety refusal,
 * option validation, the CLI's scratch rebuilding of config targets, and the evidence files.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  defaultEvidenceDir,
  drillTargets,
  evidenceDirCandidates,
  SYSTEM_EVIDENCE_DIR,
} from '../../../src/cli/commands/drill.js';
import { checksOfTarget, runDrillChecks } from '../../../src/ops/drill-check.js';
import type { DrillCheckContext } from '../../../src/contracts/drill.js';
import { silentLogger } from '../../../src/core/logger.js';
import type { DuplicatiClient } from '../../../src/duplicati/client.js';
import type { Fileset } from '../../../src/duplicati/types.js';
import { pickVersion, restoreDrill, scratchRefusal } from '../../../src/ops/drill.js';
import {
  type DrillEvidence,
  LAST_DRILL_FILE,
  readLastDrill,
  renderDrillMarkdown,
  writeDrillEvidence,
} from '../../../src/ops/drill-report.js';
import { ArchiveTarget } from '../../../src/engines/archive/target.js';
import { SqliteTarget } from '../../../src/engines/sqlite/target.js';
import type { RestoreTarget } from '../../../src/contracts/types.js';
import { tempDir } from '../../helpers/context.js';

const fs = (version: number, time: string): Fileset => ({
  version,
  time,
  isFullBackup: true,
  fileCount: null,
  fileSizes: null,
});
// Listed newest first, as the server does.
const versions = [fs(0, '2026-11-03T03:00:00Z'), fs(1, '2026-11-02T03:00:00Z'), fs(2, '2026-11-01T03:00:00Z')];

describe('pickVersion', () => {
  it('takes the newest by default, an exact number, or the newest at or before a time', () => {
    expect(pickVersion(versions, {})?.version).toBe(0);
    expect(pickVersion([...versions].reverse(), {})?.version).toBe(0);
    expect(pickVersion(versions, { version: 2 })?.version).toBe(2);
    expect(pickVersion(versions, { version: 7 })).toBeUndefined();
    expect(pickVersion(versions, { time: '2026-11-02T03:00:00Z' })?.version).toBe(1);
    expect(pickVersion(versions, { time: new Date('2026-11-02T12:00:00Z') })?.version).toBe(1);
    expect(pickVersion(versions, { time: '2026-10-31T00:00:00Z' })).toBeUndefined();
    expect(pickVersion([], {})).toBeUndefined();
  });
});

describe('scratchRefusal', () => {
  it('refuses folder targets writing outside the scratch folder and targets saying scratch: false', () => {
    const scratch = '/var/tmp/drill';
    expect(scratchRefusal(new ArchiveTarget({ dest: '/var/tmp/drill/config' }), scratch)).toBeUndefined();
    expect(scratchRefusal(new ArchiveTarget({ dest: '/etc/nginx' }), scratch)).toMatch(/outside the scratch folder/);
    expect(scratchRefusal(new ArchiveTarget({ dest: '/var/tmp/drill/../nginx' }), scratch)).toMatch(/outside/);
    const custom = (options: unknown): RestoreTarget =>
      ({ name: 'custom', kind: 'x', options, accepts: () => true }) as unknown as RestoreTarget;
    expect(scratchRefusal(custom({ scratch: false }), scratch)).toMatch(/not in scratch mode/);
    expect(scratchRefusal(custom({ scratch: true }), scratch)).toBeUndefined();
    // Options it cannot see are trusted (the caller is told to build them in scratch mode).
    expect(scratchRefusal(new SqliteTarget({ path: '/srv/app.db', scratch: true }), scratch)).toBeUndefined();
  });
});

describe('restoreDrill options', () => {
  const client = { backups: {} } as unknown as DuplicatiClient;
  it('names every bad field in one ConfigError before touching anything', async () => {
    await expect(
      restoreDrill({ client, job: '', version: 1, time: 'not a time', targets: [], scratchDir: 'relative' }),
    ).rejects.toMatchObject({
      name: 'ConfigError',
      issues: expect.arrayContaining([
        expect.objectContaining({ path: 'job' }),
        expect.objectContaining({ path: 'time' }),
        expect.objectContaining({ path: 'targets' }),
        expect.objectContaining({ path: 'scratchDir' }),
      ]),
    });
    await expect(
      restoreDrill({
        client,
        job: 'x',
        version: 1,
        time: '2026-11-01T00:00:00Z',
        targets: [new SqliteTarget({ path: '/a.db', scratch: true })],
        scratchDir: '/tmp',
      }),
    ).rejects.toMatchObject({ issues: [{ path: 'time', message: 'give version or time, not both' }] });
  });
});

describe('runDrillChecks', () => {
  const ctx = (signal = new AbortController().signal) =>
    ({ signal, logger: silentLogger }) as unknown as DrillCheckContext;

  it('keeps each outcome; a check that throws is a fail, a skipped one does not fail', async () => {
    const out = await runDrillChecks(
      [
        { name: 'a', run: async () => ({ status: 'pass', detail: 'fine', figures: { checked: 3 } }) },
        { name: 'b', run: async () => ({ status: 'skipped', detail: 'nothing to check' }) },
        {
          name: 'c',
          run: async () => {
            throw new Error('listing refused');
          },
        },
      ],
      ctx(),
    );
    expect(out.map(({ durationMs: _, ...r }) => r)).toEqual([
      { name: 'a', ok: true, status: 'pass', detail: 'fine', figures: { checked: 3 } },
      { name: 'b', ok: true, status: 'skipped', detail: 'nothing to check' },
      { name: 'c', ok: false, status: 'fail', detail: 'the check failed: listing refused' },
    ]);
  });

  it("rethrows the caller's abort", async () => {
    const ac = new AbortController();
    const reason = new Error('stop');
    const check = {
      name: 'slow',
      run: async () => {
        ac.abort(reason);
        throw new Error('aborted inside');
      },
    };
    await expect(runDrillChecks([check], ctx(ac.signal))).rejects.toBe(reason);
  });
});

describe('drillTargets (CLI)', () => {
  it('forces sqlite and postgres into scratch mode, unpacks archives into scratch, drops directory targets', async () => {
    const scratch = '/var/tmp/dk-drill-x';
    const entries = [
      { type: 'sqlite', source: 'app', path: '/srv/app.db' },
      { type: 'archive', source: 'config', dest: '/etc/app' },
      { type: 'directory', source: 'photos' },
    ];
    const { targets, notes, allScratch } = await drillTargets(entries, [], scratch);
    expect(targets.map((t) => t.kind)).toEqual(['sqlite', 'archive']);
    expect(allScratch).toBe(true);
    expect(notes.join('\n')).toMatch(/directory.*left out/);
    for (const t of targets) expect(scratchRefusal(t, scratch)).toBeUndefined();
    expect((targets[1] as ArchiveTarget).options.dest.startsWith(scratch)).toBe(true);
  });

  it('forces immich-database targets into scratch mode with their consistency check, and leaves the library out', async () => {
    const entries = [
      { type: 'immich-database', connection: { host: '127.0.0.1', user: 'postgres', database: 'immich' } },
      { type: 'immich-library', uploadLocation: '/srv/immich/library' },
      {
        type: 'immich-database',
        name: 'no-check',
        connection: { host: '127.0.0.1', user: 'postgres', database: 'immich' },
        drillCheck: false,
      },
    ];
    const { targets, notes, allScratch } = await drillTargets(entries, [], '/var/tmp/x');
    expect(targets.map((t) => t.kind)).toEqual(['immich.postgres', 'immich.postgres']);
    expect(allScratch).toBe(true);
    expect(notes.join('\n')).toMatch(/immich-library\) left out/);
    expect(checksOfTarget(targets[0] as RestoreTarget).map((c) => c.name)).toEqual(['immich-library-consistency']);
    expect(checksOfTarget(targets[1] as RestoreTarget)).toEqual([]);
    expect(checksOfTarget(new SqliteTarget({ path: '/a.db', scratch: true }))).toEqual([]);
  });

  it('keeps instances as given but then only verifies', async () => {
    const instance = new SqliteTarget({ path: '/srv/app.db', scratch: true });
    const { targets, allScratch, notes } = await drillTargets([instance], [instance], '/tmp/x');
    expect(targets).toEqual([instance]);
    expect(allScratch).toBe(false);
    expect(notes[0]).toMatch(/must have been built with scratch: true/);
  });

  it('puts evidence in the systemd state directory, XDG state, or ~/.local/state', () => {
    expect(defaultEvidenceDir({ STATE_DIRECTORY: '/var/lib/dk:/var/lib/other' })).toBe('/var/lib/dk/drills');
    expect(defaultEvidenceDir({ XDG_STATE_HOME: '/home/u/.state' })).toBe('/home/u/.state/duplicati-kit/drills');
    expect(defaultEvidenceDir({})).toMatch(/\.local\/state\/duplicati-kit\/drills$/);
  });

  it('status also looks where drills scheduled as system units keep their evidence', () => {
    expect(SYSTEM_EVIDENCE_DIR).toBe('/var/lib/duplicati-kit/drills');
    expect(evidenceDirCandidates({ XDG_STATE_HOME: '/home/u/.state' })).toEqual([
      '/home/u/.state/duplicati-kit/drills',
      '/var/lib/duplicati-kit/drills',
    ]);
    // Under the timer itself both are the same folder.
    expect(evidenceDirCandidates({ STATE_DIRECTORY: '/var/lib/duplicati-kit' })).toEqual([
      '/var/lib/duplicati-kit/drills',
    ]);
  });
});

describe('drill evidence files', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  const evidence = (over: Partial<DrillEvidence> = {}): DrillEvidence => ({
    ok: false,
    verdict: 'fail',
    job: { id: '3', name: 'Home | server' },
    version: 0,
    versionTime: '2026-11-03T03:00:00Z',
    workDir: '/srv/backup/staging/',
    mode: 'verify',
    duplicati: { result: 'Warning', taskId: '9', warnings: ['Creating missing folder'], errors: [] },
    restoredFiles: 3,
    restoredBytes: 4096,
    manifest: {
      host: 'nas',
      tool: 'duplicati-kit 0.1.0',
      startedAt: '2026-11-03T02:59:00Z',
      finishedAt: '2026-11-03T02:59:30Z',
      sources: ['app'],
    },
    checksums: [{ path: 'app/app.db', ok: false, bytes: 4096 }],
    entries: [
      {
        name: 'app',
        kind: 'sqlite',
        target: 'app',
        status: 'failed',
        ok: false,
        durationMs: 12,
        checks: [{ name: 'count photos', ok: false, detail: 'expected 250, got 249' }],
      },
    ],
    consistency: [
      {
        name: 'immich-library-consistency',
        ok: false,
        status: 'fail',
        detail: '1 of 40 asset file(s) the database references are not in the backup: /data/upload/u1/IMG_3.jpg',
        figures: { checked: 40, missing: 1 },
        samples: ['/data/upload/u1/IMG_3.jpg'],
        durationMs: 9,
      },
    ],
    durations: { restoreMs: 100, verifyMs: 50, checksMs: 9, totalMs: 170 },
    startedAt: '2026-11-29T09:10:30.123Z',
    finishedAt: '2026-11-29T09:10:30.293Z',
    scratch: { dir: '/tmp/drill-x', kept: false },
    errors: ['app (app): count photos: expected 250, got 249'],
    ...over,
  });

  it('renders a short Markdown report with the verdict, the problems and each check', () => {
    const md = renderDrillMarkdown(evidence());
    expect(md).toContain('# Restore drill: FAIL — Home | server');
    expect(md).toContain('- Checksums: 0/1 ok');
    expect(md).toContain('- app (app): count photos: expected 250, got 249');
    // Table cells escape the pipe of the job name and keep one row per entry.
    expect(md).toContain('| app | sqlite | app | failed | ✗ count photos: expected 250, got 249 |');
    expect(md).toContain('## Consistency checks');
    expect(md).toContain(
      '- ✗ immich-library-consistency (fail): 1 of 40 asset file(s) the database references are not in the backup: /data/upload/u1/IMG_3.jpg [checked 40, missing 1]',
    );
    expect(renderDrillMarkdown(evidence({ consistency: [] }))).not.toContain('Consistency');
  });

  it('writes drill-<time>.json, .md and last-drill.json atomically, and reads the last one back', async () => {
    const { dir, cleanup } = await tempDir('dk-drill-ev-');
    cleanups.push(cleanup);
    const evDir = path.join(dir, 'drills');
    expect(await readLastDrill(evDir)).toBeUndefined();
    const first = await writeDrillEvidence(evDir, evidence());
    const second = await writeDrillEvidence(
      evDir,
      evidence({ ok: true, verdict: 'pass', errors: [], startedAt: '2026-11-30T09:10:30.000Z' }),
    );
    expect(path.basename(first.json)).toBe('drill-2026-11-29T09-10-30-123Z.json');
    expect(path.basename(second.markdown)).toBe('drill-2026-11-30T09-10-30-000Z.md');
    expect((await readdir(evDir)).sort()).toEqual([
      'drill-2026-11-29T09-10-30-123Z.json',
      'drill-2026-11-29T09-10-30-123Z.md',
      'drill-2026-11-30T09-10-30-000Z.json',
      'drill-2026-11-30T09-10-30-000Z.md',
      LAST_DRILL_FILE,
    ]);
    expect((await readLastDrill(evDir))?.verdict).toBe('pass');
    expect(JSON.parse(await readFile(first.json, 'utf8'))).toEqual(evidence());
  });
});
