/**
 * Duplicati schedule arithmetic for the audit: when should a job's last scheduled run have
 * happened? Follows the server's scheduler (`Scheduler.GetNextValidTime`): a schedule is anchored
 * at its `Time` and steps by `Repeat`; repeats made only of days, weeks, months and years keep the
 * local time of day across DST changes in the server's time zone, shorter ones add absolute time;
 * a day-based occurrence that falls on a day not in `AllowedDays` moves to the next allowed day,
 * a shorter one is skipped.
 *
 * Pure functions: no I/O, no clock (callers pass `now`).
 *
 * @module
 */
import { ConfigError } from '../core/errors.js';

/** A Duplicati repeat (`1D`, `1W`, `12h`, `1h30m`, `3600`) split into its units. */
export interface RepeatSpec {
  readonly text: string;
  readonly years: number;
  readonly months: number;
  readonly weeks: number;
  readonly days: number;
  readonly hours: number;
  readonly minutes: number;
  readonly seconds: number;
  /** Only days/weeks/months/years: occurrences keep the local time of day. */
  readonly dayBased: boolean;
  /** Rough length in ms (a month counts 30 days), for estimates only. */
  readonly approxMs: number;
}

const DAY = 86_400_000;

/**
 * Parse a Duplicati repeat the way `Timeparser` does: `<int><unit>` sequences with the
 * case-sensitive units `s m h D W M Y`, or a bare number of seconds. Undefined when Duplicati
 * would reject it, or when it is not positive.
 *
 * @example
 * ```ts
 * parseRepeat('1D')?.dayBased;   // true
 * parseRepeat('12h')?.approxMs;  // 43200000
 * ```
 */
export function parseRepeat(text: string): RepeatSpec | undefined {
  const s = text.trim();
  const v = { years: 0, months: 0, weeks: 0, days: 0, hours: 0, minutes: 0, seconds: 0 };
  if (/^\d+$/.test(s)) v.seconds = Number(s);
  else {
    const re = /(\d+)([smhDWMY])/y;
    let i = 0;
    while (i < s.length) {
      re.lastIndex = i;
      const m = re.exec(s);
      if (!m) return undefined;
      const n = Number(m[1]);
      const key = { s: 'seconds', m: 'minutes', h: 'hours', D: 'days', W: 'weeks', M: 'months', Y: 'years' }[
        m[2] as 's'
      ] as keyof typeof v;
      v[key] += n;
      i = re.lastIndex;
    }
    if (i === 0) return undefined;
  }
  const approxMs =
    (((v.years * 365 + v.months * 30 + v.weeks * 7 + v.days) * 24 + v.hours) * 60 + v.minutes) * 60_000 +
    v.seconds * 1000;
  if (approxMs <= 0) return undefined;
  return { text: s, ...v, dayBased: v.hours === 0 && v.minutes === 0 && v.seconds === 0, approxMs };
}

const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

/**
 * Allowed weekdays (0 = Sunday) from a schedule's `AllowedDays` (`mon`, `Monday`, any case) or,
 * when that is empty, its `Rule` (`AllowedWeekDays=Monday,Tuesday`). Empty: every day.
 */
export function parseAllowedDays(allowedDays: readonly string[], rule?: string | null): number[] {
  let names = [...allowedDays];
  if (names.length === 0 && rule) {
    const m = /(?:^|;)\s*AllowedWeekDays=([^;]*)/i.exec(rule);
    if (m?.[1]) names = m[1].split(',');
  }
  const out = new Set<number>();
  for (const n of names) {
    const i = WEEKDAYS.indexOf(n.trim().slice(0, 3).toLowerCase());
    if (i >= 0) out.add(i);
  }
  return [...out].sort();
}

/**
 * A schedule time as the server sends it, or null for none (`null`, empty, .NET's
 * `0001-01-01…`). Times without a zone are UTC (the server stores UTC).
 */
export function parseServerTime(text: string | null | undefined): Date | null {
  if (!text || text.startsWith('0001-')) return null;
  const withZone = /(?:Z|[+-]\d{2}:?\d{2})$/i.test(text) || !/T\d/.test(text) ? text : `${text}Z`;
  const d = new Date(withZone);
  return Number.isNaN(d.getTime()) ? null : d;
}

