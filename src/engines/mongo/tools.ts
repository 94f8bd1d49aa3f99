/**
 * MongoDB plumbing shared by `MongoSource` and `MongoTarget`: the connection string (read once,
 * handed to the Database Tools in a temporary 0600 YAML config file, never argv), the tools'
 * version check, and running a tool with a stream on its stdin or stdout.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { runChild } from '../../core/child.js';
import { z } from 'zod';
import { throwIfAborted } from '../../core/abort.js';
import { type Phase, SourceUnavailableError } from '../../core/errors.js';
import { spawnTool } from '../_shared/spawn.js';

/** Where an error happened, as every source/target error carries it. */
export interface MongoWhere {
  readonly source: string;
  readonly kind: string;
}

/** zod fields of the connection options both classes take (`uri` or `uriFile`). */
export const mongoUriFields = {
  uri: z
    .string()
    .regex(/^mongodb(\+srv)?:\/\//, 'must be a mongodb:// or mongodb+srv:// URI')
    .optional(),
  uriFile: z.string().min(1).optional(),
};

/** Refinement: exactly one of `uri` and `uriFile`. */
export function withExactlyOneMongoUri<T extends z.ZodType<{ uri?: string | undefined; uriFile?: string | undefined }>>(
  schema: T,
): T {
  return schema.refine((o) => (o.uri === undefined) !== (o.uriFile === undefined), {
    message: 'give exactly one of uri or uriFile',
    path: ['uri'],
  }) as unknown as T;
}

/** A MongoDB database name (no `/\. "$` or NUL, at most 63 characters). */
export const mongoDatabaseSchema = z.string().regex(/^[^/\\. "$\0]{1,63}$/, 'must be a MongoDB database name');

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The connection string and the password inside it (raw and decoded): what to redact. */
export function mongoSecrets(uri: string): string[] {
  const password = /^[a-z+]+:\/\/[^:/@]*:([^@/]+)@/i.exec(uri)?.[1];
  return [uri, ...(password ? [password, decodeURIComponentSafe(password)] : [])];
}

/** The connection string from `uri`, or the first line of `uriFile` (SourceUnavailableError when unreadable). */
export async function readMongoUri(
  options: { readonly uri?: string; readonly uriFile?: string },
  where: MongoWhere & { readonly phase: Phase },
): Promise<string> {
  if (options.uri !== undefined) return options.uri;
  try {
    return ((await fsp.readFile(options.uriFile as string, 'utf8')).split(/\r?\n/)[0] ?? '').trim();
  } catch (e) {
    throw new SourceUnavailableError(`cannot read uriFile: ${(e as Error).message}`, where, { cause: e });
  }
}

/**
 * The version `bin --version` reports, or a SourceUnavailableError naming the tool and the
 * MongoDB Database Tools when it is missing or does not run.
 */
export async function mongoToolVersion(
  bin: string,
  where: MongoWhere & { readonly phase: Phase },
  signal: AbortSignal,
  install = 'install the MongoDB Database Tools (mongodump, mongorestore)',
): Promise<string> {
  const r = await runChild(bin, ['--version'], { timeoutMs: 30_000, signal });
  throwIfAborted(signal);
  if (r.exitCode !== 0) {
    throw new SourceUnavailableError(`${bin} was not found or does not run; ${install}`, where, {
      code: 'ERR_MONGO_TOOL',
    });
  }
  return /version:?\s*v?(\d\S*)/.exec(String(r.stdout))?.[1] ?? String(r.stdout).split('\n')[0] ?? '';
}

/** True when `bin --version` runs (for optional tools such as mongosh). */
export async function mongoToolAvailable(bin: string, signal: AbortSignal): Promise<boolean> {
  const r = await runChild(bin, ['--version'], { timeoutMs: 30_000, signal });
  throwIfAborted(signal);
  return r.exitCode === 0;
}

/** Run `fn` with a new private (0700) temporary folder, removed afterwards. */
export async function withPrivateDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await fsp.mkdtemp(path.join(tmpdir(), 'dk-mongo-'));
  try {
    await fsp.chmod(dir, 0o700);
    return await fn(dir);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

/**
 * Run `fn` with the path of a temporary YAML config file (`uri: …`, mode 0600, in a 0700 folder)
 * that the Database Tools read with `--config=<file>`; the folder is removed afterwards.
 */
export function withMongoConfig<T>(uri: string, fn: (config: string) => Promise<T>): Promise<T> {
  return withPrivateDir(async (dir) => {
    const config = path.join(dir, 'tool.yaml');
    await fsp.writeFile(config, `uri: ${JSON.stringify(uri)}\n`, { mode: 0o600 });
    return fn(config);
  });
}

/** How a tool run ended. */
export interface MongoToolRun {
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  /** Last 8000 characters of stderr (not redacted). */
  readonly stderrTail: string;
  /** Every complete stderr line for which `watch` returned true. */
  readonly watched: readonly string[];
  /** A failure of the stdin or stdout stream (the child was killed). */
  readonly pipeError: unknown;
}

/**
 * Run a MongoDB tool with `stdin` streamed into it and/or its stdout streamed into `stdout`.
 * Never rejects for the tool's own failure (the caller reads `exitCode`); rejects with the
 * signal's reason when aborted.
 */
export async function runMongoTool(options: {
  readonly bin: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly stdin?: Readable;
  readonly stdout?: Writable;
  readonly watch?: (line: string) => boolean;
  readonly signal: AbortSignal;
}): Promise<MongoToolRun> {
  const { signal } = options;
  const { child, stderrTail } = spawnTool(
    { file: options.bin, args: options.args, env: options.env ?? {} },
    { stdin: options.stdin ? 'pipe' : 'ignore', stdout: options.stdout ? 'pipe' : 'ignore' },
    signal,
  );
  const watched: string[] = [];
  let partial = '';
  if (options.watch) {
    const watch = options.watch;
    child.stderr?.on('data', (d: string) => {
      const lines = (partial + d).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) if (watch(l)) watched.push(l);
    });
  }
  let pipeError: unknown;
  const pipes: Promise<void>[] = [];
  if (options.stdin) pipes.push(pipeline(options.stdin, child.stdin as Writable, { signal }));
  if (options.stdout) pipes.push(pipeline(child.stdout as Readable, options.stdout, { signal }));
  try {
    await Promise.all(pipes);
  } catch (e) {
    pipeError = e;
    child.kill();
  }
  const r = await child;
  if (signal.aborted) throw signal.reason;
  if (options.watch && partial && options.watch(partial)) watched.push(partial);
  return {
    exitCode: r.exitCode ?? undefined,
    signal: r.signal ?? undefined,
    stderrTail: stderrTail(),
    watched,
    pipeError,
  };
}
