/**
 * Where the PostgreSQL client tools run: local binaries (found on `PATH` and under
 * `/usr/lib/postgresql/<major>/bin`) or inside a container through `docker exec -i`. Also the
 * version gate: a `pg_dump` or `pg_dumpall` older than the server cannot dump it.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { runChild } from '../../core/child.js';
import { z } from 'zod';
import { raceSignal, throwIfAborted } from '../../core/abort.js';
import type { ToolVersionCache } from '../../core/tool-versions.js';
import type { ToolCommand } from '../_shared/spawn.js';

/**
 * Where pg_dump / pg_dumpall / psql / pg_restore run.
 *
 * - `'local'`: binaries on this machine (`PATH`, `/usr/lib/postgresql/<major>/bin`, `binDirs`).
 * - `{ docker: { container } }`: `docker exec -i <container> <tool> …`; the password crosses as
 *   `-e PGPASSWORD` (docker copies the value from its own environment), never as a value on argv.
 *
 * @example
 * ```ts
 * const local: PgExecutorOptions = 'local';
 * const docker: PgExecutorOptions = { docker: { container: 'immich_postgres' } };
 * ```
 */
export type PgExecutorOptions =
  | 'local'
  | {
      readonly docker: {
        /** Container name or id. */
        readonly container: string;
        /** The docker CLI to run. @default 'docker' */
        readonly command?: string;
        /** Host the tools inside the container connect to. @default the container's local socket */
        readonly host?: string;
        /** Port inside the container. @default the tools' default */
        readonly port?: number;
      };
    };

/** zod schema of {@link PgExecutorOptions}. */
export const pgExecutorSchema = z.union([
  z.literal('local'),
  z
    .object({
      docker: z
        .object({
          container: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must be a container name or id'),
          command: z.string().min(1).optional(),
          host: z.string().min(1).optional(),
          port: z.number().int().min(1).max(65535).optional(),
        })
        .strict(),
    })
    .strict(),
]);

/** The client tools the library runs. */
export type PgToolName = 'pg_dump' | 'pg_dumpall' | 'psql' | 'pg_restore';

/** A client tool that was found, with the version it reported. */
export interface FoundPgTool {
  /** Path (local) or name inside the container (docker). */
  readonly path: string;
  /** Full version, e.g. `15.20`. */
  readonly version: string;
  /** Major version, e.g. `15` (`9` for 9.x). */
  readonly major: number;
}

/** A command line: file, argument array and the extra environment. */
export type PgCommand = ToolCommand;

/** Parse the output of `<tool> --version`, e.g. `pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)`. */
export function parsePgToolVersion(output: string): { version: string; major: number } | undefined {
  const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(output);
  if (!m) return undefined;
  const version = [m[1], m[2], m[3]].filter((x) => x !== undefined).join('.');
  return { version, major: Number(m[1]) };
}

/** Major version from `server_version_num` (150020 → 15, 90624 → 9). */
export function serverMajorFromNum(num: number): number {
  return Math.floor(num / 10000);
}

/**
 * Choose the tool to use against a server of major `serverMajor`: the same major when there is
 * one (its output suits the server's own psql best), else the oldest newer one. Undefined when
 * every tool found is older than the server.
 */
export function pickPgTool(found: readonly FoundPgTool[], serverMajor: number): FoundPgTool | undefined {
  const usable = found.filter((t) => t.major >= serverMajor).sort((a, b) => a.major - b.major);
  return usable[0];
}

/** The message for {@link pickPgTool} finding nothing: which versions exist and what is needed. */
export function pgToolVersionMessage(tool: PgToolName, found: readonly FoundPgTool[], serverMajor: number): string {
  const list = found.length ? found.map((t) => `${t.version} (${t.path})`).join(', ') : 'none';
  return `no ${tool} of major version ${serverMajor} or newer was found for a PostgreSQL ${serverMajor} server; found: ${list}. Install the PostgreSQL ${serverMajor} client tools (e.g. postgresql-client-${serverMajor}) or run the tools inside the database container with executor { docker: { container } }`;
}

