/**
 * The extra pg_dump options a user may give (`pgDumpArgs`): an allow-list of options that only
 * choose what is dumped, parsed the way pg_dump's getopt reads them (`--opt=value`, `--opt value`,
 * `-t value`, `-tvalue`, bundled `-Ox`) and handed on in one unambiguous form (`--opt` or
 * `--opt=value`). Anything else — the output file, format, compression, encoding, connection,
 * a positional argument, an abbreviated long option — is refused: the source decides where and
 * how the dump is written.
 *
 * @module
 */

interface PgDumpOption {
  readonly value: boolean;
  /**
   * Narrows which tables' data is dumped, or under which name (a table with rows whose data the
   * dump lacks is then not an error).
   */
  readonly filter?: boolean;
}

/** Options pg_dump accepts from `pgDumpArgs`, by long name. */
const ALLOWED: Readonly<Record<string, PgDumpOption>> = {
  table: { value: true, filter: true },
  'exclude-table': { value: true, filter: true },
  'exclude-table-data': { value: true, filter: true },
  'table-and-children': { value: true, filter: true },
  'exclude-table-and-children': { value: true, filter: true },
  'exclude-table-data-and-children': { value: true, filter: true },
  schema: { value: true, filter: true },
  'exclude-schema': { value: true, filter: true },
  extension: { value: true, filter: true },
  'exclude-extension': { value: true, filter: true },
  'include-foreign-data': { value: true },
  'no-unlogged-table-data': { value: false, filter: true },
  'enable-row-security': { value: false, filter: true },
  'lock-wait-timeout': { value: true },
  'extra-float-digits': { value: true },
  role: { value: true },
  superuser: { value: true },
  'no-owner': { value: false },
  'no-privileges': { value: false },
  'no-acl': { value: false },
  'no-comments': { value: false },
  'no-publications': { value: false },
  'no-subscriptions': { value: false },
  'no-security-labels': { value: false },
  'no-tablespaces': { value: false },
  'no-table-access-method': { value: false },
  'no-toast-compression': { value: false },
  'no-sync': { value: false },
  'quote-all-identifiers': { value: false },
  'load-via-partition-root': { value: false, filter: true },
  'disable-triggers': { value: false },
  'disable-dollar-quoting': { value: false },
  'use-set-session-authorization': { value: false },
  'strict-names': { value: false },
  blobs: { value: false },
  'no-blobs': { value: false },
  'large-objects': { value: false },
  'no-large-objects': { value: false },
  verbose: { value: false },
};

/** pg_dump's short options that map to an allowed long one. */
const SHORT: Readonly<Record<string, string>> = {
  t: 'table',
  T: 'exclude-table',
  n: 'schema',
  N: 'exclude-schema',
  e: 'extension',
  S: 'superuser',
  O: 'no-owner',
  x: 'no-privileges',
  b: 'blobs',
  B: 'no-blobs',
  v: 'verbose',
};

/** What {@link parsePgDumpArgs} made of `pgDumpArgs`. */
export interface ParsedPgDumpArgs {
  /** The options as pg_dump gets them: `--name` or `--name=value`, nothing else. */
  readonly args: string[];
  /** Some option narrows which tables' data is dumped. */
  readonly filters: boolean;
}

/** Thrown by {@link parsePgDumpArgs}: the message names the option and says why. */
export class PgDumpArgsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PgDumpArgsError';
  }
}

function refuse(arg: string, why: string): never {
  throw new PgDumpArgsError(`pgDumpArgs: "${arg}" ${why}`);
}

/**
 * Parse `pgDumpArgs` as pg_dump's getopt would and return them in one unambiguous form.
 *
 * @throws {PgDumpArgsError} on an option outside the allow-list, an abbreviated long option, a
 *   missing or empty value, or an argument that is not an option.
 */
export function parsePgDumpArgs(input: readonly string[]): ParsedPgDumpArgs {
  const args: string[] = [];
  let filters = false;
  const add = (name: string, value: string | undefined, raw: string): void => {
    const spec = ALLOWED[name];
    if (!spec) refuse(raw, 'is not an option pgDumpArgs allows');
    if (spec.value && (value === undefined || value === '')) refuse(raw, 'needs a value');
    if (!spec.value && value !== undefined) refuse(raw, 'takes no value');
    if (spec.filter) filters = true;
    args.push(value === undefined ? `--${name}` : `--${name}=${value}`);
  };
  for (let i = 0; i < input.length; i++) {
    const arg = input[i] as string;
    const next = (): string | undefined => {
      i++;
      return input[i];
    };
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const spec = ALLOWED[name];
      if (name === '') refuse(arg, 'is not allowed (pg_dump would read what follows as its database name)');
      if (!spec) {
        const full = Object.keys(ALLOWED).filter((k) => k.startsWith(name));
        refuse(
          arg,
          full.length === 1 && name.length > 0
            ? `is an abbreviation; write the full option name --${full[0]}`
            : 'is not an option pgDumpArgs allows (the source sets the file, format, compression, encoding, connection and snapshot)',
        );
      }
      add(name, eq < 0 ? (spec?.value ? next() : undefined) : arg.slice(eq + 1), arg);
      continue;
    }
    if (!arg.startsWith('-') || arg.length < 2)
      refuse(arg, 'is not an option (pg_dump would read it as its database name)');
    // Bundled short options: flags first, then at most one option whose value is attached or next.
    for (let k = 1; k < arg.length; k++) {
      const ch = arg[k] as string;
      const name = SHORT[ch];
      if (!name) refuse(arg, `contains -${ch}, which pgDumpArgs does not allow`);
      const spec = ALLOWED[name as string] as PgDumpOption;
      if (!spec.value) {
        add(name as string, undefined, arg);
        continue;
      }
      const attached = arg.slice(k + 1);
      add(name as string, attached !== '' ? attached : next(), arg);
      break;
    }
  }
  return { args, filters };
}
