/**
 * Timestamps in names the engines give their safety copies and scratch databases.
 *
 * @module
 */

/**
 * `yyyyMMdd<separator>HHmmss` in UTC: `20260102T030405` by default; MySQL's safety databases use
 * no separator (`20260102030405`).
 */
export function compactTimestamp(d = new Date(), separator = 'T'): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, '')
    .replace('T', separator);
}
