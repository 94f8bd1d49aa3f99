/**
 * Immich on a new host: rewrite the absolute paths its database stores under a recovery's path
 * map, and check the restored database against the restored library.
 *
 * The columns are the ones Immich's own media-location migration rewrites
 * (`server/src/repositories/database.repository.ts` `migrateFilePaths`: `asset.originalPath`,
 * `asset.encodedVideoPath`, `asset_file.path`, `person.thumbnailPath`, `user.profileImagePath`),
 * plus the older generations' names (`assets`, `asset_files`, `users`, `sidecarPath`,
 * `previewPath`, `thumbnailPath`, `resizePath`, `webpPath`), the external libraries'
 * `importPaths` and the `MediaLocation` entry of `system_metadata` (which Immich compares at boot).
 * Only the columns that exist are touched, in one transaction.
 *
 * In a Docker install the database holds container paths (`/data/…`): a host path map does not
 * match them and nothing is rewritten, which is right (the container mount stays `/data`). Give a
 * mapping of the container prefix itself (e.g. `/usr/src/app/upload=/data`) to move it.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import type { JsonValue, StoredPathMapping, VerificationReport } from '../../contracts/types.js';
import { normalizePathMap, pathMapSql } from '../../core/path-map.js';
import { quoteIdent, quoteLiteral, type SqlSession } from '../../engines/postgres/index.js';
import { detectGeneration, IMMICH_CONTAINER_PREFIXES, streamAssetPaths } from './schema.js';

/** Table → columns holding absolute paths, both schema generations. */
export const IMMICH_PATH_COLUMNS: Readonly<Record<string, readonly string[]>> = {
  asset: ['originalPath', 'encodedVideoPath', 'sidecarPath', 'previewPath', 'thumbnailPath'],
  assets: ['originalPath', 'encodedVideoPath', 'sidecarPath', 'previewPath', 'thumbnailPath', 'resizePath', 'webpPath'],
  asset_file: ['path'],
  asset_files: ['path'],
  person: ['thumbnailPath'],
  user: ['profileImagePath'],
  users: ['profileImagePath'],
  library: ['importPaths'],
  libraries: ['importPaths'],
};

/** One rewritten column and how many rows changed. */
export interface ImmichRewrite {
  readonly table: string;
  readonly column: string;
  readonly rows: number;
}

/**
 * Rewrite every stored path under `map` inside the database of `session`, in one transaction
 * (rolled back on any error).
 *
 * @example
 * ```ts
 * await rewriteImmichPaths(session, [{ from: '/srv/immich/library', to: '/data/immich' }]);
 * ```
 */
