/**
 * Builds tar archives byte by byte, so tests can write headers no well-behaved packer would:
 * absolute names, `..`, device entries, sizes that lie, missing end markers.
 */
import { gzipSync } from 'node:zlib';

/** One raw entry. `type` is the typeflag character. */
export interface RawEntry {
  name: string;
  type?: '0' | '1' | '2' | '3' | '4' | '5' | '6' | 'x' | 'S';
  data?: Buffer | string;
  /** The size written in the header; defaults to the data's length. */
  size?: number;
  mode?: number;
  mtime?: number;
  linkname?: string;
  /** pax records put in an `x` header before this entry. */
  pax?: Record<string, string>;
}

function octal(buf: Buffer, value: number, offset: number, length: number): void {
  buf.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'latin1');
}

/** One 512-byte ustar header with a correct checksum. */
export function header(e: Omit<RawEntry, 'data' | 'pax'> & { size: number }): Buffer {
  const h = Buffer.alloc(512);
  h.write(e.name, 0, 100, 'utf8');
  octal(h, e.mode ?? (e.type === '5' ? 0o755 : 0o644), 100, 8);
  octal(h, 0, 108, 8);
  octal(h, 0, 116, 8);
  octal(h, e.size, 124, 12);
  octal(h, e.mtime ?? 1_700_000_000, 136, 12);
  h.write(e.type ?? '0', 156, 1, 'latin1');
  if (e.linkname) h.write(e.linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 6, 'latin1');
  h.write('00', 263, 2, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return h;
}

function pad(n: number): Buffer {
  return Buffer.alloc((512 - (n % 512)) % 512);
}

function paxBlock(records: Record<string, string>): Buffer {
  let text = '';
  for (const [k, v] of Object.entries(records)) {
    const body = ` ${k}=${v}\n`;
    let len = Buffer.byteLength(body) + 1;
    while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
    text += `${len}${body}`;
  }
  const data = Buffer.from(text, 'utf8');
  return Buffer.concat([header({ name: 'PaxHeader', type: 'x', size: data.length }), data, pad(data.length)]);
}

/** A tar archive of `entries`; `end: false` leaves out the two zero blocks. */
export function buildTar(entries: RawEntry[], options: { end?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.pax) parts.push(paxBlock(e.pax));
    const data = typeof e.data === 'string' ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0));
    parts.push(header({ ...e, size: e.size ?? data.length }), data, pad(data.length));
  }
  if (options.end !== false) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** The same, gzip-compressed. */
export function buildTarGz(entries: RawEntry[]): Buffer {
  return gzipSync(buildTar(entries));
}
