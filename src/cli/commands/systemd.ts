/**
 * `duplicati-kit systemd`: service and timer units for the config's schedules.
 *
 * @module
 */
import path from 'node:path';
import { ConfigError } from '../../core/errors.js';
import { renderSystemdUnits, writeSystemdUnits } from '../../ops/systemd.js';
import { ExitCode } from '../exit-codes.js';
import { printJson } from '../output.js';
import type { CliCommand } from '../types.js';
import { contextConfig } from './plan.js';

export const systemdCommand: CliCommand = {
  name: 'systemd',
  summary: "Print (or write) systemd service + timer units for the config's schedules",
  usage: 'systemd --config FILE [--write DIR]',
  options: {
    write: { type: 'string', valueName: 'DIR', description: 'Write the units into DIR (e.g. /etc/systemd/system)' },
  },
  help: 'Then: systemctl daemon-reload && systemctl enable --now duplicati-kit-<name>.timer',
  async run(ctx) {
    const cfg = await contextConfig(ctx);
    const schedules = cfg.schedules(ctx.program);
    if (schedules.length === 0) {
      throw new ConfigError('the config has no schedules', [
        { path: 'schedules', message: 'add at least one schedule' },
      ]);
    }
    if (typeof ctx.flags.write === 'string') {
      const files = await writeSystemdUnits(path.resolve(ctx.cwd, ctx.flags.write), schedules, { signal: ctx.signal });
      if (ctx.json) printJson(ctx.stdout, { ok: true, files });
      else ctx.stdout.write(`${files.join('\n')}\n`);
      return ExitCode.Success;
    }
    const units = schedules.map(renderSystemdUnits);
    if (ctx.json) printJson(ctx.stdout, units);
    else for (const u of units) ctx.stdout.write(`# ${u.serviceName}\n${u.service}\n# ${u.timerName}\n${u.timer}\n`);
    return ExitCode.Success;
  },
};
