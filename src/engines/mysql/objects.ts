/**
 * Triggers, views, routines and events of a MySQL/MariaDB database: read with `SHOW CREATE …`
 * (definer, sql_mode, character set and time zone kept), dropped, created again in another
 * database, and kept as rows in a safety database so a swap can put them back exactly.
 * `RENAME TABLE` carries none of them across databases; `MysqlTarget` uses this module to swap a
 * database that has them.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { type MysqlEndpoint, quoteMysqlIdent, quoteMysqlLiteral } from './client.js';

/** What kind of schema object. */
export type MysqlObjectKind = 'trigger' | 'view' | 'procedure' | 'function' | 'event';

/** One schema object as `SHOW CREATE …` reports it, with the session settings it was created under. */
export interface MysqlObject {
  readonly kind: MysqlObjectKind;
  readonly name: string;
  /** The full `CREATE …` statement (DEFINER included). */
  readonly definition: string;
  /** sql_mode it was created under (views have none). */
  readonly sqlMode: string | null;
  /** time_zone of an event (its STARTS/ENDS are in it). */
  readonly timeZone: string | null;
  readonly characterSetClient: string;
  readonly collationConnection: string;
}

/** Name of the table holding the live database's objects inside a safety database. */
export const MYSQL_OBJECTS_TABLE = '_duplicati_kit_objects';

/** Name of the table holding the restored database's objects while a swap is under way. */
export const MYSQL_NEW_OBJECTS_TABLE = '_duplicati_kit_new_objects';

/** Name of the table recording a swap under way in its safety database (see `MysqlTarget`). */
export const MYSQL_SWAP_TABLE = '_duplicati_kit_swap';

/** The swap's own tables in a safety database; they never move. */
const KIT_TABLES: ReadonlySet<string> = new Set([MYSQL_OBJECTS_TABLE, MYSQL_NEW_OBJECTS_TABLE, MYSQL_SWAP_TABLE]);

const KINDS: readonly MysqlObjectKind[] = ['trigger', 'view', 'procedure', 'function', 'event'];
/** Creation order: views may call functions; triggers and events only run later. */
const CREATE_ORDER: readonly MysqlObjectKind[] = ['function', 'procedure', 'view', 'trigger', 'event'];

const SHOW: Readonly<Record<MysqlObjectKind, string>> = {
  trigger: 'TRIGGER',
  view: 'VIEW',
  procedure: 'PROCEDURE',
  function: 'FUNCTION',
  event: 'EVENT',
};

/** `NULL` as the client prints it in batch mode. */
const orNull = (v: string | undefined): string | null => (v === undefined || v === 'NULL' ? null : v);

/** Names of the schema objects of `db`, triggers in their firing order. */
export async function listMysqlObjects(
  endpoint: MysqlEndpoint,
  db: string,
  signal: AbortSignal,
): Promise<{ kind: MysqlObjectKind; name: string }[]> {
  const lit = quoteMysqlLiteral(db);
  const rows = await endpoint.query(
    [
      `SELECT 'trigger', TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_ORDER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ${lit}`,
      `SELECT 'view', TABLE_NAME, '', 0 FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ${lit}`,
      `SELECT LOWER(ROUTINE_TYPE), ROUTINE_NAME, '', 0 FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ${lit}`,
      `SELECT 'event', EVENT_NAME, '', 0 FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ${lit}`,
    ].join(' UNION ALL ') + ' ORDER BY 1, 3, 4, 2;',
    signal,
  );
  return rows.map(([kind = '', name = '']) => {
    if (!(KINDS as readonly string[]).includes(kind)) {
      throw new Error(`${db} holds a ${kind} ${name}, which the swap cannot carry over; restore it by hand`);
    }
    return { kind: kind as MysqlObjectKind, name };
  });
}

/**
 * Every trigger, view, procedure, function and event of `db` with its `SHOW CREATE` statement,
 * read in one client call with `db` as the default database (so names in it stay unqualified).
 */
