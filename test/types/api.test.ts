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
});
