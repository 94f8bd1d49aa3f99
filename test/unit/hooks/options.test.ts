import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { isHookEnvError } from '../../../src/hooks/errors.js';
import {
  DuplicatiOptions,
  optionNameFromVariable,
  parseFilterOption,
  variableFromOptionName,
} from '../../../src/hooks/options.js';

const env = {
  DUPLICATI__dblock_size: '50mb',
  DUPLICATI__run_script_timeout: '10m',
  DUPLICATI__passphrase: 'correct horse battery',
  DUPLICATI__disable_autocreate_folder: '',
  DUPLICATI__no_encryption: 'false',
  DUPLICATI__EVENTNAME: 'BEFORE',
  DUPLICATI__OPERATIONNAME: 'Backup',
  DUPLICATI__REMOTEURL: 'ssh://u:p@host/x',
  DUPLICATI__LOCALPATH: '/srv',
  DUPLICATI__export_target: 'ftp://user:ftppass@host/dir',
  PATH: '/usr/bin',
};

describe('DuplicatiOptions', () => {
  const opts = DuplicatiOptions.fromEnv(env);

  it('keeps every option under its dash name and leaves out the script variables and foreign ones', () => {
    expect(opts.names()).toEqual([
      'dblock-size',
      'disable-autocreate-folder',
      'export-target',
      'no-encryption',
      'passphrase',
      'run-script-timeout',
    ]);
    expect(opts.get('dblock-size')).toBe('50mb');
    expect(opts.has('remoteurl')).toBe(false);
  });

  it('reads booleans the way Duplicati does: a bare flag is on, unset is the fallback', () => {
    expect(opts.bool('disable-autocreate-folder')).toBe(true);
    expect(opts.bool('no-encryption', true)).toBe(false);
    expect(opts.bool('unset-flag')).toBe(false);
    expect(opts.bool('unset-flag', true)).toBe(true);
  });

  it('reads sizes and timespans, undefined when unset', () => {
    expect(opts.sizeBytes('dblock-size')).toBe(50 * 1024 ** 2);
    expect(opts.timespanMs('run-script-timeout')).toBe(600_000);
    expect(opts.sizeBytes('volsize')).toBeUndefined();
  });

  it('throws a HookEnvError naming the variable for a value that does not parse, without secret values', () => {
    const bad = new DuplicatiOptions([
      ['dblock-size', 'huge'],
      ['passphrase', 'x1y2z3'],
    ]);
    let err: unknown;
    try {
      bad.sizeBytes('dblock-size');
    } catch (e) {
      err = e;
    }
    expect(isHookEnvError(err)).toBe(true);
    expect((err as { variable: string }).variable).toBe('DUPLICATI__dblock_size');
    expect(() => bad.timespanMs('passphrase')).toThrow(/DUPLICATI__passphrase is \*\*\*/);
  });

  it('masks secret options and URL credentials in toJSON and util.inspect', () => {
    const json = JSON.stringify(opts);
    const shown = inspect(opts);
    for (const text of [json, shown]) {
      expect(text).not.toContain('correct horse');
      expect(text).not.toContain('ftppass');
      expect(text).toContain('50mb');
    }
    expect(opts.get('passphrase')).toBe('correct horse battery');
  });
});

describe('option names', () => {
  it('map between variables and option names both ways', () => {
    expect(optionNameFromVariable('DUPLICATI__run_script_before_required')).toBe('run-script-before-required');
    expect(variableFromOptionName('run-script-before-required')).toBe('DUPLICATI__run_script_before_required');
  });
});

describe('parseFilterOption', () => {
  it('splits on the path separator and reads the +/- prefix', () => {
    expect(parseFilterOption('+*.jpg:-*.tmp:[.*\\.bak]', ':')).toEqual([
      { include: true, pattern: '*.jpg' },
      { include: false, pattern: '*.tmp' },
      { include: true, pattern: '[.*\\.bak]' },
    ]);
    expect(parseFilterOption('-C:\\Temp\\*;+*', ';')).toEqual([
      { include: false, pattern: 'C:\\Temp\\*' },
      { include: true, pattern: '*' },
    ]);
    expect(parseFilterOption(undefined, ':')).toEqual([]);
  });
});
