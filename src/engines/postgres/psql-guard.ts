/**
 * A streaming filter between a plain-SQL dump and the psql that loads it, so that the file can
 * only ever be SQL and COPY data, never a psql meta-command. psql runs a backslash command (`\!`
 * runs a shell, `\o`/`\w` write files, `\copy … program`, `\i`, `\gexec`, `\setenv`, `\lo_*`, …)
 * wherever one appears outside quotes, comments and COPY data; a dump pg_dump wrote has none
 * (except its own `\restrict`/`\unrestrict` pair, which this filter removes). So the filter reads
 * the SQL the way psql's lexer does (psqlscan.l: strings and their `''`/backslash escapes,
 * `E'…'`, `U&'…'`, quoted identifiers, nested comments, dollar quotes, parentheses and
 * `BEGIN ATOMIC … END` around semicolons, `COPY … FROM stdin;` data up to `\.`) and fails on:
 *
 * - a backslash outside quotes, comments and COPY data (a meta-command, `\;`, `\:`);
 * - an interpolation of one of psql's own variables (`:DBNAME`, `:'USER'`, …), whose value psql
 *   would lex again;
 * - a COPY statement other than pg_dump's `COPY … FROM stdin;` (the data block must be known);
 * - a literal switch to a client-only multibyte encoding (SJIS, BIG5, GBK, UHC, GB18030, JOHAB),
 *   under which psql reads quotes and backslashes differently;
 * - spellings whose reading differs between psql versions or encodings (a number glued to a
 *   letter or `$`, a non-ASCII dollar-quote tag, a bare carriage return, a NUL byte).
 *
 * Bytes that fail are never passed on, so psql never sees them. The check runs while the dump
 * streams (memory stays bounded). With a psql that has `\restrict` (13.22, 14.19, 15.14, 16.10,
 * 17.6, 18 and later) the loader also puts psql in restricted mode with a key the file cannot
 * know, so psql itself refuses any meta-command this parse might have missed.
 *
 * @module
 */
import { Transform, type TransformCallback } from 'node:stream';

/** The dump holds something that is not plain SQL and COPY data. */
export class UnsafeDumpError extends Error {
  /** Offset in the SQL text (after gunzip) where it was found. */
  readonly at: number;
  /** What was found, e.g. `a psql meta-command (\\!)`. */
  readonly what: string;
  constructor(at: number, what: string) {
    super(`byte ${at}: ${what}`);
    this.name = 'UnsafeDumpError';
    this.at = at;
    this.what = what;
  }
}

/** psql's own variables (set by psql itself, so an interpolation would find a value). */
const PSQL_VARIABLES = new Set([
  'AUTOCOMMIT',
  'COMP_KEYWORD_CASE',
  'DBNAME',
  'ECHO',
  'ECHO_HIDDEN',
  'ENCODING',
  'ERROR',
  'FETCH_COUNT',
  'HIDE_TABLEAM',
  'HIDE_TOAST_COMPRESSION',
  'HISTCONTROL',
  'HISTFILE',
  'HISTSIZE',
  'HOST',
  'IGNOREEOF',
  'LASTOID',
  'LAST_ERROR_MESSAGE',
  'LAST_ERROR_SQLSTATE',
  'ON_ERROR_ROLLBACK',
  'ON_ERROR_STOP',
  'PORT',
  'PROMPT1',
  'PROMPT2',
  'PROMPT3',
  'QUIET',
  'ROW_COUNT',
  'SERVER_VERSION_NAME',
  'SERVER_VERSION_NUM',
  'SHELL_ERROR',
  'SHELL_EXIT_CODE',
  'SHOW_ALL_RESULTS',
  'SHOW_CONTEXT',
  'SINGLELINE',
  'SINGLESTEP',
  'SQLSTATE',
  'USER',
  'VERBOSITY',
  'VERSION',
  'VERSION_NAME',
  'VERSION_NUM',
  'WATCH_INTERVAL',
]);

