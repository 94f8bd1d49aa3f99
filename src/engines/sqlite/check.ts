/**
 * `PRAGMA integrity_check` of a finished snapshot, spread over worker threads so it runs beside
 * the hashing and the row counts instead of after them (better-sqlite3 is synchronous, so a check
 * on the main thread would hold everything else up).
 *
 * A full `integrity_check` is split into parts whose union checks the same things:
 *
 * - `quick_check` of the whole file: every b-tree's structure, every page used exactly once, the
 *   freelist, NOT NULL;
 * - `integrity_check('<table>')` for each table: that table's and its indexes' structure, every
 *   index entry matching its row, UNIQUE, CHECK constraints.
 *
 * The parts run on up to {@link MAX_WORKERS} read-only connections (biggest first), each with the
 * file memory-mapped, which roughly halves the time of an index-heavy check. `quick` runs only
 * the first part. An abort terminates the workers and rejects at once.
 *
 * @module
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** Most worker threads one check starts. */
export const MAX_WORKERS = 4;

/** Niceness of the worker threads (Linux; elsewhere they run at the caller's priority). */
const WORKER_NICE = 10;

/** SQLite's largest mmap (`SQLITE_MAX_MMAP_SIZE` of better-sqlite3's build). */
export const MAX_MMAP = 0x7fff0000;

/** One part of the check. */
export interface CheckPart {
  /** The pragma to run, e.g. `quick_check(20)` or `integrity_check('items')`. */
  readonly pragma: string;
  /** Relative cost, used to start the biggest parts first. */
  readonly weight: number;
}

/** The outcome of {@link runIntegrityCheck}: problems found (empty: sound), or an SQLite error. */
export interface CheckOutcome {
  readonly problems: readonly string[];
}

/** A failure of the check itself (the file could not be read, SQLITE_CORRUPT, …), with its SQLite code. */
export class CheckError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'CheckError';
  }
}

