import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createMysqlRowCounter } from '../../../../src/engines/mysql/row-counter.js';

/** Feed `text` to a counter in the given chunk sizes and return its counts. */
function countIn(text: string, sizes: readonly number[] = []): Record<string, number> {
  const counter = createMysqlRowCounter();
  const buf = Buffer.from(text, 'utf8');
  let at = 0;
  let k = 0;
  while (at < buf.length) {
    const size = sizes.length ? Math.max(1, sizes[k++ % sizes.length] as number) : buf.length;
    counter.write(buf.subarray(at, at + size));
    at += size;
  }
  counter.end();
  counter.resume();
  return counter.counts;
}

/** A value as mysqldump writes it: a number, NULL, hex or an escaped string. */
const value = fc.oneof(
  fc.integer().map(String),
  fc.constant('NULL'),
  fc.uint8Array({ maxLength: 6 }).map((b) => (b.length ? `0x${Buffer.from(b).toString('hex').toUpperCase()}` : "''")),
  fc
    .string({ unit: fc.constantFrom('a', '(', ')', ',', ';', "'", '\\', '\n', 'é', '`', ' ') })
    .map((s) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`),
);

describe('createMysqlRowCounter', () => {
  it('counts the tuples of extended inserts, per table', () => {
    const dump = [
      '-- MariaDB dump',
      '/*!40101 SET NAMES utf8mb4 */;',
      "INSERT INTO `photos` VALUES (1,'a (b)',0x00FF),(2,'it\\'s; \\\\',NULL),(3,'x\\ny','');",
      'INSERT INTO `photos` VALUES',
      "(4,'',NULL),",
      "(5,'\\n;',NULL);",
      'INSERT INTO `we``ird` VALUES (1);',
      'CREATE TABLE `empty` (',
      '  `id` int(11) NOT NULL',
      ') ENGINE=InnoDB;',
      '-- INSERT INTO `nope` VALUES (1);',
      '-- Dump completed',
      '',
    ].join('\n');
    expect(countIn(dump)).toEqual({ photos: 5, 'we`ird': 1, empty: 0 });
    expect(countIn(dump, [1])).toEqual({ photos: 5, 'we`ird': 1, empty: 0 });
  });

  it('counts exactly whatever the data and wherever the chunks are cut', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            table: fc.constantFrom('a', 'b', 'tåble'),
            rows: fc.array(fc.array(value, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 5 }),
          }),
          { maxLength: 6 },
        ),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 5 }),
        fc.constantFrom(' ', '\n'),
        (inserts, sizes, layout) => {
          const sep = layout === '\n' ? ',\n' : ',';
          const expected: Record<string, number> = {};
          const lines = ['-- header'];
          for (const ins of inserts) {
            expected[ins.table] = (expected[ins.table] ?? 0) + ins.rows.length;
            lines.push(
              `INSERT INTO \`${ins.table}\` VALUES${layout}${ins.rows.map((r) => `(${r.join(',')})`).join(sep)};`,
            );
          }
          lines.push('-- Dump completed', '');
          expect(countIn(lines.join('\n'), sizes)).toEqual(expected);
        },
      ),
    );
  });
});
