import { describe, expect, it } from 'vitest';
import {
  lastOccurrence,
  longestGapMs,
  occurrencesBetween,
  parseAllowedDays,
  parseRepeat,
  parseServerTime,
  type ScheduleSpec,
  TimeZoneCalendar,
} from '../../../src/ops/schedule-math.js';

const H = 3_600_000;
const D = 24 * H;

function spec(anchor: string, repeat: string, timeZone = 'UTC', allowedDays: number[] = []): ScheduleSpec {
  const r = parseRepeat(repeat);
  if (!r) throw new Error(`bad repeat ${repeat}`);
  return { anchor: new Date(anchor), repeat: r, allowedDays, timeZone };
}

describe('parseRepeat', () => {
  it('reads Duplicati timespans with case-sensitive units', () => {
    expect(parseRepeat('1D')).toMatchObject({ days: 1, dayBased: true, approxMs: D });
    expect(parseRepeat('1W')).toMatchObject({ weeks: 1, dayBased: true });
    expect(parseRepeat('12h')).toMatchObject({ hours: 12, dayBased: false, approxMs: 12 * H });
    expect(parseRepeat('1M')).toMatchObject({ months: 1, dayBased: true });
    expect(parseRepeat('1m')).toMatchObject({ minutes: 1, dayBased: false });
    expect(parseRepeat('1h30m')).toMatchObject({ hours: 1, minutes: 30, approxMs: 90 * 60_000 });
    expect(parseRepeat('3600')).toMatchObject({ seconds: 3600, approxMs: H });
  });

  it('rejects what Duplicati rejects, and zero', () => {
    for (const bad of ['', 'daily', '1d', '1D x', '0D', '-1D', 'D']) expect(parseRepeat(bad)).toBeUndefined();
  });
});

describe('parseAllowedDays / parseServerTime', () => {
  it('takes short and long day names, or the Rule when AllowedDays is empty', () => {
    expect(parseAllowedDays(['mon', 'Tuesday', 'SUN'])).toEqual([0, 1, 2]);
    expect(parseAllowedDays([], 'AllowedWeekDays=Saturday,Sunday')).toEqual([0, 6]);
    expect(parseAllowedDays([], null)).toEqual([]);
  });

  it('reads server times; .NET min dates and zone-less times are handled', () => {
    expect(parseServerTime('0001-01-01T00:00:00Z')).toBeNull();
    expect(parseServerTime(null)).toBeNull();
    expect(parseServerTime('2026-11-29T02:00:00')?.toISOString()).toBe('2026-11-29T02:00:00.000Z');
    expect(parseServerTime('2026-11-29T02:00:00+01:00')?.toISOString()).toBe('2026-11-29T01:00:00.000Z');
  });
});

describe('TimeZoneCalendar', () => {
  it('keeps the local time of day across DST when adding days (Europe/Berlin, spring and autumn)', () => {
    const cal = new TimeZoneCalendar('Europe/Berlin');
    // 2026-03-28 02:30 CET = 01:30Z; the next day at 02:30 does not exist (clocks jump 02:00 → 03:00).
    const before = Date.parse('2026-03-27T01:00:00Z'); // 02:00 CET
    const next = cal.addCalendar(before, 0, 0, 3); // 2026-03-30 02:00 CEST = 00:00Z
    expect(new Date(next).toISOString()).toBe('2026-03-30T00:00:00.000Z');
    // Autumn: 2026-10-25 clocks go back 03:00 CEST → 02:00 CET; 02:00 local happens twice → the first.
    const oct = cal.addCalendar(Date.parse('2026-10-24T00:00:00Z'), 0, 0, 1); // 02:00 CEST on the 24th → 25th
    expect(new Date(oct).toISOString()).toBe('2026-10-25T00:00:00.000Z');
    // A wall time skipped in spring comes out as the instant after the gap.
    expect(new Date(cal.instant(2026, 3, 29, 2, 30, 0)).toISOString()).toBe('2026-03-29T01:30:00.000Z');
  });

  it('clamps months to their last day like .NET AddMonths', () => {
    const cal = new TimeZoneCalendar('UTC');
    expect(new Date(cal.addCalendar(Date.parse('2026-01-31T03:00:00Z'), 0, 1, 0)).toISOString()).toBe(
      '2026-02-28T03:00:00.000Z',
    );
  });

  it('rejects an unknown time zone with a ConfigError', () => {
    expect(() => new TimeZoneCalendar('Mars/Olympus')).toThrow(/unknown time zone/);
  });
});