/** Quote a string as an SQL literal. */
function literal(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** Up to this size, a file whose index work is nearly all in one table is checked in one part. */
export const ONE_PART_MAX_BYTES = 256 << 20;

/**
 * The parts of a check. `tables` are the snapshot's tables with a cost each (rows × (1 + indexes)
 * is a fair guess: the full check looks every row up in every index).
 *
 * The split walks every table twice (`quick_check` of the file, then each table's own check), which
 * pays when the index work is spread over tables that can be checked side by side. When one table
 * holds 90 % of it, its part takes about as long as the whole `integrity_check`, so a file of at
 * most {@link ONE_PART_MAX_BYTES} (`fileBytes`) is checked in one `integrity_check`: the same
 * answer on one thread, the other core left to the hash. Larger files keep the split, which also
 * bounds the time of a file whose biggest table has no index.
 */
export function checkParts(
  mode: 'full' | 'quick',
  tables: readonly { name: string; weight: number }[],
  maxProblems = 20,
  fileBytes?: number,
): CheckPart[] {
  const max = Math.max(1, Math.floor(maxProblems));
  const whole = { pragma: `quick_check(${max})`, weight: Number.POSITIVE_INFINITY };
  if (mode === 'quick') return [whole];
  const total = tables.reduce((n, t) => n + t.weight, 0);
  const biggest = tables.reduce((n, t) => Math.max(n, t.weight), 0);
  if (fileBytes !== undefined && fileBytes <= ONE_PART_MAX_BYTES && biggest >= 0.9 * total) {
    return [{ pragma: `integrity_check(${max})`, weight: Number.POSITIVE_INFINITY }];
  }
  const perTable = tables.map((t) => ({ pragma: `integrity_check(${literal(t.name)})`, weight: t.weight }));
  return [whole, ...perTable].sort((a, b) => b.weight - a.weight);
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
// Linux: lower this thread's priority only (a thread id is a pid to setpriority), so the
// application's own commits win the CPU over the check while both want it.
try {
  const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop());
  if (tid > 0 && workerData.nice > 0) require('node:os').setPriority(tid, workerData.nice);
} catch {}
let db;
// The first message opens the file ({ file, mmap }): a worker can start (node's bootstrap and
// the driver, tens of milliseconds) before the file it will check exists.
parentPort.on('message', (pragma) => {
  if (pragma === null) { try { db && db.close(); } catch {} parentPort.close(); return; }
  if (typeof pragma === 'object') {
    try {
      db = new Database(pragma.file, { readonly: true, fileMustExist: true });
      db.pragma('mmap_size = ' + pragma.mmap);
    } catch (e) {
      parentPort.postMessage({ error: { message: String(e && e.message), code: e && e.code } });
    }
    return;
  }
  if (!db) return;
  try {
    const rows = db.pragma(pragma);
    const messages = rows.map((r) => String(Object.values(r)[0]));
    parentPort.postMessage({ problems: messages.length === 1 && messages[0] === 'ok' ? [] : messages });
  } catch (e) {
    parentPort.postMessage({ error: { message: String(e && e.message), code: e && e.code } });
  }
});
`;

type Reply = { problems: string[] } | { error: { message: string; code?: string } };

/** Stop a worker without waiting: it ends as soon as SQLite returns, and nothing holds the process. */
function stopWorker(w: Worker): void {
  w.removeAllListeners('message');
  w.removeAllListeners('error');
  w.removeAllListeners('exit');
  w.on('error', () => {});
  void w.terminate().catch(() => {});
  w.unref();
}

function startWorker(): Worker {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  return new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, nice: WORKER_NICE } });
}

/**
 * Check workers started ahead of the check, so their start (a thread's node bootstrap and the
 * SQLite driver: 30–80 ms on a 2-core machine) runs beside the copy instead of after it. A check
 * takes them with {@link runIntegrityCheck}'s `workers`; `close()` stops those never taken.
 */
export interface CheckWorkers {
  /** A started worker that has not exited, or undefined. */
  take(): Worker | undefined;
  /** Terminate the workers not taken. */
  close(): void;
}

/** Start `count` check workers now (see {@link CheckWorkers}). */
export function prestartCheckWorkers(count: number): CheckWorkers {
  const idle = new Set<Worker>();
  for (let i = 0; i < count; i++) {
    const w = startWorker();
    // Not taken yet: a worker that fails or exits is simply not handed out.
    const drop = () => idle.delete(w);
    w.on('error', drop);
    w.on('exit', drop);
    idle.add(w);
  }
  return {
    take() {
      const w = idle.values().next().value as Worker | undefined;
      if (w === undefined) return undefined;
      idle.delete(w);
      w.removeAllListeners('error');
      w.removeAllListeners('exit');
      return w;
    },
    close() {
      for (const w of idle) stopWorker(w);
      idle.clear();
    },
  };
}

/**
 * Run `parts` against `file` (read-only) on worker threads; resolves with the problems found (at
 * most `maxProblems`), rejects with a {@link CheckError} when SQLite fails, or with the signal's
 * reason. The file must not change while the check runs.
 */
export function runIntegrityCheck(
  file: string,
  parts: readonly CheckPart[],
  options: {
    readonly fileBytes: number;
    readonly signal?: AbortSignal;
    readonly maxProblems?: number;
    /** Workers started ahead ({@link prestartCheckWorkers}); the check starts the rest it needs. */
    readonly workers?: CheckWorkers;
  } = {
    fileBytes: 0,
  },
): Promise<CheckOutcome> {
  const { signal } = options;
  const maxProblems = options.maxProblems ?? 20;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const queue = [...parts];
  const count = Math.max(1, Math.min(queue.length, availableParallelism(), MAX_WORKERS));
  const mmap = Math.min(MAX_MMAP, Math.max(0, Math.ceil(options.fileBytes)));
  const workers: Worker[] = [];
  const problems: string[] = [];
  return new Promise<CheckOutcome>((resolve, reject) => {
    let settled = false;
    let running = 0;
    const stopAll = () => {
      for (const w of workers) stopWorker(w);
    };
    const finish = (e?: unknown) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      stopAll();
      if (e === undefined) resolve({ problems: problems.slice(0, maxProblems) });
      else reject(e);
    };
    const onAbort = () => finish(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const next = (w: Worker) => {
      const part = problems.length >= maxProblems ? undefined : queue.shift();
      if (part === undefined) {
        running -= 1;
        if (running === 0) finish();
        return;
      }
      w.postMessage(part.pragma);
    };
    for (let i = 0; i < count; i++) {
      const w = options.workers?.take() ?? startWorker();
      workers.push(w);
      w.postMessage({ file, mmap });
      running += 1;
      w.on('message', (m: Reply) => {
        if ('error' in m) {
          finish(new CheckError(m.error.message, m.error.code));
          return;
        }
        for (const p of m.problems) if (!problems.includes(p)) problems.push(p);
        next(w);
      });
      w.on('error', (e) => finish(e));
      w.on('exit', (code) => {
        if (!settled) finish(new Error(`integrity check worker exited with code ${code}`));
      });
      next(w);
    }
  });
}