/** Client-only encodings (and their aliases) under which psql lexes bytes after a lead byte as one character. */
const UNSAFE_ENCODINGS = [
  'sjis',
  'shiftjis',
  'shiftjis2004',
  'mskanji',
  'win932',
  'big5',
  'win950',
  'gbk',
  'win936',
  'uhc',
  'win949',
  'gb18030',
  'johab',
];

enum S {
  Sql,
  LineComment,
  BlockComment,
  Xq,
  Xe,
  XeEsc,
  Xb,
  Xd,
  QuoteEnd,
  Dolq,
  DolqTag,
  Dollar,
  Param,
  Ident,
  UAmp,
  Number,
  NumExp,
  NumExpSign,
  NumExpDigits,
  Colon,
  Var,
  Dash,
  Slash,
  Cr,
  CopyTail,
  CopyData,
  MetaLine,
}

const isAlpha = (c: number) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c >= 0x80;
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
/** psql's ident_cont (letters, digits, `_`, `$`, non-ASCII). */
const isIdentCont = (c: number) => isAlpha(c) || isDigit(c) || c === 0x24;
const isVarChar = (c: number) => isAlpha(c) || isDigit(c);

const BACKSLASH = 0x5c;
const NL = 0x0a;
const CR = 0x0d;
const QUOTE = 0x27;
const DQUOTE = 0x22;
const DOLLAR = 0x24;
/** Longest COPY or SET statement kept to be checked. */
const MAX_STATEMENT = 1 << 20;

/** Options of {@link createPsqlGuard}. */
export interface PsqlGuardOptions {
  /** Bytes sent to psql before the dump (the loader's own `\restrict` line). */
  readonly prefix?: Buffer;
  /**
   * Load each table's rows frozen: every `COPY … FROM stdin;` becomes `COPY … FROM stdin (FREEZE);`
   * until a statement declares a partitioned table (`PARTITION BY` outside parentheses), whose root
   * COPY FREEZE refuses. Only for a load in one transaction that creates the tables it fills
   * (a pg_dump file into a new database); see `loadDump`.
   */
  readonly copyFreeze?: boolean;
}

/** What {@link PsqlGuardOptions.copyFreeze} puts before the `;` of a COPY statement. */
const FREEZE = Buffer.from(' (FREEZE)');

const fail = (at: number, what: string): never => {
  throw new UnsafeDumpError(at, what);
};

const RESTRICT_LINE = /^\\(?:un)?restrict [A-Za-z0-9]{1,128}$/;

/** psql's lexer state, fed chunk by chunk; see the module description. */
class PsqlLexer {
  state = S.Sql;
  /** Bytes of the input before the current chunk. */
  offset = 0;
  stdStrings = true;
  /** The string state a doubled closing quote returns to, and that quote. */
  quoteKind = S.Xq;
  quoteByte = QUOTE;
  commentDepth = 0;
  commentStar = false;
  commentSlash = false;
  dolqTag = '';
  tag = '';
  ident = '';
  varName = '';
  parenDepth = 0;
  beginDepth = 0;
  identifierCount = 0;
  readonly identifiers = [0, 0, 0, 0];
  /** A token of the current statement was seen; its first identifier; its text when it matters. */
  stmtStarted = false;
  firstWord: string | undefined;
  capture: Buffer[] | undefined;
  captured = 0;
  capStart = 0;
  atLineStart = true;
  /** COPY data: the first bytes of the current line and its length. */
  lineHead: number[] = [];
  lineLen = 0;
  /** A `:` just before a quote: the quoted text may be a psql variable's name. */
  colonQuote = false;
  quoted = '';
  metaLine: number[] = [];
  /** Append ` (FREEZE)` to COPY statements (cleared once a partitioned table is declared). */
  freeze = false;
  /** The identifier before the current one in this statement (to see `PARTITION BY`). */
  prevWord = '';
  /** The chunk being read, what of it is passed on, and from where. */
  chunk: Buffer = Buffer.alloc(0);
  out: Buffer[] = [];
  emitFrom = 0;

