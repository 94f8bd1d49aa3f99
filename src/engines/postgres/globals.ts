/**
 * `pg_dumpall --globals-only` output, read statement by statement: which roles and tablespaces it
 * creates (for the manifest, by name only), and a filter that leaves roles and tablespaces that
 * already exist on the target server untouched (their attributes, passwords, settings and comments
 * are not overwritten) while the missing ones are created.
 *
 * The file holds password hashes: it is streamed, never buffered whole, and never logged.
 *
 * @module
 */
import { StringDecoder } from 'node:string_decoder';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * Replace role password hashes (`SCRAM-SHA-256$…`, `md5` + 32 hex) in text meant for an error
 * message or a log.
 */
export function redactPasswordHashes(text: string): string {
  return text.replace(/SCRAM-SHA-256\$[^\s'"]+/g, 'SCRAM-SHA-256$***').replace(/\bmd5[0-9a-f]{32}\b/g, 'md5***');
}

type State = 'normal' | 'squote' | 'equote' | 'dquote' | 'dollar' | 'line-comment' | 'block-comment' | 'meta';

const IDENT_CHAR = /[A-Za-z0-9_$]/;
const DOLLAR_TAG = /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/;

/**
 * Splits SQL text, fed in chunks, into statements: each ends after its `;` (or, for a psql
 * meta-command such as `\restrict`, at the end of its line). Quotes (`'…'`, `E'…'`, `"…"`,
 * dollar quotes) and comments are honoured across chunk borders. Concatenating every statement
 * returned gives back the input exactly.
 *
 * @example
 * ```ts
 * const s = new SqlStatementSplitter();
 * s.push("CREATE ROLE a; COMMENT ON ROLE a IS 'x;"); // ['CREATE ROLE a;']
 * s.push("y';\n");                                   // [" COMMENT ON ROLE a IS 'x;y';"]
 * s.end();                                           // ['\n']
 * ```
 */
export class SqlStatementSplitter {
  #buf = '';
  #pos = 0;
  #state: State = 'normal';
  #blank = true;
  #depth = 0;
  #tag = '';

  /** Feed text; returns the statements it completed. */
  push(text: string): string[] {
    this.#buf += text;
    return this.#scan(false);
  }

  /** End of input: returns the remaining statements (the last one may lack its `;`). */
  end(): string[] {
    const out = this.#scan(true);
    if (this.#buf.length > 0) out.push(this.#buf);
    this.#buf = '';
    this.#pos = 0;
    return out;
  }

  #scan(final: boolean): string[] {
    const out: string[] = [];
    const b = this.#buf;
    let start = 0;
    let i = this.#pos;
    const cut = (end: number): void => {
      out.push(b.slice(start, end));
      start = end;
      this.#blank = true;
      this.#state = 'normal';
    };
    scan: while (i < b.length) {
      const c = b[i] as string;
      const next = b[i + 1];
      // Lookahead past the end of what arrived so far: wait for more (unless it is the end).
      const needMore = next === undefined && !final;
      switch (this.#state) {
        case 'normal':
          if (c === '-' || c === '/') {
            if (needMore) break scan;
            if (c === '-' && next === '-') {
              this.#state = 'line-comment';
              i += 2;
              continue;
            }
            if (c === '/' && next === '*') {
              this.#state = 'block-comment';
              this.#depth = 1;
              i += 2;
              continue;
            }
            this.#blank = false;
          } else if (c === "'") {
            const e = b[i - 1];
            this.#state = (e === 'E' || e === 'e') && !IDENT_CHAR.test(b[i - 2] ?? ' ') ? 'equote' : 'squote';
            this.#blank = false;
          } else if (c === '"') {
            this.#state = 'dquote';
            this.#blank = false;
          } else if (c === '$' && !IDENT_CHAR.test(b[i - 1] ?? ' ')) {
            const m = DOLLAR_TAG.exec(b.slice(i, i + 200));
            if (!m && !final && !/[^A-Za-z0-9_$]/.test(b.slice(i + 1, i + 200)) && b.length - i < 200) break scan;
            this.#blank = false;
            if (m) {
              this.#state = 'dollar';
              this.#tag = m[0];
              i += m[0].length;
              continue;
            }
          } else if (c === ';') {
            cut(i + 1);
          } else if (c === '\\' && this.#blank) {
            this.#state = 'meta';
          } else if (!/\s/.test(c)) {
            this.#blank = false;
          }
          i++;
          continue;
        case 'line-comment':
          if (c === '\n') this.#state = 'normal';
          i++;
          continue;
        case 'block-comment':
          if (c === '*' || c === '/') {
            if (needMore) break scan;
            if (c === '*' && next === '/') {
              this.#depth--;
              i += 2;
              if (this.#depth === 0) this.#state = 'normal';
              continue;
            }
            if (c === '/' && next === '*') {
              this.#depth++;
              i += 2;
              continue;
            }
          }
          i++;
          continue;
        case 'squote':
        case 'equote':
        case 'dquote': {
          const q = this.#state === 'dquote' ? '"' : "'";
          if (c === '\\' && this.#state === 'equote') {
            if (needMore) break scan;
            i += 2;
            continue;
          }
          if (c === q) {
            if (needMore) break scan;
            if (next === q) {
              i += 2;
              continue;
            }
            this.#state = 'normal';
          }
          i++;
          continue;
        }
        case 'dollar':
          if (c === '$') {
            if (b.length - i < this.#tag.length && !final) break scan;
            if (b.startsWith(this.#tag, i)) {
              i += this.#tag.length;
              this.#state = 'normal';
              continue;
            }
          }
          i++;
          continue;
        case 'meta':
          i++;
          if (c === '\n') cut(i);
          continue;
      }
    }
    this.#buf = b.slice(start);
    this.#pos = i - start;
    return out;
  }
}

const IDENT = `("(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*)`;
const ROLE_SUBJECT = [
  new RegExp(String.raw`^CREATE\s+ROLE\s+${IDENT}`, 'i'),
  new RegExp(String.raw`^ALTER\s+ROLE\s+${IDENT}`, 'i'),
  new RegExp(String.raw`^COMMENT\s+ON\s+ROLE\s+${IDENT}`, 'i'),
  new RegExp(String.raw`^SECURITY\s+LABEL\s+FOR\s+\S+\s+ON\s+ROLE\s+${IDENT}`, 'i'),
];
const TABLESPACE_SUBJECT = [
  new RegExp(String.raw`^CREATE\s+TABLESPACE\s+${IDENT}`, 'i'),
  new RegExp(String.raw`^ALTER\s+TABLESPACE\s+${IDENT}`, 'i'),
  new RegExp(String.raw`^COMMENT\s+ON\s+TABLESPACE\s+${IDENT}`, 'i'),
  new RegExp(String.raw`^SECURITY\s+LABEL\s+FOR\s+\S+\s+ON\s+TABLESPACE\s+${IDENT}`, 'i'),
  new RegExp(String.raw`^(?:GRANT|REVOKE)\s[\s\S]*?\sON\s+TABLESPACE\s+${IDENT}`, 'i'),
];

function unquote(ident: string): string {
  return ident.startsWith('"') ? ident.slice(1, -1).replace(/""/g, '"') : ident.toLowerCase();
}

/** A statement without its leading whitespace and comments. */
export function statementHead(stmt: string): string {
  let s = stmt;
  for (;;) {
    const t = s.replace(/^\s+/, '');
    if (t.startsWith('--')) {
      const nl = t.indexOf('\n');
      s = nl < 0 ? '' : t.slice(nl + 1);
    } else if (t.startsWith('/*')) {
      // Block comments nest in PostgreSQL.
      let depth = 0;
      let i = 0;
      for (; i < t.length; i++) {
        if (t.startsWith('/*', i)) {
          depth++;
          i++;
        } else if (t.startsWith('*/', i)) {
          depth--;
          i++;
          if (depth === 0) break;
        }
      }
      s = t.slice(i + 1);
    } else return t;
  }
}

/** What a globals statement is about: the role or tablespace it creates or changes, if any. */
export interface GlobalsStatement {
  /** The role whose own definition this is (CREATE/ALTER/COMMENT ON ROLE). */
  readonly role?: string;
  /** True for `CREATE ROLE`. */
  readonly createsRole?: boolean;
  /** The tablespace this statement defines, alters or grants on. */
  readonly tablespace?: string;
  /** True for `CREATE TABLESPACE`. */
  readonly createsTablespace?: boolean;
}

/** Classify one statement of `pg_dumpall --globals-only` output. */
export function classifyGlobalsStatement(stmt: string): GlobalsStatement {
  const head = statementHead(stmt);
  for (const [i, re] of ROLE_SUBJECT.entries()) {
    const m = re.exec(head);
    if (m?.[1]) return { role: unquote(m[1]), createsRole: i === 0 };
  }
  for (const [i, re] of TABLESPACE_SUBJECT.entries()) {
    const m = re.exec(head);
    if (m?.[1]) return { tablespace: unquote(m[1]), createsTablespace: i === 0 };
  }
  return {};
}

/** What a {@link createGlobalsFilter} saw. */
export interface GlobalsFilterResult {
  /** Roles the file creates that did not exist: their statements were passed on. */
  readonly createdRoles: string[];
  /** Roles the file defines that already exist: their statements were dropped. */
  readonly keptRoles: string[];
  readonly createdTablespaces: string[];
  readonly keptTablespaces: string[];
}

/**
 * A Transform over globals SQL that drops every statement defining a role or tablespace in
 * `existing` (CREATE, ALTER … WITH/PASSWORD/SET, COMMENT, SECURITY LABEL, tablespace GRANTs) and
 * passes everything else on: new roles with their attributes and password hashes, role
 * memberships (`GRANT a TO b`, additive), psql meta-commands. `result` fills in as it streams.
 */
export function createGlobalsFilter(existing: {
  readonly roles: ReadonlySet<string>;
  readonly tablespaces: ReadonlySet<string>;
}): { stream: Transform; result: GlobalsFilterResult } {
  const splitter = new SqlStatementSplitter();
  const decoder = new StringDecoder('utf8');
  const result: GlobalsFilterResult = { createdRoles: [], keptRoles: [], createdTablespaces: [], keptTablespaces: [] };
  const pass = (stmts: string[]): string => {
    let out = '';
    for (const st of stmts) {
      const c = classifyGlobalsStatement(st);
      if (c.role !== undefined) {
        const keep = existing.roles.has(c.role);
        if (c.createsRole) (keep ? result.keptRoles : result.createdRoles).push(c.role);
        if (keep) continue;
      } else if (c.tablespace !== undefined) {
        const keep = existing.tablespaces.has(c.tablespace);
        if (c.createsTablespace) (keep ? result.keptTablespaces : result.createdTablespaces).push(c.tablespace);
        if (keep) continue;
      }
      out += st;
    }
    return out;
  };
  const stream = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
      done(null, pass(splitter.push(decoder.write(chunk))));
    },
    flush(done: TransformCallback): void {
      done(null, pass([...splitter.push(decoder.end()), ...splitter.end()]));
    },
  });
  return { stream, result };
}

/**
 * A pass-through Transform that records the roles and tablespaces globals SQL creates (names
 * only: the bytes, with their password hashes, go on untouched and are never kept).
 */
export function createGlobalsObserver(): { stream: Transform; roles: string[]; tablespaces: string[] } {
  const splitter = new SqlStatementSplitter();
  const decoder = new StringDecoder('utf8');
  const roles: string[] = [];
  const tablespaces: string[] = [];
  const see = (stmts: string[]): void => {
    for (const st of stmts) {
      const c = classifyGlobalsStatement(st);
      if (c.createsRole && c.role !== undefined) roles.push(c.role);
      if (c.createsTablespace && c.tablespace !== undefined) tablespaces.push(c.tablespace);
    }
  };
  const stream = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
      see(splitter.push(decoder.write(chunk)));
      done(null, chunk);
    },
    flush(done: TransformCallback): void {
      see([...splitter.push(decoder.end()), ...splitter.end()]);
      done();
    },
  });
  return { stream, roles, tablespaces };
}
