/**
 * `MongoSource`: a MongoDB deployment dumped with `mongodump --archive` into one artifact, when
 * the MongoDB Database Tools are installed.
 *
 * @module
 */
import { DumpError, isDuplicatiKitError, type Phase } from '../../core/errors.js';
import { redactText } from '../../core/redact.js';
import { mongoSecrets, mongoToolVersion, readMongoUri, runMongoTool, withMongoConfig } from './tools.js';
import { configErrorFrom } from '../../core/validate.js';
import type { BackupSource, PreparedSource, SourceContext } from '../../contracts/types.js';
import { MONGO_KIND, MONGO_SOURCE_DEFAULTS, type MongoSourceOptions, mongoSourceSchema } from './options.js';

/**
 * MongoDB as a backup source: `mongodump --archive` (optionally `--gzip`) streamed into
 * `<workDir>/<name>/<name>.archive[.gz]`, sha256 on the way. The URI, which may carry a password,
 * reaches mongodump through a temporary YAML config file (`--config`, mode 0600), never argv.
 * When mongodump is not installed, `check` and `prepare` fail with a SourceUnavailableError
 * naming it. Restore with {@link MongoTarget} (`mongorestore --archive`, after a safety dump).
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
    const parsed = mongoSourceSchema.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid MongoSource options', parsed.error);
    this.#options = options;
    this.name = options.name ?? MONGO_SOURCE_DEFAULTS.name;
  }

  #where(phase: Phase) {
    return { source: this.name, kind: this.kind, phase };
  }

  /** The version mongodump reports, or a SourceUnavailableError naming the missing tool. */
  #tool(phase: Phase, signal: AbortSignal): Promise<string> {
    return mongoToolVersion(
      this.#options.mongodumpBinary ?? MONGO_SOURCE_DEFAULTS.mongodumpBinary,
      this.#where(phase),
      signal,
    );
  }

  /** Preflight: mongodump is installed. */
  async check(ctx: SourceContext): Promise<void> {
    await this.#tool('check', ctx.signal);
  }

  /** Run mongodump into one archive artifact. */
  async prepare(ctx: SourceContext): Promise<PreparedSource> {
    const signal = ctx.signal;
    const version = await this.#tool('prepare', signal);
    const uri = await readMongoUri(this.#options, this.#where('prepare'));
    const secrets = mongoSecrets(uri);
    const file = `${this.name}.archive${this.#options.gzip ? '.gz' : ''}`;
    if (ctx.dryRun) return { artifacts: [], metadata: { dryRun: true, mongodumpVersion: version } };
    try {
      return await withMongoConfig(uri, async (config) => {
        const args = [
          `--config=${config}`,
          '--archive',
          ...(this.#options.gzip ? ['--gzip'] : []),
          ...(this.#options.database ? [`--db=${this.#options.database}`] : []),
        ];
        const sink = ctx.artifacts.open(file, {
          format: this.#options.gzip ? 'mongodump-archive.gz' : 'mongodump-archive',
          signal,
        });
        let r: Awaited<ReturnType<typeof runMongoTool>>;
        try {
          r = await runMongoTool({
            bin: this.#options.mongodumpBinary ?? MONGO_SOURCE_DEFAULTS.mongodumpBinary,
            args,
            stdout: sink.stream,
            signal,
          });
        } catch (e) {
          await sink.abort(e);
          throw e;
        }
        if (r.exitCode !== 0 || r.pipeError !== undefined) {
          await sink.abort(r.pipeError);
          const tail = redactText(r.stderrTail.trim(), secrets).split('\n').slice(-10).join('\n');
          throw new DumpError(`mongodump failed (exit ${r.exitCode ?? r.signal}):\n${tail}`, this.#where('prepare'), {
            ...(r.pipeError !== undefined ? { cause: r.pipeError } : {}),
            secrets,
            code: 'ERR_MONGO_DUMP',
          });
        }
        const ref = await sink.finish();
        return {
          artifacts: [ref],
          metadata: { mongodumpVersion: version, database: this.#options.database ?? null, gzip: !!this.#options.gzip },
        };
      });
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      if (isDuplicatiKitError(e)) throw e;
      throw new DumpError(`dumping MongoDB failed: ${(e as Error)?.message}`, this.#where('prepare'), {
        cause: e,
        secrets,
      });
    }
  }
}
