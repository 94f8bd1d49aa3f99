import { afterEach, describe, expect, it, vi } from 'vitest';
import { DumpError, isConfigError, LockedError } from '../../../src/core/errors.js';
import type { Logger } from '../../../src/core/logger.js';
import {
  type DefineHookOptions,
  defineHook,
  type HookContext,
  type HookHandler,
} from '../../../src/hooks/define-hook.js';
import { buildHookEnv, buildResultFile, type HookEnvOptions } from '../../../src/testing/hook-env.js';
import { memorySink } from './helpers.js';

async function runHook(options: Omit<DefineHookOptions, 'autoRun'>, envOptions: HookEnvOptions, signal?: AbortSignal) {
  const stdout = memorySink();
  const stderr = memorySink();
  const hook = defineHook({ ...options, autoRun: false });
  const code = await hook.run(buildHookEnv(envOptions), {
    stdout,
    stderr,
    eol: '\n',
    pathSeparator: ':',
    ...(signal ? { signal } : {}),
  });
  return { code, stdout: stdout.lines(), stderr: stderr.text() };
}

const dumpFailed = () => {
  throw new DumpError('pg_dump exited with code 1', { source: 'immich-db', kind: 'postgres', phase: 'prepare' });
};
const locked = () => {
  throw new LockedError('another run holds /srv/backup/staging/.lock', '/srv/backup/staging/.lock', undefined);
};

// [what the handler does, BEFORE, BEFORE required, AFTER] — from the exit-code table of RunScript.cs.
const matrix: [string, HookHandler, number, number, number][] = [
  ['returns nothing', () => {}, 0, 0, 0],
  ['returns a warning', () => ({ warning: 'low disk' }), 2, 0, 2],
  ['skips', () => ({ skip: true }), 1, 1, 0],
  ['skips with a reason', () => ({ skip: true, reason: 'nothing changed' }), 1, 1, 0],
  ['skips with a warning', () => ({ skip: true, warning: 'source offline' }), 3, 1, 2],
  ['reports an error but continues', () => ({ error: 'thumbnails missing', continueOperation: true }), 4, 0, 5],
  ['reports an error', () => ({ error: 'dump incomplete' }), 5, 5, 5],
  ['throws a DumpError', dumpFailed, 5, 5, 5],
  ['throws a LockedError', locked, 3, 1, 2],
  ['throws a plain Error', () => Promise.reject(new Error('boom')), 5, 5, 5],
  ['returns an outcome with a typo', () => ({ warnig: 'x' }) as never, 5, 5, 5],
  ['returns a number', () => 42 as never, 5, 5, 5],
];

describe('defineHook exit codes', () => {
  it.each(matrix)('BEFORE, handler %s → %i', async (_name, handler, expected) => {
    const r = await runHook({ before: handler }, { event: 'BEFORE' });
    expect(r.code).toBe(expected);
    // 0 and 1 must leave stderr empty (Duplicati would log a warning); 2–5 carry the message there.
    if (expected <= 1) expect(r.stderr).toBe('');
    else expect(r.stderr).not.toBe('');
  });

  it.each(matrix)('BEFORE required, handler %s → %i', async (name, handler, _b, expected) => {
    const r = await runHook({ before: handler }, { event: 'BEFORE', required: true });
    expect(r.code).toBe(expected);
    // Exit 0 with stderr is how a required script's warning reaches every server line.
    if (expected === 0) expect(r.stderr === '').toBe(name === 'returns nothing');
  });

  it.each(matrix)('AFTER, handler %s → %i', async (_name, handler, _b, _r, expected) => {
    const r = await runHook({ after: handler }, { event: 'AFTER', parsedResult: 'Success' });
    expect(r.code).toBe(expected);
    if (expected === 0) expect(r.stderr).toBe('');
  });

  it('POST-BACKUP runs postBackup with the AFTER mapping', async () => {
    const r = await runHook({ postBackup: () => ({ warning: 'slow' }) }, { event: 'POST-BACKUP' });
    expect(r.code).toBe(2);
  });

  it('puts the message where Duplicati shows it', async () => {
    const warn = await runHook({ before: () => ({ warning: 'low disk' }) }, { event: 'BEFORE' });
    expect(warn.stderr).toBe('warning: low disk\n');
    const failed = await runHook({ before: dumpFailed }, { event: 'BEFORE' });
    expect(failed.stderr).toBe('failed, operation stopped: pg_dump exited with code 1\n');
    const skipped = await runHook({ before: () => ({ skip: true, reason: 'nothing changed' }) }, { event: 'BEFORE' });
    expect(skipped.stdout).toEqual(['LOG:INFO skipped: nothing changed']);
    const requiredWarn = await runHook(
      { before: () => ({ warning: 'low disk' }) },
      { event: 'BEFORE', required: true },
    );
    // 2.0.x reads no LOG: lines: a required script's warning is stderr with exit code 0.
    expect(requiredWarn).toMatchObject({ code: 0, stdout: [], stderr: 'warning: low disk\n' });
    const requiredError = await runHook(
      { before: () => ({ error: 'thumbnails missing', continueOperation: true }) },
      { event: 'BEFORE', required: true },
    );
    expect(requiredError).toMatchObject({
      code: 0,
      stdout: ['LOG:ERROR thumbnails missing'],
      stderr: 'error: thumbnails missing\n',
    });
  });

  it('lets the caller decide whether the invocation is the required one', async () => {
    const r = await runHook({ before: () => ({ warning: 'w' }), required: false }, { event: 'BEFORE', required: true });
    expect(r.code).toBe(2);
    const s = await runHook({ before: () => ({ warning: 'w' }), required: true }, { event: 'BEFORE' });
    expect(s.code).toBe(0);
  });
});

