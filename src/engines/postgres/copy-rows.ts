/**
 * Read chosen columns of one table straight out of a plain-SQL pg_dump, without loading it: the
 * table's data is a `COPY <schema>.<table> (<columns>) FROM stdin;` block of tab-separated lines
 * in COPY's text format, ended by `\.`. Other tables' data streams by without being decoded.
 *
 * @module
 */
import type { Readable } from 'node:stream';
import { parseCopyTarget, readIdentifier } from './copy-counter.js';

const NL = 0x0a;
const BACKSLASH = 0x5c;

/** The column names of a `COPY … (a, "B", …) FROM stdin;` header, unquoted, in order. */
export function parseCopyColumns(header: string): string[] | undefined {
  const open = header.indexOf(' (');
  const close = header.lastIndexOf(') FROM stdin;');
  if (open < 0 || close < open) return undefined;
  const list = header.slice(open + 2, close);
  const out: string[] = [];
  let i = 0;
  while (i < list.length) {
    const id = readIdentifier(list, i, ',');
    out.push(id.name.trim());
    i = id.next;
    if (list[i] === ',') i++;
    while (list[i] === ' ') i++;
  }
  return out;
}

const SIMPLE: Readonly<Record<number, number>> = {
  98: 0x08, // \b
  102: 0x0c, // \f
  110: 0x0a, // \n
  114: 0x0d, // \r
  116: 0x09, // \t
  118: 0x0b, // \v
};
const isOctal = (c: number | undefined) => c !== undefined && c >= 0x30 && c <= 0x37;
const hexValue = (c: number | undefined): number => {
  if (c === undefined) return -1;
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
};

/**
 * One field of COPY's text format as text, or `null` for `\N`. Backslash sequences (`\t`, `\n`,
 * `\\`, octal `\123`, hex `\x5c`, …) are decoded at the byte level, then the bytes as UTF-8.
 */
export function decodeCopyField(field: Buffer): string | null {
  if (field.length === 2 && field[0] === BACKSLASH && field[1] === 0x4e) return null;
  if (!field.includes(BACKSLASH)) return field.toString('utf8');
  const out = Buffer.allocUnsafe(field.length);
  let n = 0;
  for (let i = 0; i < field.length; i++) {
    const c = field[i] as number;
    if (c !== BACKSLASH || i + 1 >= field.length) {
      out[n++] = c;
      continue;
    }
    const d = field[++i] as number;
    if (SIMPLE[d] !== undefined) out[n++] = SIMPLE[d] as number;
    else if (isOctal(d)) {
      let v = d - 0x30;
      for (let k = 0; k < 2 && isOctal(field[i + 1]); k++) v = v * 8 + ((field[++i] as number) - 0x30);
      out[n++] = v & 0xff;
    } else if (d === 0x78 && hexValue(field[i + 1]) >= 0) {
      let v = hexValue(field[++i]);
      if (hexValue(field[i + 1]) >= 0) v = v * 16 + hexValue(field[++i]);
      out[n++] = v;
    } else out[n++] = d; // `\\` and any other escaped character stand for themselves
  }
  return out.subarray(0, n).toString('utf8');
}

/** Split one COPY data line into its fields (tabs inside values are always escaped). */
function fields(line: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (;;) {
    const tab = line.indexOf(0x09, start);
    if (tab < 0) {
      out.push(line.subarray(start));
      return out;
    }
    out.push(line.subarray(start, tab));
    start = tab + 1;
  }
}

/** What {@link readCopyRows} found. */
export interface CopyRowsResult {
  /** The table whose block was read (`schema.table`), or undefined when the dump has none of them. */
  readonly table: string | undefined;
  readonly rows: number;
}

/**
 * Stream a plain-SQL dump and hand `onRows` the chosen columns of every row of the first of
 * `tables` (`schema.table`) whose COPY block the dump holds, in batches of `batchSize`. A column
 * the block lacks is `undefined` in every row. Stops reading after that block.
 *
 * A COPY header counts only where pg_dump puts one: after its `--` comment block and a blank line,
 * outside any other table's data. So a function body holding a line `COPY … FROM stdin;`, or a
 * row of another table that looks like one, is never mistaken for the data.
 */
