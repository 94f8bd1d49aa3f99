/**
 * The real CLI process with a broken or odd config: nothing it prints (stderr is Duplicati's log in
 * hook mode) holds the password written in the file; the error names the line and column.
 */
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../helpers/context.js';

const MAIN = path.resolve(import.meta.dirname, '..', '..', '..', 'src', 'cli', 'main.ts');

function cli(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', MAIN, ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, out: `${stdout}\n${stderr}` });
    });
  });
}

let tmp: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  tmp = await tempDir('dk-cfg-secret-');
});
afterAll(async () => {
  await tmp.cleanup();
});

const HEAD =
  'workDir: /tmp/never\nsources:\n  - type: postgres\n    name: db\n    connection:\n      host: 127.0.0.1\n';

describe('config parse errors and warnings never print the password', () => {
  it.each([
    ['a YAML warning (unknown tag)', 'warn.yaml', `${HEAD}      password: !secret pw-WARN-1\n`, /./],
    ['a repeated key', 'dup.yaml', `${HEAD}      password: pw-DUP-1\n      password: pw-DUP-2\n`, /line 8, column 7/],
    ['an alias named like the password', 'alias.yaml', `${HEAD}      password: *pw-ALIAS-1\n`, /line 7, column 17/],
    ['malformed JSON', 'bad.json', '{\n  "workDir": "/tmp/never",\n  "password": pw-JSON-1\n}\n', /line 3, column 15/],
  ])('%s', async (_what, name, text, where) => {
    const file = path.join(tmp.dir, name);
    await fsp.writeFile(file, text);
    const r = await cli(['prepare', '--config', file, '--dry-run']);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(where);
    expect(r.out).not.toMatch(/pw-[A-Z]+-\d/);
  });
});
