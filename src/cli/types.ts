/**
 * The shape of a CLI command. Commands are thin: they parse flags, call the library, and print.
 *
 * @module
 */
import type { Writable } from 'node:stream';
import type { Logger } from '../core/logger.js';

/** A flag a command accepts (node:util parseArgs style). */
export interface CliOption {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  readonly description: string;
  /** Shown in help, e.g. `DIR`. */
  readonly valueName?: string;
}

/** What a command's `run` gets. */
export interface CliContext {
  /** Positional arguments after the command name (and sub-command, if any). */
  readonly positionals: readonly string[];
  /** Parsed flags of this command plus the global ones (`json`, `config`, `verbose`, `quiet`). */
  readonly flags: Readonly<Record<string, string | boolean | string[] | undefined>>;
  /** True with `--json`: print one JSON document on stdout and nothing else. */
  readonly json: boolean;
  readonly stdout: Writable;
  readonly stderr: Writable;
  /** Aborts on SIGINT/SIGTERM. */
  readonly signal: AbortSignal;
  /** Writes to stderr; silent below warn unless `--verbose`. */
  readonly logger: Logger;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** True when stderr is a TTY (progress may be drawn). */
  readonly interactive: boolean;
  /** The argv prefix that runs this CLI again (`[node, /path/to/main.js]`), for generated units. */
  readonly program: readonly string[];
}

/** One `duplicati-kit <name>` command. */
export interface CliCommand {
  readonly name: string;
  readonly summary: string;
  /** Usage line(s) after `duplicati-kit `, e.g. `verify --from DIR`. */
  readonly usage: string;
  readonly options: Readonly<Record<string, CliOption>>;
  /** Longer help text, examples. */
  readonly help?: string;
  /** Returns the process exit code (see exit-codes.ts). */
  run(ctx: CliContext): Promise<number>;
}
