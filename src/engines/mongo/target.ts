/**
 * `MongoTarget`: restores `MongoSource` archives with `mongorestore --archive`, streamed from the
 * artifact, after a safety `mongodump` of what it overwrites; or, in scratch mode, into renamed
 * databases that are counted and dropped.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { z } from 'zod';
import { neverAborted } from '../../core/abort.js';
import { isDuplicatiKitError, type Phase, RestoreError, VerificationError } from '../../core/errors.js';
import { redactText } from '../../core/redact.js';
import { MONGO_KIND, MONGO_TARGET_DEFAULTS, type MongoTargetOptions, mongoTargetSchema } from './options.js';
import {
  mongoDatabaseSchema,
  mongoSecrets,
  mongoToolAvailable,
  mongoToolVersion,
  readMongoUri,
  runMongoTool,
  withMongoConfig,
  withPrivateDir,
} from './tools.js';
import { compactTimestamp } from '../_shared/timestamps.js';
import { configErrorFrom } from '../../core/validate.js';
import type {
  JsonValue,
  ManifestEntry,
  ResolvedArtifact,
  RestoreInput,
  RestoreOutput,
  RestoreTarget,
  SourceContext,
  VerificationReport,
} from '../../contracts/types.js';

/** First bytes of every mongodump archive: 0x8199e26d, little-endian. */
const ARCHIVE_MAGIC = Buffer.from([0x6d, 0xe2, 0x99, 0x81]);
/** Databases a whole-deployment scratch restore leaves alone. */
const SYSTEM_DATABASES = ['admin', 'config', 'local'];
/** What mongorestore logs per collection and at the end. */
const FINISHED = /finished restoring (\S+) \((\d+) documents?, (\d+) failures?\)/;
const SUMMARY = /(\d+) document\(s\) restored successfully\. (\d+) document\(s\) failed to restore\./;

type Check = { name: string; ok: boolean; detail?: string };

/** One restore run: the config file, the artifact and where it goes. */
interface Job {
  readonly config: string;
  readonly uri: string;
  readonly artifact: ResolvedArtifact;
  readonly gzip: boolean;
  /** The one database the archive holds; null for a whole-deployment dump. */
  readonly database: string | null;
  readonly secrets: readonly string[];
  /** mongorestore's version. */
  readonly version: string;
  readonly ctx: SourceContext;
}

/** What mongorestore reported: documents per namespace and the totals. */
interface RestoreSummary {
  readonly restored: number | undefined;
  readonly failed: number | undefined;
  readonly namespaces: Record<string, number>;
}

function summaryOf(lines: readonly string[]): RestoreSummary {
  const namespaces: Record<string, number> = {};
  let restored: number | undefined;
  let failed: number | undefined;
  for (const line of lines) {
    const f = FINISHED.exec(line);
    if (f?.[1]) namespaces[f[1]] = Number(f[2]);
    const s = SUMMARY.exec(line);
    if (s) {
      restored = Number(s[1]);
      failed = Number(s[2]);
    }
  }
  return { restored, failed, namespaces };
}

/**
 * The mongosh script that counts (and optionally drops) the databases whose names end with
 * `DK_MONGO_SUFFIX`. The connection string arrives in `DK_MONGO_URI` (environment, not argv).
 */
const COUNT_SCRIPT = `
const client = new Mongo(process.env.DK_MONGO_URI);
const suffix = process.env.DK_MONGO_SUFFIX;
const out = {};
for (const name of client.getDBNames()) {
  if (!name.endsWith(suffix)) continue;
  const db = client.getDB(name);
  const counts = {};
  for (const c of db.getCollectionNames()) counts[c] = db.getCollection(c).countDocuments({});
  out[name] = counts;
  if (process.env.DK_MONGO_DROP === '1') db.dropDatabase();
}
print(JSON.stringify(out));
`;