describe('defineHook scope', () => {
  it.each(['List', 'ListFilesets', 'ListFolder', 'Repair', 'Restore', 'Compact', 'Test'])(
    'by default leaves %s alone: exit 0, no output, handler not called',
    async (operation) => {
      const before = vi.fn();
      const r = await runHook({ before }, { event: 'BEFORE', operation, timeout: 'not a timespan' });
      expect(r).toEqual({ code: 0, stdout: [], stderr: '' });
      expect(before).not.toHaveBeenCalled();
    },
  );

  it('acts on restore operations the user lists, and on everything but listings with "all"', async () => {
    const seen: string[] = [];
    const before = (ctx: HookContext) => {
      seen.push(ctx.operation);
    };
    await runHook({ before, operations: ['Backup', 'Restore'] }, { event: 'BEFORE', operation: 'Restore' });
    await runHook({ before, operations: 'all' }, { event: 'BEFORE', operation: 'Repair' });
    await runHook({ before, operations: 'all' }, { event: 'BEFORE', operation: 'ListFilesets' });
    await runHook({ before, operations: ['ListFilesets'] }, { event: 'BEFORE', operation: 'ListFilesets' });
    expect(seen).toEqual(['Restore', 'Repair', 'ListFilesets']);
  });

  it('exits 0 for an event without a handler', async () => {
    const r = await runHook({ before: dumpFailed }, { event: 'AFTER' });
    expect(r.code).toBe(0);
  });

  it('exits 5 with a message on stderr when the environment is not a Duplicati one', async () => {
    const stderr = memorySink();
    const hook = defineHook({ before: () => {}, autoRun: false });
    const code = await hook.run({ PATH: '/usr/bin' }, { stdout: memorySink(), stderr });
    expect(code).toBe(5);
    expect(stderr.text()).toMatch(/DUPLICATI__EVENTNAME is not set/);
    const bad = await runHook({ before: () => {} }, { event: 'BEFORE', timeout: 'a while' });
    expect(bad.code).toBe(5);
    expect(bad.stderr).toMatch(/DUPLICATI__run_script_timeout/);
  });
});

