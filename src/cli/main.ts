#!/usr/bin/env node
/**
 * Entry point of the `duplicati-kit` command.
 *
 * @module
 */
import { realpathSync } from 'node:fs';
import { loadCommands } from './commands/index.js';
import { runCli } from './run.js';

const ctl = new AbortController();
let interrupts = 0;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    // First signal: abort cleanly (plans remove partial files, restores roll back). Second: leave now.
    if (++interrupts > 1) process.exit(130);
    ctl.abort(new Error(`interrupted by ${sig}`));
  });
}

// `duplicati-kit drill … | head -1`: the reader may leave before we finish writing. The command
// still runs to its end (a drill still writes its evidence); what no one reads is dropped quietly
// instead of dying with an EPIPE stack.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
  });
}

runCli(process.argv.slice(2), loadCommands, {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  signal: ctl.signal,
  interactive: process.stderr.isTTY === true,
  program: [process.execPath, realpathSync(process.argv[1] ?? '')],
}).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`duplicati-kit: unexpected failure: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
