/**
 * Loading a dump into a database: plain SQL through `psql --single-transaction` with
 * `ON_ERROR_STOP`, gzip undone on the way, an optional byte-level rewrite; custom archives through
 * `pg_restore --exit-on-error` (with `--jobs` when the file is local to the tools).
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { type Phase, RestoreError } from '../../core/errors.js';
import { redactText } from '../../core/redact.js';
import { connectionArgs, type ResolvedPgConnection, toolEnv } from './connection.js';
import type { PgDumpFormat } from './dump.js';
import { redactPasswordHashes } from './globals.js';
import type { FoundPgTool, PgExecutor } from './executor.js';
import { spawnTool } from '../_shared/spawn.js';
import { createPsqlGuard, psqlHasRestrict, UnsafeDumpError } from './psql-guard.js';

/**
 * A Transform replacing every occurrence of `search` with `replacement`, across chunk borders,
 * holding back at most `search.length - 1` bytes (works on dumps of any size, like `sed s///g`).
 * The bytes between matches go on as views of the chunk read, never copied: only the held-back
 * tail and the few bytes around a chunk border are (a restore's main thread copied every byte of
 * the dump twice before, beside the load it feeds).
 */
export function createReplaceStream(search: string, replacement: string): Transform {
  const needle = Buffer.from(search);
  const subst = Buffer.from(replacement);
  const n = needle.length;
  if (n === 0) throw new RangeError('search must not be empty');
  let tail = Buffer.alloc(0);
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
      const push = (b: Buffer): void => {
        if (b.length) this.push(b);
      };
      let data = chunk;
      let from = 0;
      if (tail.length && chunk.length < n - 1) {
        // Too short to settle the held-back bytes: hold them together.
        data = Buffer.concat([tail, chunk]);
      } else if (tail.length) {
        // A match starting in the held-back bytes ends within the chunk's first n - 1 bytes.
        const border = Buffer.concat([tail, chunk.subarray(0, n - 1)]);
        const at = border.indexOf(needle);
        if (at >= 0 && at < tail.length) {
          push(border.subarray(0, at));
          push(subst);
          from = at + n - tail.length;
        } else {
          push(tail);
        }
      }
      for (;;) {
        const at = data.indexOf(needle, from);
        if (at < 0) break;
        push(data.subarray(from, at));
        push(subst);
        from = at + n;
      }
      const keep = Math.max(from, data.length - (n - 1));
      push(data.subarray(from, keep));
      tail = Buffer.from(data.subarray(keep));
      done();
    },
    flush(done: TransformCallback): void {
      done(null, tail);
    },
  });
}

/**
 * Forwards into a child's stdin. On failure it kills the child BEFORE stdin could be closed: a
 * psql seeing end-of-input would COMMIT its single transaction with a truncated dump.
 */
function stdinSink(stdin: Writable, kill: () => void): Writable {
  stdin.on('error', () => {});
  return new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _enc, done): void {
      if (stdin.destroyed) {
        done(new Error('the loader closed its input'));
        return;
      }
      if (stdin.write(chunk)) {
        done();
        return;
      }
      const settle = (error?: Error): void => {
        stdin.off('drain', onDrain);
        stdin.off('close', onClose);
        done(error);
      };
      const onDrain = (): void => settle();
      const onClose = (): void => settle(new Error('the loader closed its input'));
      stdin.once('drain', onDrain);
      stdin.once('close', onClose);
    },
    final(done): void {
      stdin.end(done);
    },
    destroy(error, done): void {
      if (error) kill();
      done(error);
    },
  });
}

