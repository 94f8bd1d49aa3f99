/**
 * The CLI dispatcher: global flags, command lookup, help, exit codes. `main.ts` calls it with the
 * real process; tests call it with their own streams.
 *
 * @module
 */
import type { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { ConfigError } from '../core/errors.js';
import { silentLogger, streamLogger } from '../core/logger.js';
import { VERSION } from '../core/version.js';
import { HookExitCode } from '../hooks/protocol.js';
import { ExitCode } from './exit-codes.js';
import { reportError } from './output.js';
import type { CliCommand, CliContext, CliOption } from './types.js';

const GLOBAL: Record<string, CliOption> = {
  help: { type: 'boolean', short: 'h', description: 'Show help' },
  version: { type: 'boolean', description: 'Print the version' },
  json: { type: 'boolean', description: 'Machine-readable output: one JSON document on stdout' },
  config: { type: 'string', short: 'c', valueName: 'FILE', description: 'Config file (YAML, JSON or .mjs)' },
  verbose: { type: 'boolean', short: 'v', description: 'Log progress and details to stderr' },
  quiet: { type: 'boolean', short: 'q', description: 'Log only errors' },
};

/** What {@link runCli} needs from its surroundings. */
export interface CliIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly signal: AbortSignal;
  readonly interactive: boolean;
  /** The argv prefix that runs this CLI (`[process.execPath, script]`). */
  readonly program?: readonly string[];
}

function optionsFor(
  cmd: CliCommand | undefined,
): Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> {
  const out: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [k, o] of Object.entries({ ...GLOBAL, ...(cmd?.options ?? {}) })) {
    out[k] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  }
  return out;
}

function optionLines(opts: Record<string, CliOption>): string {
  return Object.entries(opts)
    .map(([k, o]) => {
      const flag = `${o.short ? `-${o.short}, ` : '    '}--${k}${o.type === 'string' ? ` ${o.valueName ?? 'VALUE'}` : ''}`;
      return `  ${flag.padEnd(30)} ${o.description}`;
    })
    .join('\n');
}

/** The top-level help text. */
export function mainHelp(commands: readonly CliCommand[]): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return `duplicati-kit ${VERSION} — 3-2-1 backups with Duplicati: dumps, hooks, verified restores

Usage: duplicati-kit [options] <command> [args]

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join('\n')}

Options:
${optionLines(GLOBAL)}

Exit codes: 0 ok, 1 error, 2 usage/config, 3 locked, 4 verification failed, 5 a source or target failed,
6 server unreachable or login failed, 7 audit rule failed,
10/11/12 Duplicati result Warning/Error/Fatal, 130 interrupted.
Run 'duplicati-kit <command> --help' for a command's options.
`;
}

function commandHelp(cmd: CliCommand): string {
  return `Usage: duplicati-kit ${cmd.usage}

${cmd.summary}
${Object.keys(cmd.options).length ? `\nOptions:\n${optionLines(cmd.options)}\n` : ''}
Global options:
${optionLines(GLOBAL)}
${cmd.help ? `\n${cmd.help}\n` : ''}`;
}

/** The command `argv` names (its first positional; global flags may come first), if any. */
export function commandName(argv: readonly string[]): string | undefined {
  try {
    return parseArgs({ args: [...argv], options: optionsFor(undefined), strict: false, allowPositionals: true })
      .positionals[0];
  } catch {
    return undefined;
  }
}

/**
 * Run the CLI with `argv` (without `node` and the script) and return the exit code.
 */
export async function runCli(
  argv: readonly string[],
  commandsOrLoader: readonly CliCommand[] | ((name?: string) => Promise<readonly CliCommand[]>),
  io: CliIo,
): Promise<number> {
  const errCtx = { json: argv.includes('--json'), stdout: io.stdout, stderr: io.stderr, signal: io.signal };
  let name: string | undefined;
  // `hook install` is run by a person, not by Duplicati: its errors get the CLI's own exit codes.
  let asHook = false;
  try {
    // First pass: find the command name among the positionals (global flags may come first).
    const first = parseArgs({ args: [...argv], options: optionsFor(undefined), strict: false, allowPositionals: true });
    name = first.positionals[0];
    asHook = name === 'hook' && first.positionals[1] !== 'install';
    if (first.values.version && !name) {
      io.stdout.write(`${VERSION}\n`);
      return ExitCode.Success;
    }
    const commands = typeof commandsOrLoader === 'function' ? await commandsOrLoader(name) : commandsOrLoader;
    const cmd = commands.find((c) => c.name === name);
    if (!name || (first.values.help && !cmd)) {
      (name || first.values.help ? io.stdout : io.stderr).write(mainHelp(commands));
      return name || first.values.help ? ExitCode.Success : ExitCode.Usage;
    }
    if (!cmd) {
      throw new ConfigError(`unknown command "${name}"`, [
        { path: 'command', message: `known: ${commands.map((c) => c.name).join(', ')}` },
      ]);
    }
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({ args: [...argv], options: optionsFor(cmd), strict: true, allowPositionals: true });
    } catch (e) {
      throw new ConfigError(`${(e as Error).message}\nRun 'duplicati-kit ${cmd.name} --help'.`, [], { cause: e });
    }
    if (parsed.values.help) {
      io.stdout.write(commandHelp(cmd));
      return ExitCode.Success;
    }
    const json = parsed.values.json === true;
    const level = parsed.values.verbose ? 'debug' : parsed.values.quiet ? 'error' : 'warn';
    const ctx: CliContext = {
      positionals: parsed.positionals.slice(1),
      flags: parsed.values as CliContext['flags'],
      json,
      stdout: io.stdout,
      stderr: io.stderr,
      signal: io.signal,
      logger: io.env.DUPLICATI_KIT_SILENT
        ? silentLogger
        : streamLogger({ stream: io.stderr, level, format: json ? 'json' : 'text' }),
      env: io.env,
      cwd: io.cwd,
      interactive: io.interactive && !json,
      program: io.program ?? ['duplicati-kit'],
    };
    return await cmd.run(ctx);
  } catch (e) {
    if (asHook) {
      // Duplicati reads exit codes 1–4 as "skip" or "run with a warning"; a hook that could not
      // even start must stop the operation (5), and stderr is what Duplicati logs for it.
      io.stderr.write(`duplicati-kit hook: ${e instanceof Error ? e.message : String(e)}\n`);
      return HookExitCode.StopWithError;
    }
    return reportError(errCtx, e);
  }
}