/**
 * Restores MongoDB archives written by `MongoSource`.
 *
 * - `verify`: mongorestore is installed and reports its version; the artifact starts with the
 *   archive magic number (after gunzip when the source gzipped); `mongorestore --dryRun` reads it
 *   against the server without writing.
 * - `restore`: first a safety `mongodump --archive --gzip` of the database the entry holds (the
 *   whole deployment for a whole-deployment dump) into `<work>/<name>/safety-<timestamp>-<random>.archive.gz`,
 *   then `mongorestore --archive --drop` streamed from the artifact (`--gzip` when it is
 *   compressed). A failed restore (exit code, or documents that failed to restore) is rolled back
 *   from the safety archive at once.
 * - `rollback`: `mongorestore --drop` from the safety archive. Collections the restore created that
 *   did not exist before stay. `finalize`: delete the safety archive unless `keepSafetyCopy`.
 * - `scratch: true`: restore into `<db>_scratch_<timestamp>` (`--nsFrom/--nsTo`), then, when
 *   mongosh is installed, count every collection, compare with mongorestore's own counts and drop
 *   the scratch databases; without mongosh the counts come from mongorestore's log and the
 *   scratch databases are named in the output for you to drop.
 *
 * The connection string reaches every tool through a temporary 0600 config file (`--config`) or,
 * for mongosh, the environment; never argv. Without the tools, `verify` and `restore` fail with a
 * SourceUnavailableError naming mongorestore (or mongodump) and the MongoDB Database Tools.
 *
 * @throws {ConfigError} from the constructor when the options are invalid.
 * @example
 * ```ts
 * import { createRestorePlan, MongoTarget } from 'duplicati-kit';
 * const plan = createRestorePlan({ targets: [new MongoTarget({ uriFile: '/root/.mongo-uri' })] });
 * const report = await plan.run({ from: '/restore/staging' });
 * ```
 */
export class MongoTarget implements RestoreTarget {
  readonly name: string;
  readonly kind = MONGO_KIND;
  readonly #options: MongoTargetOptions;

  /** @param options validated here; a ConfigError names every bad field */
  constructor(options: MongoTargetOptions) {
    const parsed = mongoTargetSchema.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid MongoTarget options', parsed.error);
    this.#options = options;
    this.name = options.name ?? MONGO_TARGET_DEFAULTS.name;
  }

  /** True for `mongodb` entries (of the configured source name, when one is set). */
  accepts(entry: ManifestEntry): boolean {
    return entry.kind === MONGO_KIND && (this.#options.source === undefined || entry.name === this.#options.source);
  }

  #where(phase: Phase) {
    return { source: this.name, kind: this.kind, phase };
  }

