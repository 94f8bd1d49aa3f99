import { describe, expect, it } from 'vitest';
import {
  compactUtc,
  compareVersions,
  isoFractionZ,
  parseTimeArgument,
  parseTimeSpan,
  sizeString,
  timeSpanText,
} from '../../../src/testing/fake-duplicati/format.js';
import { commonFolderPrefix, matchesExpression } from '../../../src/testing/fake-duplicati/store.js';

describe('fake Duplicati value formats', () => {
  it('parses time spans in Duplicati and .NET syntax', () => {
    expect(parseTimeSpan('11s')).toBe(11_000);
    expect(parseTimeSpan('1h30m')).toBe(5_400_000);
    expect(parseTimeSpan('290')).toBe(290_000);
    expect(parseTimeSpan('00:05:00')).toBe(300_000);
    expect(parseTimeSpan('1.02:00:00')).toBe(93_600_000);
    expect(parseTimeSpan('soon')).toBeUndefined();
    expect(parseTimeSpan('')).toBeUndefined();
  });

  it('parses time arguments like Timeparser', () => {
    const now = new Date('2026-11-29T06:00:00Z');
    expect(parseTimeArgument('2026-11-29T06:58:58+00:00', now)?.toISOString()).toBe('2026-11-29T06:58:58.000Z');
    expect(parseTimeArgument('20261129T065858Z', now)?.toISOString()).toBe('2026-11-29T06:58:58.000Z');
    expect(parseTimeArgument('now', now)).toBeUndefined();
    expect(parseTimeArgument('1D', now)?.toISOString()).toBe('2026-11-30T06:00:00.000Z');
    expect(Number.isNaN(parseTimeArgument('yesterday-ish', now)?.getTime())).toBe(true);
  });

  it('writes .NET and Duplicati texts as the recordings show them', () => {
    expect(timeSpanText(394.161)).toBe('00:00:00.3940000');
    expect(timeSpanText(0)).toBe('00:00:00');
    expect(compactUtc(new Date('2026-11-29T06:58:58.123Z'))).toBe('20261129T065858Z');
    expect(isoFractionZ(new Date('2026-11-29T06:58:58.380Z'))).toBe('2026-11-29T06:58:58.38Z');
    expect(sizeString(20_028)).toBe('19.56 KB');
    expect(sizeString(23_265)).toBe('22.72 KB');
  });

  it('compares versions numerically', () => {
    expect(compareVersions('2.1.0.5', '2.1.2')).toBeLessThan(0);
    expect(compareVersions('2.10.0', '2.9.9')).toBeGreaterThan(0);
    expect(compareVersions('2.1', '2.1.0.0')).toBe(0);
  });

  it('matches Duplicati filter expressions and finds the restore prefix', () => {
    expect(matchesExpression('@/a/b.txt', '/a/b.txt')).toBe(true);
    expect(matchesExpression('[/a/.*]', '/a/x/y')).toBe(true);
    expect(matchesExpression('[/a/.*]', '/b/a/')).toBe(false);
    expect(matchesExpression('*.jpg', '/a/x.jpg')).toBe(true);
    expect(matchesExpression('/a/', '/a/x/y')).toBe(true);
    expect(matchesExpression('/a/b', '/a/bc')).toBe(false);
    expect(commonFolderPrefix(['/s/sub/notes.txt', '/s/hello.txt'])).toBe('/s/');
    expect(commonFolderPrefix(['/s/a/'])).toBe('/s/a/');
    expect(commonFolderPrefix(['/x/1', '/y/2'])).toBe('/');
  });
});