describe('defineHook context and output', () => {
  it('writes option lines a BEFORE handler returns, and refuses them after the operation', async () => {
    const before = await runHook(
      { before: () => ({ options: { 'dblock-size': '25mb', 'run-script-timeout': '10m' } }) },
      { event: 'BEFORE' },
    );
    expect(before.code).toBe(0);
    expect(before.stdout).toEqual(['--dblock-size=25mb', '--run-script-timeout=10m']);
    const after = await runHook({ after: () => ({ options: { 'dblock-size': '25mb' } }) }, { event: 'AFTER' });
    expect(after.code).toBe(5);
    expect(after.stderr).toMatch(/only from BEFORE/);
  });

  it('hands AFTER handlers the parsed result and the env', async () => {
    const { writeFile } = await import('node:fs/promises');
    const { tempDir } = await import('../../helpers/context.js');
    const { dir, cleanup } = await tempDir('dk-hook-');
    try {
      const file = `${dir}/result`;
      await writeFile(file, buildResultFile({ parsedResult: 'Error', errors: ['upload failed'] }));
      let seen: HookContext | undefined;
      const r = await runHook(
        {
          after: (ctx) => {
            seen = ctx;
          },
        },
        { event: 'AFTER', parsedResult: 'Error', resultFile: file, backupId: '4' },
      );
      expect(r.code).toBe(0);
      expect(seen?.env.parsedResult).toBe('Error');
      expect(seen?.env.backupId).toBe('4');
      expect(seen?.result?.errorCount).toBe(1);
      expect(seen?.result?.data['LimitedErrors']).toEqual(['upload failed']);
    } finally {
      await cleanup();
    }
  });

  it('warns in the job log when the result file cannot be read, and still runs the handler', async () => {
    const after = vi.fn();
    const r = await runHook({ after }, { event: 'AFTER', resultFile: '/nonexistent/duplicati-result' });
    expect(after).toHaveBeenCalledOnce();
    expect(r.stderr).toMatch(/^warning: Cannot read the result file/);
  });

  it('keeps secrets out of the job log and stderr', async () => {
    const r = await runHook(
      {
        before: (ctx) => {
          ctx.logger.info(`connecting with ${ctx.env.options.get('passphrase')}`);
          throw new Error(`upload to ${ctx.env.remoteUrl} failed`);
        },
      },
      {
        event: 'BEFORE',
        remoteUrl: 'ftp://family:Tr0ub4dor@nas.local/backup',
        options: { passphrase: 'correct-horse-battery' },
      },
    );
    const all = r.stdout.join('\n') + r.stderr;
    expect(all).not.toContain('correct-horse-battery');
    expect(all).not.toContain('Tr0ub4dor');
    expect(all).toContain('nas.local/backup');
  });

  it('sends log lines and the outcome to the user logger too', async () => {
    const lines: string[] = [];
    const logger: Logger = {
      debug: (m) => lines.push(`debug ${m}`),
      info: (m) => lines.push(`info ${m}`),
      warn: (m) => lines.push(`warn ${m}`),
      error: (m) => lines.push(`error ${m}`),
    };
    await runHook(
      {
        logger,
        before: (ctx) => {
          ctx.logger.debug('details');
          ctx.logger.info('dumping');
          return { error: 'dump incomplete' };
        },
      },
      { event: 'BEFORE', required: true },
    );
    expect(lines).toEqual(['debug details', 'info dumping', 'error failed, operation stopped: dump incomplete']);
  });

  it('stops a BEFORE handler shortly before run-script-timeout so Duplicati still reads the exit code', async () => {
    vi.useFakeTimers();
    try {
      let t = 0;
      const stdout = memorySink();
      const stderr = memorySink();
      const hook = defineHook({
        autoRun: false,
        before: (ctx) =>
          new Promise((_resolve, reject) => {
            ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
          }),
      });
      const pending = hook.run(buildHookEnv({ event: 'BEFORE', timeout: '10s' }), {
        stdout,
        stderr,
        eol: '\n',
        startedAt: 0,
        now: () => t,
      });
      t = 8_000;
      await vi.advanceTimersByTimeAsync(8_000);
      expect(stdout.lines()).toEqual([]);
      expect(stderr.text()).toMatch(/^warning: the hook has used 8 s of --run-script-timeout=10s/);
      t = 9_000;
      await vi.advanceTimersByTimeAsync(1_000);
      expect(await pending).toBe(5);
      expect(stderr.text()).toMatch(/before --run-script-timeout=10s .*raise --run-script-timeout/);
    } finally {
      vi.useRealTimers();
    }
  });

  it('maps the caller aborting (SIGTERM in main) to exit 5', async () => {
    const ctl = new AbortController();
    const r = runHook(
      {
        before: (ctx) =>
          new Promise((_resolve, reject) => {
            ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
            ctl.abort(new Error('received SIGTERM'));
          }),
      },
      { event: 'BEFORE' },
      ctl.signal,
    );
    const { code, stderr } = await r;
    expect(code).toBe(5);
    expect(stderr).toMatch(/interrupted/);
  });
});

describe('defineHook options', () => {
  it('rejects bad options with a ConfigError naming every bad field', () => {
    let err: unknown;
    try {
      defineHook({
        before: 'run' as never,
        operations: ['Backup', 'rm -rf'],
        required: 'maybe' as never,
        warnAt: 2,
        abortAtDeadline: ['NEVER' as never],
        extra: true,
      } as never);
    } catch (e) {
      err = e;
    }
    expect(isConfigError(err)).toBe(true);
    const paths = (err as { issues: { path: string }[] }).issues.map((i) => i.path).sort();
    expect(paths).toEqual(['abortAtDeadline.0', 'before', 'extra', 'operations.1', 'required', 'warnAt']);
  });
});

afterEach(() => {
  vi.useRealTimers();
});

describe('defineHook without handlers', () => {
  it('is a ConfigError', () => {
    expect(() => defineHook({ operations: ['Backup'] })).toThrow(/define at least one of before, after, postBackup/);
  });
});