  /** Read `chunk`; returns the parts to pass on (all of it unless a `\restrict` line is dropped). */
  feed(chunk: Buffer): Buffer[] {
    const nul = chunk.indexOf(0);
    if (nul >= 0) fail(this.offset + nul, 'a NUL byte (psql stops reading a line there)');
    this.chunk = chunk;
    this.out = [];
    this.emitFrom = 0;
    this.capStart = 0;
    const n = chunk.length;
    let i = 0;
    while (i < n) i = this.step(i);
    if (this.state === S.MetaLine) this.emitFrom = n;
    if (this.capture) {
      const rest = Buffer.from(chunk.subarray(this.capStart));
      this.capture.push(rest);
      this.captured += rest.length;
      if (this.captured > MAX_STATEMENT) fail(this.offset + n, 'a COPY or SET statement longer than 1 MiB');
    }
    if (this.emitFrom < n) this.out.push(chunk.subarray(this.emitFrom));
    this.offset += n;
    return this.out;
  }

  /** The input ended. */
  end(): void {
    if (this.state === S.MetaLine) this.metaLineDone(this.offset);
    if (this.state === S.Var) this.checkVariable(this.varName, this.offset);
  }

  step(i: number): number {
    switch (this.state) {
      case S.Sql:
        return this.sql(i);
      case S.Cr:
      case S.Dash:
      case S.Slash:
      case S.LineComment:
      case S.BlockComment:
        return this.comment(i);
      case S.Xq:
      case S.Xb:
      case S.Xd:
      case S.Xe:
      case S.XeEsc:
      case S.QuoteEnd:
        return this.quoted_(i);
      case S.Dollar:
      case S.Param:
      case S.Dolq:
      case S.DolqTag:
        return this.dollar(i);
      case S.Ident:
      case S.UAmp:
        return this.word(i);
      case S.Number:
      case S.NumExp:
      case S.NumExpSign:
      case S.NumExpDigits:
        return this.number(i);
      case S.Colon:
      case S.Var:
        return this.colon(i);
      default:
        return this.copy(i);
    }
  }

  checkVariable(name: string, at: number): void {
    if (PSQL_VARIABLES.has(name)) fail(at, `an interpolation of psql's variable ${name}`);
  }

  onIdentifier(word: string): void {
    const lower = word.toLowerCase();
    if (!this.stmtStarted) {
      this.stmtStarted = true;
      this.firstWord = lower;
    }
    if (lower === 'by' && this.prevWord === 'partition' && this.parenDepth === 0 && this.firstWord === 'create') {
      this.freeze = false;
    }
    this.prevWord = lower;
    const c = this.identifiers;
    if (this.identifierCount === 0) c.fill(0);
    if (['create', 'function', 'procedure', 'or', 'replace'].includes(lower) && this.identifierCount < 4) {
      c[this.identifierCount] = lower.charCodeAt(0);
    }
    this.identifierCount++;
    // psql's heuristic for CREATE [OR REPLACE] FUNCTION|PROCEDURE … BEGIN ATOMIC … END.
    const fnHead =
      c[0] === 0x63 &&
      (c[1] === 0x66 || c[1] === 0x70 || (c[1] === 0x6f && c[2] === 0x72 && (c[3] === 0x66 || c[3] === 0x70)));
    if (!fnHead || this.parenDepth !== 0) return;
    if (lower === 'begin') this.beginDepth++;
    else if (lower === 'case') {
      if (this.beginDepth >= 1) this.beginDepth++;
    } else if (lower === 'end' && this.beginDepth > 0) this.beginDepth--;
  }

  token(): void {
    if (!this.stmtStarted) {
      this.stmtStarted = true;
      this.firstWord = '';
    }
  }