  get #restoreBin(): string {
    return this.#options.mongorestoreBinary ?? MONGO_TARGET_DEFAULTS.mongorestoreBinary;
  }

  /** The archive artifact, whether it is gzipped, and the one database it holds (null: every database). */
  #archive(input: RestoreInput, phase: Phase): { artifact: ResolvedArtifact; gzip: boolean; database: string | null } {
    const artifact = input.artifacts.find(
      (a) => a.format === 'mongodump-archive' || a.format === 'mongodump-archive.gz',
    );
    if (!artifact) {
      throw new RestoreError(`entry "${input.entry.name}" has no mongodump archive`, this.#where(phase), {
        code: 'ERR_MONGO_NO_ARCHIVE',
      });
    }
    const db = input.entry.metadata.database;
    const database = typeof db === 'string' && mongoDatabaseSchema.safeParse(db).success ? db : null;
    return { artifact, gzip: artifact.format === 'mongodump-archive.gz', database };
  }

  #wrap(e: unknown, phase: Phase, secrets: readonly string[], signal: AbortSignal): unknown {
    if (signal.aborted) return signal.reason;
    if (isDuplicatiKitError(e)) return e;
    return new RestoreError(`${phase} failed: ${(e as Error)?.message ?? String(e)}`, this.#where(phase), {
      cause: e,
      secrets,
      code: 'ERR_MONGO_RESTORE',
    });
  }

  /** The first bytes of the archive (gunzipped when needed) are the mongodump magic number. */
  async #magic(file: string, gzip: boolean): Promise<Check> {
    const head = await new Promise<Buffer>((resolve, reject) => {
      const raw = createReadStream(file, gzip ? {} : { end: ARCHIVE_MAGIC.length - 1 });
      const stream = gzip ? raw.pipe(createGunzip()) : raw;
      let got = Buffer.alloc(0);
      const done = (): void => {
        raw.destroy();
        stream.destroy();
        resolve(got.subarray(0, ARCHIVE_MAGIC.length));
      };
      stream.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (got.length >= ARCHIVE_MAGIC.length) done();
      });
      stream.on('end', done);
      stream.on('error', reject);
      raw.on('error', reject);
    }).catch((e: unknown) => e as Error);
    if (head instanceof Error)
      return { name: 'archive', ok: false, detail: `cannot read the archive: ${head.message}` };
    const ok = head.equals(ARCHIVE_MAGIC);
    return {
      name: 'archive',
      ok,
      detail: ok
        ? `mongodump archive${gzip ? ' (gzip)' : ''}`
        : `not a mongodump archive (starts with ${head.toString('hex') || 'nothing'})`,
    };
  }

  /** mongorestore with the artifact streamed into it; a failure message when it did not go through. */
  async #mongorestore(
    config: string,
    file: string,
    args: readonly string[],
    secrets: readonly string[],
    signal: AbortSignal,
  ): Promise<{ summary: RestoreSummary; failure: string | undefined }> {
    const r = await runMongoTool({
      bin: this.#restoreBin,
      args: [`--config=${config}`, '--archive', ...args],
      stdin: createReadStream(file),
      watch: (l) => FINISHED.test(l) || SUMMARY.test(l),
      signal,
    });
    const summary = summaryOf(r.watched);
    const tail = redactText(r.stderrTail.trim(), secrets).split('\n').slice(-10).join('\n');
    const failure =
      r.exitCode !== 0
        ? `mongorestore failed (exit ${r.exitCode ?? r.signal}):\n${tail}`
        : r.pipeError !== undefined
          ? `streaming the archive into mongorestore failed: ${(r.pipeError as Error)?.message ?? String(r.pipeError)}`
          : summary.failed
            ? `${summary.failed} document(s) failed to restore:\n${tail}`
            : undefined;
    return { summary, failure };
  }

  /** Check the tool and the archive; `mongorestore --dryRun` reads it without writing. */
  async verify(input: RestoreInput, ctx: SourceContext): Promise<VerificationReport> {
    const { artifact, gzip, database } = this.#archive(input, 'verify');
    const version = await mongoToolVersion(this.#restoreBin, this.#where('verify'), ctx.signal);
    const checks: Check[] = [{ name: 'mongorestore', ok: true, detail: `mongorestore ${version}` }];
    const magic = await this.#magic(artifact.file, gzip);
    checks.push(magic);
    if (!magic.ok) return { ok: false, checks };
    const uri = await readMongoUri(this.#options, this.#where('verify'));
    const secrets = mongoSecrets(uri);
    try {
      const { failure } = await withMongoConfig(uri, (config) =>
        this.#mongorestore(
          config,
          artifact.file,
          ['--dryRun', ...(gzip ? ['--gzip'] : []), ...(database ? [`--nsInclude=${database}.*`] : [])],
          secrets,
          ctx.signal,
        ),
      );
      checks.push({
        name: 'dry-run',
        ok: failure === undefined,
        detail: failure ?? 'mongorestore --dryRun read the archive',
      });
      return { ok: checks.every((c) => c.ok), checks };
    } catch (e) {
      throw this.#wrap(e, 'verify', secrets, ctx.signal);
    }
  }

  /** Restore live (after a safety dump) or, with `scratch`, into renamed databases. */
  async restore(input: RestoreInput, ctx: SourceContext): Promise<RestoreOutput> {
    const { artifact, gzip, database } = this.#archive(input, 'restore');
    const restoreVersion = await mongoToolVersion(this.#restoreBin, this.#where('restore'), ctx.signal);
    const dumpBin = this.#options.mongodumpBinary ?? MONGO_TARGET_DEFAULTS.mongodumpBinary;
    if (!this.#options.scratch) {
      await mongoToolVersion(
        dumpBin,
        this.#where('restore'),
        ctx.signal,
        'install the MongoDB Database Tools (mongodump, mongorestore); the safety copy needs mongodump',
      );
    }
    const uri = await readMongoUri(this.#options, this.#where('restore'));
    const secrets = mongoSecrets(uri);
    if (ctx.dryRun) {
      return { restored: [], metadata: { dryRun: true, database, scratch: !!this.#options.scratch } };
    }
    try {
      return await withMongoConfig(uri, (config) => {
        const job: Job = { config, uri, artifact, gzip, database, secrets, version: restoreVersion, ctx };
        return this.#options.scratch ? this.#scratch(job) : this.#live(job);
      });
    } catch (e) {
      throw this.#wrap(e, 'restore', secrets, ctx.signal);
    }
  }

  async #live(job: Job): Promise<RestoreOutput> {
    const { config, artifact, gzip, database, secrets, version, ctx } = job;
    const safety = await this.#safetyDump(config, database, secrets, ctx);
    // Write ahead: from here on the live data changes; the record names the safety archive.
    await ctx.restoreJournal?.record({
      restored: [database ? `mongodb database ${database}` : 'mongodb deployment'],
      safetyCopy: safety,
      state: { safety, database },
    });
    ctx.onProgress({
      phase: 'restore',
      unit: 'bytes',
      completed: 0,
      total: artifact.bytes,
      description: 'mongorestore',
    });
    // Whatever happens from here (failure, abort), the safety copy goes back before we return.
    const never = neverAborted();
    const putBack = async (): Promise<string> => {
      const back = await this.#mongorestore(config, safety, ['--drop', '--gzip'], secrets, never);
      if (back.failure !== undefined) {
        return `putting the previous data back failed too (${back.failure}); the safety copy is ${safety}`;
      }
      await fsp.rm(safety, { force: true });
      return 'the previous data was restored from the safety copy';
    };
    let result: { summary: RestoreSummary; failure: string | undefined };
    try {
      result = await this.#mongorestore(
        config,
        artifact.file,
        ['--drop', ...(gzip ? ['--gzip'] : []), ...(database ? [`--nsInclude=${database}.*`] : [])],
        secrets,
        ctx.signal,
      );
    } catch (e) {
      const outcome = await putBack();
      if (ctx.signal.aborted) {
        ctx.logger.warn('restore aborted', { outcome });
        throw ctx.signal.reason;
      }
      throw new RestoreError(
        `mongorestore failed: ${(e as Error)?.message ?? String(e)}\n${outcome}`,
        this.#where('restore'),
        {
          cause: e,
          secrets,
          code: 'ERR_MONGO_RESTORE',
        },
      );
    }
    const { summary, failure } = result;
    if (failure !== undefined) {
      const outcome = await putBack();
      throw new RestoreError(`${failure}\n${outcome}`, this.#where('restore'), { secrets, code: 'ERR_MONGO_RESTORE' });
    }
    ctx.onProgress({
      phase: 'restore',
      unit: 'bytes',
      completed: artifact.bytes,
      total: artifact.bytes,
      description: 'mongorestore',
    });
    ctx.logger.info('restored MongoDB', { database: database ?? '(all)', documents: summary.restored ?? null });
    return {
      restored: [database ? `mongodb database ${database}` : 'mongodb deployment'],
      safetyCopy: safety,
      state: { safety, database },
      metadata: {
        mongorestoreVersion: version,
        database,
        documents: summary.restored ?? null,
        namespaces: summary.namespaces,
      },
    };
  }

  /** `mongodump --archive --gzip` of what the restore overwrites, into {@link safetyArchiveDir}. */
  async #safetyDump(
    config: string,
    database: string | null,
    secrets: readonly string[],
    ctx: SourceContext,
  ): Promise<string> {
    const where = safetyArchiveDir(ctx, this.#options.safetyDir);
    if (!where.durable) {
      ctx.logger.warn(
        'the safety archive goes into the work folder and is lost when it is removed: restore through the checklist (restore-points) or set safetyDir',
        { dir: where.dir },
      );
    }
    await fsp.mkdir(where.dir, { recursive: true, mode: 0o700 });
    const file = path.join(where.dir, `safety-${compactTimestamp()}-${randomBytes(3).toString('hex')}.archive.gz`);
    const out = createWriteStream(file, { mode: 0o600, flags: 'wx' });
    let ok = false;
    try {
      const r = await runMongoTool({
        bin: this.#options.mongodumpBinary ?? MONGO_TARGET_DEFAULTS.mongodumpBinary,
        args: [`--config=${config}`, '--archive', '--gzip', ...(database ? [`--db=${database}`] : [])],
        stdout: out,
        signal: ctx.signal,
      });
      if (r.exitCode !== 0 || r.pipeError !== undefined) {
        const tail = redactText(r.stderrTail.trim(), secrets).split('\n').slice(-10).join('\n');
        throw new RestoreError(
          `the safety copy failed (mongodump exit ${r.exitCode ?? r.signal}); nothing was restored:\n${tail}`,
          this.#where('restore'),
          { secrets, code: 'ERR_MONGO_SAFETY', ...(r.pipeError !== undefined ? { cause: r.pipeError } : {}) },
        );
      }
      const handle = await fsp.open(file, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      ok = true;
      return file;
    } finally {
      if (!ok) await fsp.rm(file, { force: true });
    }
  }

  async #scratch(job: Job): Promise<RestoreOutput> {
    const { config, uri, artifact, gzip, database, secrets, version, ctx } = job;
    const suffix = `_scratch_${compactTimestamp()}`;
    const ns = database
      ? [`--nsInclude=${database}.*`, `--nsFrom=${database}.*`, `--nsTo=${database}${suffix}.*`]
      : [...SYSTEM_DATABASES.map((d) => `--nsExclude=${d}.*`), '--nsFrom=$db$.$coll$', `--nsTo=$db$${suffix}.$coll$`];
    const shell = this.#options.mongoshBinary ?? MONGO_TARGET_DEFAULTS.mongoshBinary;
    const client = (await mongoToolAvailable(shell, ctx.signal)) ? shell : undefined;
    const { summary, failure } = await this.#mongorestore(
      config,
      artifact.file,
      ['--drop', ...(gzip ? ['--gzip'] : []), ...ns],
      secrets,
      ctx.signal,
    ).catch(async (e: unknown) => {
      if (client) await this.#count(client, uri, suffix, secrets, neverAborted()).catch(() => {});
      throw e;
    });
    // Count and drop even after a failed restore; then its failure is the one worth reporting.
    const counted = client
      ? await this.#count(client, uri, suffix, secrets, neverAborted()).catch((e: unknown) => {
          if (failure === undefined) throw e;
          return undefined;
        })
      : undefined;
    if (failure !== undefined) {
      throw new RestoreError(`the scratch restore failed: ${failure}`, this.#where('restore'), {
        secrets,
        code: 'ERR_MONGO_RESTORE',
      });
    }
    const logged: Record<string, number> = {};
    for (const [name, n] of Object.entries(summary.namespaces)) {
      // mongorestore may log the source or the renamed namespace; key both by the renamed one.
      const dot = name.indexOf('.');
      const db = name.slice(0, dot);
      logged[db.endsWith(suffix) ? name : `${db}${suffix}${name.slice(dot)}`] = n;
    }
    const actual: Record<string, number> = {};
    for (const [db, colls] of Object.entries(counted ?? {})) {
      for (const [c, n] of Object.entries(colls)) actual[`${db}.${c}`] = n;
    }
    const wrong = counted
      ? Object.entries(logged)
          .filter(([name, n]) => actual[name] !== n)
          .map(([name, n]) => `${name}: mongorestore restored ${n}, counted ${actual[name] ?? 'missing'}`)
      : [];
    if (wrong.length) {
      throw new VerificationError(
        'the scratch restore does not hold what mongorestore reported',
        this.#where('restore'),
        wrong.map((message) => ({ check: 'counts', message })),
      );
    }
    const databases = counted
      ? Object.keys(counted)
      : [...new Set(Object.keys(logged).map((n) => n.split('.')[0] ?? n))];
    if (!counted) {
      ctx.logger.warn('mongosh not found: the scratch databases were not counted or dropped', { databases });
    }
    const metadata: Record<string, JsonValue> = {
      scratch: true,
      mongorestoreVersion: version,
      documents: summary.restored ?? null,
      counts: counted ? actual : logged,
      countedBy: counted ? 'mongosh' : 'mongorestore log',
      scratchDatabases: databases,
      dropped: !!counted,
    };
    return { restored: [], metadata };
  }

  /** Count (and drop) the scratch databases with mongosh; the URI goes through the environment. */
  async #count(
    shell: string,
    uri: string,
    suffix: string,
    secrets: readonly string[],
    signal: AbortSignal,
  ): Promise<Record<string, Record<string, number>>> {
    return withPrivateDir(async (dir) => {
      const script = path.join(dir, 'count.js');
      await fsp.writeFile(script, COUNT_SCRIPT, { mode: 0o600 });
      let stdout = '';
      const sink = new PassThrough();
      sink.setEncoding('utf8');
      sink.on('data', (d: string) => {
        stdout = (stdout + d).slice(-1_000_000);
      });
      const r = await runMongoTool({
        bin: shell,
        args: ['--nodb', '--quiet', script],
        env: { DK_MONGO_URI: uri, DK_MONGO_SUFFIX: suffix, DK_MONGO_DROP: '1' },
        stdout: sink,
        signal,
      });
      if (r.exitCode !== 0) {
        const tail = redactText(r.stderrTail.trim(), secrets).split('\n').slice(-5).join('\n');
        throw new Error(`${shell} failed (exit ${r.exitCode ?? r.signal}): ${tail}`);
      }
      const line = stdout.trim().split('\n').pop() ?? '';
      const parsed = z.record(z.string(), z.record(z.string(), z.number())).safeParse(JSON.parse(line || '{}'));
      if (!parsed.success) throw new Error(`${shell} printed no counts`);
      return parsed.data;
    });
  }

  #safety(output: RestoreOutput): string | undefined {
    const s = output.state?.safety;
    return typeof s === 'string' ? s : undefined;
  }

  /** `mongorestore --drop` from the safety archive; the archive is then deleted unless `keepSafetyCopy`. */
  async rollback(output: RestoreOutput, ctx: SourceContext): Promise<void> {
    const safety = this.#safety(output);
    if (!safety) return;
    await mongoToolVersion(this.#restoreBin, this.#where('rollback'), ctx.signal);
    const uri = await readMongoUri(this.#options, this.#where('rollback'));
    const secrets = mongoSecrets(uri);
    try {
      const { failure } = await withMongoConfig(uri, (config) =>
        this.#mongorestore(config, safety, ['--drop', '--gzip'], secrets, neverAborted()),
      );
      if (failure !== undefined) {
        throw new RestoreError(`rolling back from ${safety} failed: ${failure}`, this.#where('rollback'), {
          secrets,
          code: 'ERR_MONGO_ROLLBACK',
        });
      }
      if (!this.#options.keepSafetyCopy) await fsp.rm(safety, { force: true });
    } catch (e) {
      throw this.#wrap(e, 'rollback', secrets, ctx.signal);
    }
  }

  /** Delete the safety archive, unless `keepSafetyCopy`. */
  async finalize(output: RestoreOutput, _ctx: SourceContext): Promise<void> {
    const safety = this.#safety(output);
    if (!safety || this.#options.keepSafetyCopy) return;
    await fsp.rm(safety, { force: true });
  }
}

/**
 * Where a live restore's safety archive goes: the restore record's keep folder (inside the restore
 * state folder, which nothing cleans up) when the restore keeps a record, else `safetyDir`, else
 * the target's work folder — the one place that is removed with the run (`durable: false`).
 *
 * @example
 * ```ts
 * const { dir, durable } = safetyArchiveDir(ctx, '/var/lib/duplicati-kit/mongo-safety');
 * ```
 */
export function safetyArchiveDir(ctx: SourceContext, safetyDir?: string): { dir: string; durable: boolean } {
  if (ctx.restoreJournal) return { dir: ctx.restoreJournal.keepDir, durable: true };
  if (safetyDir) return { dir: path.resolve(safetyDir), durable: true };
  return { dir: ctx.sourceDir, durable: false };
}
