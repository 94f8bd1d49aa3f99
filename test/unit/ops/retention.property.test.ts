import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { copyName, type RetentionPolicy, selectRetained } from '../../../src/ops/retention.js';

const NOW = Date.parse('2026-11-29T12:00:00Z');
const DAY = 86_400_000;

/** Copies at distinct whole seconds within the last ~400 days (names are second-resolution). */
const copiesArb = fc
  .uniqueArray(fc.integer({ min: 0, max: 400 * 86_400 }), { minLength: 1, maxLength: 60 })
  .map((ages) =>
    ages.map((s) => {
      const time = new Date(NOW - s * 1000);
      return { name: copyName(time), time };
    }),
  );

const count = fc.option(fc.integer({ min: 0, max: 12 }), { nil: undefined });
const policyArb = fc.record(
  { keepLast: count, keepDays: count, keepDaily: count, keepWeekly: count, keepMonthly: count },
  { requiredKeys: [] },
) as fc.Arbitrary<RetentionPolicy>;

const defined = (p: RetentionPolicy): RetentionPolicy =>
  Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as RetentionPolicy;

const newestFirst = (cs: { name: string; time: Date }[]) => [...cs].sort((a, b) => b.time.getTime() - a.time.getTime());

describe('retention policy (properties)', () => {
  it('always keeps the newest copy, and keeps only copies it was given', () => {
    fc.assert(
      fc.property(copiesArb, policyArb, (copies, policy) => {
        const kept = selectRetained(copies, defined(policy), new Date(NOW));
        expect(kept.has(newestFirst(copies)[0]!.name)).toBe(true);
        const names = new Set(copies.map((c) => c.name));
        for (const k of kept) expect(names.has(k)).toBe(true);
      }),
    );
  });

  it('a larger policy never deletes a copy a smaller one keeps', () => {
    fc.assert(
      fc.property(copiesArb, policyArb, policyArb, (copies, a, b) => {
        const bigger = Object.fromEntries(
          (['keepLast', 'keepDays', 'keepDaily', 'keepWeekly', 'keepMonthly'] as const).map((k) => [
            k,
            Math.max(a[k] ?? 0, b[k] ?? 0),
          ]),
        ) as RetentionPolicy;
        const small = selectRetained(copies, defined(a), new Date(NOW));
        const large = selectRetained(copies, bigger, new Date(NOW));
        for (const k of small) expect(large.has(k)).toBe(true);
      }),
    );
  });

  it('pruning twice removes nothing more than pruning once', () => {
    fc.assert(
      fc.property(copiesArb, policyArb, (copies, policy) => {
        const once = selectRetained(copies, defined(policy), new Date(NOW));
        const left = copies.filter((c) => once.has(c.name));
        const twice = selectRetained(left, defined(policy), new Date(NOW));
        expect([...twice].sort()).toEqual([...once].sort());
      }),
    );
  });

  it('keeps the N newest (keepLast), everything younger than N days (keepDays), and the newest of each of the N newest days (keepDaily)', () => {
    fc.assert(
      fc.property(copiesArb, fc.integer({ min: 1, max: 12 }), (copies, n) => {
        const sorted = newestFirst(copies);
        const last = selectRetained(copies, { keepLast: n }, new Date(NOW));
        for (const c of sorted.slice(0, n)) expect(last.has(c.name)).toBe(true);

        const days = selectRetained(copies, { keepDays: n }, new Date(NOW));
        for (const c of copies) if (c.time.getTime() >= NOW - n * DAY) expect(days.has(c.name)).toBe(true);

        const daily = selectRetained(copies, { keepDaily: n }, new Date(NOW));
        const newestOfDay = new Map<string, string>();
        for (const c of sorted) {
          const d = c.time.toISOString().slice(0, 10);
          if (!newestOfDay.has(d)) newestOfDay.set(d, c.name);
        }
        const wanted = [...newestOfDay.values()].slice(0, n);
        for (const w of wanted) expect(daily.has(w)).toBe(true);
        expect(daily.size).toBe(wanted.length);
      }),
    );
  });
});