export async function readCopyRows(
  dump: Readable,
  tables: readonly string[],
  columns: readonly string[],
  onRows: (rows: readonly (readonly (string | null | undefined)[])[]) => void | Promise<void>,
  options: { batchSize?: number; signal?: AbortSignal } = {},
): Promise<CopyRowsResult> {
  const batchSize = options.batchSize ?? 2000;
  let table: string | undefined;
  /** Inside another table's COPY data: only its end marker matters. */
  let inOther = false;
  let index: number[] = [];
  let batch: (string | null | undefined)[][] = [];
  let rows = 0;
  let done = false;
  // pg_dump writes "--", "-- Data for Name: …", "--", "" before every COPY header.
  let prevBlank = false;
  let prevDashes = false;
  let prevPrevDashes = false;
  // The unfinished line, kept only while it may matter; `skipping` drops the rest of a line.
  let carry: Buffer[] = [];
  let carried = 0;
  let skipping = false;

  const isEnd = (l: Buffer) => l.length === 2 && l[0] === BACKSLASH && l[1] === 0x2e;
  const sqlLine = (l: Buffer): void => {
    const afterComment = prevBlank && prevPrevDashes;
    prevPrevDashes = prevDashes;
    prevDashes = l.length === 2 && l[0] === 0x2d && l[1] === 0x2d;
    prevBlank = l.length === 0;
    if (!afterComment || l.length < 5 || l[0] !== 0x43 || l.subarray(0, 5).toString('latin1') !== 'COPY ') return;
    const header = l.toString('utf8');
    if (!header.endsWith(' FROM stdin;')) return;
    const name = parseCopyTarget(header);
    if (name === undefined || !tables.includes(name)) {
      inOther = true;
      return;
    }
    const cols = parseCopyColumns(header) ?? [];
    table = name;
    index = columns.map((c) => cols.indexOf(c));
  };
  const line = async (l: Buffer): Promise<void> => {
    if (inOther) {
      if (isEnd(l)) {
        inOther = false;
        prevBlank = prevDashes = prevPrevDashes = false;
      }
      return;
    }
    if (table === undefined) {
      sqlLine(l);
      return;
    }
    if (isEnd(l)) {
      done = true;
      return;
    }
    const f = fields(l);
    batch.push(index.map((i) => (i < 0 ? undefined : decodeCopyField(f[i] ?? Buffer.alloc(0)))));
    rows++;
    if (batch.length >= batchSize) {
      const b = batch;
      batch = [];
      await onRows(b);
    }
  };
  /** Whether the start of an unfinished line can still matter once the line is complete. */
  const worthKeeping = (head: Buffer, length: number): boolean => {
    if (table !== undefined) return true;
    if (inOther) return length <= 2; // only "\." ends the other table's data
    // An SQL line matters as a possible header, or as the "--" / blank line before one.
    return length <= 2 || 'COPY '.startsWith(head.subarray(0, 5).toString('latin1'));
  };

  for await (const chunk of dump as AsyncIterable<Buffer>) {
    if (options.signal?.aborted) throw options.signal.reason;
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NL, start);
      if (nl < 0) break;
      if (skipping) skipping = false;
      else if (carry.length) {
        carry.push(chunk.subarray(start, nl));
        const whole = Buffer.concat(carry);
        carry = [];
        carried = 0;
        await line(whole);
      } else await line(chunk.subarray(start, nl));
      if (done) break;
      start = nl + 1;
    }
    if (done) break;
    if (start < chunk.length && !skipping) {
      const rest = chunk.subarray(start);
      const head = (carry.length ? carry[0] : rest) as Buffer;
      if (worthKeeping(head, carried + rest.length)) {
        carry.push(Buffer.from(rest));
        carried += rest.length;
      } else {
        // A line that can be neither a header nor an end marker: an ordinary SQL line resets
        // the comment guard; inside other data nothing changes.
        if (!inOther && table === undefined) prevBlank = prevDashes = prevPrevDashes = false;
        carry = [];
        carried = 0;
        skipping = true;
      }
    }
  }
  if (batch.length) await onRows(batch);
  return { table, rows };
}