describe('lastOccurrence', () => {
  it('steps back from a future anchor (the next run) to the newest due run', () => {
    const s = spec('2026-11-30T02:00:00Z', '1D');
    expect(lastOccurrence(s, new Date('2026-11-29T10:00:00Z'))?.toISOString()).toBe('2026-11-29T02:00:00.000Z');
    expect(lastOccurrence(s, new Date('2026-11-29T02:00:00Z'))?.toISOString()).toBe('2026-11-29T02:00:00.000Z');
    expect(lastOccurrence(s, new Date('2026-11-29T01:59:59Z'))?.toISOString()).toBe('2026-11-28T02:00:00.000Z');
  });

  it('steps forward from an anchor left in the past (server down)', () => {
    const s = spec('2026-11-01T02:00:00Z', '1W');
    expect(lastOccurrence(s, new Date('2026-11-29T10:00:00Z'))?.toISOString()).toBe('2026-11-29T02:00:00.000Z');
    expect(lastOccurrence(s, new Date('2026-11-28T10:00:00Z'))?.toISOString()).toBe('2026-11-22T02:00:00.000Z');
  });

  it('sub-day repeats add absolute time', () => {
    const s = spec('2026-11-29T01:00:00Z', '12h');
    expect(lastOccurrence(s, new Date('2026-12-01T00:00:00Z'))?.toISOString()).toBe('2026-11-30T13:00:00.000Z');
  });

  it('a day-based run on a day not allowed moves to the next allowed day (daily, weekdays only)', () => {
    // Mon–Fri at 02:00 UTC. 2026-11-29 is a Sunday: the newest due run is Friday the 27th.
    const s = spec('2026-11-30T02:00:00Z', '1D', 'UTC', [1, 2, 3, 4, 5]);
    expect(lastOccurrence(s, new Date('2026-11-29T12:00:00Z'))?.toISOString()).toBe('2026-11-27T02:00:00.000Z');
    // Weekly on Saturdays, but only Mondays allowed: the Saturday run happens on Monday.
    const weekly = spec('2026-11-28T02:00:00Z', '1W', 'UTC', [1]);
    expect(lastOccurrence(weekly, new Date('2026-11-29T12:00:00Z'))?.toISOString()).toBe('2026-11-23T02:00:00.000Z');
    expect(lastOccurrence(weekly, new Date('2026-11-30T12:00:00Z'))?.toISOString()).toBe('2026-11-30T02:00:00.000Z');
  });

  it('a sub-day run on a day not allowed is skipped', () => {
    // Every 6 h, Saturdays only; on Monday noon the newest due run is Saturday 18:00.
    const s = spec('2026-11-30T00:00:00Z', '6h', 'UTC', [6]);
    expect(lastOccurrence(s, new Date('2026-11-30T12:00:00Z'))?.toISOString()).toBe('2026-11-28T18:00:00.000Z');
  });

  it('is DST-safe: a daily 02:30 Berlin run stays at 02:30 local across the change', () => {
    const s = spec('2026-04-01T00:30:00Z', '1D', 'Europe/Berlin'); // 02:30 CEST
    // On 2026-03-27 (CET, UTC+1) the due run is 01:30Z, not 00:30Z.
    expect(lastOccurrence(s, new Date('2026-03-27T12:00:00Z'))?.toISOString()).toBe('2026-03-27T01:30:00.000Z');
    // On the day of the change 02:30 does not exist: the run is the instant after the gap (03:30 CEST).
    expect(lastOccurrence(s, new Date('2026-03-29T12:00:00Z'))?.toISOString()).toBe('2026-03-29T01:30:00.000Z');
    expect(lastOccurrence(s, new Date('2026-03-30T12:00:00Z'))?.toISOString()).toBe('2026-03-30T00:30:00.000Z');
  });

  it('weekdays are judged in the server time zone, not UTC', () => {
    // 00:30 in Tokyo on a Monday is Sunday 15:30Z; Mondays only.
    const s = spec('2026-11-29T15:30:00Z', '1D', 'Asia/Tokyo', [1]);
    expect(lastOccurrence(s, new Date('2026-11-30T12:00:00Z'))?.toISOString()).toBe('2026-11-29T15:30:00.000Z');
  });
});

describe('occurrencesBetween / longestGapMs', () => {
  it('counts the runs since a time, newest first', () => {
    const s = spec('2026-11-30T02:00:00Z', '1D');
    const list = occurrencesBetween(s, new Date('2026-11-29T12:00:00Z'), { after: new Date('2026-11-26T03:00:00Z') });
    expect(list.map((d) => d.toISOString())).toEqual([
      '2026-11-29T02:00:00.000Z',
      '2026-11-28T02:00:00.000Z',
      '2026-11-27T02:00:00.000Z',
    ]);
  });

  it('the longest gap of a weekday-only daily schedule spans the weekend', () => {
    const s = spec('2026-11-30T02:00:00Z', '1D', 'UTC', [1, 2, 3, 4, 5]);
    expect(longestGapMs(s, new Date('2026-11-29T12:00:00Z'))).toBe(3 * D);
    expect(longestGapMs(spec('2026-11-30T02:00:00Z', '1D'), new Date('2026-11-29T12:00:00Z'))).toBe(D);
  });
});
