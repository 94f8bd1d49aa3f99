/**
 * `duplicati-kit demo`: the whole job on an embedded home server, no external service needed.
 *
 * @module
 */
import path from 'node:path';
import { runDemo } from '../../app/demo.js';
import { ExitCode } from '../exit-codes.js';
import { formatMs, printJson } from '../output.js';
import type { CliCommand } from '../types.js';

export const demoCommand: CliCommand = {
  name: 'demo',
  summary: 'Back up and restore an embedded demo server (SQLite in WAL, configs, photos) and verify it all',
  usage: 'demo [--dir DIR] [--keep] [--evidence DIR]',
  options: {
    dir: {
      type: 'string',
      valueName: 'DIR',
      description: 'Work in this (empty or new) folder instead of a temp folder',
    },
    keep: { type: 'boolean', description: 'Keep the demo folder to look at afterwards' },
    evidence: {
      type: 'string',
      valueName: 'DIR',
      description: "Where the closing drill's evidence goes (default: inside the demo folder)",
    },
  },
  async run(ctx) {
    const out = ctx.json ? undefined : ctx.stdout;
    out?.write('duplicati-kit demo: back up a small home server, restore it, prove it restored\n\n');
    const report = await runDemo({
      signal: ctx.signal,
      logger: ctx.logger,
      keep: ctx.flags.keep === true,
      ...(typeof ctx.flags.dir === 'string' ? { dir: path.resolve(ctx.cwd, ctx.flags.dir) } : {}),
      ...(typeof ctx.flags.evidence === 'string' ? { evidenceDir: path.resolve(ctx.cwd, ctx.flags.evidence) } : {}),
      onStep: (s) => out?.write(`${s.ok ? '✔' : '✘'} ${s.name} (${formatMs(s.durationMs)})\n    ${s.detail}\n`),
    });
    if (ctx.json) printJson(ctx.stdout, report);
    else {
      out?.write(`\n${report.ok ? 'PASS: everything restored and verified' : 'FAIL: see the steps above'}\n`);
      out?.write(`restore drill: ${report.drill.verdict.toUpperCase()}`);
      out?.write(report.drill.files ? `, evidence in ${report.drill.files.markdown}\n` : '\n');
      if (report.kept) out?.write(`demo folder kept at ${report.dir}\n`);
    }
    return report.ok ? ExitCode.Success : ExitCode.VerificationFailed;
  },
};