  /** A statement ended at a top-level `;`: check the ones that change how psql reads on. */
  endStatement(at: number): S {
    const text = this.capture ? Buffer.concat(this.capture).toString('utf8') : '';
    const word = this.firstWord;
    this.stmtStarted = false;
    this.firstWord = undefined;
    this.prevWord = '';
    this.capture = undefined;
    this.captured = 0;
    this.identifierCount = 0;
    if (word === 'copy') {
      if (!/^copy\s[\s\S]*\sfrom\s+stdin\s*;$/i.test(text)) {
        fail(at, "a COPY statement other than pg_dump's COPY … FROM stdin;");
      }
      return S.CopyTail;
    }
    if (word === 'set' || word === 'reset') this.checkSet(text, at);
    return S.Sql;
  }

  checkSet(text: string, at: number): void {
    const squashed = text.toLowerCase().replace(/\s+/g, ' ');
    const scs =
      /^(?:set(?: session| local)? standard_conforming_strings ?(?:=|to) ?'?(\w+)'?|reset (standard_conforming_strings|all)) ?;$/.exec(
        squashed,
      );
    if (scs) this.stdStrings = scs[2] !== undefined || ['on', 'true', 'yes', '1', 'default'].includes(scs[1] ?? '');
    if (!/client_encoding|\bnames\b/.test(squashed)) return;
    const clean = squashed.replace(/[^a-z0-9]/g, ' ');
    if (UNSAFE_ENCODINGS.some((e) => new RegExp(`\\b${e}\\b`).test(clean))) {
      fail(at, 'a switch to a client-only multibyte encoding, under which psql reads quotes differently');
    }
  }

  openQuote(c: number): void {
    this.token();
    this.quoteByte = c;
    this.quoteKind = c === DQUOTE ? S.Xd : this.stdStrings ? S.Xq : S.Xe;
    this.state = this.quoteKind;
  }

  sql(i: number): number {
    const chunk = this.chunk;
    const c = chunk[i] as number;
    if (c === NL) {
      this.atLineStart = true;
      return i + 1;
    }
    const lineStart = this.atLineStart;
    this.atLineStart = false;
    if (c === 0x20 || c === 0x09 || c === 0x0c) return i + 1;
    if (c === CR) this.state = S.Cr;
    else if (c === BACKSLASH) {
      if (lineStart && !this.stmtStarted) {
        this.out.push(chunk.subarray(this.emitFrom, i));
        this.metaLine = [];
        this.state = S.MetaLine;
        return i;
      }
      const name = chunk
        .subarray(i, Math.min(chunk.length, i + 16))
        .toString('latin1')
        .split(/[\s;]/)[0];
      fail(this.offset + i, `a psql meta-command (${name}) outside quotes, comments and COPY data`);
    } else if (c === 0x2d) this.state = S.Dash;
    else if (c === 0x2f) this.state = S.Slash;
    else if (c === QUOTE || c === DQUOTE) {
      this.openQuote(c);
    } else if (c === DOLLAR) {
      this.token();
      this.tag = '';
      this.state = S.Dollar;
    } else if (c === 0x3a) this.state = S.Colon;
    else if (isDigit(c) || (c === 0x2e && isDigit(chunk[i + 1] ?? 0))) {
      this.token();
      this.state = S.Number;
    } else if (isAlpha(c)) {
      this.ident = String.fromCharCode(c);
      this.state = S.Ident;
    } else {
      this.token();
      if (c === 0x28) this.parenDepth++;
      else if (c === 0x29) {
        if (this.parenDepth > 0) this.parenDepth--;
      } else if (c === 0x3b && this.parenDepth === 0 && this.beginDepth === 0) {
        if (this.capture) this.capture.push(chunk.subarray(this.capStart, i + 1));
        this.state = this.endStatement(this.offset + i);
        if (this.state === S.CopyTail && this.freeze) {
          // The statement is pg_dump's `COPY … FROM stdin;` (endStatement checked): options go before `;`.
          this.out.push(chunk.subarray(this.emitFrom, i), FREEZE);
          this.emitFrom = i;
        }
      }
    }
    return i + 1;
  }

