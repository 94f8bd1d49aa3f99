/**
 * Counts the rows of each table in a `mariadb-dump`/`mysqldump` stream as it passes, so the
 * manifest's counts describe the dump file itself, whatever was written to the database while it
 * ran. Bytes pass through unchanged.
 *
 * @module
 */
import { Transform, type TransformCallback } from 'node:stream';

const PREFIXES = [Buffer.from('INSERT INTO `'), Buffer.from('CREATE TABLE `')];
const HEAD_MAX = 1024;
const HEAD = /^INSERT INTO `((?:[^`]|``)+)`(?: \([^)]*\))? VALUES(?: |$)/;
const CREATE = /^CREATE TABLE `((?:[^`]|``)+)` /;

const LPAREN = 0x28;
const RPAREN = 0x29;
const QUOTE = 0x27;
const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;
const SEMICOLON = 0x3b;

/** A pass-through stream whose `counts` holds rows per table once it has ended. */
export interface MysqlRowCounter extends Transform {
  readonly counts: Record<string, number>;
}

/**
 * A pass-through Transform counting the row tuples of each `INSERT INTO \`t\` VALUES (…),(…);`
 * statement (a table whose `CREATE TABLE` line has no INSERT counts 0), in both layouts: one
 * line (MySQL, MariaDB before 10.11) or a line per tuple after `VALUES` (MariaDB 10.11+). Strings are single-quoted with backslash escapes (mysqldump's format; `--hex-blob` puts
 * binary data outside strings), so a tuple is a `(` at depth 0 outside a string.
 *
 * @example
 * ```ts
 * const counter = createMysqlRowCounter();
 * await pipeline(dump.stdout, counter, file);
 * counter.counts; // { photos: 3, albums: 2 }
 * ```
 */
export function createMysqlRowCounter(): MysqlRowCounter {
  const counts: Record<string, number> = {};
  // Outside an INSERT: the head of the current line, until it is known whether it is one.
  let head: Buffer[] = [];
  let headLen = 0;
  let skipLine = false;
  // Inside an INSERT's values.
  let table: string | undefined;
  let depth = 0;
  let inString = false;
  let escaped = false;

  const scanValues = (b: Buffer, start: number): number => {
    let n = counts[table as string] ?? 0;
    let i = start;
    for (; i < b.length; i++) {
      const c = b[i] as number;
      if (inString) {
        if (escaped) escaped = false;
        else if (c === BACKSLASH) escaped = true;
        else if (c === QUOTE) inString = false;
        continue;
      }
      if (c === QUOTE) inString = true;
      else if (c === LPAREN) {
        if (depth === 0) n++;
        depth++;
      } else if (c === RPAREN) depth--;
      else if (depth === 0 && c === SEMICOLON) {
        counts[table as string] = n;
        table = undefined;
        skipLine = true;
        return i + 1;
      }
    }
    counts[table as string] = n;
    return i;
  };

  const onData = (b: Buffer): void => {
    let i = 0;
    while (i < b.length) {
      if (table !== undefined) {
        i = scanValues(b, i);
        continue;
      }
      const nl = b.indexOf(NEWLINE, i);
      const end = nl < 0 ? b.length : nl;
      if (!skipLine) {
        const before = headLen;
        const take = Math.min(end - i, HEAD_MAX - headLen);
        if (take > 0) {
          head.push(b.subarray(i, i + take));
          headLen += take;
        }
        const text = Buffer.concat(head, headLen);
        const candidate = PREFIXES.some((p) => {
          const n = Math.min(text.length, p.length);
          return text.subarray(0, n).compare(p.subarray(0, n)) === 0;
        });
        if (!candidate) skipLine = true;
        else {
          const line = text.toString('utf8');
          const created = CREATE.exec(line);
          if (created) {
            // An empty table has no INSERT; its CREATE TABLE makes it count as 0.
            const name = (created[1] as string).replace(/``/g, '`');
            counts[name] ??= 0;
            skipLine = true;
          }
          const m = created ? null : HEAD.exec(line);
          if (m) {
            table = (m[1] as string).replace(/``/g, '`');
            depth = 0;
            inString = false;
            escaped = false;
            const consumed = Buffer.byteLength(m[0], 'utf8');
            // Resume right after "VALUES " within this chunk.
            i += consumed - before;
            head = [];
            headLen = 0;
            skipLine = false;
            continue;
          }
          if (headLen >= HEAD_MAX) skipLine = true;
        }
      }
      if (nl < 0) return;
      head = [];
      headLen = 0;
      skipLine = false;
      i = nl + 1;
    }
  };

  const stream = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      onData(chunk);
      cb(null, chunk);
    },
  }) as Transform & { counts: Record<string, number> };
  stream.counts = counts;
  return stream;
}