interface LocalTime {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
  s: number;
  /** 0 = Sunday. */
  wd: number;
}

/** Calendar arithmetic in one IANA time zone, through `Intl` (no time zone database of our own). */
export class TimeZoneCalendar {
  readonly timeZone: string;
  readonly #fmt: Intl.DateTimeFormat;

  /** @throws {ConfigError} for a time zone `Intl` does not know. */
  constructor(timeZone: string) {
    try {
      this.#fmt = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
        weekday: 'short',
      });
    } catch (e) {
      throw new ConfigError(`unknown time zone "${timeZone}"`, [{ path: 'timeZone', message: 'an IANA name' }], {
        cause: e,
      });
    }
    this.timeZone = timeZone;
  }

  /** Local wall-clock time of an instant. */
  local(ms: number): LocalTime {
    const p: Record<string, string> = {};
    for (const x of this.#fmt.formatToParts(new Date(ms))) p[x.type] = x.value;
    return {
      y: Number(p.year),
      mo: Number(p.month),
      d: Number(p.day),
      h: Number(p.hour),
      mi: Number(p.minute),
      s: Number(p.second),
      wd: WEEKDAYS.indexOf(String(p.weekday).slice(0, 3).toLowerCase()),
    };
  }

  /** Weekday (0 = Sunday) of an instant in this zone. */
  weekday(ms: number): number {
    return this.local(ms).wd;
  }

  #offset(ms: number): number {
    const l = this.local(ms);
    return Date.UTC(l.y, l.mo - 1, l.d, l.h, l.mi, l.s) - Math.floor(ms / 1000) * 1000;
  }

  /**
   * The instant of a wall-clock time. An ambiguous time (the hour repeated when clocks go back)
   * gives the first; a time skipped when clocks go forward gives the instant the gap's length
   * later, as the wall clock reads after the change.
   */
  instant(y: number, mo: number, d: number, h: number, mi: number, s: number): number {
    const guess = Date.UTC(y, mo - 1, d, h, mi, s);
    const before = guess - this.#offset(guess - DAY);
    const after = guess - this.#offset(guess + DAY);
    const wanted = Date.UTC(y, mo - 1, d, h, mi, s);
    const matches = [before, after].filter((t) => {
      const l = this.local(t);
      return Date.UTC(l.y, l.mo - 1, l.d, l.h, l.mi, l.s) === wanted;
    });
    return matches.length ? Math.min(...matches) : before;
  }

  /** Add calendar years, months and days keeping the local time of day (months clamp to month end). */
  addCalendar(ms: number, years: number, months: number, days: number): number {
    const l = this.local(ms);
    const totalMonths = l.y * 12 + (l.mo - 1) + years * 12 + months;
    const y = Math.floor(totalMonths / 12);
    const mo = (totalMonths % 12) + 1;
    const dim = new Date(Date.UTC(y, mo, 0)).getUTCDate();
    const base = Date.UTC(y, mo - 1, Math.min(l.d, dim)) + days * DAY;
    const b = new Date(base);
    return this.instant(b.getUTCFullYear(), b.getUTCMonth() + 1, b.getUTCDate(), l.h, l.mi, l.s);
  }
}

/** The host's time zone (what a Duplicati server on this machine uses unless configured otherwise). */
export function hostTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** A schedule, as the audit reads it. */
export interface ScheduleSpec {
  /** The anchor: the next run the server has planned (`Schedule.Time`). */
  readonly anchor: Date;
  readonly repeat: RepeatSpec;
  /** Allowed weekdays, 0 = Sunday; empty: every day. */
  readonly allowedDays: readonly number[];
  readonly timeZone: string;
}

const MAX_STEPS = 50_000;

/** The k-th grid point of a schedule (k may be negative), before the weekday rule. */
function gridPoint(s: ScheduleSpec, cal: TimeZoneCalendar, k: number): number {
  const r = s.repeat;
  const a = s.anchor.getTime();
  if (r.dayBased) return cal.addCalendar(a, k * r.years, k * r.months, k * (r.weeks * 7 + r.days));
  const monthly = r.years * 12 + r.months;
  const start = monthly ? cal.addCalendar(a, 0, k * monthly, 0) : a;
  const fixed = ((((r.weeks * 7 + r.days) * 24 + r.hours) * 60 + r.minutes) * 60 + r.seconds) * 1000;
  return start + k * fixed;
}

