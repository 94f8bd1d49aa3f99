/**
 * `MongoSource`: a MongoDB deployment dumped with `mongodump --archive` into one artifact, when
 * the MongoDB Database Tools are installed.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import { z } from 'zod';
import { throwIfAborted } from '../core/abort.js';
import { DumpError, isDuplicatiKitError, type Phase, SourceUnavailableError } from '../core/errors.js';
import { redactText } from '../core/redact.js';
import { spawnPgTool } from './pg-executor.js';
import { configErrorFrom } from './plan.js';
import type { BackupSource, PreparedSource, SourceContext } from './types.js';

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Manifest kind of {@link MongoSource}. */
export const MONGO_KIND = 'mongodb';

/** Options of {@link MongoSource}. */
export interface MongoSourceOptions {
  /** Name in the plan and the manifest. @default 'mongodb' */
  readonly name?: string;
  /** Connection string (may hold credentials: it reaches mongodump through a 0600 config file). */
  readonly uri?: string;
  /** A file whose first line is the connection string. */
  readonly uriFile?: string;
  /** Only this database. @default every database */
  readonly database?: string;
  /** `mongodump --gzip`. @default false */
  readonly gzip?: boolean;
  /** The mongodump binary. @default 'mongodump' */
  readonly mongodumpBinary?: string;
}

const schema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'must be a simple name (letters, digits, . _ -)')
      .optional(),
    uri: z
      .string()
      .regex(/^mongodb(\+srv)?:\/\//, 'must be a mongodb:// or mongodb+srv:// URI')
      .optional(),
    uriFile: z.string().min(1).optional(),
    database: z
      .string()
      .regex(/^[^/\\. "$\0]{1,63}$/, 'must be a MongoDB database name')
      .optional(),
    gzip: z.boolean().optional(),
    mongodumpBinary: z.string().min(1).optional(),
  })
  .strict()
  .refine((o) => (o.uri === undefined) !== (o.uriFile === undefined), {
    message: 'give exactly one of uri or uriFile',
    path: ['uri'],
  });

/**
 * MongoDB as a backup source: `mongodump --archive` (optionally `--gzip`) streamed into
 * `<workDir>/<name>/<name>.archive[.gz]`, sha256 on the way. The URI, which may carry a password,
 * reaches mongodump through a temporary YAML config file (`--config`, mode 0600), never argv.
 * When mongodump is not installed, `check` and `prepare` fail with a SourceUnavailableError
 * naming it. Restore with `mongorestore --archive=<file> [--gzip]`.
 *
 * @throws {ConfigError} from the constructor when the options are invalid.
 * @example
 * ```ts
 * import { createBackupPlan, MongoSource } from 'duplicati-kit';
 * const plan = createBackupPlan({
 *   workDir: '/srv/backup/staging',
 *   sources: [new MongoSource({ uriFile: '/root/.mongo-uri', gzip: true })],
 * });
 * ```
 */
export class MongoSource implements BackupSource {
  readonly name: string;
  readonly kind = MONGO_KIND;
  readonly #options: MongoSourceOptions;

  /** @param options validated here; a ConfigError names every bad field */
  constructor(options: MongoSourceOptions) {
    const parsed = schema.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid MongoSource options', parsed.error);
    this.#options = options;
    this.name = options.name ?? 'mongodb';
  }

  #where(phase: Phase) {
    return { source: this.name, kind: this.kind, phase };
  }

  /** The version mongodump reports, or a SourceUnavailableError naming the missing tool. */
  async #tool(phase: Phase, signal: AbortSignal): Promise<string> {
    const bin = this.#options.mongodumpBinary ?? 'mongodump';
    const r = await execa(bin, ['--version'], {
      reject: false,
      stdin: 'ignore',
      timeout: 30_000,
      cancelSignal: signal,
    });
    throwIfAborted(signal);
    if (r.exitCode !== 0) {
      throw new SourceUnavailableError(
        `${bin} was not found or does not run; install the MongoDB Database Tools (mongodump, mongorestore)`,
        this.#where(phase),
        { code: 'ERR_MONGO_TOOL' },
      );
    }
    return /version:\s*(\S+)/.exec(String(r.stdout))?.[1] ?? String(r.stdout).split('\n')[0] ?? '';
  }

  async #uri(): Promise<string> {
    if (this.#options.uri !== undefined) return this.#options.uri;
    return ((await fsp.readFile(this.#options.uriFile as string, 'utf8')).split(/\r?\n/)[0] ?? '').trim();
  }

  /** Preflight: mongodump is installed. */
  async check(ctx: SourceContext): Promise<void> {
    await this.#tool('check', ctx.signal);
  }

  /** Run mongodump into one archive artifact. */
  async prepare(ctx: SourceContext): Promise<PreparedSource> {
    const signal = ctx.signal;
    const version = await this.#tool('prepare', signal);
    const uri = await this.#uri().catch((e: unknown) => {
      throw new SourceUnavailableError(`cannot read uriFile: ${(e as Error).message}`, this.#where('prepare'), {
        cause: e,
      });
    });
    const password = /^[a-z+]+:\/\/[^:/@]*:([^@/]+)@/i.exec(uri)?.[1];
    const secrets = [uri, ...(password ? [password, decodeURIComponentSafe(password)] : [])];
    const file = `${this.name}.archive${this.#options.gzip ? '.gz' : ''}`;
    if (ctx.dryRun) return { artifacts: [], metadata: { dryRun: true, mongodumpVersion: version } };
    const dir = await fsp.mkdtemp(path.join(tmpdir(), 'dk-mongo-'));
    try {
      const config = path.join(dir, 'mongodump.yaml');
      await fsp.writeFile(config, `uri: ${JSON.stringify(uri)}\n`, { mode: 0o600 });
      const args = [
        `--config=${config}`,
        '--archive',
        ...(this.#options.gzip ? ['--gzip'] : []),
        ...(this.#options.database ? [`--db=${this.#options.database}`] : []),
      ];
      const bin = this.#options.mongodumpBinary ?? 'mongodump';
      const { child, stderrTail } = spawnPgTool(
        { file: bin, args, env: {} },
        { stdin: 'ignore', stdout: 'pipe' },
        signal,
      );
      const sink = ctx.artifacts.open(file, {
        format: this.#options.gzip ? 'mongodump-archive.gz' : 'mongodump-archive',
        signal,
      });
      let pipeError: unknown;
      try {
        await pipeline(child.stdout as Readable, sink.stream, { signal });
      } catch (e) {
        pipeError = e;
        child.kill();
      }
      const r = await child;
      if (signal.aborted) {
        await sink.abort(signal.reason);
        throw signal.reason;
      }
      if (r.exitCode !== 0 || pipeError !== undefined) {
        await sink.abort(pipeError);
        const tail = redactText(stderrTail().trim(), secrets).split('\n').slice(-10).join('\n');
        throw new DumpError(`mongodump failed (exit ${r.exitCode ?? r.signal}):\n${tail}`, this.#where('prepare'), {
          ...(pipeError !== undefined ? { cause: pipeError } : {}),
          secrets,
          code: 'ERR_MONGO_DUMP',
        });
      }
      const ref = await sink.finish();
      return {
        artifacts: [ref],
        metadata: { mongodumpVersion: version, database: this.#options.database ?? null, gzip: !!this.#options.gzip },
      };
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      if (isDuplicatiKitError(e)) throw e;
      throw new DumpError(`dumping MongoDB failed: ${(e as Error)?.message}`, this.#where('prepare'), {
        cause: e,
        secrets,
      });
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  }
}
