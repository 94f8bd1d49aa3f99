import { describe, expect, it } from 'vitest';
import { isConfigError } from '../../../../src/core/errors.js';
import { MysqlSource } from '../../../../src/engines/mysql/source.js';
import {
  optionFileText,
  parseBatchLine,
  quoteMysqlIdent,
  quoteMysqlLiteral,
} from '../../../../src/engines/mysql/client.js';
import { MysqlTarget } from '../../../../src/engines/mysql/target.js';

function configIssues(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    if (isConfigError(e)) return e.issues.map((i) => i.path);
    throw e;
  }
  throw new Error('no ConfigError');
}

describe('MysqlSource / MysqlTarget options', () => {
  it('names every bad field', () => {
    const paths = configIssues(
      () =>
        new MysqlSource({
          name: '../x',
          connection: { user: '', port: 0, database: 'a;b' },
          format: 'zip',
        } as never),
    );
    expect(paths).toEqual(
      expect.arrayContaining(['name', 'connection.user', 'connection.port', 'connection.database', 'format']),
    );
  });

  it('wants exactly one of database and databases, and one password source', () => {
    expect(configIssues(() => new MysqlSource({ connection: { user: 'u' } }))).toContain('connection.database');
    expect(
      configIssues(
        () => new MysqlSource({ connection: { user: 'u', database: 'a', password: 'p', passwordFile: '/f' } }),
      ),
    ).toContain('connection.passwordFile');
    expect(configIssues(() => new MysqlTarget({ connection: { user: 'u' }, extra: 1 } as never))).toContain('');
  });

  it('accepts a minimal configuration', () => {
    expect(new MysqlSource({ connection: { user: 'u', databases: 'all' } }).name).toBe('mysql');
    expect(new MysqlTarget({ connection: { user: 'u' } }).accepts({ kind: 'mysql', name: 'x' } as never)).toBe(true);
    expect(
      new MysqlTarget({ connection: { user: 'u' }, source: 'y' }).accepts({ kind: 'mysql', name: 'x' } as never),
    ).toBe(false);
  });
});

describe('MySQL client helpers', () => {
  it('writes a password with quotes, backslashes and # into an option file the client reads back intact', () => {
    expect(optionFileText('a"b\\c#d')).toBe('[client]\npassword="a\\"b\\\\c#d"\n');
  });

  it('unescapes batch output', () => {
    expect(parseBatchLine('a\\tb\tc\\\\d\te\\nf')).toEqual(['a\tb', 'c\\d', 'e\nf']);
  });

  it('quotes identifiers and literals', () => {
    expect(quoteMysqlIdent('we`ird')).toBe('`we``ird`');
    expect(quoteMysqlLiteral("it's \\")).toBe("'it\\'s \\\\'");
  });
});
