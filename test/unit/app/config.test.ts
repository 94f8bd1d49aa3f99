import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ConfigError, isConfigError } from '../../../src/core/errors.js';
import { defineConfig, loadConfig, resolveConfig } from '../../../src/app/config.js';
import { DirectorySource } from '../../../src/engines/directory/source.js';
import { tempDir } from '../../helpers/context.js';
import { TextSource } from '../../helpers/fake-sources.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

async function issuesOf(p: Promise<unknown>): Promise<string[]> {
  const e = await p.catch((x: unknown) => x);
  expect(isConfigError(e)).toBe(true);
  return (e as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
}

describe('config files', () => {
  it('builds sources and targets from typed entries and accepts instances', async () => {
    const cfg = await resolveConfig(
      defineConfig({
        workDir: path.join(dir, 'staging'),
        sources: [{ type: 'directory', name: 'photos', paths: [dir] }, new TextSource('notes', { 'n.txt': 'n' })],
        restore: { targets: [{ type: 'directory', source: 'photos' }] },
      }),
    );
    expect(cfg.sources[0]).toBeInstanceOf(DirectorySource);
    expect(cfg.sources.map((s) => s.name)).toEqual(['photos', 'notes']);
    expect(cfg.targets.map((t) => t.kind)).toEqual(['directory']);
    const out = await cfg.backupPlan().prepare();
    expect(out.ok).toBe(true);
  });

  it('reports every bad field, including those inside source options, with paths', async () => {
    const issues = await issuesOf(
      resolveConfig({
        workDir: 'not/absolute',
        sources: [{ type: 'directory', name: 'x', paths: ['rel'] }, { type: 'warp-drive' }],
        extra: true,
      }),
    );
    expect(issues.some((i) => i.startsWith('workDir:'))).toBe(true);
    expect(issues.some((i) => i.startsWith('sources.1.type: unknown type "warp-drive"'))).toBe(true);
    expect(issues.some((i) => i.includes('extra'))).toBe(true);
    const inner = await issuesOf(
      resolveConfig({ workDir: dir, sources: [{ type: 'directory', name: 'x', paths: ['rel'], bogus: 1 }] }),
    );
    expect(inner).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^sources\.0\.paths\.0: must be an absolute path/),
        expect.stringMatching(/^sources\.0/),
      ]),
    );
    const dup = await issuesOf(
      resolveConfig({
        workDir: dir,
        sources: [
          { type: 'directory', name: 'x', paths: [dir] },
          { type: 'directory', name: 'x', paths: [dir] },
        ],
      }),
    );
    expect(dup).toEqual([expect.stringMatching(/^sources\.1\.name: duplicate/)]);
  });

  it('loads YAML, JSON and .mjs files; unreadable files are ConfigErrors', async () => {
    const body = { workDir: path.join(dir, 'w'), sources: [{ type: 'directory', name: 'd', paths: [dir] }] };
    await fsp.writeFile(path.join(dir, 'c.json'), JSON.stringify(body));
    await fsp.writeFile(
      path.join(dir, 'c.yaml'),
      `workDir: ${body.workDir}\nsources:\n  - { type: directory, name: d, paths: [${dir}] }\n`,
    );
    await fsp.writeFile(path.join(dir, 'c.mjs'), `export default ${JSON.stringify(body)};`);
    for (const f of ['c.json', 'c.yaml', 'c.mjs']) {
      const cfg = await loadConfig(path.join(dir, f));
      expect(cfg.sources.map((s) => s.name)).toEqual(['d']);
    }
    await fsp.writeFile(path.join(dir, 'broken.yaml'), 'workDir: [unclosed');
    await expect(loadConfig(path.join(dir, 'broken.yaml'))).rejects.toThrow(/not valid YAML/);
    await expect(loadConfig(path.join(dir, 'none.yaml'))).rejects.toThrow(/does not exist/);
  });

  it('builds notifiers, local copy policy and schedules; reports bad ones with paths', async () => {
    const cfg = await resolveConfig({
      workDir: dir,
      sources: [{ type: 'directory', name: 'd', paths: [dir] }],
      notify: [
        { type: 'ntfy', url: 'https://ntfy.example/backups' },
        { type: 'healthchecks', pingUrl: 'https://hc.example/abc' },
      ],
      localCopies: { dir: path.join(dir, 'copies'), keep: { keepDaily: 14 } },
      schedules: [{ name: 'nightly', onCalendar: '*-*-* 02:00:00', args: ['prepare'] }],
    });
    expect(cfg.notifiers.map((n) => n.name)).toEqual(['ntfy', 'healthchecks']);
    expect(cfg.schedules(['/usr/bin/node', '/opt/dk/main.js'])[0]?.command).toEqual([
      '/usr/bin/node',
      '/opt/dk/main.js',
      '--config',
      '(inline)',
      'prepare',
    ]);
    const issues = await issuesOf(
      resolveConfig({
        workDir: dir,
        sources: [{ type: 'directory', name: 'd', paths: [dir] }],
        notify: [{ type: 'ntfy', url: 'nope' }, { type: 'pager' }],
        localCopies: { dir: 'rel', keep: { keepForever: true } },
        schedules: [
          { name: 'bad name', onCalendar: '*-*-* 02:00:00', args: [] },
          { name: 'x', onCalendar: 'daily' },
        ],
      }),
    );
    for (const p of ['notify.1.type', 'localCopies.dir', 'localCopies.keep', 'schedules.1.args']) {
      expect(issues.some((i) => i.startsWith(p))).toBe(true);
    }
  });

  it('takes the restore checklist settings and reports bad ones with paths', async () => {
    const restore = {
      targets: [{ type: 'directory', source: 'photos' }],
      stateDir: '/var/lib/duplicati-kit/restores',
      allowNoWayBack: ['photos'],
      maintenance: {
        stop: [['systemctl', 'stop', 'app']],
        start: [['systemctl', 'start', 'app']],
        immich: { url: 'http://127.0.0.1:2283', apiKeyFile: '/etc/immich.key' },
        jellyfin: {
          url: 'http://127.0.0.1:8096',
          stop: ['docker', 'stop', 'jellyfin'],
          start: ['docker', 'start', 'jellyfin'],
        },
      },
    };
    const sources = [{ type: 'directory', name: 'photos', paths: [dir] }];
    const cfg = await resolveConfig({ workDir: path.join(dir, 'staging'), sources, restore });
    expect(cfg.config.restore?.maintenance?.jellyfin?.stop).toEqual(['docker', 'stop', 'jellyfin']);
    const issues = await issuesOf(
      resolveConfig({
        workDir: path.join(dir, 'staging'),
        sources,
        restore: {
          ...restore,
          maintenance: {
            stop: ['systemctl stop app'],
            immich: { url: 'not a url', apiKey: 'in-config' },
            jellyfin: { stop: [] },
          },
        },
      }),
    );
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^restore\.maintenance\.stop\.0: /),
        expect.stringMatching(/^restore\.maintenance\.immich\.url: /),
        expect.stringMatching(/^restore\.maintenance\.immich: .*apiKey/),
        expect.stringMatching(/^restore\.maintenance\.jellyfin\.stop: /),
      ]),
    );
  });
});
