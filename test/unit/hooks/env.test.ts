import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readDuplicatiEnv } from '../../../src/hooks/env.js';
import { isHookEnvError } from '../../../src/hooks/errors.js';
import { buildHookEnv, buildResultFile } from '../../../src/testing/hook-env.js';
import { tempDir } from '../../helpers/context.js';

function envError(fn: () => unknown): { variable: string; message: string } {
  try {
    fn();
  } catch (e) {
    if (isHookEnvError(e)) return e;
    throw e;
  }
  throw new Error('expected a HookEnvError');
}

describe('readDuplicatiEnv', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir('dk-hook-env-'));
  });
  afterEach(async () => cleanup());

  it('reads a BEFORE Backup environment of a server job', () => {
    const env = readDuplicatiEnv(
      buildHookEnv({
        event: 'BEFORE',
        backupId: '17',
        backupName: 'Immich',
        localPaths: ['/srv/backup/staging', '/srv/immich/library'],
        options: { filter: '-*.tmp:+*', 'dblock-size': '50mb' },
      }),
      { pathSeparator: ':' },
    );
    expect(env.event).toBe('BEFORE');
    expect(env.operation).toBe('Backup');
    expect(env.backupId).toBe('17');
    expect(env.backupName).toBe('Immich');
    expect(env.localPaths).toEqual(['/srv/backup/staging', '/srv/immich/library']);
    expect(env.filters).toEqual([
      { include: false, pattern: '*.tmp' },
      { include: true, pattern: '*' },
    ]);
    expect(env.parsedResult).toBeUndefined();
    expect(env.scriptTimeoutMs).toBe(60_000);
    expect(env.required).toBe(false);
    expect(env.options.sizeBytes('dblock-size')).toBe(50 * 1024 ** 2);
    expect(Object.isFrozen(env)).toBe(true);
  });

  it('splits local paths on the Windows separator when told to', () => {
    const env = readDuplicatiEnv(
      buildHookEnv({ event: 'BEFORE', localPaths: ['C:\\Photos', 'D:\\Dumps'], pathSeparator: ';' }),
      { pathSeparator: ';' },
    );
    expect(env.localPaths).toEqual(['C:\\Photos', 'D:\\Dumps']);
  });

  it('keeps a backup-id that is not DB-<id> as it is, and none for CLI runs', () => {
    expect(readDuplicatiEnv(buildHookEnv({ event: 'BEFORE', options: { 'backup-id': 'nightly' } })).backupId).toBe(
      'nightly',
    );
    expect(readDuplicatiEnv(buildHookEnv({ event: 'BEFORE', backupId: null })).backupId).toBeUndefined();
  });

  it('reads the script timeout: Duplicati timespans, 0 as no limit', () => {
    expect(readDuplicatiEnv(buildHookEnv({ event: 'BEFORE', timeout: '1h30m' })).scriptTimeoutMs).toBe(5_400_000);
    expect(readDuplicatiEnv(buildHookEnv({ event: 'BEFORE', timeout: '0' })).scriptTimeoutMs).toBe(
      Number.POSITIVE_INFINITY,
    );
    const err = envError(() => readDuplicatiEnv(buildHookEnv({ event: 'BEFORE', timeout: 'a while' })));
    expect(err.variable).toBe('DUPLICATI__run_script_timeout');
  });

  it('takes the invocation to be the required one when run-script-before-required is configured', () => {
    expect(readDuplicatiEnv(buildHookEnv({ event: 'BEFORE', required: true })).required).toBe(true);
    expect(readDuplicatiEnv(buildHookEnv({ event: 'AFTER', required: true })).required).toBe(false);
  });

  it('gives a typed error naming the variable for a missing or unknown event, operation or result', () => {
    expect(envError(() => readDuplicatiEnv({})).variable).toBe('DUPLICATI__EVENTNAME');
    expect(envError(() => readDuplicatiEnv({ DUPLICATI__EVENTNAME: 'DURING' })).message).toMatch(/BEFORE, AFTER/);
    expect(envError(() => readDuplicatiEnv({ DUPLICATI__EVENTNAME: 'BEFORE' })).variable).toBe(
      'DUPLICATI__OPERATIONNAME',
    );
    expect(
      envError(() => readDuplicatiEnv({ DUPLICATI__EVENTNAME: 'BEFORE', DUPLICATI__OPERATIONNAME: 'rm -rf' })).variable,
    ).toBe('DUPLICATI__OPERATIONNAME');
    const after = buildHookEnv({ event: 'AFTER' });
    delete after['DUPLICATI__PARSED_RESULT'];
    expect(envError(() => readDuplicatiEnv(after)).variable).toBe('DUPLICATI__PARSED_RESULT');
    expect(envError(() => readDuplicatiEnv({ ...after, DUPLICATI__PARSED_RESULT: 'Great' })).variable).toBe(
      'DUPLICATI__PARSED_RESULT',
    );
  });

  it('reads the result file of an AFTER event in the format the job asks for', async () => {
    const file = path.join(dir, 'result.json');
    await writeFile(file, buildResultFile({ parsedResult: 'Warning', warnings: ['locked file'] }, 'Json'));
    const env = readDuplicatiEnv(
      buildHookEnv({
        event: 'AFTER',
        parsedResult: 'Warning',
        resultFile: file,
        options: { 'run-script-result-output-format': 'json' },
      }),
    );
    expect(env.parsedResult).toBe('Warning');
    expect(env.resultFormat).toBe('Json');
    expect(env.result?.format).toBe('Json');
    expect(env.result?.warningCount).toBe(1);
    expect(env.resultError).toBeUndefined();
  });

  it('reports a missing or broken result file in resultError instead of throwing', async () => {
    const missing = readDuplicatiEnv(buildHookEnv({ event: 'AFTER', resultFile: path.join(dir, 'gone') }));
    expect(missing.result).toBeUndefined();
    expect(missing.resultError?.variable).toBe('DUPLICATI__RESULTFILE');
    const file = path.join(dir, 'broken.json');
    await writeFile(file, '{"Data": {');
    const broken = readDuplicatiEnv(
      buildHookEnv({ event: 'AFTER', resultFile: file, options: { 'run-script-result-output-format': 'Json' } }),
    );
    expect(broken.resultError?.message).toMatch(/not valid JSON/);
  });

  it('keeps the remote URL and secrets out of JSON, inspect and spread copies', () => {
    const env = readDuplicatiEnv(
      buildHookEnv({
        event: 'BEFORE',
        remoteUrl: 's3://AKIAEXAMPLE:s3cr3tKey@bucket/photos?auth-password=hunter22',
        options: { passphrase: 'family-photos-passphrase' },
      }),
    );
    expect(env.remoteUrl).toContain('s3cr3tKey');
    for (const text of [JSON.stringify(env), inspect(env, { depth: 6 }), inspect({ ...env }, { depth: 6 })]) {
      expect(text).not.toContain('s3cr3tKey');
      expect(text).not.toContain('hunter22');
      expect(text).not.toContain('family-photos-passphrase');
    }
    expect(JSON.stringify(env)).toContain('bucket/photos');
  });
});
