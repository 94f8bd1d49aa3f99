/**
 * One database dumped inside an exported snapshot: a REPEATABLE READ transaction exports its
 * snapshot, pg_dump reads the same snapshot (`--snapshot`), and row counts, extensions and app
 * metadata are read in that transaction meanwhile. Shared by the one-database and the
 * all-databases modes of `PostgresSource`.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { anySignal } from '../../core/abort.js';
import type { ArtifactRef, ArtifactWriter } from '../../core/artifact-writer.js';
import { DumpError } from '../../core/errors.js';
import type { ParallelGzipOptions } from '../_shared/gzip-parallel.js';
import type { ResolvedPgConnection } from './connection.js';
import { parsePgDumpArgs } from './dump-args.js';
import {
  countRows,
  PG_DUMP_EXTENSION,
  type PgCountSelection,
  type PgDumpResult,
  readExtensions,
  runPgDump,
  tablesWithRows,
} from './dump.js';
import type { SqlSession } from './session.js';
import type { PgEndpoint } from './endpoint.js';
import type { PgDumpInfo, PostgresDumpHooks } from './options.js';
import type { JsonValue } from '../../contracts/types.js';

/** The counts `selection` asks for, or the names it asks for that the dump does not hold. */
function pickCounts(all: Record<string, number>, selection: PgCountSelection): Record<string, number> | string {
  if (selection === 'all') return all;
  if (selection === 'none') return {};
  const out: Record<string, number> = {};
  const missing: string[] = [];
  for (const name of selection) {
    const key = name.includes('.') ? name : `public.${name}`;
    const n = all[key];
    if (n === undefined) missing.push(key);
    else out[key] = n;
  }
  return missing.length ? missing.join(', ') : out;
}

/**
 * Why a finished pg_dump is not a backup, or undefined when it is: cut short (no closing line or
 * archive header), or without data for tables that held rows in the dump's snapshot. With an
 * option that filters data (`--exclude-table-data`, `--table`, …) only a table whose COPY block is
 * present but empty counts as missing.
 */
function missingData(
  dump: PgDumpResult,
  withRows: readonly string[],
  pgDumpArgs: readonly string[] | undefined,
): string | undefined {
  if (dump.incomplete) return dump.incomplete;
  const counts = dump.counts;
  if (counts === undefined) return undefined;
  const filtered = pgDumpArgs !== undefined && parsePgDumpArgs(pgDumpArgs).filters;
  const lacking = withRows.filter((t) => (filtered ? counts[t] === 0 : !counts[t]));
  if (!lacking.length) return undefined;
  const shown = lacking.slice(0, 10).join(', ') + (lacking.length > 10 ? `, … (${lacking.length} in all)` : '');
  return `holds no data for tables that have rows: ${shown}`;
}

/** Options of {@link dumpInSnapshot}. */
export interface SnapshotDumpOptions {
  readonly endpoint: PgEndpoint;
  /**
   * A session on `info.database`, outside any transaction. Closed once the dump no longer needs
   * it (the caller still closes it, for the paths that end sooner).
   */
  readonly session: SqlSession;
  readonly conn: ResolvedPgConnection;
  readonly info: PgDumpInfo;
  readonly hooks: PostgresDumpHooks;
  /** Artifact name without extension, unless `hooks.artifactName` names it. */
  readonly baseName: string;
  readonly counts: PgCountSelection;
  readonly artifacts: ArtifactWriter;
  /** The plan's work directory (a committed artifact is removed from it on failure). */
  readonly workDir: string;
  readonly signal: AbortSignal;
  readonly where: { readonly source: string; readonly kind: string };
  readonly secrets: readonly string[];
  readonly pgDumpArgs?: readonly string[];
  readonly gzip?: ParallelGzipOptions;
  /** pg_dump output bytes as they stream. */
  readonly onBytes?: (n: number) => void;
}

/** What {@link dumpInSnapshot} produced. */
export interface SnapshotDump {
  readonly ref: ArtifactRef;
  readonly extensions: Record<string, string>;
  readonly counts: Record<string, number>;
  readonly countsFrom: 'dump' | 'snapshot';
  /** Metadata of the `before` and `during` hooks. */
  readonly extra: Record<string, JsonValue>;
}

/**
 * Dump one database with counts read in the dump's own snapshot. On any failure the artifact is
 * removed (also when pg_dump had already committed it) and the error is a typed one (or the
 * caller's abort reason).
 */
