import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { jellyfinSource, jellyfinTarget } from '../../../../src/apps/jellyfin/index.js';
import { createBackupPlan } from '../../../../src/plan/backup-plan.js';
import { createRestorePlan } from '../../../../src/plan/restore-plan.js';
import { tempDir } from '../../../helpers/context.js';
import { build1011Db, buildTree, FIGURES } from './fixtures.js';

let dir: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  ({ dir, cleanup } = await tempDir('dk-jellyfin-plan-'));
});
afterEach(async () => cleanup());

function userCount(file: string): number {
  const db = new Database(file);
  try {
    return (db.prepare('SELECT count(*) AS n FROM Users').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('Jellyfin through the backup and restore plans', () => {
  it('backs up a linuxserver install and restores its database after a bad change', async () => {
    const root = path.join(dir, 'config');
    buildTree({
      dataDir: path.join(root, 'data'),
      configDir: root,
      logDir: path.join(root, 'log'),
      cacheDir: path.join(root, 'cache'),
    });
    const live = build1011Db(path.join(root, 'data', 'data'));
    const staging = path.join(dir, 'staging');
    const plan = createBackupPlan({
      workDir: staging,
      sources: [jellyfinSource({ install: 'linuxserver', root, archiveConfig: true })],
    });
    const prepared = await plan.prepare();
    expect(prepared.ok).toBe(true);
    expect(prepared.includePaths).toEqual([root]);
    expect(prepared.manifest?.sources[0]?.artifacts.map((a) => a.path)).toEqual([
      'jellyfin/database/jellyfin.db',
      'jellyfin/config/jellyfin-config.tar.gz',
    ]);
    // The archive holds the config entries only, not linuxserver's data, cache and log folders.
    const parts = prepared.manifest?.sources[0]?.metadata.parts as { name: string; metadata: { files: number } }[];
    expect(parts.find((p) => p.name === 'config')?.metadata.files).toBe(3);

    // Someone deletes every user but one; the snapshot brings them back.
    const db = new Database(live);
    db.prepare('DELETE FROM Users WHERE InternalId > 1').run();
    db.close();

    const restore = createRestorePlan({
      targets: [jellyfinTarget({ install: 'linuxserver', root, database: { installedVersion: '10.11.11' } })],
    });
    const report = await restore.run({ from: staging, reject: false });
    expect(report.entries.flatMap((e) => e.verification?.checks.filter((c) => !c.ok) ?? [])).toEqual([]);
    expect(report.entries.map((e) => e.error?.message)).toEqual([undefined]);
    expect(report.ok).toBe(true);
    expect(userCount(live)).toBe(FIGURES.users);
  });
});
