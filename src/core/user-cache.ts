/**
 * The user's duplicati-kit cache folder and the rule for trusting what is in it, shared by the
 * CLI's code cache (src/cli/code-cache.ts) and the tools' version cache (./tool-versions.ts).
 * Node builtins only: the CLI's launcher bundles this.
 *
 * @module
 */
import type { Stats } from 'node:fs';
import path from 'node:path';

/**
 * The user's duplicati-kit cache folder (`$XDG_CACHE_HOME/duplicati-kit`, else
 * `~/.cache/duplicati-kit`), or undefined when `env[toggle]` turns that cache off (`off`, `0`,
 * `false`, `no`) or there is no absolute home to put it in.
 */
export function userCacheFolder(env: Readonly<Record<string, string | undefined>>, toggle: string): string | undefined {
  const off = env[toggle]?.trim().toLowerCase();
  if (off === 'off' || off === '0' || off === 'false' || off === 'no') return undefined;
  const xdg = env.XDG_CACHE_HOME;
  const base =
    xdg && path.isAbsolute(xdg)
      ? xdg
      : env.HOME && path.isAbsolute(env.HOME)
        ? path.join(env.HOME, '.cache')
        : undefined;
  return base === undefined ? undefined : path.join(base, 'duplicati-kit');
}

/** True when `st` belongs to `uid` and neither its group nor others may write it. */
export function ownedPrivately(st: Pick<Stats, 'uid' | 'mode'>, uid: number): boolean {
  return st.uid === uid && (st.mode & 0o022) === 0;
}