  /** Carriage returns, `-`/`/` that may open a comment, and comments. */
  comment(i: number): number {
    const chunk = this.chunk;
    const c = chunk[i] as number;
    switch (this.state) {
      case S.Cr:
        if (c !== NL) fail(this.offset + i, 'a bare carriage return outside quotes (psql reads it as a line end)');
        this.state = S.Sql;
        return i;
      case S.Dash:
      case S.Slash: {
        const opens = this.state === S.Dash ? c === 0x2d : c === 0x2a;
        if (!opens) {
          this.token();
          this.state = S.Sql;
          return i;
        }
        this.state = this.state === S.Dash ? S.LineComment : S.BlockComment;
        this.commentDepth = 0;
        this.commentStar = false;
        this.commentSlash = false;
        return i + 1;
      }
      case S.LineComment: {
        let j = i;
        while (j < chunk.length && chunk[j] !== NL && chunk[j] !== CR) j++;
        if (j < chunk.length) this.state = S.Sql;
        return j;
      }
      default:
        // psql: `/*` nests, `*+/` closes.
        if (this.commentSlash && c === 0x2a) {
          this.commentDepth++;
          this.commentSlash = false;
          this.commentStar = false;
        } else if (this.commentStar && c === 0x2f) {
          if (this.commentDepth === 0) this.state = S.Sql;
          else this.commentDepth--;
          this.commentStar = false;
          this.commentSlash = false;
        } else {
          this.commentStar = c === 0x2a;
          this.commentSlash = c === 0x2f;
        }
        return i + 1;
    }
  }

  /** Strings and quoted identifiers. */
  quoted_(i: number): number {
    const chunk = this.chunk;
    const c = chunk[i] as number;
    switch (this.state) {
      case S.Xq:
      case S.Xb:
      case S.Xd: {
        const j = chunk.indexOf(this.state === S.Xd ? DQUOTE : QUOTE, i);
        if (this.colonQuote)
          this.quoted += chunk
            .subarray(i, j < 0 ? chunk.length : j)
            .toString('latin1')
            .slice(0, 80);
        if (j < 0) return chunk.length;
        if (this.state === S.Xb) {
          this.colonQuote = false;
          this.state = S.Sql;
        } else this.state = S.QuoteEnd;
        return j + 1;
      }
      case S.Xe:
        this.colonQuote = false;
        if (c === BACKSLASH) this.state = S.XeEsc;
        else if (c === QUOTE) this.state = S.QuoteEnd;
        return i + 1;
      case S.XeEsc:
        this.state = S.Xe;
        return i + 1;
      default:
        if (c === this.quoteByte) {
          this.state = this.quoteKind;
          this.colonQuote = false;
          return i + 1;
        }
        if (this.colonQuote && /^[A-Za-z0-9_\x80-\xff]+$/.test(this.quoted))
          this.checkVariable(this.quoted, this.offset + i);
        this.colonQuote = false;
        this.state = S.Sql;
        return i;
    }
  }

  /** `$1`, `$tag$ … $tag$`, or a lone `$`. */
  dollar(i: number): number {
    const chunk = this.chunk;
    const c = chunk[i] as number;
    const tagByte = this.tag === '' ? isAlpha(c) : isAlpha(c) || isDigit(c);
    switch (this.state) {
      case S.Dollar:
        if (this.tag === '' && isDigit(c)) {
          this.state = S.Param;
          return i + 1;
        }
        if (c === DOLLAR) {
          if (/[\x80-\xff]/.test(this.tag)) fail(this.offset + i, 'a dollar-quote tag with non-ASCII bytes');
          this.dolqTag = this.tag;
          this.state = S.Dolq;
          return i + 1;
        }
        if (tagByte && this.tag.length < 256) {
          this.tag += String.fromCharCode(c);
          return i + 1;
        }
        // `$` alone; what followed it is read again (an identifier, or E'…' and the like).
        if (this.tag !== '') {
          this.ident = this.tag;
          this.state = S.Ident;
        } else this.state = S.Sql;
        return i;
      case S.Param:
        if (isDigit(c)) return i + 1;
        if (isAlpha(c) || c === DOLLAR) fail(this.offset + i, 'a parameter glued to a letter or "$"');
        this.state = S.Sql;
        return i;
      case S.Dolq: {
        const j = chunk.indexOf(DOLLAR, i);
        if (j < 0) return chunk.length;
        this.tag = '';
        this.state = S.DolqTag;
        return j + 1;
      }
      default:
        if (c === DOLLAR) {
          if (this.tag === this.dolqTag) this.state = S.Sql;
          else this.tag = ''; // this `$` may open the real end tag
          return i + 1;
        }
        if (tagByte && this.tag.length < 256) {
          this.tag += String.fromCharCode(c);
          return i + 1;
        }
        this.state = S.Dolq;
        return i;
    }
  }