export async function dumpInSnapshot(o: SnapshotDumpOptions): Promise<SnapshotDump> {
  const { session, info, signal, secrets } = o;
  const database = info.database;
  const where = { ...o.where, phase: 'prepare' as const };
  let committed: ArtifactRef | undefined;
  try {
    await session.exec('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const snapshot = String((await session.query<{ id: string }>('SELECT pg_export_snapshot() AS id'))[0]?.id);
    // pg_dump starts first: its own start and catalog reads take ~0.2 s, the extensions and the
    // `before` hook read the same snapshot beside them, and the artifact takes the name they give
    // when it is committed (until then its partial file carries the default name).
    const meta = (async () => {
      const extensions = await readExtensions(session);
      const before = o.hooks.before ? await o.hooks.before(session, info) : {};
      return { extensions, before };
    })();
    const defaultName = `${o.baseName}.${PG_DUMP_EXTENSION[info.format]}`;
    const artifactName = o.hooks.artifactName;
    const commitAs = artifactName ? meta.then(({ before }) => artifactName(info, before) ?? defaultName) : undefined;
    const selection = o.counts;
    // Plain dumps are counted from their own COPY data as they stream: exact for the file, and
    // no second scan of the database. Custom archives are counted in the exported snapshot.
    const plain = info.format !== 'custom';
    const fromStream = plain && selection !== 'none';
    const stop = new AbortController();
    // pg_dump imports the snapshot when it connects, before it writes a byte: from its first
    // byte on, the snapshot lives in pg_dump's own transaction and ours is needed only for the
    // reads below.
    let firstByte!: () => void;
    const wroteFirstByte = new Promise<void>((resolve) => {
      firstByte = resolve;
    });
    // A failed `before` stops the dump it would have named; a failed dump closes the session,
    // which then fails `before` too: the first failure is the one reported.
    let dumpFailed = false;
    let beforeFailed = false;
    meta.catch((e: unknown) => {
      if (dumpFailed) return;
      beforeFailed = true;
      stop.abort(e);
    });
    const dump = runPgDump({
      executor: o.endpoint.executor,
      pgDump: info.pgDump,
      conn: o.conn,
      database,
      format: info.format,
      name: defaultName,
      ...(commitAs ? { commitAs } : {}),
      artifacts: o.artifacts,
      signal: anySignal(signal, stop.signal),
      snapshot,
      ...(o.pgDumpArgs ? { extraArgs: o.pgDumpArgs } : {}),
      ...(o.gzip ? { gzip: o.gzip } : {}),
      where: o.where,
      secrets,
      countRows: plain,
      onBytes: (n) => {
        firstByte();
        o.onBytes?.(n);
      },
    });
    // A failed dump must not wait for counts still scanning a large table.
    dump.catch(() => {
      if (!beforeFailed) dumpFailed = true;
      return session.close(true);
    });
    const during = (async () => {
      await meta;
      // These scans share the cores with pg_dump and its backend: no parallel workers for them.
      await session.exec('SET LOCAL max_parallel_workers_per_gather = 0');
      const counts = fromStream ? undefined : await countRows(session, selection);
      const withRows = plain ? await tablesWithRows(session) : [];
      const extra = o.hooks.during ? await o.hooks.during(session, info) : {};
      return { counts, withRows, extra };
    })();
    // The transaction ends, and the session with it, while pg_dump still runs when it can (the
    // server's goodbye then costs the dump nothing at its end): once the reads above are done
    // and pg_dump has written. A dump that fails first closes the session instead.
    const ended = (async () => {
      await Promise.all([during, Promise.race([wroteFirstByte, dump])]);
      await session.exec('COMMIT');
      await session.close();
    })();
    ended.catch(() => {});
    const [d, m, b] = await Promise.allSettled([dump, during, meta]);
    if (d.status === 'fulfilled') committed = d.value.ref;
    if (signal.aborted) throw signal.reason;
    // What `before` threw, as it threw it, when the dump was stopped for it.
    if (b.status === 'rejected' && beforeFailed) throw b.reason;
    if (d.status === 'rejected') throw d.reason;
    if (b.status === 'rejected') throw b.reason;
    if (m.status === 'rejected') {
      stop.abort();
      throw new DumpError(
        `reading row counts of "${database}" in the dump's snapshot failed: ${(m.reason as Error)?.message}`,
        where,
        { cause: m.reason, secrets, code: 'ERR_PG_METADATA' },
      );
    }
    const { extensions, before } = b.value;
    const missing = missingData(d.value, m.value.withRows, o.pgDumpArgs);
    if (missing) throw new DumpError(`the dump of "${database}" ${missing}`, where, { secrets, code: 'ERR_PG_DUMP' });
    const counts = fromStream ? pickCounts(d.value.counts ?? {}, selection) : (m.value.counts ?? {});
    if (typeof counts === 'string') {
      throw new DumpError(`the dump of "${database}" holds no data for ${counts}`, where, {
        secrets,
        code: 'ERR_PG_METADATA',
      });
    }
    await ended;
    const ref = committed as ArtifactRef;
    committed = undefined;
    return {
      ref,
      extensions,
      counts,
      countsFrom: fromStream ? 'dump' : 'snapshot',
      extra: { ...before, ...m.value.extra },
    };
  } catch (e) {
    if (committed) await fsp.rm(path.join(o.workDir, ...committed.path.split('/')), { force: true });
    throw e;
  }
}
