import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readManifest } from '../../../src/core/manifest.js';
import { copyName, keepLocalCopy, pruneLocalCopies, selectRetained } from '../../../src/ops/retention.js';
import { createBackupPlan } from '../../../src/plan/backup-plan.js';
import { createRestorePlan } from '../../../src/plan/restore-plan.js';
import { tempDir } from '../../helpers/context.js';
import { TextSource } from '../../helpers/fake-sources.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

const day = (iso: string) => ({ name: copyName(new Date(iso)), time: new Date(iso) });

describe('retention policy', () => {
  const now = new Date('2026-03-31T12:00:00Z');
  const copies = [
    day('2026-03-31T02:00:00Z'),
    day('2026-03-30T02:00:00Z'),
    day('2026-03-30T14:00:00Z'),
    day('2026-03-20T02:00:00Z'),
    day('2026-02-15T02:00:00Z'),
    day('2026-01-10T02:00:00Z'),
  ];
  it('keep-last, keep-days and calendar buckets; newest always kept', () => {
    expect([...selectRetained(copies, {}, now)]).toEqual([copies[0]!.name]);
    expect([...selectRetained(copies, { keepLast: 2 }, now)].sort()).toEqual([copies[0]!.name, copies[2]!.name].sort());
    expect(selectRetained(copies, { keepDays: 14 }, now).size).toBe(4);
    // one per day for the two newest days: 31st, and the later copy of the 30th
    expect([...selectRetained(copies, { keepDaily: 2 }, now)].sort()).toEqual(
      [copies[0]!.name, copies[2]!.name].sort(),
    );
    expect([...selectRetained(copies, { keepMonthly: 3 }, now)].sort()).toEqual(
      [copies[0]!.name, copies[4]!.name, copies[5]!.name].sort(),
    );
    expect(selectRetained(copies, { keepWeekly: 2 }, now)).toEqual(new Set([copies[0]!.name, copies[3]!.name]));
  });
});

describe('local copies', () => {
  it('keeps a complete dated copy that restores after the work folder was cleaned', async () => {
    const workDir = path.join(dir, 'staging');
    const plan = createBackupPlan({ workDir, sources: [new TextSource('a', { 'x.txt': 'hello' })] });
    await plan.prepare();
    const copies = path.join(dir, 'copies');
    const copy = await keepLocalCopy(workDir, copies, { now: new Date('2026-01-02T03:04:05Z') });
    expect(path.basename(copy)).toBe('20260102T030405Z');
    await plan.cleanup();
    expect((await readManifest(copy)).sources[0]?.name).toBe('a');
    const report = await createRestorePlan({ targets: [] }).run({ from: copy, dryRun: true });
    expect(report.checksums.every((c) => c.ok)).toBe(true);
  });

  it('prunes only its own copies and interrupted leftovers', async () => {
    const copies = path.join(dir, 'copies');
    const mk = async (name: string, manifest = true) => {
      await fsp.mkdir(path.join(copies, name), { recursive: true });
      if (manifest) await fsp.writeFile(path.join(copies, name, 'manifest.json'), '{}');
    };
    await mk('20260101T020000Z');
    await mk('20260102T020000Z');
    await mk('20260103T020000Z');
    await mk('20260104T020000Z', false);
    await mk('family-photos');
    await mk('.partial-abcd', false);
    const dry = await pruneLocalCopies(copies, { keepLast: 1 }, { dryRun: true });
    expect(dry.removed).toEqual(['.partial-abcd', '20260101T020000Z', '20260102T020000Z']);
    expect(existsSync(path.join(copies, '20260101T020000Z'))).toBe(true);
    const res = await pruneLocalCopies(copies, { keepLast: 1 });
    expect(res).toEqual({
      kept: ['20260103T020000Z'],
      removed: dry.removed,
      ignored: ['20260104T020000Z', 'family-photos'],
    });
    expect((await fsp.readdir(copies)).sort()).toEqual(['20260103T020000Z', '20260104T020000Z', 'family-photos']);
    await expect(pruneLocalCopies(copies, { keepLast: -1 })).rejects.toThrow(/invalid retention policy/);
  });
});