/** The occurrence a grid point becomes under the weekday rule, or undefined when it is skipped. */
function effective(s: ScheduleSpec, cal: TimeZoneCalendar, p: number): number | undefined {
  if (s.allowedDays.length === 0 || s.allowedDays.length === 7) return p;
  if (!s.repeat.dayBased) return s.allowedDays.includes(cal.weekday(p)) ? p : undefined;
  for (let n = 0; n < 8; n++) {
    const t = n === 0 ? p : cal.addCalendar(p, 0, 0, n);
    if (s.allowedDays.includes(cal.weekday(t))) return t;
  }
  return undefined;
}

/** Index of the newest grid point at or before `t`. */
function gridIndexAtOrBefore(s: ScheduleSpec, cal: TimeZoneCalendar, t: number): number {
  let k = Math.floor((t - s.anchor.getTime()) / s.repeat.approxMs);
  let guard = 0;
  while (gridPoint(s, cal, k + 1) <= t && guard++ < MAX_STEPS) k++;
  while (gridPoint(s, cal, k) > t && guard++ < MAX_STEPS) k--;
  return k;
}

/**
 * Scheduled occurrences in `(after, until]`, newest first, at most `limit` (after the weekday
 * rule). `after` may be omitted: then only the newest one is sought.
 *
 * @example
 * ```ts
 * const s = { anchor: new Date('2026-11-30T02:00:00Z'), repeat: parseRepeat('1D')!, allowedDays: [], timeZone: 'UTC' };
 * occurrencesBetween(s, new Date('2026-11-29T12:00:00Z'), { after: new Date('2026-11-27T00:00:00Z') }).length; // 3
 * ```
 */
export function occurrencesBetween(
  s: ScheduleSpec,
  until: Date,
  options: { after?: Date; limit?: number } = {},
): Date[] {
  const cal = new TimeZoneCalendar(s.timeZone);
  const limit = options.limit ?? (options.after ? 1000 : 1);
  const after = options.after?.getTime() ?? Number.NEGATIVE_INFINITY;
  const out: Date[] = [];
  let k = gridIndexAtOrBefore(s, cal, until.getTime());
  for (let steps = 0; steps < MAX_STEPS && out.length < limit; steps++, k--) {
    const p = gridPoint(s, cal, k);
    if (p <= after) break;
    const e = effective(s, cal, p);
    // A day-based point moved past `until` is not due yet; an older point may still be.
    if (e === undefined || e > until.getTime()) continue;
    if (e <= after) break;
    if (out.at(-1)?.getTime() !== e) out.push(new Date(e));
  }
  return out;
}

/**
 * The newest scheduled occurrence at or before `until`, or null when none can be found.
 *
 * @example
 * ```ts
 * lastOccurrence(spec, new Date(Date.now() - 3_600_000)); // the run that should have happened an hour ago or before
 * ```
 */
export function lastOccurrence(s: ScheduleSpec, until: Date): Date | null {
  return occurrencesBetween(s, until, { limit: 1 })[0] ?? null;
}

/**
 * The longest gap between consecutive occurrences in the `windowMs` before `until` (default: the
 * longer of 15 days and 3 repeats: two full weeks, so a weekend gap is always seen): how old the newest run may be just before the next one is due.
 * A daily weekday-only schedule has a gap of 3 days over the weekend.
 */
export function longestGapMs(s: ScheduleSpec, until: Date, windowMs?: number): number {
  const window = windowMs ?? Math.max(15 * DAY, 3 * s.repeat.approxMs);
  const list = occurrencesBetween(s, until, { after: new Date(until.getTime() - window), limit: 5000 });
  let gap = 0;
  for (let i = 1; i < list.length; i++) {
    gap = Math.max(gap, (list[i - 1] as Date).getTime() - (list[i] as Date).getTime());
  }
  return gap || s.repeat.approxMs;
}
