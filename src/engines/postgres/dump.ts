/**
 * The moving parts of a PostgreSQL dump: server facts, row counts and extensions read inside an
 * exported snapshot, and pg_dump streamed (optionally through parallel gzip) into an artifact.
 *
 * @module
 */
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ArtifactRef, ArtifactWriter } from '../../core/artifact-writer.js';
import { DumpError } from '../../core/errors.js';
import { redactText } from '../../core/redact.js';
import { createBlockPool, createBlockStream } from '../_shared/block-stream.js';
import { createParallelGzip, type ParallelGzipOptions } from '../_shared/gzip-parallel.js';
import { createCopyRowCounter, createCopyRowScanner } from './copy-counter.js';
import { parsePgDumpArgs } from './dump-args.js';
import { connectionArgs, quoteIdent, quoteLiteral, type ResolvedPgConnection, toolEnv } from './connection.js';
import type { FoundPgTool, PgExecutor } from './executor.js';
import { spawnWithFallback } from '../_shared/spawn.js';
import { toolIntoArtifact } from '../_shared/tool-file.js';
import type { ChildExit } from '../../core/child.js';
import { redactPasswordHashes } from './globals.js';
import type { SqlSession } from './session.js';

/** Dump formats: plain SQL, plain SQL gzipped on all cores, or pg_dump's custom archive. */
export type PgDumpFormat = 'sql' | 'sql.gz' | 'custom';

/** File extension of each format. */
export const PG_DUMP_EXTENSION: Readonly<Record<PgDumpFormat, string>> = {
  sql: 'sql',
  'sql.gz': 'sql.gz',
  custom: 'dump',
};

/**
 * zlib level of `sql.gz` dumps. On dump text zlib's level 1 (over the window below) writes files
 * 1.01× (CLIP embeddings) to 1.03× (short rows of uuids, timestamps, text) the size of `gzip -6`'s
 * for a fifth to a third of level 6's CPU: on a small server the compression is most of the CPU a
 * dump costs. Pass `gzip: { level: 6 }` for zlib's own default.
 */
export const DUMP_GZIP_LEVEL = 1;

/**
 * zlib window of `sql.gz` dumps: 4 KiB instead of gzip's 32 KiB. With the zlib Node bundles, level 1
 * over a 4 KiB window compresses dump text with 25–30 % less CPU than over 32 KiB on short rows
 * (366 against 519 ms for 83 MiB of Immich rows) and as fast on CLIP embeddings, and the files are
 * smaller (1.026× against 1.037× `gzip -6`'s on rows, 1.011× against 1.061× on embeddings): its
 * level 1 matches differently on small windows. Every gunzip reads it. Used with the default level
 * only: a level the user chose gets gzip's own window.
 */
export const DUMP_GZIP_WINDOW_BITS = 12;

/** Bytes per chunk after pg_dump's output is regrouped (and per gzip member of `sql.gz`). */
const DUMP_BLOCK_SIZE = 1 << 20;

/** Server facts recorded in the manifest. */
export interface PgServerInfo {
  /** e.g. `15.20 (Debian 15.20-0+deb12u1)`. */
  readonly version: string;
  /** e.g. 150020. */
  readonly versionNum: number;
  readonly major: number;
}

/** Read the server version. */
export async function readServerInfo(s: SqlSession): Promise<PgServerInfo> {
  const rows = await s.query<{ version: string; num: string | number }>(
    "SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num",
  );
  const row = rows[0];
  const num = Number(row?.num);
  return { version: String(row?.version ?? ''), versionNum: num, major: Math.floor(num / 10000) };
}

/** Installed extensions and their versions, by name. */
export async function readExtensions(s: SqlSession): Promise<Record<string, string>> {
  const rows = await s.query<{ name: string; version: string }>(
    'SELECT extname AS name, extversion AS version FROM pg_extension ORDER BY extname',
  );
  return Object.fromEntries(rows.map((r) => [r.name, r.version]));
}

/** Extensions the server can install (`pg_available_extensions`), by name → default version. */
export async function readAvailableExtensions(s: SqlSession): Promise<Set<string>> {
  const rows = await s.query<{ name: string }>('SELECT name FROM pg_available_extensions');
  return new Set(rows.map((r) => r.name));
}

/** Which tables to count: every user table, a list (`schema.table` or `table` for `public`), or none. */
export type PgCountSelection = 'all' | 'none' | readonly string[];

function splitName(name: string): { schema: string; table: string } {
  const dot = name.indexOf('.');
  return dot < 0 ? { schema: 'public', table: name } : { schema: name.slice(0, dot), table: name.slice(dot + 1) };
}

/**
 * Exact row counts keyed `schema.table`. Run it inside the dump's snapshot so the counts describe
 * the dump. A named table that does not exist is an error.
 */
