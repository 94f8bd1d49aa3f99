import { describe, expect, it } from 'vitest';
import { answersListingHook } from '../../../src/cli/fast-path.js';

const listing = { DUPLICATI__EVENTNAME: 'BEFORE', DUPLICATI__OPERATIONNAME: 'ListFilesets' };

describe('answersListingHook (the launcher answers without loading the CLI)', () => {
  it('answers `hook` with only --config / --log-file and their values, for a listing', () => {
    expect(answersListingHook(['hook'], listing)).toBe(true);
    expect(answersListingHook(['hook', '--config', '/etc/dk.yaml'], listing)).toBe(true);
    expect(answersListingHook(['hook', '--config=/etc/dk.yaml', '--log-file', '/var/log/dk.log'], listing)).toBe(true);
  });

  it('leaves every other shape to the CLI', () => {
    // Not a listing, or an environment the hook must report.
    expect(answersListingHook(['hook', '--config', 'x.yaml'], { ...listing, DUPLICATI__OPERATIONNAME: 'Backup' })).toBe(
      false,
    );
    expect(answersListingHook(['hook'], { DUPLICATI__OPERATIONNAME: 'List' })).toBe(false);
    // Other commands, help, install, other options, a flag first, a missing or flag-like value.
    for (const args of [
      [],
      ['status'],
      ['--config', 'x.yaml', 'hook'],
      ['hook', '--help'],
      ['hook', '-h'],
      ['hook', 'install', '--job', 'Photos'],
      ['hook', '--verbose'],
      ['hook', '--json'],
      ['hook', '--config'],
      ['hook', '--config', ''],
      ['hook', '--config='],
      ['hook', '--config', '--help'],
      ['hook', '--config', 'x.yaml', 'extra'],
      ['hook', '--unknown=1'],
    ]) {
      expect(answersListingHook(args, listing), args.join(' ')).toBe(false);
    }
  });
});
