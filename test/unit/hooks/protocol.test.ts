import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDuplicatiTimespan } from '../../../src/hooks/budget.js';
import {
  hookEventIn,
  hookOperationIn,
  isListingHookRun,
  isListingOperation,
  parseDuplicatiBool,
  parseDuplicatiSize,
  parseDuplicatiTimespan,
} from '../../../src/hooks/protocol.js';

describe('parseDuplicatiTimespan', () => {
  it.each([
    ['60s', 60_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1m15s', 75_000],
    ['1h12m03s', 4_323_000],
    ['2D', 172_800_000],
    ['1W', 604_800_000],
    ['1M', 30 * 86_400_000],
    ['90', 90_000],
    ['0', 0],
    ['', 0],
    [' 10m ', 600_000],
  ])('%j is %d ms', (text, ms) => {
    expect(parseDuplicatiTimespan(text)).toBe(ms);
  });

  it.each(['soon', '5x', '1.5h', 'm', '10m garbage'])('rejects %j', (text) => {
    expect(parseDuplicatiTimespan(text)).toBeUndefined();
  });

  it('keeps units case-sensitive like Duplicati: m is minutes, M is 30-day months', () => {
    expect(parseDuplicatiTimespan('1m')).not.toBe(parseDuplicatiTimespan('1M'));
  });

  it('reads back what formatDuplicatiTimespan writes, never shorter', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30 * 86_400_000 }), (ms) => {
        const back = parseDuplicatiTimespan(formatDuplicatiTimespan(ms));
        expect(back).toBeGreaterThanOrEqual(ms);
      }),
    );
  });
});

describe('parseDuplicatiSize', () => {
  it.each([
    ['25mb', 25 * 1024 ** 2],
    ['1GB', 1024 ** 3],
    ['512 kib', 512 * 1024],
    ['100', 100],
    ['2tb', 2 * 1024 ** 4],
  ])('%j is %d bytes', (text, bytes) => {
    expect(parseDuplicatiSize(text)).toBe(bytes);
  });

  it('applies the default unit to a bare number', () => {
    expect(parseDuplicatiSize('50', 'mb')).toBe(50 * 1024 ** 2);
  });

  it.each(['big', '1.5mb', '10 parsecs'])('rejects %j', (text) => {
    expect(parseDuplicatiSize(text)).toBeUndefined();
  });
});

describe('parseDuplicatiBool', () => {
  it.each([
    ['true', true],
    ['Yes', true],
    ['on', true],
    ['1', true],
    ['false', false],
    ['NO', false],
    ['off', false],
    ['0', false],
  ])('%j is %s', (text, value) => {
    expect(parseDuplicatiBool(text, !value)).toBe(value);
  });

  it('gives the fallback for empty or unknown text', () => {
    expect(parseDuplicatiBool('', true)).toBe(true);
    expect(parseDuplicatiBool('maybe', false)).toBe(false);
    expect(parseDuplicatiBool(undefined, true)).toBe(true);
  });
});

describe('isListingOperation', () => {
  it('treats the UI browsing operations as listings and backups, restores and repairs as not', () => {
    for (const op of ['List', 'ListFilesets', 'ListFolder', 'ListFileVersions', 'SearchFiles']) {
      expect(isListingOperation(op)).toBe(true);
    }
    for (const op of ['Backup', 'Restore', 'Repair', 'Compact', 'Test', 'Delete']) {
      expect(isListingOperation(op)).toBe(false);
    }
  });
});

describe('isListingHookRun', () => {
  it('needs a known event and a listing operation, read as readHookEvent and readHookOperation read them', () => {
    expect(isListingHookRun({ DUPLICATI__EVENTNAME: 'BEFORE', DUPLICATI__OPERATIONNAME: 'ListFilesets' })).toBe(true);
    expect(isListingHookRun({ DUPLICATI__EVENTNAME: ' after ', DUPLICATI__OPERATIONNAME: ' List ' })).toBe(true);
    // An AFTER whose required BEFORE failed has only main-action.
    expect(isListingHookRun({ DUPLICATI__EVENTNAME: 'AFTER', DUPLICATI__main_action: 'ListFolder' })).toBe(true);
    expect(
      isListingHookRun({
        DUPLICATI__EVENTNAME: 'AFTER',
        DUPLICATI__OPERATIONNAME: ' ',
        DUPLICATI__main_action: 'List',
      }),
    ).toBe(true);
    // OPERATIONNAME wins over main-action.
    expect(
      isListingHookRun({
        DUPLICATI__EVENTNAME: 'BEFORE',
        DUPLICATI__OPERATIONNAME: 'Backup',
        DUPLICATI__main_action: 'List',
      }),
    ).toBe(false);
    expect(isListingHookRun({ DUPLICATI__EVENTNAME: 'BEFORE', DUPLICATI__OPERATIONNAME: 'Backup' })).toBe(false);
    expect(isListingHookRun({ DUPLICATI__EVENTNAME: 'DURING', DUPLICATI__OPERATIONNAME: 'List' })).toBe(false);
    expect(isListingHookRun({ DUPLICATI__OPERATIONNAME: 'List' })).toBe(false);
    expect(isListingHookRun({ DUPLICATI__EVENTNAME: 'BEFORE' })).toBe(false);
    expect(isListingHookRun({})).toBe(false);
  });

  it('reads the raw event and operation without throwing', () => {
    expect(hookEventIn({ DUPLICATI__EVENTNAME: 'post-backup' })).toBe('POST-BACKUP');
    expect(hookEventIn({ DUPLICATI__EVENTNAME: '' })).toBeUndefined();
    expect(hookOperationIn({ DUPLICATI__OPERATIONNAME: ' Restore ' })).toBe('Restore');
    expect(hookOperationIn({ DUPLICATI__OPERATIONNAME: '', DUPLICATI__main_action: '' })).toBeUndefined();
  });
});
