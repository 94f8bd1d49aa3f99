import { describe, expectTypeOf, it } from 'vitest';
import {
  type BackupSource,
  createBackupPlan,
  createRestorePlan,
  type DuplicatiKitError,
  type PrepareResult,
  type RestoreReport,
  type RestoreTarget,
  isPlanError,
  type PlanError,
} from '../../src/index.js';
import {
  ImmichApiClient,
  type ImmichApiOptions,
  ImmichClient,
  type ImmichClientOptions,
  IMMICH_DATABASE_KIND,
  IMMICH_DB_KIND,
} from '../../src/apps/immich/index.js';
import { isJellyfinLayoutError, type JellyfinLayoutError } from '../../src/apps/jellyfin/index.js';
import { isDuplicatiServerError, type DuplicatiServerError } from '../../src/duplicati/index.js';

describe('public API types', () => {
  it('plans take sources and targets and return typed results', () => {
    expectTypeOf(createBackupPlan).parameter(0).toHaveProperty('sources').toEqualTypeOf<readonly BackupSource[]>();
    expectTypeOf<ReturnType<typeof createBackupPlan>['prepare']>().returns.resolves.toEqualTypeOf<PrepareResult>();
    expectTypeOf(createRestorePlan).parameter(0).toHaveProperty('targets').toEqualTypeOf<readonly RestoreTarget[]>();
    expectTypeOf<ReturnType<typeof createRestorePlan>['run']>().returns.resolves.toEqualTypeOf<RestoreReport>();
  });

  it('guards narrow unknown errors', () => {
    const e: unknown = new Error('x');
    if (isPlanError(e)) {
      expectTypeOf(e).toEqualTypeOf<PlanError>();
      expectTypeOf(e).toMatchTypeOf<DuplicatiKitError>();
      expectTypeOf(e.results[0]!.ok).toEqualTypeOf<boolean>();
    }
  });

  it('the new guards narrow to their classes, which are DuplicatiKitErrors', () => {
    const e: unknown = new Error('x');
    if (isJellyfinLayoutError(e)) {
      expectTypeOf(e).toEqualTypeOf<JellyfinLayoutError>();
      expectTypeOf(e).toMatchTypeOf<DuplicatiKitError>();
    }
    if (isDuplicatiServerError(e)) expectTypeOf(e.status).toEqualTypeOf<number>();
    expectTypeOf<DuplicatiServerError>().toMatchTypeOf<DuplicatiKitError>();
  });

  it('deprecated aliases are the renamed names, as values and as types', () => {
    expectTypeOf(ImmichApiClient).toEqualTypeOf(ImmichClient);
    expectTypeOf<ImmichApiClient>().toEqualTypeOf<ImmichClient>();
    expectTypeOf<ImmichApiOptions>().toEqualTypeOf<ImmichClientOptions>();
    expectTypeOf(IMMICH_DB_KIND).toEqualTypeOf(IMMICH_DATABASE_KIND);
    expectTypeOf<typeof IMMICH_DATABASE_KIND>().toEqualTypeOf<'immich.postgres'>();
  });
});
