import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImmichDatabaseSource, ImmichDatabaseTarget } from '../../../../src/apps/immich/index.js';
import { makeContext, tempDir } from '../../../helpers/context.js';
import { databasesLike, dropDatabases, PG, pgAvailable, sql, uniqueDb } from '../../engines/postgres/pg-helpers.js';
import { restoreInputFor } from '../../engines/postgres/restore-input.js';
import { createImmichSchema } from './fixture.js';

const available = await pgAvailable();

/**
 * `readAssetPaths` reads a plain or gzipped Immich dump's asset rows straight from its COPY data:
 * what it hands over must be exactly what the database holds, escapes and both schema generations
 * included, with no database created on the way.
 */
describe.skipIf(!available)('ImmichDatabaseTarget.readAssetPaths from a real pg_dump', () => {
  const dbs = { singular: uniqueDb('immich_paths'), plural: uniqueDb('immich_paths_old') };
  let work: { dir: string; cleanup: () => Promise<void> };

  beforeAll(async () => {
    work = await tempDir('dk-asset-paths-');
    for (const [generation, db] of Object.entries(dbs) as ['singular' | 'plural', string][]) {
      await sql('postgres', `CREATE DATABASE ${db}`);
      await createImmichSchema(db, generation, {
        version: generation === 'singular' ? 'v2.5.6' : 'v1.135.3',
        seed: 11,
      });
      const table = generation === 'singular' ? 'asset' : 'assets';
      // Paths pg_dump has to escape: a tab, a backslash, a newline, and non-ASCII text.
      await sql(
        db,
        `UPDATE ${table} SET "originalPath" = E'/data/upload/odd/tab\\there\\\\back\\nline-été.jpg'
          WHERE id = (SELECT id FROM ${table} WHERE status = 'active' ORDER BY id LIMIT 1)`,
      );
    }
  });

  afterAll(async () => {
    await dropDatabases([...(await databasesLike(dbs.singular)), ...(await databasesLike(dbs.plural))]);
    await work.cleanup();
  });

  for (const generation of ['singular', 'plural'] as const) {
    for (const format of ['sql', 'sql.gz'] as const) {
      it(`${generation} schema, ${format}: every non-deleted originalPath, exactly`, async () => {
        const db = dbs[generation];
        const table = generation === 'singular' ? 'asset' : 'assets';
        const connection = { ...PG, database: db };
        const source = new ImmichDatabaseSource({
          name: `paths-${generation}-${format.replace('.', '-')}`,
          connection,
          executor: 'local',
          format,
        });
        const prepared = await source.prepare(makeContext(work.dir, source.name));
        const input = restoreInputFor(source, prepared, work.dir);
        const target = new ImmichDatabaseTarget({ connection, executor: 'local', scratch: true });
        const seen: string[] = [];
        const before = await databasesLike(db);
        const report = await target.readAssetPaths(input, makeContext(work.dir, 'check'), (paths) => {
          seen.push(...paths);
        });
        expect(report.checks).toEqual([
          {
            name: 'asset-paths',
            ok: true,
            detail: `${seen.length} asset paths read from the dump's public.${table} data`,
          },
        ]);
        expect(report.ok).toBe(true);
        const expected = await sql<{ p: string }>(
          db,
          `SELECT "originalPath" AS p FROM ${table} WHERE status::text <> 'deleted'`,
        );
        expect(seen.sort()).toEqual(expected.map((r) => r.p).sort());
        expect(seen).toContain('/data/upload/odd/tab\there\\back\nline-été.jpg');
        expect(await databasesLike(db)).toEqual(before); // nothing was loaded anywhere
      });
    }
  }
});