  /** Identifiers, and the one-letter prefixes of quotes (`E'`, `B'`, `X'`, `N'`, `U&'`, `U&"`). */
  word(i: number): number {
    const c = this.chunk[i] as number;
    if (this.state === S.UAmp) {
      this.token();
      if (c === QUOTE || c === DQUOTE) {
        this.quoteByte = c;
        this.quoteKind = c === QUOTE ? S.Xq : S.Xd;
        this.state = this.quoteKind;
        return i + 1;
      }
      this.state = S.Sql;
      return i;
    }
    if (isIdentCont(c)) {
      if (this.ident.length < 64) this.ident += String.fromCharCode(c);
      return i + 1;
    }
    const l = this.ident.length === 1 ? this.ident.toLowerCase() : '';
    if (c === QUOTE && (l === 'e' || l === 'b' || l === 'x' || l === 'n')) {
      this.token();
      this.quoteByte = QUOTE;
      this.quoteKind = l === 'e' ? S.Xe : l === 'n' ? (this.stdStrings ? S.Xq : S.Xe) : S.Xb;
      this.state = this.quoteKind;
      return i + 1;
    }
    if (c === 0x26 && l === 'u') {
      this.state = S.UAmp;
      return i + 1;
    }
    const first = !this.stmtStarted;
    this.onIdentifier(this.ident);
    if (first && (this.firstWord === 'copy' || this.firstWord === 'set' || this.firstWord === 'reset')) {
      this.capture = [Buffer.from(this.ident, 'latin1')];
      this.capStart = i;
    }
    this.state = S.Sql;
    return i;
  }

  /** Numbers: one glued to a letter or `$` reads differently across psql versions, so it fails. */
  number(i: number): number {
    const c = this.chunk[i] as number;
    const at = this.offset + i;
    switch (this.state) {
      case S.Number:
        if (isDigit(c) || c === 0x2e) return i + 1;
        if (c === 0x65 || c === 0x45) {
          this.state = S.NumExp;
          return i + 1;
        }
        break;
      case S.NumExp:
        if (c === 0x2b || c === 0x2d) this.state = S.NumExpSign;
        else if (isDigit(c)) this.state = S.NumExpDigits;
        else fail(at, 'a number glued to a letter');
        return i + 1;
      case S.NumExpSign:
        if (!isDigit(c)) fail(at, 'a number glued to a letter');
        this.state = S.NumExpDigits;
        return i + 1;
      default:
        if (isDigit(c)) return i + 1;
    }
    if (isAlpha(c) || c === DOLLAR) fail(at, 'a number glued to a letter or "$"');
    this.state = S.Sql;
    return i;
  }

