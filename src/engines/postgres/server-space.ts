/**
 * Free space inside the PostgreSQL server for a restore: the database as big as it was at backup
 * time (`pg_database_size`, recorded by the source) plus the WAL the load writes before a
 * checkpoint recycles it (up to `max_wal_size`), against the free space of the server's data
 * directory. Measured only when that directory is provably this very server's, seen from here: the
 * role may read `data_directory` (superuser or `pg_read_all_settings`), and the `postmaster.pid`
 * there names the same directory and port and a running process. Otherwise (a server on another
 * host, in a container, a role without the right) the check says it did not measure.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { pidAlive } from '../../core/lock.js';
import type { SqlSession } from './session.js';

/** The check {@link serverSpaceCheck} returns (the restore steps' `Check`). */
export interface ServerSpaceCheck {
  readonly name: 'server-space';
  readonly ok: boolean;
  readonly detail: string;
}

const MiB = 1024 * 1024;
const fmt = (n: number): string =>
  n >= 10 * 1024 * MiB ? `${(n / 1024 / MiB).toFixed(1)} GiB` : `${Math.round(n / MiB)} MiB`;

/**
 * Whether the server's data directory has room for a database of `databaseBytes` (its size when
 * it was backed up) and the WAL of loading it. `ok: true` with "not measured" when it cannot tell.
 */
export async function serverSpaceCheck(admin: SqlSession, databaseBytes: number): Promise<ServerSpaceCheck> {
  const skip = (why: string): ServerSpaceCheck => ({ name: 'server-space', ok: true, detail: `not measured: ${why}` });
  const rows = await admin.query<{ dir: string | null; port: string | null; wal: string | null }>(
    `SELECT (SELECT setting FROM pg_settings WHERE name = 'data_directory') AS dir,
            current_setting('port') AS port,
            (SELECT setting::bigint * CASE unit WHEN 'MB' THEN 1048576 WHEN 'kB' THEN 1024 ELSE 1 END
               FROM pg_settings WHERE name = 'max_wal_size') AS wal`,
  );
  const row = rows[0];
  const dir = row?.dir ?? null;
  if (!dir) return skip('the role may not read data_directory (superuser or pg_read_all_settings)');
  let pidFile: string[];
  try {
    pidFile = (await fsp.readFile(path.join(dir, 'postmaster.pid'), 'utf8')).split('\n');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    return skip(`the server's data directory ${dir} is not readable from here (${code}): another host or a container`);
  }
  const [pid, pidDir, , pidPort] = pidFile;
  if (pidDir !== dir || pidPort?.trim() !== String(row?.port) || !pidAlive(Number(pid))) {
    return skip(`${dir} here is not the data directory of the server this connection reaches`);
  }
  const st = await fsp.statfs(dir);
  const free = st.bavail * st.bsize;
  const wal = Math.min(databaseBytes, Number(row?.wal ?? 0) || 1024 * MiB);
  const need = databaseBytes + wal;
  return {
    name: 'server-space',
    ok: need <= free,
    detail:
      need <= free
        ? `${fmt(free)} free in ${dir}; the database was ${fmt(databaseBytes)} when backed up (+ up to ${fmt(wal)} of WAL)`
        : `not enough free space in ${dir}: the database was ${fmt(databaseBytes)} when backed up and loading it writes up to ${fmt(wal)} of WAL, ${fmt(free)} free`,
  };
}
