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
import { runJobOf } from '../../app/config.js';
import { contextConfig } from './plan.js';

export const systemdCommand: CliCommand = {
  name: 'systemd',
  summary: "Print (or write) systemd service + timer units for the config's schedules",
  usage: 'systemd --config FILE [--write DIR]',
  options: {
    write: { type: 'string', valueName: 'DIR', description: 'Write the units into DIR (e.g. /etc/systemd/system)' },
  },
  help: `Then: systemctl daemon-reload && systemctl enable --now duplicati-kit-<name>.timer\nWith scheduler: duplicati in the config, schedules that run a job are left out (Duplicati starts it).`,
  async run(ctx) {
    const cfg = await contextConfig(ctx);
    const schedules = cfg.schedules(ctx.program).filter((sc, i) => {
      const job = runJobOf(cfg.config.schedules?.[i]?.args);
      if (job === undefined) return true;
      if (cfg.config.scheduler === 'duplicati') {
        ctx.logger.warn(`schedule "${sc.name}" left out: scheduler is duplicati, Duplicati starts "${job}" itself`);
        return false;
      }
      if (cfg.config.scheduler === undefined) {
        ctx.logger.warn(
          `schedule "${sc.name}" starts "${job}": make sure the job has no Duplicati schedule, or set scheduler: systemd (jobs apply then writes none) or scheduler: duplicati in the config`,
        );
      }
      return true;
    });
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