/** Options of {@link loadDump}. */
export interface LoadDumpOptions {
  readonly executor: PgExecutor;
  /** psql (plain formats) or pg_restore (custom). */
  readonly tool: FoundPgTool;
  readonly conn: ResolvedPgConnection;
  readonly database: string;
  /** Absolute path of the dump file. */
  readonly file: string;
  readonly format: PgDumpFormat;
  /** Byte-level rewrite applied to plain SQL after gunzip (e.g. Immich's search_path line). */
  readonly transform?: () => Transform;
  /** pg_restore `--jobs` for custom archives read from a local file. */
  readonly jobs?: number;
  /**
   * Plain SQL in one transaction (`--single-transaction`). `false` for files with statements
   * that cannot run in a transaction block (CREATE TABLESPACE in pg_dumpall globals). @default true
   */
  readonly singleTransaction?: boolean;
  /** psql `VERBOSITY=terse`: errors without the statement text (globals hold password hashes). */
  readonly terse?: boolean;
  /**
   * Plain SQL in one transaction: load the rows frozen (`COPY … FROM stdin (FREEZE)`), for a
   * database that is new. The tables are created in the same transaction, so nothing else can see
   * them before the commit; frozen rows skip the pass that would otherwise rewrite every page
   * after the load (hint bits, later VACUUM FREEZE) and read the visibility map as all-visible.
   * A load that PostgreSQL refuses to freeze (a COPY into a partitioned root, a table the file did
   * not create) is loaded again without it. @default false
   */
  readonly copyFreeze?: boolean;
  readonly signal: AbortSignal;
  readonly where: { readonly source: string; readonly kind: string; readonly phase: Phase };
  readonly secrets: readonly string[];
}

/** argv of the loader (exported for tests: no secret may appear in it). */
export function loadArgs(
  o: Pick<
    LoadDumpOptions,
    'executor' | 'conn' | 'database' | 'format' | 'jobs' | 'file' | 'singleTransaction' | 'terse'
  >,
): {
  args: string[];
  stdinFile: boolean;
} {
  const endpoint = o.executor.containerEndpoint;
  const target = endpoint ? { host: endpoint.host, port: endpoint.port, user: o.conn.user } : o.conn;
  const conn = connectionArgs(target, o.database);
  if (o.format !== 'custom') {
    return {
      args: [
        '-X',
        '-q',
        '--no-password',
        '-v',
        'ON_ERROR_STOP=1',
        ...(o.terse ? ['-v', 'VERBOSITY=terse'] : []),
        ...(o.singleTransaction === false ? [] : ['--single-transaction']),
        ...conn,
      ],
      stdinFile: true,
    };
  }
  // Parallel restore needs a seekable file the tool can open itself: only for local tools.
  if (!o.executor.isDocker && o.jobs !== undefined && o.jobs > 1) {
    return {
      args: ['--exit-on-error', '--no-password', '--jobs', String(o.jobs), ...conn, o.file],
      stdinFile: false,
    };
  }
  return { args: ['--exit-on-error', '--no-password', '--single-transaction', ...conn], stdinFile: true };
}

/**
 * The plain SQL psql will read: the file, gunzipped, rewritten (unless `raw`: `transform` may hand
 * out one stream only), then through the psql guard.
 */
function plainStages(
  o: LoadDumpOptions,
  prefix?: Buffer,
  raw = false,
): (NodeJS.ReadableStream | NodeJS.ReadWriteStream)[] {
  const stages: (NodeJS.ReadableStream | NodeJS.ReadWriteStream)[] = [
    createReadStream(o.file, { highWaterMark: 1 << 20 }),
  ];
  if (o.format === 'sql.gz') stages.push(createGunzip());
  if (o.transform && !raw) stages.push(o.transform());
  stages.push(
    createPsqlGuard({
      ...(prefix ? { prefix } : {}),
      ...(freezesCopies(o) ? { copyFreeze: true } : {}),
    }),
  );
  return stages;
}

/** Whether this load adds FREEZE to its COPY statements: asked for, plain SQL, one transaction. */
function freezesCopies(o: LoadDumpOptions): boolean {
  return o.copyFreeze === true && o.format !== 'custom' && o.singleTransaction !== false;
}

/** psql's error when PostgreSQL will not freeze a COPY (a partitioned root, a table made earlier). */
const FREEZE_REFUSED = /\bCOPY FREEZE\b/;

function unsafeDump(o: LoadDumpOptions, e: UnsafeDumpError): RestoreError {
  return new RestoreError(
    `refused to load ${o.file} into database "${o.database}": at byte ${e.at} of its SQL it holds ${e.what}; a dump pg_dump wrote has none, so the file was altered or is not a pg_dump dump. Nothing of it was loaded.`,
    o.where,
    { cause: e, secrets: o.secrets, code: 'ERR_UNSAFE_DUMP' },
  );
}

