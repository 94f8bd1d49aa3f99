import { describe, expect, it } from 'vitest';
import { checklistExitCode } from '../../../src/cli/commands/restore.js';
import { ExitCode } from '../../../src/cli/exit-codes.js';
import { isConfigError } from '../../../src/core/errors.js';
import {
  CHECKLIST_GATES,
  type ChecklistReport,
  restoreWithChecklist,
  wayBackOf,
} from '../../../src/ops/checklist-restore.js';
import { newRestoreId, readRestoreRecord } from '../../../src/ops/restore-points.js';
import { DirectoryTarget } from '../../../src/engines/directory/target.js';
import { SqliteTarget } from '../../../src/engines/sqlite/target.js';
import type { RestoreTarget } from '../../../src/contracts/types.js';
import { MemoryTarget } from '../../helpers/fake-sources.js';

describe('restoreWithChecklist options', () => {
  it('refuses bad options with every path, before anything runs', async () => {
    const t = new MemoryTarget('t');
    for (const [options, path] of [
      [{ targets: [t], stateDir: '/s' }, 'from'],
      [{ targets: [t], stateDir: '/s', from: '/a', duplicati: { client: { backups: {} } as never, job: 'x' } }, 'from'],
      [{ targets: [], stateDir: '/s', from: '/a' }, 'targets'],
      [{ targets: [t], from: '/a' }, 'stateDir'],
      [{ targets: [t], stateDir: '/s', from: '/a', maintenance: { stop: ['systemctl stop x'] } }, 'maintenance.stop.0'],
      [{ targets: [t], stateDir: '/s', from: '/a', allowNoWayBack: 'yes' }, 'allowNoWayBack'],
    ] as const) {
      const e = await restoreWithChecklist(options as never).catch((x: unknown) => x);
      expect(isConfigError(e), JSON.stringify(options)).toBe(true);
      expect((e as { issues: { path: string }[] }).issues.map((i) => i.path)).toContain(path);
    }
  });
});

describe('wayBackOf', () => {
  it('tells targets that keep a restore point from those that write nothing and those that cannot', () => {
    expect(wayBackOf(new SqliteTarget({ path: '/srv/app.db' })).kind).toBe('rollback');
    expect(wayBackOf(new DirectoryTarget({ source: 'photos' })).kind).toBe('none-needed');
    const bare: RestoreTarget = {
      name: 'bare',
      kind: 'custom',
      accepts: () => true,
      verify: async () => ({ ok: true, checks: [] }),
      restore: async () => ({ restored: [] }),
    };
    expect(wayBackOf(bare)).toMatchObject({ kind: 'none', target: 'bare' });
    expect(wayBackOf(Object.assign(bare, { options: { scratch: true } })).kind).toBe('none-needed');
  });
});

describe('restore records', () => {
  it('ids sort by time; a bad id is a ConfigError, a missing one a typed error', async () => {
    const a = newRestoreId(new Date('2026-01-01T00:00:00Z'));
    const b = newRestoreId(new Date('2026-01-01T00:00:01Z'));
    expect(a).toMatch(/^20260101T000000000Z-[0-9a-f]{6}$/);
    expect(a < b).toBe(true);
    await expect(readRestoreRecord('/nonexistent', '../../etc/passwd')).rejects.toSatisfy(isConfigError);
    await expect(readRestoreRecord('/nonexistent-dk-state', a)).rejects.toMatchObject({ code: 'ERR_NO_RESTORE_POINT' });
  });
});

describe('checklistExitCode', () => {
  const report = (failed: { id: string; code?: string } | null): ChecklistReport =>
    ({
      ok: failed === null,
      gates: CHECKLIST_GATES.map((g, i) => ({
        ...g,
        status: failed?.id === g.id ? 'failed' : 'passed',
        ranAs: i + 1,
        ...(failed?.id === g.id && failed.code ? { code: failed.code } : {}),
      })),
    }) as unknown as ChecklistReport;
  it('maps the first failed gate to the documented exit codes', () => {
    expect(checklistExitCode(report(null))).toBe(ExitCode.Success);
    expect(checklistExitCode(report({ id: 'verify' }))).toBe(ExitCode.VerificationFailed);
    expect(checklistExitCode(report({ id: 'identify', code: 'ERR_DUPLICATI_CONNECTION' }))).toBe(ExitCode.Unavailable);
    expect(checklistExitCode(report({ id: 'record' }))).toBe(ExitCode.PlanFailed);
    expect(checklistExitCode(report({ id: 'restore' }))).toBe(ExitCode.PlanFailed);
  });
});
