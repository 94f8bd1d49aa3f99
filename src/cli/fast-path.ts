/**
 * What the `duplicati-kit` launcher answers without loading the CLI: a hook run for one of the web
 * UI's listings. Duplicati starts every run-script hook of a job whenever someone browses its
 * versions or files; `duplicati-kit hook` answers those with "continue" before reading any
 * configuration (src/cli/commands/hook.ts), and the launcher gives the same answer without
 * reading, compiling and initialising the CLI's bundle (about half of such a run).
 *
 * Pure and with no dependency but the hook protocol's facts: the launcher bundles it.
 *
 * @module
 */
import { isListingHookRun } from '../hooks/protocol.js';

/** The options a hook wrapper passes (`hook install` writes `hook --config FILE`), each with a value. */
const HOOK_VALUE_OPTIONS = new Set(['--config', '--log-file']);

/**
 * True when `args` (after the script) run `hook` with nothing but `--config` / `--log-file` and
 * their values, and `env` is a hook run for a listing: the command would answer 0 before reading
 * anything. Any other shape (help, `install`, other options, a broken environment) is left to the
 * CLI.
 */
export function answersListingHook(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): boolean {
  if (args[0] !== 'hook') return false;
  for (let i = 1; i < args.length; i++) {
    const a = args[i] as string;
    const eq = a.indexOf('=');
    if (eq > 0 && HOOK_VALUE_OPTIONS.has(a.slice(0, eq)) && eq < a.length - 1) continue;
    const value = args[i + 1];
    if (!HOOK_VALUE_OPTIONS.has(a) || value === undefined || value === '' || value.startsWith('-')) return false;
    i++;
  }
  return isListingHookRun(env);
}