export async function readMysqlObjects(
  endpoint: MysqlEndpoint,
  db: string,
  signal: AbortSignal,
): Promise<MysqlObject[]> {
  const names = await listMysqlObjects(endpoint, db, signal);
  if (!names.length) return [];
  const sql = [
    'SET NAMES utf8mb4;',
    ...names.map((o) => `SHOW CREATE ${SHOW[o.kind]} ${quoteMysqlIdent(db)}.${quoteMysqlIdent(o.name)};`),
  ].join('\n');
  const rows = await endpoint.query(sql, signal, db);
  if (rows.length !== names.length) {
    throw new Error(`SHOW CREATE returned ${rows.length} rows for ${names.length} objects of ${db}`);
  }
  return names.map((o, i) => {
    const r = rows[i] ?? [];
    // Column layouts differ per kind (see the MariaDB/MySQL SHOW CREATE reference).
    const [definition, sqlMode, timeZone, cs, coll] =
      o.kind === 'trigger'
        ? [r[2], r[1], null, r[3], r[4]]
        : o.kind === 'view'
          ? [r[1], null, null, r[2], r[3]]
          : o.kind === 'event'
            ? [r[3], r[1], r[2], r[4], r[5]]
            : [r[2], r[1], null, r[3], r[4]];
    const text = orNull(definition ?? undefined);
    if (!text) {
      throw new Error(`cannot read the definition of ${o.kind} ${db}.${o.name} (missing privilege?)`);
    }
    return {
      kind: o.kind,
      name: o.name,
      definition: text,
      sqlMode: orNull(sqlMode ?? undefined),
      timeZone: orNull(timeZone ?? undefined),
      characterSetClient: orNull(cs ?? undefined) ?? 'utf8mb4',
      collationConnection: orNull(coll ?? undefined) ?? 'utf8mb4_general_ci',
    };
  });
}

/** Drop every trigger, view, routine and event of `db`. */
export async function dropMysqlObjects(endpoint: MysqlEndpoint, db: string, signal: AbortSignal): Promise<void> {
  const names = await listMysqlObjects(endpoint, db, signal);
  if (!names.length) return;
  const q = quoteMysqlIdent;
  await endpoint.query(
    names.map((o) => `DROP ${SHOW[o.kind]} IF EXISTS ${q(db)}.${q(o.name)};`).join('\n'),
    signal,
    db,
  );
}

/** Views ordered so that one using another comes after it. */
function orderViews(views: readonly MysqlObject[]): MysqlObject[] {
  const pending = new Map(views.map((v) => [v.name, v]));
  const out: MysqlObject[] = [];
  const visit = (v: MysqlObject, seen: Set<string>): void => {
    if (!pending.has(v.name) || seen.has(v.name)) return;
    seen.add(v.name);
    for (const other of pending.values()) {
      if (other !== v && v.definition.includes(quoteMysqlIdent(other.name))) visit(other, seen);
    }
    if (pending.delete(v.name)) out.push(v);
  };
  for (const v of views) visit(v, new Set());
  return out;
}

/** Objects in the order they can be created. */
export function creationOrder(objects: readonly MysqlObject[]): MysqlObject[] {
  return CREATE_ORDER.flatMap((kind) => {
    const list = objects.filter((o) => o.kind === kind);
    return kind === 'view' ? orderViews(list) : list;
  });
}

/**
 * The definition is sent as UTF-8; the recorded client character set is kept when it reads UTF-8
 * the same way (or the text is plain ASCII), else utf8mb4 is used so no character is mangled.
 */
function clientCharset(o: MysqlObject): { cs: string; coll: string } {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: plain ASCII test
  const ascii = /^[\x00-\x7f]*$/.test(o.definition);
  if (ascii || /^utf8(mb[34])?$/i.test(o.characterSetClient)) {
    return { cs: o.characterSetClient, coll: o.collationConnection };
  }
  return { cs: 'utf8mb4', coll: 'utf8mb4_general_ci' };
}

/**
 * Create `objects` in `db`, in dependency order, each under its own sql_mode, character set and
 * time zone, in one client call that stops at the first error. `rewrite` may change a definition
 * first (e.g. a DEFINER this server lacks).
 */
