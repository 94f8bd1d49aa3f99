/**
 * Counts the rows of every table in a plain-SQL dump as it streams by: pg_dump writes each
 * table's data as `COPY <schema>.<table> (…) FROM stdin;`, one line per row (newlines inside
 * values are escaped), ended by a line `\.`. The counts are those of the file itself — the exact
 * snapshot the dump saw — and cost no second scan of the database.
 *
 * @module
 */
import { Transform, type TransformCallback } from 'node:stream';

const NL = 0x0a;
/** Enough of a line to read a COPY header's table name (column lists can be long; names are first). */
const PREFIX_MAX = 8192;

/**
 * Read one SQL identifier of `text` starting at `i`: a `"quoted ""one"""` (unquoted on the way)
 * or a plain one ending at any of `stops`. Returns the name and the index after it.
 */
export function readIdentifier(text: string, i: number, stops: string): { name: string; next: number } {
  let name = '';
  if (text[i] === '"') {
    i++;
    for (; i < text.length; i++) {
      if (text[i] === '"') {
        if (text[i + 1] === '"') {
          name += '"';
          i++;
        } else break;
      } else name += text[i];
    }
    return { name, next: i + 1 };
  }
  while (i < text.length && !stops.includes(text[i] as string)) name += text[i++];
  return { name, next: i };
}

/** Parse `"sch""ema".tbl` / `public.items` into `schema.table` with identifiers unquoted. */
export function parseCopyTarget(header: string): string | undefined {
  let i = 'COPY '.length;
  const parts: string[] = [];
  for (;;) {
    const id = readIdentifier(header, i, '. ');
    parts.push(id.name);
    i = id.next;
    if (header[i] === '.') {
      i++;
      continue;
    }
    break;
  }
  if (parts.length !== 2 || !parts[0] || !parts[1]) return undefined;
  return `${parts[0]}.${parts[1]}`;
}

/** A pass-through Transform that counts COPY rows per table; read `counts` after it ended. */
export interface CopyRowCounter extends Transform {
  /** Rows per `schema.table`, for every table whose data the dump contains (0 for empty ones). */
  readonly counts: Record<string, number>;
}

/** The row counting of {@link CopyRowCounter} as a function of the bytes, in order. */
export interface CopyRowScanner {
  /** Count the rows in `chunk` (kept only as copies: the caller may reuse its buffer). */
  feed(chunk: Buffer): void;
  /** Rows per `schema.table`, for every table whose data the dump contains (0 for empty ones). */
  readonly counts: Record<string, number>;
}

/** Create a {@link CopyRowScanner}. */
export function createCopyRowScanner(): CopyRowScanner {
  const counts: Record<string, number> = {};
  let table: string | undefined;
  // The start of the current, unfinished line (bounded) and its full length so far.
  let prefix = Buffer.alloc(0);
  let lineLen = 0;
  // pg_dump puts a `--` comment block and a blank line before every COPY: requiring them keeps a
  // function body that happens to contain a line starting with "COPY " from being mistaken.
  let prevBlank = false;
  let prevDashes = false;
  let prevPrevDashes = false;

  const endLine = (line: Buffer, fullLen: number): void => {
    if (table !== undefined) {
      if (fullLen === 2 && line[0] === 0x5c && line[1] === 0x2e)
        table = undefined; // "\."
      else counts[table] = (counts[table] ?? 0) + 1;
      return;
    }
    const afterComment = prevBlank && prevPrevDashes;
    prevPrevDashes = prevDashes;
    prevDashes = fullLen === 2 && line[0] === 0x2d && line[1] === 0x2d;
    prevBlank = fullLen === 0;
    if (!afterComment || line.length <= 5 || line[0] !== 0x43) return;
    if (line.subarray(0, 5).toString('latin1') !== 'COPY ') return;
    const header = line.toString('utf8');
    if (/ FROM stdin;$/.test(header) || fullLen > line.length) {
      const name = parseCopyTarget(header);
      if (name !== undefined) {
        table = name;
        counts[name] ??= 0;
      }
    }
  };

  const feed = (chunk: Buffer): void => {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NL, start);
      if (nl < 0) break;
      if (lineLen === 0) {
        // Hot path (one call per row): compare bytes in place, allocate nothing.
        if (table !== undefined && !(nl - start === 2 && chunk[start] === 0x5c && chunk[start + 1] === 0x2e)) {
          counts[table] = (counts[table] as number) + 1;
        } else endLine(chunk.subarray(start, Math.min(nl, start + PREFIX_MAX)), nl - start);
      } else {
        const rest = chunk.subarray(start, nl);
        const room = Math.max(0, PREFIX_MAX - prefix.length);
        const line = room > 0 ? Buffer.concat([prefix, rest.subarray(0, room)]) : prefix;
        endLine(line, lineLen + rest.length);
        prefix = Buffer.alloc(0);
        lineLen = 0;
      }
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      const room = Math.max(0, PREFIX_MAX - prefix.length);
      if (room > 0) prefix = Buffer.concat([prefix, rest.subarray(0, room)]);
      lineLen += rest.length;
    }
  };
  return { feed, counts };
}

/** Create a {@link CopyRowCounter}. */
export function createCopyRowCounter(): CopyRowCounter {
  const scanner = createCopyRowScanner();
  // Large buffers decouple pg_dump from the disk writes downstream: with the 16 KiB default,
  // pg_dump stalls on a full pipe during every write of the artifact.
  const t = new Transform({
    readableHighWaterMark: 1 << 20,
    writableHighWaterMark: 1 << 20,
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
      scanner.feed(chunk);
      done(null, chunk);
    },
  });
  return Object.assign(t, { counts: scanner.counts }) as CopyRowCounter;
}
