/**
 * Value formats the real servers use on the wire: .NET date and time-span text, Duplicati's
 * `Timeparser` grammar, version comparison.
 *
 * @module
 */
import { parseDuplicatiTimespan } from '../../hooks/protocol.js';

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** `2026-11-29T06:58:58+00:00`: how 2.0 (Newtonsoft, server in UTC) writes a fileset time. */
export function isoSecondsOffset(d: Date): string {
  return `${d.toISOString().slice(0, 19)}+00:00`;
}

/** `2026-11-29T06:58:58Z`: how 2.1 (System.Text.Json, UTC DateTime) writes a whole-second time. */
export function isoSecondsZ(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

/** `2026-11-29T06:58:58.38237Z`: .NET round-trip text with trailing zero digits dropped. */
export function isoFractionZ(d: Date): string {
  const base = d.toISOString().slice(0, 19);
  const ms = d.getUTCMilliseconds();
  if (ms === 0) return `${base}Z`;
  return `${base}.${pad(ms, 3).replace(/0+$/, '')}Z`;
}

/** `20261129T065858Z`: `Utility.SerializeDateTime`, used in backup metadata and dlist names. */
export function compactUtc(d: Date): string {
  return `${d.toISOString().slice(0, 19).replace(/[-:]/g, '')}Z`;
}

/** `Sun, 29 Nov 2026 06:58:45 GMT`. */
export function httpDate(d: Date): string {
  return d.toUTCString();
}

/** `2026-11-29 06:58:58 +00`: the prefix of a Duplicati log line. */
export function logLineTime(d: Date): string {
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} +00`;
}

/** .NET `TimeSpan` text: `00:00:00.3941610` (7 fraction digits, omitted when zero). */
export function timeSpanText(ms: number): string {
  const totalMs = Math.max(0, Math.round(ms));
  const h = Math.floor(totalMs / 3_600_000);
  const m = Math.floor((totalMs % 3_600_000) / 60_000);
  const s = Math.floor((totalMs % 60_000) / 1000);
  const frac = totalMs % 1000;
  const base = `${pad(h)}:${pad(m)}:${pad(s)}`;
  return frac === 0 ? base : `${base}.${pad(frac, 3)}0000`;
}

/**
 * A time span as the servers accept it: Duplicati's `<int><s|m|h|D|W|M|Y>` sequences (`11s`,
 * `1h30m`), a bare integer (seconds) or .NET `[d.]hh:mm[:ss[.f]]`. Undefined when it does not parse.
 */
export function parseTimeSpan(text: string): number | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  const clock = /^(?:(\d+)\.)?(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?$/.exec(t);
  if (!clock) return parseDuplicatiTimespan(t);
  const [, days, h, m, s, f] = clock;
  return (
    Number(days ?? 0) * 86_400_000 +
    Number(h) * 3_600_000 +
    Number(m) * 60_000 +
    Number(s ?? 0) * 1000 +
    Math.round(Number(`0.${f ?? '0'}`) * 1000)
  );
}

/**
 * A point in time as `Timeparser.ParseTimeInterval` reads it: `now`, an ISO/`Date`-parsable
 * string, the compact `yyyyMMddTHHmmssZ` form, or an interval/integer added to now.
 */
export function parseTimeArgument(text: string | undefined, now: Date): Date | undefined {
  if (text === undefined || text.trim() === '' || text.trim().toLowerCase() === 'now') return undefined;
  const t = text.trim();
  const compact = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(t);
  if (compact) {
    const [, y, mo, d, h, mi, s] = compact;
    return new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)));
  }
  const span = /^-?\d+$/.test(t) ? Number(t) * 1000 : /^\d/.test(t) && !/[-:T]/.test(t) ? parseTimeSpan(t) : undefined;
  if (span !== undefined) return new Date(now.getTime() + span);
  const parsed = Date.parse(t);
  return Number.isNaN(parsed) ? new Date(Number.NaN) : new Date(parsed);
}

/** Compare dotted versions numerically: negative when `a < b`. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split('.').map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Human size text like Duplicati's `19.56 KB`. */
export function sizeString(bytes: number): string {
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${bytes} bytes` : `${v.toFixed(2)} ${units[i]}`;
}
