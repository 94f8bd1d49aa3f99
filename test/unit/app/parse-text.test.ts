/**
 * A mistake in a user's YAML or JSON file is reported by line and column, never with the text
 * around it: that text may be the password (issue 17, item 14).
 */
import { describe, expect, it } from 'vitest';
import { jsonErrorOffset, parseUserText } from '../../../src/app/parse-text.js';
import { isConfigError } from '../../../src/core/errors.js';

function errorOf(text: string, format: 'yaml' | 'json'): Error {
  try {
    parseUserText(text, format, '/etc/dk.conf');
  } catch (e) {
    expect(isConfigError(e)).toBe(true);
    return e as Error;
  }
  throw new Error('expected a parse error');
}

/** Everything about an error a CLI or a logger could print. */
function printable(e: Error): string {
  return `${e.message}\n${e.stack}\n${JSON.stringify(e)}\n${String((e as { cause?: unknown }).cause ?? '')}`;
}

describe('parseUserText', () => {
  it.each([
    ['a repeated key', 'workDir: /w\npassword: s3cret-A\npassword: s3cret-B\n', /line 3, column 1: a key is repeated/],
    ['a tab as indentation', 'a:\n\tpassword: s3cret-T\n', /line 2, column 1: a tab/],
    ['bad indentation', 'a:\n  password: s3cret-I\n bad: [\n', /line 3, column/],
    ['an alias named after the secret', 'password: *s3cret-Alias\n', /line 1, column 11: an alias names no anchor/],
    ['an unclosed quote', 'password: "s3cret-Q\nother: 1\n', /line \d+, column \d+/],
  ])('YAML with %s: position only', (_what, text, want) => {
    const e = errorOf(text, 'yaml');
    expect(e.message).toMatch(want);
    expect(printable(e)).not.toMatch(/s3cret/);
  });

  it('YAML warnings (unknown tag, 1.1 directive) are not printed and the values load', () => {
    const written: string[] = [];
    const onWarning = (w: Error): void => {
      written.push(w.message);
    };
    process.on('warning', onWarning);
    const orig = process.emitWarning;
    process.emitWarning = ((w: string | Error) => written.push(String(w))) as typeof process.emitWarning;
    try {
      expect(parseUserText('password: !foo s3cret-W\n', 'yaml', 'x.yaml')).toEqual({ password: 's3cret-W' });
      expect(parseUserText('%YAML 1.1\n---\npassword: s3cret-D\n', 'yaml', 'x.yaml')).toEqual({ password: 's3cret-D' });
    } finally {
      process.emitWarning = orig;
      process.off('warning', onWarning);
    }
    expect(written).toEqual([]);
  });

  it('a billion-laughs file stops at the alias limit with a clear error', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++) {
      const p = String.fromCharCode(96 + i);
      const n = String.fromCharCode(97 + i);
      lines.push(`${n}: &${n} [*${p}, *${p}, *${p}, *${p}, *${p}, *${p}, *${p}, *${p}, *${p}, *${p}]`);
    }
    expect(errorOf(`${lines.join('\n')}\n`, 'yaml').message).toMatch(/aliases expand too much/);
  });

  it.each([
    ['an unquoted value', '{\n  "workDir": "/w",\n  "password": s3cret-J\n}\n', 'line 3, column 15'],
    ['a missing comma', '{"password": "s3cret-K" "x": 1}', 'line 1, column 25'],
    ['a trailing comma', '{"password": "s3cret-L",}', 'line 1, column 25'],
    ['a bad escape', '["s3cret-M\\q"]', 'line 1, column 11'],
    ['trailing text', '{"password": "s3cret-N"} s3cret-N', 'line 1, column 26'],
    ['an unterminated string', '{"password": "s3cret-O', 'line 1, column 23'],
  ])('JSON with %s: line and column only', (_what, text, at) => {
    const e = errorOf(text, 'json');
    expect(e.message.split('\n')[0]).toBe(`/etc/dk.conf is not valid JSON: ${at}: syntax error`);
    expect(printable(e)).not.toMatch(/s3cret/);
  });

  it('finds JSON errors deep in a 100 000-level nesting without overflowing the stack', () => {
    const deep = `${'['.repeat(100_000)}x${']'.repeat(100_000)}`;
    expect(jsonErrorOffset(deep)).toBe(100_000);
    expect(jsonErrorOffset('{"a": [1, 2.5e3, true, null, {"b": "\\u00e9"}]}x')).toBe(46);
  });

  it('valid files parse as before', () => {
    expect(parseUserText('{"a": [1, {"b": null}]}', 'json', 'x.json')).toEqual({ a: [1, { b: null }] });
    expect(parseUserText('base: &b {x: 1}\nuse: *b\n', 'yaml', 'x.yaml')).toEqual({ base: { x: 1 }, use: { x: 1 } });
  });
});