export async function countRows(s: SqlSession, selection: PgCountSelection): Promise<Record<string, number>> {
  if (selection === 'none') return {};
  let tables: { schema: string; table: string }[];
  if (selection === 'all') {
    tables = await s.query<{ schema: string; table: string }>(
      `SELECT n.nspname AS schema, c.relname AS table
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p')
          AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
          AND NOT EXISTS (SELECT 1 FROM pg_depend d
                           WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
        ORDER BY 1, 2`,
    );
  } else {
    tables = selection.map(splitName);
    const checks = tables
      .map(
        (t) =>
          `SELECT ${quoteLiteral(`${t.schema}.${t.table}`)} AS name, to_regclass(${quoteLiteral(`${quoteIdent(t.schema)}.${quoteIdent(t.table)}`)}) IS NOT NULL AS ok`,
      )
      .join(' UNION ALL ');
    if (checks) {
      const missing = (await s.query<{ name: string; ok: boolean }>(checks)).filter((r) => !r.ok).map((r) => r.name);
      if (missing.length) throw new Error(`tables to count do not exist: ${missing.join(', ')}`);
    }
  }
  const out: Record<string, number> = {};
  for (let i = 0; i < tables.length; i += 50) {
    const batch = tables.slice(i, i + 50);
    const sql = batch
      .map(
        (t) =>
          `SELECT ${quoteLiteral(`${t.schema}.${t.table}`)} AS name, count(*)::bigint AS n FROM ${quoteIdent(t.schema)}.${quoteIdent(t.table)}`,
      )
      .join(' UNION ALL ');
    for (const r of await s.query<{ name: string; n: string | number }>(sql)) out[r.name] = Number(r.n);
  }
  return out;
}

/**
 * The user tables (`schema.table`) that hold at least one row, read with one cheap `EXISTS` probe
 * each. Run it inside the dump's snapshot: a plain dump must then hold data for every one of them
 * (unless an option filtered it out). Tables the session may not read are left out.
 */
export async function tablesWithRows(s: SqlSession): Promise<string[]> {
  const tables = await s.query<{ schema: string; table: string }>(
    `SELECT n.nspname AS schema, c.relname AS table
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND c.relpersistence <> 't'
        AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
        AND has_table_privilege(c.oid, 'SELECT')
        AND NOT EXISTS (SELECT 1 FROM pg_depend d
                         WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
      ORDER BY 1, 2`,
  );
  const out: string[] = [];
  for (let i = 0; i < tables.length; i += 100) {
    const sql = tables
      .slice(i, i + 100)
      .map(
        (t) =>
          `SELECT ${quoteLiteral(`${t.schema}.${t.table}`)} AS name WHERE EXISTS (SELECT 1 FROM ONLY ${quoteIdent(t.schema)}.${quoteIdent(t.table)})`,
      )
      .join(' UNION ALL ');
    for (const r of await s.query<{ name: string }>(sql)) out.push(r.name);
  }
  return out;
}

/** Options of {@link runPgDump}. */
export interface RunPgDumpOptions {
  readonly executor: PgExecutor;
  readonly pgDump: FoundPgTool;
  readonly conn: ResolvedPgConnection;
  readonly database: string;
  readonly format: PgDumpFormat;
  /** Artifact name inside the source's folder (of the partial file, when `commitAs` is given). */
  readonly name: string;
  /** The name to commit under when it is known only once the dump runs. */
  readonly commitAs?: PromiseLike<string>;
  readonly artifacts: ArtifactWriter;
  readonly signal: AbortSignal;
  /** A snapshot exported by `pg_export_snapshot()` in a transaction kept open meanwhile. */
  readonly snapshot?: string;
  readonly extraArgs?: readonly string[];
  readonly gzip?: ParallelGzipOptions;
  /** Who is dumping, for errors. */
  readonly where: { readonly source: string; readonly kind: string };
  /** Values to redact from any error text. */
  readonly secrets: readonly string[];
  /** Called with the pg_dump output bytes as they stream (before compression). */
  readonly onBytes?: (n: number) => void;
  /** Count the rows of each table's COPY data while streaming (plain formats only). */
  readonly countRows?: boolean;
}

/** What {@link runPgDump} produced. */
export interface PgDumpResult {
  readonly ref: ArtifactRef;
  /** Rows per `schema.table` in the file, when `countRows` was set on a plain format. */
  readonly counts: Record<string, number> | undefined;
  /**
   * Why the output is not a whole dump (a plain dump without pg_dump's closing comment, a custom
   * archive without its `PGDMP` header), or undefined when it is one.
   */
  readonly incomplete: string | undefined;
}

/** The last line pg_dump writes into a plain dump; a file without it was cut short or is not a dump. */
const PLAIN_DUMP_END = '-- PostgreSQL database dump complete';

