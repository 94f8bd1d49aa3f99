import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The test server: PostgreSQL on 127.0.0.1:5432, user postgres, trust auth. */
export const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' } as const;

/** True when the test server answers; in CI its absence is a failure, elsewhere a skip. */
export async function pgAvailable(): Promise<boolean> {
  const client = new pg.Client({ ...PG, database: 'postgres', connectionTimeoutMillis: 3000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.end();
    return true;
  } catch (e) {
    if (process.env.CI) throw new Error(`PostgreSQL on 127.0.0.1:5432 is required in CI: ${(e as Error).message}`);
    console.warn(`skipping: no PostgreSQL on 127.0.0.1:5432 (user postgres): ${(e as Error).message}`);
    return false;
  }
}

/** A database name no other test uses. */
export function uniqueDb(prefix: string): string {
  return `dk_${prefix}_${randomBytes(4).toString('hex')}`;
}

/** Run SQL on a database of the test server. */
export async function sql<T extends Record<string, unknown> = Record<string, unknown>>(
  database: string,
  text: string,
): Promise<T[]> {
  const client = new pg.Client({ ...PG, database });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query(text)).rows as T[];
  } finally {
    await client.end();
  }
}

/** Every database whose name starts with `prefix`. */
export async function databasesLike(prefix: string): Promise<string[]> {
  const rows = await sql<{ datname: string }>(
    'postgres',
    `SELECT datname FROM pg_database WHERE starts_with(datname, '${prefix.replace(/'/g, "''")}') ORDER BY 1`,
  );
  return rows.map((r) => r.datname);
}

/** Drop databases (terminating their connections); only ever called on names the tests created. */
export async function dropDatabases(names: readonly string[]): Promise<void> {
  for (const name of names) {
    await sql('postgres', `DROP DATABASE IF EXISTS "${name.replace(/"/g, '""')}" WITH (FORCE)`);
  }
}