export async function createMysqlObjects(
  endpoint: MysqlEndpoint,
  db: string,
  objects: readonly MysqlObject[],
  signal: AbortSignal,
  rewrite?: (o: MysqlObject) => string,
): Promise<void> {
  if (!objects.length) return;
  const ordered = creationOrder(objects).map((o) => ({ ...o, definition: rewrite ? rewrite(o) : o.definition }));
  let delimiter = `$$dk${randomBytes(4).toString('hex')}$$`;
  while (ordered.some((o) => o.definition.includes(delimiter))) delimiter = `$$dk${randomBytes(8).toString('hex')}$$`;
  const lines = [`DELIMITER ${delimiter}`];
  for (const o of ordered) {
    const { cs, coll } = clientCharset(o);
    if (o.sqlMode !== null) lines.push(`SET SESSION sql_mode = ${quoteMysqlLiteral(o.sqlMode)}${delimiter}`);
    if (o.timeZone !== null) lines.push(`SET SESSION time_zone = ${quoteMysqlLiteral(o.timeZone)}${delimiter}`);
    lines.push(
      `SET SESSION character_set_client = ${quoteMysqlLiteral(cs)}, character_set_results = ${quoteMysqlLiteral(cs)}, collation_connection = ${quoteMysqlLiteral(coll)}${delimiter}`,
    );
    lines.push(`${o.definition}${delimiter}`);
  }
  await endpoint.query(`SET NAMES utf8mb4;\n${lines.join('\n')}\n`, signal, db);
}

/** Keep `objects` as rows of {@link MYSQL_OBJECTS_TABLE} in `db` (the safety database). */
export async function saveMysqlObjects(
  endpoint: MysqlEndpoint,
  db: string,
  objects: readonly MysqlObject[],
  signal: AbortSignal,
  table = MYSQL_OBJECTS_TABLE,
): Promise<void> {
  const t = `${quoteMysqlIdent(db)}.${quoteMysqlIdent(table)}`;
  const lit = (v: string | null): string => (v === null ? 'NULL' : quoteMysqlLiteral(v));
  const sql = [
    'SET NAMES utf8mb4;',
    `CREATE TABLE ${t} (ord INT PRIMARY KEY, kind VARCHAR(16) NOT NULL, name VARCHAR(64) NOT NULL, definition LONGTEXT NOT NULL, sql_mode TEXT NULL, time_zone VARCHAR(64) NULL, character_set_client VARCHAR(64) NOT NULL, collation_connection VARCHAR(64) NOT NULL) DEFAULT CHARSET=utf8mb4;`,
    ...objects.map(
      (o, i) =>
        `INSERT INTO ${t} VALUES (${i}, ${lit(o.kind)}, ${lit(o.name)}, ${lit(o.definition)}, ${lit(o.sqlMode)}, ${lit(o.timeZone)}, ${lit(o.characterSetClient)}, ${lit(o.collationConnection)});`,
    ),
  ];
  await endpoint.query(sql.join('\n'), signal);
}

/** The objects kept by {@link saveMysqlObjects}; none when `db` has no such table. */
export async function loadMysqlObjects(
  endpoint: MysqlEndpoint,
  db: string,
  signal: AbortSignal,
  table = MYSQL_OBJECTS_TABLE,
): Promise<MysqlObject[]> {
  const has = await endpoint.query(
    `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${quoteMysqlLiteral(db)} AND TABLE_NAME = ${quoteMysqlLiteral(table)};`,
    signal,
  );
  if (has[0]?.[0] !== '1') return [];
  const rows = await endpoint.query(
    `SET NAMES utf8mb4; SELECT kind, name, definition, sql_mode, time_zone, character_set_client, collation_connection FROM ${quoteMysqlIdent(db)}.${quoteMysqlIdent(table)} ORDER BY ord;`,
    signal,
  );
  return rows.map(([kind = '', name = '', definition = '', sqlMode, timeZone, cs = '', coll = '']) => ({
    kind: kind as MysqlObjectKind,
    name,
    definition,
    sqlMode: orNull(sqlMode),
    timeZone: orNull(timeZone),
    characterSetClient: cs,
    collationConnection: coll,
  }));
}

/** Tables `RENAME TABLE` moves between databases: base tables and (MariaDB) sequences. */
export async function movableTables(endpoint: MysqlEndpoint, db: string, signal: AbortSignal): Promise<string[]> {
  const rows = await endpoint.query(
    `SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${quoteMysqlLiteral(db)} AND TABLE_TYPE IN ('BASE TABLE', 'SEQUENCE') ORDER BY 1;`,
    signal,
  );
  return rows.map((r) => r[0] ?? '').filter((t) => !KIT_TABLES.has(t));
}

/** `a, b and 2 views` style summary for reports. */
export function describeMysqlObjects(objects: readonly { kind: MysqlObjectKind }[]): string {
  if (!objects.length) return 'no triggers, views, routines or events';
  const counts = new Map<MysqlObjectKind, number>();
  for (const o of objects) counts.set(o.kind, (counts.get(o.kind) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${n} ${k}${n === 1 ? '' : 's'}`).join(', ');
}