export async function rewriteImmichPaths(
  session: SqlSession,
  map: readonly StoredPathMapping[],
): Promise<{ columns: ImmichRewrite[]; mediaLocation: string | null }> {
  const m = normalizePathMap(map);
  const out: ImmichRewrite[] = [];
  if (m.length === 0) return { columns: out, mediaLocation: null };
  const tables = Object.keys(IMMICH_PATH_COLUMNS).map(quoteLiteral).join(', ');
  const found = await session.query<{ table_name: string; column_name: string; data_type: string }>(
    `SELECT table_name, column_name, data_type FROM information_schema.columns
      WHERE table_schema = 'public' AND table_name IN (${tables}) ORDER BY table_name, column_name`,
  );
  let mediaLocation: string | null = null;
  await session.query('BEGIN');
  try {
    for (const c of found) {
      if (!IMMICH_PATH_COLUMNS[c.table_name]?.includes(c.column_name)) continue;
      const t = `public.${quoteIdent(c.table_name)}`;
      const col = quoteIdent(c.column_name);
      let sql: string;
      if (c.data_type === 'ARRAY') {
        const el = pathMapSql('x', m);
        sql = `UPDATE ${t} SET ${col} = ARRAY(SELECT ${el.expr} FROM unnest(${col}) WITH ORDINALITY AS u(x, i) ORDER BY i)
                WHERE EXISTS (SELECT 1 FROM unnest(${col}) AS u(x) WHERE ${el.cond})`;
      } else if (c.data_type === 'text' || c.data_type === 'character varying') {
        const v = pathMapSql(col, m);
        sql = `UPDATE ${t} SET ${col} = ${v.expr} WHERE ${v.cond}`;
      } else {
        continue;
      }
      const r = await session.query<{ n: string | number }>(
        `WITH u AS (${sql} RETURNING 1) SELECT count(*) AS n FROM u`,
      );
      out.push({ table: c.table_name, column: c.column_name, rows: Number(r[0]?.n ?? 0) });
    }
    const hasMeta = await session.query<{ ok: boolean }>(
      "SELECT to_regclass('public.system_metadata') IS NOT NULL AS ok",
    );
    if (hasMeta[0]?.ok) {
      const loc = pathMapSql(`(value->>'location')`, m);
      const r = await session.query<{ location: string }>(
        `UPDATE public.system_metadata SET value = jsonb_set(value::jsonb, '{location}', to_jsonb(${loc.expr}))
          WHERE key = 'MediaLocation' AND ${loc.cond} RETURNING value->>'location' AS location`,
      );
      mediaLocation = r[0]?.location ?? null;
    }
    await session.query('COMMIT');
  } catch (e) {
    await session.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
  return { columns: out, mediaLocation };
}

/** Where an `originalPath` is on this host: container prefixes under `uploadLocation`, else as is. */
function onHost(p: string, uploadLocation: string | undefined): string | undefined {
  for (const prefix of IMMICH_CONTAINER_PREFIXES) {
    if (p.startsWith(prefix))
      return uploadLocation ? `${uploadLocation.replace(/\/+$/, '')}/${p.slice(prefix.length)}` : undefined;
  }
  return p.startsWith('/') ? p : undefined;
}

/**
 * The restored database against the restored library: every asset's original (status `deleted`
 * left out) must exist. Container paths (`/data/…`) are looked up under `uploadLocation`.
 */
export async function checkImmichRecovery(
  session: SqlSession,
  options: { uploadLocation?: string; samples?: number; signal?: AbortSignal } = {},
): Promise<VerificationReport> {
  const generation = await detectGeneration(session);
  if (!generation) return { ok: false, checks: [{ name: 'immich-schema', ok: false, detail: 'no Immich tables' }] };
  const missing: string[] = [];
  let checked = 0;
  let unmapped = 0;
  for await (const batch of streamAssetPaths(session, generation)) {
    options.signal?.throwIfAborted();
    const found = await Promise.all(
      batch.map(async (p) => {
        const host = onHost(p, options.uploadLocation);
        if (host === undefined) return 'unmapped';
        return (await fsp.lstat(host).catch(() => undefined)) ? 'ok' : p;
      }),
    );
    for (const f of found) {
      if (f === 'unmapped') unmapped += 1;
      else if (f !== 'ok') missing.push(f);
    }
    checked += batch.length;
  }
  const n = options.samples ?? 20;
  const checks = [
    { name: 'immich-schema', ok: true, detail: generation },
    {
      name: 'asset-originals',
      ok: missing.length === 0 && unmapped === 0,
      detail:
        unmapped > 0
          ? `${unmapped} of ${checked} asset paths are container paths: give the Immich target library.uploadLocation to check them`
          : missing.length > 0
            ? `${missing.length} of ${checked} originals missing: ${missing.slice(0, n).join(', ')}${missing.length > n ? ', …' : ''}`
            : `${checked} originals present`,
    },
  ];
  return { ok: checks.every((c) => c.ok), checks };
}

/** JSON of a rewrite, for the evidence. */
export function rewriteEvidence(r: { columns: ImmichRewrite[]; mediaLocation: string | null }): JsonValue {
  return {
    rows: r.columns.reduce((n, c) => n + c.rows, 0),
    columns: r.columns.map((c) => ({ table: c.table, column: c.column, rows: c.rows })),
    mediaLocation: r.mediaLocation,
  };
}
