/**
 * The reason a BEFORE call of `duplicati-kit hook` failed, kept for the AFTER call that follows.
 *
 * Duplicati 2.0.x reads nothing of a required BEFORE script that exits non-zero: its job log says
 * only `returned with exit code 5`. It then starts the AFTER script (a separate process), whose
 * stderr it does log. So BEFORE leaves its reason in a small file keyed on the work folder, and
 * AFTER takes it (reads and removes it), notifies with it and reports it on stderr.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Where the reason of a failed BEFORE for this work folder is kept (outside the folder the plan cleans). */
export function failureFile(workDir: string, dir = tmpdir()): string {
  const key = createHash('sha256').update(path.resolve(workDir)).digest('hex').slice(0, 16);
  return path.join(dir, `duplicati-kit-hook-${key}.failed`);
}

/** Keep the reason of a failed BEFORE (owner-only; a failure to write it must not hide the failure). */
export async function recordFailure(workDir: string, reason: string): Promise<void> {
  const file = failureFile(workDir);
  await fsp.rm(file, { force: true }).catch(() => {});
  await fsp.writeFile(file, reason, { mode: 0o600, flag: 'wx' }).catch(() => {});
}

/** The reason a BEFORE left, removed once read; undefined when there is none. */
export async function takeFailure(workDir: string): Promise<string | undefined> {
  const file = failureFile(workDir);
  const text = await fsp.readFile(file, 'utf8').catch(() => undefined);
  if (text !== undefined) await fsp.rm(file, { force: true }).catch(() => {});
  return text;
}