/** The first 8 and the last 256 bytes of a byte stream, fed in order (copies only). */
function createEdges(): { feed: (chunk: Buffer) => void; head: () => Buffer; tail: () => string } {
  let head = Buffer.alloc(0);
  let tail = Buffer.alloc(0);
  const feed = (chunk: Buffer): void => {
    if (head.length < 8) head = Buffer.concat([head, chunk.subarray(0, 8 - head.length)]);
    tail = chunk.length >= 256 ? Buffer.from(chunk.subarray(-256)) : Buffer.concat([tail, chunk]).subarray(-256);
  };
  return { feed, head: () => head, tail: () => tail.toString('latin1') };
}

/** {@link createEdges} of a stream going through it. */
function edgeKeeper(): { stream: Transform; head: () => Buffer; tail: () => string } {
  const edges = createEdges();
  const stream = new Transform({
    readableHighWaterMark: 1 << 20,
    writableHighWaterMark: 1 << 20,
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
      edges.feed(chunk);
      done(null, chunk);
    },
  });
  return { stream, head: edges.head, tail: edges.tail };
}

/** The argv of pg_dump for these options (exported for tests: no secret may appear in it). */
export function pgDumpArgs(
  o: Pick<RunPgDumpOptions, 'conn' | 'database' | 'format' | 'snapshot' | 'extraArgs' | 'executor'>,
): string[] {
  const endpoint = o.executor.containerEndpoint;
  const target = endpoint ? { host: endpoint.host, port: endpoint.port, user: o.conn.user } : o.conn;
  return [
    '--clean',
    '--if-exists',
    '--no-password',
    o.format === 'custom' ? '--format=custom' : '--format=plain',
    ...(o.snapshot ? [`--snapshot=${o.snapshot}`] : []),
    ...(o.extraArgs ? parsePgDumpArgs(o.extraArgs).args : []),
    ...connectionArgs(target, o.database),
  ];
}

/** Options of {@link streamToolToArtifact}. */
export interface StreamToolOptions {
  readonly executor: PgExecutor;
  readonly tool: FoundPgTool;
  /** `pg_dump`, `pg_dumpall`: names the tool in errors and finds its `<tool>: error:` lines. */
  readonly label: string;
  readonly args: readonly string[];
  readonly conn: ResolvedPgConnection;
  /** Artifact name inside the source's folder, and its manifest format. */
  readonly name: string;
  readonly format: string;
  /** The name to commit under when it is known only once the tool runs. */
  readonly commitAs?: PromiseLike<string>;
  /** Transforms between the tool's stdout and the file (row counter, gzip, observers). */
  readonly stages?: readonly Transform[];
  readonly artifacts: ArtifactWriter;
  readonly signal: AbortSignal;
  readonly where: { readonly source: string; readonly kind: string };
  readonly secrets: readonly string[];
  readonly onBytes?: (n: number) => void;
}

/**
 * Run a dump tool and stream its stdout into an artifact (sha256 on the way). A non-zero exit or
 * an `<tool>: error:` line on stderr is a {@link DumpError} carrying the redacted stderr tail; the
 * partial artifact is removed. A caller's abort kills the tool and is rethrown as-is. Nothing the
 * tool writes to stdout is ever logged (pg_dumpall's output holds password hashes).
 */
export async function streamToolToArtifact(o: StreamToolOptions): Promise<ArtifactRef> {
  const { cmd, fallback } = o.executor.bufferedCommand(o.tool.path, o.args, toolEnv(o.conn));
  const { child, stderrTail } = await spawnWithFallback(cmd, fallback, o.signal, () => o.executor.stdbufFailed());
  const sink = o.artifacts.open(o.name, {
    format: o.format,
    signal: o.signal,
    ...(o.commitAs ? { commitAs: o.commitAs } : {}),
  });
  const stdout = child.stdout as Readable;
  if (o.onBytes) {
    const onBytes = o.onBytes;
    stdout.on('data', (c: Buffer) => onBytes(c.length));
  }
  let pipeError: unknown;
  try {
    await (pipeline as (...a: unknown[]) => Promise<void>)(stdout, ...(o.stages ?? []), sink.stream, {
      signal: o.signal,
    });
  } catch (e) {
    pipeError = e;
    child.kill();
  }
  const result = await child;
  if (o.signal.aborted) {
    await sink.abort(o.signal.reason);
    throw o.signal.reason;
  }
  const failure = toolFailure(o, result, stderrTail(), pipeError);
  if (failure) {
    await sink.abort(pipeError);
    throw failure;
  }
  return sink.finish();
}

/**
 * The {@link DumpError} for a dump tool's exit, or undefined when it succeeded: a non-zero exit,
 * an `<tool>: error:` line on stderr (redacted, its last lines quoted), or a failed write.
 */
