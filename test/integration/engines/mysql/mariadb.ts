import { execa } from 'execa';

/** How the tests reach the MariaDB server on this machine. */
export const CONN = { host: '127.0.0.1', port: 3306, user: 'root' } as const;

/** Run SQL through the `mariadb` client; rows as arrays of tab-separated fields. */
export async function sql(text: string, database?: string): Promise<string[][]> {
  const r = await execa('mariadb', ['-h127.0.0.1', '-P3306', '-uroot', '-N', '-B', ...(database ? [database] : [])], {
    input: text,
  });
  return r.stdout === '' ? [] : r.stdout.split('\n').map((l) => l.split('\t'));
}

/** True when MariaDB answers; in CI a missing server fails loudly, elsewhere the tests skip with a message. */
export async function available(): Promise<boolean> {
  try {
    await sql('SELECT 1;');
    return true;
  } catch (e) {
    if (process.env.CI) throw new Error(`MariaDB on 127.0.0.1:3306 (root) is required in CI: ${(e as Error).message}`);
    console.warn(`skipping: no MariaDB on 127.0.0.1:3306 (root, no password): ${(e as Error).message}`);
    return false;
  }
}
