/**
 * Parse a user's YAML or JSON file (a config, a jobs file) so that a mistake is reported by
 * position only. Parsers quote the source around an error (`password: hunter2` under a caret),
 * name an unresolved alias by its text, and YAML prints its warnings to stderr — which in hook mode
 * is Duplicati's log. Here nothing from the file's text reaches a message, a warning or a cause.
 *
 * @module
 */
import { type Alias, type Document, isAlias, LineCounter, parseDocument, visit } from 'yaml';
import { ConfigError } from '../core/errors.js';

/** What each YAML error code means, in words that quote nothing from the file. */
const YAML_PROBLEMS: Readonly<Record<string, string>> = {
  ALIAS_PROPS: 'an alias cannot carry a tag or an anchor',
  BAD_ALIAS: 'an alias is malformed',
  BAD_DIRECTIVE: 'a % directive is malformed',
  BAD_DQ_ESCAPE: 'a double-quoted string has a bad escape',
  BAD_INDENT: 'the indentation is wrong',
  BAD_PROP_ORDER: 'an anchor or tag is misplaced',
  BAD_SCALAR_START: 'a plain value starts with a reserved character (quote it)',
  BLOCK_AS_IMPLICIT_KEY: 'a block cannot be a key',
  BLOCK_IN_FLOW: 'a block is nested inside [ ] or { }',
  DUPLICATE_KEY: 'a key is repeated in the same mapping',
  KEY_OVER_1024_CHARS: 'a key is longer than 1024 characters',
  MISSING_CHAR: 'a closing character is missing',
  MULTILINE_IMPLICIT_KEY: 'a key spans several lines',
  MULTIPLE_ANCHORS: 'a node has several anchors',
  MULTIPLE_DOCS: 'the file holds several YAML documents',
  MULTIPLE_TAGS: 'a node has several tags',
  NON_STRING_KEY: 'a key is not a string',
  RESOURCE_EXHAUSTION: 'aliases expand too much',
  TAB_AS_INDENT: 'a tab is used for indentation',
  TAG_RESOLVE_FAILED: 'a tag is unknown',
  UNEXPECTED_TOKEN: 'unexpected text',
  BAD_COLLECTION_TYPE: 'a collection has the wrong type for its tag',
};

/** At most this many aliases are expanded (a "billion laughs" file stops here). */
const MAX_ALIASES = 1000;

function fail(file: string, format: 'YAML' | 'JSON', where: string, problem: string): ConfigError {
  const at = where ? `${where}: ` : '';
  return new ConfigError(`${file} is not valid ${format}: ${at}${problem}`, [{ path: '', message: `${at}${problem}` }]);
}

function lineCol(lc: LineCounter, offset: number): string {
  const { line, col } = lc.linePos(offset);
  return `line ${line}, column ${col}`;
}

/** The first alias in `doc` that names no anchor before it, if any. */
function unresolvedAlias(doc: Document): Alias | undefined {
  let found: Alias | undefined;
  visit(doc, {
    Alias(_key, node) {
      if (isAlias(node) && node.resolve(doc) === undefined) {
        found = node;
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return found;
}

function parseYamlText(text: string, file: string): unknown {
  const lc = new LineCounter();
  // logLevel 'silent': YAML's warnings (unknown tags, YAML 1.1 directives) would print the line.
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, logLevel: 'silent', uniqueKeys: true });
  const first = doc.errors[0];
  if (first) throw fail(file, 'YAML', lineCol(lc, first.pos[0]), YAML_PROBLEMS[first.code] ?? 'syntax error');
  const alias = unresolvedAlias(doc);
  if (alias) {
    const where = alias.range ? lineCol(lc, alias.range[0]) : '';
    throw fail(file, 'YAML', where, 'an alias names no anchor defined before it');
  }
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch {
    throw fail(file, 'YAML', '', `aliases expand too much (more than ${MAX_ALIASES})`);
  }
}

/** 1-based line and column of `offset` in `text`. */
function textLineCol(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const col = offset - before.lastIndexOf('\n');
  return `line ${line}, column ${col}`;
}

const WS = new Set([' ', '\t', '\n', '\r']);

/**
 * The offset of the first JSON syntax error in `text` (JSON.parse already said there is one).
 * Iterative, so a deeply nested file cannot overflow the stack.
 */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && WS.has(text[i] as string)) i++;
  };
  const str = (): boolean => {
    if (text[i] !== '"') return false;
    for (i++; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return true;
      }
      if (c < 0x20) return false;
      if (c === 0x5c) {
        const e = text[i + 1] ?? '';
        if ('"\\/bfnrt'.includes(e) && e !== '') i++;
        else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) i += 5;
        else return false;
      }
    }
    return false;
  };
  const scalar = (): boolean => {
    for (const lit of ['true', 'false', 'null']) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return true;
      }
    }
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) return false;
    i += m[0].length;
    return true;
  };
  /** A member's `"name":` and the space after it. */
  const key = (): boolean => {
    if (!str()) return false;
    ws();
    if (text[i] !== ':') return false;
    i++;
    ws();
    return true;
  };
  // Each frame: the closing bracket we are inside of.
  const stack: string[] = [];
  ws();
  for (;;) {
    // Expect a value.
    const c = text[i];
    if (c === '{' || c === '[') {
      stack.push(c === '{' ? '}' : ']');
      i++;
      ws();
      if (text[i] === stack[stack.length - 1]) {
        i++;
        stack.pop();
      } else if (c === '[' || key()) continue;
      else return i;
    } else if (c === '"') {
      if (!str()) return i;
    } else if (!scalar()) return i;
    // After a value: a separator, a closer, or the end.
    for (;;) {
      ws();
      const close = stack[stack.length - 1];
      if (close === undefined) return Math.min(i, text.length);
      if (text[i] === close) {
        i++;
        stack.pop();
        continue;
      }
      if (text[i] !== ',') return i;
      i++;
      ws();
      if (close === '}' && !key()) return i;
      break;
    }
  }
}

/**
 * Parse the text of a user file as YAML or JSON. A syntax error is a {@link ConfigError} that
 * names the file and the line and column, and nothing of the text itself.
 *
 * @throws {ConfigError} when the text does not parse.
 * @example
 * ```ts
 * const raw = parseUserText(await readFile(file, 'utf8'), 'yaml', file);
 * ```
 */
export function parseUserText(text: string, format: 'yaml' | 'json', file: string): unknown {
  if (format === 'yaml') return parseYamlText(text, file);
  try {
    return JSON.parse(text);
  } catch {
    throw fail(file, 'JSON', textLineCol(text, jsonErrorOffset(text)), 'syntax error');
  }
}