/** Runs PostgreSQL client tools locally or in a container. */
export class PgExecutor {
  readonly #options: PgExecutorOptions;
  readonly #binDirs: readonly string[];
  /** `stdbuf` failed to run a tool: nothing more is run through it. */
  #stdbufBroken = false;
  /** `--version` runs, by command path: one per path and executor, whoever started it. */
  readonly #versionRuns = new Map<string, ReturnType<typeof runChild>>();
  /** What local tools said to `--version` in earlier runs, by their identity on disk. */
  readonly #versions: ToolVersionCache | undefined;

  /**
   * @param options where the tools run
   * @param binDirs extra folders searched first for local tools
   * @param versions `--version` outputs remembered between runs (local tools only)
   */
  constructor(options: PgExecutorOptions = 'local', binDirs: readonly string[] = [], versions?: ToolVersionCache) {
    this.#options = options;
    this.#binDirs = binDirs;
    this.#versions = options === 'local' ? versions : undefined;
  }

  /** True for the docker executor. */
  get isDocker(): boolean {
    return this.#options !== 'local';
  }

  /** Host/port override for tools inside a container (they ignore the connection's host). */
  get containerEndpoint(): { host: string | undefined; port: number | undefined } | undefined {
    if (this.#options === 'local') return undefined;
    return { host: this.#options.docker.host, port: this.#options.docker.port };
  }

  /**
   * The command that runs `tool` with `args`. For docker: `docker exec -i -e NAME… <container>
   * <tool> args`; the values of `env` stay in the docker client's environment.
   */
  command(toolPath: string, args: readonly string[], env: Readonly<Record<string, string>>): PgCommand {
    if (this.#options === 'local') return { file: toolPath, args: [...args], env: { ...env } };
    const d = this.#options.docker;
    const envFlags = Object.keys(env).flatMap((k) => ['-e', k]);
    return {
      file: d.command ?? 'docker',
      args: ['exec', '-i', ...envFlags, d.container, toolPath, ...args],
      env: { ...env },
    };
  }

  /**
   * The command for a dump tool whose stdout becomes an artifact (pg_dump, pg_dumpall), streamed
   * through this process or written into a file by the tool itself, with what to run instead when
   * the wrapper cannot run it: locally `stdbuf -o 1M <tool>`, with the tool alone as `fallback`.
   *
   * pg_dump writes a plain dump through stdio in 8 KiB pieces, and each one wakes this process's
   * event loop: ~12 000 reads per 100 MB at ~30 µs of JavaScript each. With a 1 MiB stdio buffer
   * the pipe hands over 64 KiB at a time, a seventh of the reads (measured: 0.37 → 0.23 s of CPU
   * for 86 MB, the same bytes). Where stdbuf cannot act (a tool that sets its own buffering,
   * a static binary) it changes nothing. Docker's client already relays large pieces.
   *
   * No probe runs first: the caller runs `cmd`, and `fallback` only when the wrapper failed having
   * written nothing (exit 125–127 or no `stdbuf` at all; then it calls {@link stdbufFailed}). A
   * probe is a process started on the path to the dump; starting one holds this thread for 5–17 ms.
   */
  bufferedCommand(
    toolPath: string,
    args: readonly string[],
    env: Readonly<Record<string, string>>,
  ): { cmd: PgCommand; fallback?: PgCommand } {
    const cmd = this.command(toolPath, args, env);
    if (this.isDocker || this.#stdbufBroken) return { cmd };
    return { cmd: throughStdbuf(cmd), fallback: cmd };
  }

  /** `stdbuf` could not run a tool here: later commands of this executor go without it. */
  stdbufFailed(): void {
    this.#stdbufBroken = true;
  }

  /**
   * Start, without waiting, what finding `tool` runs first: the `--version` of its first local
   * candidate (the one a Debian-style server's own major usually is). A source calls it before
   * connecting, so the tool lookup that needs the server's major finds it done. Nothing here fails: a
   * lookup without it runs it itself, and the two never run the same `--version` twice.
   */
  warm(tool: PgToolName): void {
    if (this.#options !== 'local') return;
    this.#localCandidates(tool).then(
      (candidates) => {
        const first = candidates[0];
        if (first !== undefined && this.#remembered(first) === undefined) this.#versionRun(first);
      },
      () => {},
    );
  }

  /** Every version of `tool` this executor can run, each with its reported version. */
  async findTools(tool: PgToolName, signal?: AbortSignal): Promise<FoundPgTool[]> {
    return this.#probe(tool, undefined, signal);
  }

  /**
   * What {@link pickPgTool} would choose among {@link findTools}' results, found with fewer
   * `--version` runs: candidates are probed in the same order and the first one of exactly
   * `serverMajor` ends the search (no later one can be preferred over it). Only when none is of
   * that major are all probed. On Debian this skips `/usr/bin/pg_dump`, a Perl wrapper that
   * costs a few hundred milliseconds per start, when `/usr/lib/postgresql/<major>/bin` has it.
   * Returns the tool picked (if any) and every tool probed, for the error message.
   */
  async findToolFor(
    tool: PgToolName,
    serverMajor: number,
    signal?: AbortSignal,
  ): Promise<{ pick: FoundPgTool | undefined; found: FoundPgTool[] }> {
    const found = await this.#probe(tool, serverMajor, signal);
    return { pick: pickPgTool(found, serverMajor), found };
  }

  async #probe(tool: PgToolName, stopAtMajor: number | undefined, signal?: AbortSignal): Promise<FoundPgTool[]> {
    const candidates = this.#options === 'local' ? await this.#localCandidates(tool) : [tool];
    const found: FoundPgTool[] = [];
    const seen = new Set<string>();
    for (const c of candidates) {
      throwIfAborted(signal);
      const output = this.#remembered(c) ?? (await this.#askVersion(c, signal));
      throwIfAborted(signal);
      const v = output === undefined ? undefined : parsePgToolVersion(output);
      if (!v) continue;
      const key = `${v.version}`;
      if (seen.has(key)) continue;
      seen.add(key);
      found.push({ path: c, ...v });
      if (v.major === stopAtMajor) break;
    }
    return found;
  }

  /** What `toolPath --version` printed in an earlier run, when the executable is unchanged. */
  #remembered(toolPath: string): string | undefined {
    try {
      return this.#versions?.lookup(toolPath);
    } catch {
      return undefined;
    }
  }

  /** What `toolPath --version` prints (exit 0), remembered for later runs; undefined when it fails. */
  async #askVersion(toolPath: string, signal?: AbortSignal): Promise<string | undefined> {
    const r = await raceSignal(this.#versionRun(toolPath), signal);
    if (r.exitCode !== 0) return undefined;
    const output = String(r.stdout);
    if (parsePgToolVersion(output) !== undefined) {
      try {
        this.#versions?.remember(toolPath, output);
      } catch {
        // a cache that cannot be written costs the next run one `--version`
      }
    }
    return output;
  }

  /**
   * The `--version` run of `toolPath`, started on first use and shared after: by {@link warm} and
   * the lookups, whichever comes first. It takes no caller's signal (others may wait on it); a
   * caller's abort only stops its own wait.
   */
  #versionRun(toolPath: string): ReturnType<typeof runChild> {
    let run = this.#versionRuns.get(toolPath);
    if (!run) {
      const cmd = this.command(toolPath, ['--version'], {});
      run = runChild(cmd.file, cmd.args, { env: cmd.env, timeoutMs: 30_000 });
      this.#versionRuns.set(toolPath, run);
    }
    return run;
  }

  async #localCandidates(tool: PgToolName): Promise<string[]> {
    const out: string[] = this.#binDirs.map((d) => path.join(d, tool));
    const root = '/usr/lib/postgresql';
    try {
      const majors = (await fsp.readdir(root)).sort((a, b) => Number(b) - Number(a));
      for (const m of majors) out.push(path.join(root, m, 'bin', tool));
    } catch {
      // not a Debian-style layout
    }
    out.push(tool);
    return out;
  }
}

/** `cmd` run with a 1 MiB stdout buffer (see {@link PgExecutor.bufferedCommand} for why). */
function throughStdbuf(cmd: PgCommand): PgCommand {
  return { file: 'stdbuf', args: ['-o', '1M', cmd.file, ...cmd.args], env: cmd.env };
}
