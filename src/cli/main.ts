#!/usr/bin/env node
/**
 * Entry point of the `duplicati-kit` command.
 *
 * `serve` runs on a worker thread with a small young generation: V8 sizes the main thread's young
 * generation for throughput (two 16 MiB semi-spaces once it has grown), which a long-running
 * dashboard fills with dead response bodies and keeps resident; a worker's young generation can be
 * capped (`resourceLimits`), the main thread's cannot once node has started. The main thread only
 * forwards signals and the exit code.
 *
 * @module
 */
import { realpathSync } from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { loadCommands } from './commands/index.js';
import { commandName, runCli } from './run.js';

/** Commands that run on a worker thread, with their young-generation cap in MiB. */
const ON_WORKER: Readonly<Record<string, number>> = { serve: 2 };

interface WorkerData {
  readonly argv: readonly string[];
  readonly interactive: boolean;
  readonly program: readonly string[];
}

const argv = process.argv.slice(2);
const ctl = new AbortController();

if (isMainThread) {
  // `duplicati-kit drill … | head -1`: the reader may leave before we finish writing. The command
  // still runs to its end (a drill still writes its evidence); what no one reads is dropped quietly
  // instead of dying with an EPIPE stack.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
    });
  }
  const program = [process.execPath, realpathSync(process.argv[1] ?? '')];
  const interactive = process.stderr.isTTY === true;
  const name = commandName(argv);
  const youngMb = name !== undefined && !argv.includes('--help') && !argv.includes('-h') ? ON_WORKER[name] : undefined;
  const worker =
    youngMb === undefined
      ? undefined
      : new Worker(new URL(import.meta.url), {
          workerData: { argv, interactive, program } satisfies WorkerData,
          resourceLimits: { maxYoungGenerationSizeMb: youngMb },
        });
  let interrupts = 0;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      // First signal: abort cleanly (plans remove partial files, restores roll back). Second: leave now.
      if (++interrupts > 1) process.exit(130);
      const reason = `interrupted by ${sig}`;
      if (worker) worker.postMessage({ abort: reason });
      else ctl.abort(new Error(reason));
    });
  }
  if (worker) {
    worker.on('error', (e: unknown) => {
      process.stderr.write(`duplicati-kit: unexpected failure: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exitCode = 1;
    });
    worker.on('exit', (code) => {
      process.exitCode ??= code;
    });
  } else {
    run(argv, interactive, program);
  }
} else {
  const data = workerData as WorkerData;
  parentPort?.on('message', (m: { abort?: string }) => {
    if (m.abort) ctl.abort(new Error(m.abort));
  });
  // The port must not keep the thread alive once the command is done.
  parentPort?.unref();
  run(data.argv, data.interactive, data.program);
}

function run(args: readonly string[], interactive: boolean, program: readonly string[]): void {
  runCli(args, loadCommands, {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    signal: ctl.signal,
    interactive,
    program,
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`duplicati-kit: unexpected failure: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