function toolFailure(
  o: Pick<StreamToolOptions, 'label' | 'secrets' | 'where'>,
  result: ChildExit,
  stderrTail: string,
  pipeError?: unknown,
): DumpError | undefined {
  const tail = redactPasswordHashes(redactText(stderrTail.trim(), o.secrets));
  const errorLine = new RegExp(`^${o.label}: error: .*`, 'm').exec(tail)?.[0];
  if (pipeError === undefined && result.exitCode === 0 && !errorLine) return undefined;
  const why =
    result.exitCode !== 0 || errorLine
      ? `${o.label} failed (exit ${result.exitCode ?? result.signal ?? 'unknown'})${tail ? `:\n${tail.split('\n').slice(-10).join('\n')}` : ''}`
      : `writing the dump failed: ${(pipeError as Error)?.message ?? String(pipeError)}`;
  return new DumpError(
    why,
    { ...o.where, phase: 'prepare' },
    {
      ...(pipeError !== undefined ? { cause: pipeError } : {}),
      secrets: o.secrets,
      code: 'ERR_PG_DUMP',
    },
  );
}

/**
 * Run pg_dump and stream its output into an artifact (sha256 on the way); see
 * {@link streamToolToArtifact} for failures and aborts.
 */
export async function runPgDump(o: RunPgDumpOptions): Promise<PgDumpResult> {
  const format = o.format === 'custom' ? 'pg_dump-custom' : o.format;
  let ref: ArtifactRef;
  let head: Buffer;
  let tail: string;
  let counts: Record<string, number> | undefined;
  if (o.format === 'sql') {
    // Nothing changes the bytes: pg_dump writes the file itself, read back behind it. Only plain
    // SQL: given a file it can seek in, pg_dump writes a custom archive's table of contents again
    // near its start when it is done, behind the reader's back (through a pipe it cannot seek).
    const scanner = o.countRows ? createCopyRowScanner() : undefined;
    const edges = createEdges();
    const { cmd, fallback } = o.executor.bufferedCommand(o.pgDump.path, pgDumpArgs(o), toolEnv(o.conn));
    const where = { label: 'pg_dump', secrets: o.secrets, where: o.where };
    ref = await toolIntoArtifact({
      cmd,
      ...(fallback ? { fallback, onFallback: () => o.executor.stdbufFailed() } : {}),
      artifacts: o.artifacts,
      name: o.name,
      ...(o.commitAs ? { commitAs: o.commitAs } : {}),
      format,
      signal: o.signal,
      observe: (chunk) => {
        edges.feed(chunk);
        scanner?.feed(chunk);
      },
      ...(o.onBytes ? { onBytes: o.onBytes } : {}),
      judge: (exit, stderrTail) => toolFailure(where, exit, stderrTail),
    });
    head = edges.head();
    tail = edges.tail();
    counts = scanner?.counts;
  } else {
    const gz = o.format === 'sql.gz';
    const counter = o.countRows && gz ? createCopyRowCounter() : undefined;
    const edges = edgeKeeper();
    // pg_dump's small writes regrouped into the gzip block size (1 MiB), before every other stage,
    // in blocks the gzip stage hands back once compressed (the stages between copy what they keep).
    const blockSize = o.gzip?.blockSize ?? DUMP_BLOCK_SIZE;
    const pool = gz ? createBlockPool(blockSize) : undefined;
    const stages: Transform[] = [createBlockStream(blockSize, pool), edges.stream];
    if (counter) stages.push(counter);
    if (pool) {
      stages.push(
        createParallelGzip({
          level: DUMP_GZIP_LEVEL,
          // A level the user chose gets gzip's own window, as `gzip -<level>` would.
          windowBits: o.gzip?.level === undefined ? DUMP_GZIP_WINDOW_BITS : 15,
          ...o.gzip,
          blockSize,
          onConsumed: (b) => pool.give(b),
        }),
      );
    }
    ref = await streamToolToArtifact({
      executor: o.executor,
      tool: o.pgDump,
      label: 'pg_dump',
      args: pgDumpArgs(o),
      conn: o.conn,
      name: o.name,
      ...(o.commitAs ? { commitAs: o.commitAs } : {}),
      format,
      stages,
      artifacts: o.artifacts,
      signal: o.signal,
      where: o.where,
      secrets: o.secrets,
      ...(o.onBytes ? { onBytes: o.onBytes } : {}),
    });
    head = edges.head();
    tail = edges.tail();
    counts = counter?.counts;
  }
  let incomplete: string | undefined;
  if (o.format === 'custom') {
    if (head.subarray(0, 5).toString('latin1') !== 'PGDMP') incomplete = 'is not a pg_dump custom archive';
  } else if (!tail.includes(PLAIN_DUMP_END)) {
    incomplete = `does not end with pg_dump's "${PLAIN_DUMP_END}" line`;
  }
  return { ref, counts, incomplete };
}
