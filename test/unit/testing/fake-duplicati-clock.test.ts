import { describe, expect, it } from 'vitest';
import { FakeDuplicatiServer } from '../../../src/testing/index.js';

/** Milliseconds from a reply's `Date` header to a `Set-Cookie` value's `expires`. */
function lifetimeMs(setCookie: string, date: string): number {
  const expires = /expires=([^;]+);/.exec(setCookie)?.[1] ?? '';
  return Date.parse(expires) - Date.parse(date);
}

describe('FakeDuplicatiServer clock', () => {
  it("reads a reply's cookie lifetimes and its Date header from one instant, however long the route takes", async () => {
    // Every reading of the clock is 400 ms later than the one before it: a second ticks over
    // between the start of a request and its reply, as it does now and then on a busy machine.
    let clock = Date.parse('2026-11-29T08:00:00.900Z');
    const server = await FakeDuplicatiServer.start({
      generation: '2.0',
      now: () => {
        clock += 400;
        return new Date(clock);
      },
    });
    try {
      const lifetimes: number[] = [];
      for (let i = 0; i < 5; i++) {
        // No XSRF token yet: the 2.0 server answers 400 and sets a fresh one (ten minutes, as recorded).
        const res = await fetch(`${server.url}/api/v1/serverstate`);
        expect(res.status).toBe(400);
        const date = res.headers.get('date') ?? '';
        const cookies = res.headers.getSetCookie();
        expect(cookies.length).toBe(1);
        lifetimes.push(lifetimeMs(cookies[0] ?? '', date));
      }
      expect(lifetimes).toEqual([600_000, 600_000, 600_000, 600_000, 600_000]);
    } finally {
      await server.close();
    }
  });
});