/**
 * Load a dump into an existing (normally new and empty) database. Failure is a
 * {@link RestoreError} with the redacted tail of the tool's stderr; with plain SQL the single
 * transaction leaves the database as it was.
 *
 * Plain SQL reaches psql only through the psql guard ({@link createPsqlGuard}): a psql
 * meta-command anywhere outside quotes, comments and COPY data (`\!`, `\o`, `\copy`, …) is a
 * RestoreError `ERR_UNSAFE_DUMP` and psql is killed before it could read it or commit; without a
 * single transaction the whole file is checked before psql starts. A psql with `\restrict` is
 * also put in restricted mode with a random key first.
 */
export async function loadDump(o: LoadDumpOptions): Promise<void> {
  try {
    await loadOnce(o);
  } catch (e) {
    // One transaction: the refused load left nothing behind, so it can go again as it was written.
    if (!freezesCopies(o) || !(e instanceof RestoreError) || !FREEZE_REFUSED.test(e.message) || o.signal.aborted)
      throw e;
    await loadOnce({ ...o, copyFreeze: false });
  }
}

async function loadOnce(o: LoadDumpOptions): Promise<void> {
  if (o.format !== 'custom' && o.singleTransaction === false) {
    // Statements commit one by one here: check the whole file before anything runs.
    try {
      await (pipeline as (...a: unknown[]) => Promise<void>)(
        ...plainStages(o, undefined, true),
        new Writable({ write: (_c, _e, done) => done() }),
        { signal: o.signal },
      );
    } catch (e) {
      if (o.signal.aborted) throw o.signal.reason;
      if (e instanceof UnsafeDumpError) throw unsafeDump(o, e);
      throw new RestoreError(`reading ${o.file} failed: ${(e as Error).message}`, o.where, {
        cause: e,
        secrets: o.secrets,
        code: 'ERR_PG_LOAD',
      });
    }
  }
  const { args, stdinFile } = loadArgs(o);
  const cmd = o.executor.command(o.tool.path, args, toolEnv(o.conn));
  const { child, stderrTail } = spawnTool(cmd, { stdin: stdinFile ? 'pipe' : 'ignore', stdout: 'ignore' }, o.signal);
  let pipeError: unknown;
  if (stdinFile) {
    const stages: (NodeJS.ReadableStream | NodeJS.ReadWriteStream | Writable)[] =
      o.format === 'custom'
        ? [createReadStream(o.file, { highWaterMark: 1 << 20 })]
        : plainStages(
            o,
            psqlHasRestrict(o.tool.version)
              ? Buffer.from(`\\restrict ${randomBytes(24).toString('hex')}\n`)
              : undefined,
          );
    stages.push(stdinSink(child.stdin as Writable, () => child.kill('SIGKILL')));
    try {
      await (pipeline as (...a: unknown[]) => Promise<void>)(...stages, { signal: o.signal });
    } catch (e) {
      pipeError = e;
    }
  }
  const result = await child;
  if (o.signal.aborted) throw o.signal.reason;
  if (pipeError instanceof UnsafeDumpError) throw unsafeDump(o, pipeError);
  const tail = redactPasswordHashes(redactText(stderrTail().trim(), o.secrets));
  if (result.exitCode !== 0 || pipeError !== undefined) {
    const toolFailed = result.exitCode !== 0;
    const reason = toolFailed
      ? `${o.format === 'custom' ? 'pg_restore' : 'psql'} failed (exit ${result.exitCode ?? result.signal ?? 'unknown'})${tail ? `:\n${tail.split('\n').slice(-10).join('\n')}` : ''}`
      : `reading the dump failed: ${(pipeError as Error)?.message ?? String(pipeError)}`;
    throw new RestoreError(`loading ${o.file} into database "${o.database}" failed: ${reason}`, o.where, {
      ...(pipeError !== undefined ? { cause: pipeError } : {}),
      secrets: o.secrets,
      code: 'ERR_PG_LOAD',
    });
  }
}
