import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isTimeoutError } from '../../../src/core/errors.js';
import { createHookBudget, deadlineMarginMs, formatDuplicatiTimespan } from '../../../src/hooks/budget.js';

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms), start };
}

/** A 60 s budget on a manual clock, collecting its warnings. */
function minuteBudget() {
  const c = clock();
  const warnings: string[] = [];
  const budget = createHookBudget({ timeoutMs: 60_000, startedAt: c.start, now: c.now, warn: (m) => warnings.push(m) });
  return { c, warnings, budget };
}

describe('createHookBudget', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('counts the remaining time from the script start', () => {
    const c = clock();
    const budget = createHookBudget({ timeoutMs: 60_000, startedAt: c.start, now: c.now, warn: () => {} });
    c.advance(15_000);
    expect(budget.elapsedMs()).toBe(15_000);
    expect(budget.remainingMs()).toBe(45_000);
    c.advance(60_000);
    expect(budget.remainingMs()).toBe(0);
  });

  it('warns once at 80% of the timeout, naming --run-script-timeout', () => {
    const { c, warnings, budget } = minuteBudget();
    budget.start();
    c.advance(47_000);
    vi.advanceTimersByTime(47_000);
    expect(warnings).toEqual([]);
    c.advance(1_000);
    vi.advanceTimersByTime(1_000);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/--run-script-timeout=60s/);
    budget.check();
    expect(warnings).toHaveLength(1);
    budget.stop();
  });

  it('aborts its signal with a TimeoutError shortly before the deadline when asked to', () => {
    const c = clock();
    const budget = createHookBudget({
      timeoutMs: 60_000,
      startedAt: c.start,
      now: c.now,
      warn: () => {},
      abortBeforeDeadline: true,
    });
    expect(budget.abortAtMs).toBe(60_000 - deadlineMarginMs(60_000));
    budget.start();
    c.advance(budget.abortAtMs - 1);
    vi.advanceTimersByTime(budget.abortAtMs - 1);
    expect(budget.signal.aborted).toBe(false);
    c.advance(1);
    vi.advanceTimersByTime(1);
    expect(budget.signal.aborted).toBe(true);
    expect(isTimeoutError(budget.signal.reason)).toBe(true);
    expect(String(budget.signal.reason.message)).toMatch(/raise --run-script-timeout/);
    budget.stop();
  });

  it('never aborts without abortBeforeDeadline, and never warns without a timeout', () => {
    const c = clock();
    const warnings: string[] = [];
    const plain = createHookBudget({ timeoutMs: 1_000, startedAt: c.start, now: c.now, warn: (m) => warnings.push(m) });
    const endless = createHookBudget({
      timeoutMs: Number.POSITIVE_INFINITY,
      startedAt: c.start,
      now: c.now,
      warn: (m) => warnings.push(m),
      abortBeforeDeadline: true,
    });
    plain.start();
    endless.start();
    c.advance(10_000);
    vi.advanceTimersByTime(10_000);
    expect(plain.signal.aborted).toBe(false);
    expect(endless.signal.aborted).toBe(false);
    expect(warnings).toHaveLength(1);
    expect(endless.remainingMs()).toBe(Number.POSITIVE_INFINITY);
    expect(endless.warnIfLikelyToExceed(1e12)).toBe(false);
    plain.stop();
    endless.stop();
  });

  it('warnIfLikelyToExceed warns early with a suggested timeout only when the work will not fit', () => {
    const { warnings, budget } = minuteBudget();
    expect(budget.warnIfLikelyToExceed(10_000, 'the dump')).toBe(false);
    expect(budget.warnIfLikelyToExceed(120_000, 'the Immich dump')).toBe(true);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^the Immich dump is expected to take about 120 s/);
    expect(warnings[0]).toMatch(/--run-script-timeout=5m\)/);
  });
});

describe('formatDuplicatiTimespan', () => {
  it('writes seconds up to two minutes, then whole minutes and hours', () => {
    expect(formatDuplicatiTimespan(45_000)).toBe('45s');
    expect(formatDuplicatiTimespan(600_000)).toBe('10m');
    expect(formatDuplicatiTimespan(5_400_000)).toBe('1h30m');
    expect(formatDuplicatiTimespan(7_200_000)).toBe('2h');
  });
});
