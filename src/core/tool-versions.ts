/**
 * What client tools said to `--version`, kept on disk between runs and keyed by the executable's
 * identity (device, inode, size, modification and change times). A PostgreSQL prepare or restore
 * asks `pg_dump --version` / `psql --version` to choose a tool that can handle the server; that
 * is a process start on the way to the dump (~10–25 ms of a 100 MB dump's whole run). With the
 * cache, a run whose tool has not changed since the last one starts nothing: an upgraded,
 * reinstalled or replaced binary has a new identity (a package upgrade writes a new inode, and any
 * change to the file moves its change time), so it is asked again.
 *
 * The cache only ever saves a question: what it answers picks among tools the executor would run
 * anyway, and a dump tool that cannot handle its server still refuses to run. A file that is not
 * the user's own and private, that does not parse, or that cannot be written is ignored: nothing
 * here fails a command.
 *
 * The CLI keeps it in `$XDG_CACHE_HOME/duplicati-kit/tool-versions.json` (else `~/.cache/…`);
 * `DUPLICATI_KIT_TOOL_CACHE=off` turns it off. Code that embeds the library passes one to the
 * PostgreSQL sources and targets (`toolVersions`) or none (every run asks).
 *
 * @module
 */
import {
  closeSync,
  constants,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { ownedPrivately, userCacheFolder } from './user-cache.js';

/** Remembered `--version` outputs of local executables. */
export interface ToolVersionCache {
  /**
   * What `file --version` printed when it last exited 0, if the executable at `file` (a path, or
   * a bare name looked up in `PATH`) is still the same file. Synchronous and cheap (a `stat`).
   */
  lookup(file: string): string | undefined;
  /** Remember what `file --version` printed (exit 0) for the executable as it is now. */
  remember(file: string, output: string): void;
}

/** At most this many executables are remembered; the least recently stored go first. */
const MAX_ENTRIES = 64;
/** A `--version` output longer than this is not kept (PostgreSQL's is ~50 bytes). */
const MAX_OUTPUT = 4096;

interface Entry {
  readonly id: string;
  readonly out: string;
}

/** The cache file the CLI uses for `env`, or undefined when it is turned off or has no home. */
export function toolVersionCacheFile(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const dir = userCacheFolder(env, 'DUPLICATI_KIT_TOOL_CACHE');
  return dir === undefined ? undefined : path.join(dir, 'tool-versions.json');
}

/**
 * A cache kept in `file` (JSON, mode 0600, in a folder made 0700), read once on first use and
 * written aside and renamed into place on every change, so a concurrent run reads the old file or
 * the new one. `pathEnv` is the `PATH` bare names are looked up in (the tools' own).
 */
export function fileToolVersionCache(file: string, pathEnv: string | undefined = process.env.PATH): ToolVersionCache {
  let entries: Map<string, Entry> | undefined;
  const uid = process.getuid?.();
  const load = (): Map<string, Entry> => {
    entries ??= readEntries(file, uid);
    return entries;
  };
  return {
    lookup(tool) {
      const exe = resolveExecutable(tool, pathEnv);
      if (exe === undefined) return undefined;
      const hit = load().get(exe.path);
      return hit !== undefined && hit.id === exe.id ? hit.out : undefined;
    },
    remember(tool, output) {
      if (output.length > MAX_OUTPUT || uid === undefined) return;
      const exe = resolveExecutable(tool, pathEnv);
      if (exe === undefined) return;
      const all = load();
      const known = all.get(exe.path);
      if (known?.id === exe.id && known.out === output) return;
      all.delete(exe.path);
      all.set(exe.path, { id: exe.id, out: output });
      while (all.size > MAX_ENTRIES) all.delete(all.keys().next().value as string);
      writeEntries(file, all);
    },
  };
}

/** The executable `tool` names (a path, or the first match in `PATH`) and its identity. */
function resolveExecutable(tool: string, pathEnv: string | undefined): { path: string; id: string } | undefined {
  const candidates = tool.includes('/')
    ? [path.resolve(tool)]
    : (pathEnv ?? '')
        .split(path.delimiter)
        .filter((d) => path.isAbsolute(d))
        .map((d) => path.join(d, tool));
  for (const c of candidates) {
    try {
      const st = statSync(c, { bigint: true });
      if (!st.isFile() || (st.mode & 0o111n) === 0n) continue;
      return { path: c, id: [st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs].join(':') };
    } catch {
      // not there: the next folder of PATH, as the shell would
    }
  }
  return undefined;
}

/** The entries of `file` when it and its folder are `uid`'s own and private; else none. */
function readEntries(file: string, uid: number | undefined): Map<string, Entry> {
  const out = new Map<string, Entry>();
  if (uid === undefined) return out;
  let fd: number | undefined;
  try {
    if (!ownedPrivately(statSync(path.dirname(file)), uid)) return out;
    // O_NOFOLLOW: a symlink planted in the folder is not followed to someone else's file.
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    const st = fstatSync(fd);
    if (!st.isFile() || !ownedPrivately(st, uid) || st.size > 1 << 20) return out;
    const parsed: unknown = JSON.parse(readFileSync(fd, 'utf8'));
    const tools = (parsed as { tools?: unknown } | null)?.tools;
    if (typeof tools !== 'object' || tools === null || Array.isArray(tools)) return out;
    for (const [p, e] of Object.entries(tools)) {
      const { id, out: o } = (e ?? {}) as { id?: unknown; out?: unknown };
      if (typeof id === 'string' && typeof o === 'string' && o.length <= MAX_OUTPUT) out.set(p, { id, out: o });
    }
  } catch {
    // absent, unreadable or not ours: an empty cache
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return out;
}

function writeEntries(file: string, entries: ReadonlyMap<string, Entry>): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const body = JSON.stringify({ version: 1, tools: Object.fromEntries(entries) });
    writeFileSync(tmp, `${body}\n`, { mode: 0o600, flag: 'w' });
    renameSync(tmp, file);
  } catch {
    // a cache that cannot be written costs the next run one `--version`, nothing more
  }
}