  /** `::`, `:name` (a psql variable), `:'name'`, `:"name"`. */
  colon(i: number): number {
    const c = this.chunk[i] as number;
    if (this.state === S.Var) {
      if (isVarChar(c)) {
        if (this.varName.length < 64) this.varName += String.fromCharCode(c);
        return i + 1;
      }
      this.checkVariable(this.varName, this.offset + i);
      this.state = S.Sql;
      return i;
    }
    this.token();
    if (c === 0x3a) {
      this.state = S.Sql;
      return i + 1;
    }
    if (c === QUOTE || c === DQUOTE) {
      this.colonQuote = true;
      this.quoted = '';
    } else if (isVarChar(c)) {
      this.varName = '';
      this.state = S.Var;
      return i;
    }
    this.state = S.Sql;
    return i;
  }

  /** The rest of a COPY line, COPY data up to `\.`, and pg_dump's `\restrict` lines (dropped). */
  copy(i: number): number {
    const chunk = this.chunk;
    const c = chunk[i] as number;
    if (this.state === S.CopyTail) {
      if (c === NL) {
        this.state = S.CopyData;
        this.lineHead = [];
        this.lineLen = 0;
      } else if (c !== 0x20 && c !== 0x09 && c !== CR) fail(this.offset + i, 'text after a COPY statement on its line');
      return i + 1;
    }
    if (this.state === S.MetaLine) {
      if (c === NL) {
        this.metaLineDone(this.offset + i);
        this.emitFrom = i + 1;
        return i + 1;
      }
      if (this.metaLine.length > 200) fail(this.offset + i, 'a psql meta-command');
      this.metaLine.push(c);
      return i + 1;
    }
    // COPY data, a line per step: only a whole line `\.` (or `\.\r`) ends it, as in psql.
    const j = chunk.indexOf(NL, i);
    const end = j < 0 ? chunk.length : j;
    for (let k = i; k < end && this.lineHead.length < 4; k++) this.lineHead.push(chunk[k] as number);
    this.lineLen += end - i;
    if (j < 0) return chunk.length;
    const h = this.lineHead;
    if (h[0] === BACKSLASH && h[1] === 0x2e && (this.lineLen === 2 || (this.lineLen === 3 && h[2] === CR))) {
      this.state = S.Sql;
      this.atLineStart = true;
    }
    this.lineHead = [];
    this.lineLen = 0;
    return j + 1;
  }

  metaLineDone(at: number): void {
    const line = Buffer.from(this.metaLine).toString('latin1').replace(/\r$/, '');
    if (!RESTRICT_LINE.test(line)) fail(at - this.metaLine.length, `a psql meta-command (${line.split(/\s/)[0]})`);
    this.state = S.Sql;
    this.atLineStart = true;
  }
}

/**
 * The psql guard: a Transform that passes a plain-SQL dump on unchanged but for pg_dump's
 * `\restrict`/`\unrestrict` lines (and, with `copyFreeze`, the FREEZE option of its COPY
 * statements), and fails with {@link UnsafeDumpError} before passing on anything psql could read
 * as a meta-command (see the module description).
 */
export function createPsqlGuard(options: PsqlGuardOptions = {}): Transform {
  const lexer = new PsqlLexer();
  lexer.freeze = options.copyFreeze === true;
  let prefixSent = false;
  const sendPrefix = (t: Transform): void => {
    if (!prefixSent && options.prefix) t.push(options.prefix);
    prefixSent = true;
  };
  return new Transform({
    readableHighWaterMark: 1 << 20,
    writableHighWaterMark: 1 << 20,
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
      try {
        sendPrefix(this);
        for (const part of lexer.feed(chunk)) if (part.length) this.push(part);
        done();
      } catch (e) {
        done(e as Error);
      }
    },
    flush(done: TransformCallback): void {
      try {
        sendPrefix(this);
        lexer.end();
        done();
      } catch (e) {
        done(e as Error);
      }
    },
  });
}

/**
 * True when this psql version has `\restrict` (13.22, 14.19, 15.14, 16.10, 17.6, 18 and later).
 */
export function psqlHasRestrict(version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const since: Record<number, number> = { 13: 22, 14: 19, 15: 14, 16: 10, 17: 6 };
  if (major >= 18) return true;
  const m = since[major];
  return m !== undefined && minor >= m;
}
