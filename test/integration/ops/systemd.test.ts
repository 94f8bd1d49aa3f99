import { execFile } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isConfigError } from '../../../src/core/errors.js';
import { quoteExecArg, renderSystemdUnits, type SystemdSchedule, writeSystemdUnits } from '../../../src/ops/systemd.js';
import { tempDir } from '../../helpers/context.js';

const run = promisify(execFile);
let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(() => cleanup());

const node = process.execPath;
/** The plan's three jobs: Immich database 02:00 daily, Immich files 03:00 daily, configs Sunday 04:00. */
const plan: SystemdSchedule[] = [
  {
    name: 'immich-db',
    onCalendar: '*-*-* 02:00:00',
    command: [node, '/opt/duplicati-kit/cli.js', 'run', 'Immich database', '--wait'],
    readWritePaths: ['/srv/backup'],
  },
  {
    name: 'immich-files',
    onCalendar: '*-*-* 03:00:00',
    randomizedDelaySec: 300,
    command: [node, '/opt/duplicati-kit/cli.js', 'run', 'Immich files', '--wait'],
  },
  {
    name: 'configs',
    onCalendar: 'Sun *-*-* 04:00:00',
    command: [node, '/opt/duplicati-kit/cli.js', 'run', 'Configurations', '--wait'],
    user: 'root',
  },
  {
    name: 'drill',
    onCalendar: 'Sun *-*-* 05:00:00',
    command: [node, '/opt/duplicati-kit/cli.js', 'drill', '--job', 'Immich'],
    stateDirectory: 'duplicati-kit',
  },
];

describe('systemd units', () => {
  it('renders a hardened oneshot service and a persistent timer', () => {
    const u = renderSystemdUnits(plan[0]!);
    expect(u.serviceName).toBe('duplicati-kit-immich-db.service');
    expect(u.service).toContain(`ExecStart=${node} /opt/duplicati-kit/cli.js run "Immich database" --wait`);
    expect(u.service).toContain('Type=oneshot');
    expect(u.service).toContain('ProtectSystem=strict');
    expect(u.service).toContain('ReadWritePaths=/srv/backup');
    expect(u.timer).toContain('OnCalendar=*-*-* 02:00:00');
    expect(u.timer).toContain('Persistent=true');
    expect(u.timer).toContain('WantedBy=timers.target');
  });

  it('gives a drill a StateDirectory, where its evidence survives the sandboxing', () => {
    const u = renderSystemdUnits(plan[3]!);
    expect(u.service).toContain('StateDirectory=duplicati-kit');
    expect(u.service).toContain('ProtectSystem=strict');
    expect(renderSystemdUnits(plan[0]!).service).not.toContain('StateDirectory');
    for (const bad of ['/var/lib/x', '../x', 'a/../b', 'a b']) {
      expect(() => renderSystemdUnits({ ...plan[3]!, stateDirectory: bad })).toThrow(/invalid schedule/);
    }
  });

  it('escapes systemd specifiers and variables in arguments', () => {
    expect(quoteExecArg('100%')).toBe('"100%%"');
    expect(quoteExecArg('$HOME')).toBe('"$$HOME"');
    expect(quoteExecArg('say "hi"')).toBe('"say \\"hi\\""');
    expect(quoteExecArg('/usr/bin/x')).toBe('/usr/bin/x');
  });

  it('rejects bad schedules with paths', () => {
    try {
      renderSystemdUnits({ name: 'bad name', onCalendar: [], command: ['relative'] });
      expect.unreachable();
    } catch (e) {
      expect(isConfigError(e)).toBe(true);
      expect((e as { issues: { path: string }[] }).issues.map((i) => i.path).sort()).toEqual([
        'command',
        'name',
        'onCalendar',
      ]);
    }
  });

  it.runIf(existsSync('/usr/bin/systemd-analyze'))('units pass systemd-analyze verify', async () => {
    const files = await writeSystemdUnits(
      dir,
      plan.map((p) => ({ ...p, command: [node, '-e', '0'] })),
    );
    expect(files).toHaveLength(8);
    const { stdout, stderr } = await run(
      'systemd-analyze',
      ['verify', ...files.filter((f) => f.endsWith('.timer')), ...files.filter((f) => f.endsWith('.service'))],
      {
        env: { ...process.env, SYSTEMD_LOG_LEVEL: 'warning' },
      },
    ).catch((e: { stdout: string; stderr: string }) => e);
    const complaints = `${stdout}${stderr}`.split('\n').filter((l) => l.includes('duplicati-kit-'));
    expect(complaints).toEqual([]);
    expect(await fsp.readFile(path.join(dir, 'duplicati-kit-configs.timer'), 'utf8')).toContain(
      'OnCalendar=Sun *-*-* 04:00:00',
    );
  });
});
