/**
 * A client tool writing its output straight into an artifact file, read back behind it.
 *
 * Through a pipe, every byte of a dump is copied three times (tool → pipe → Node → file) and Node
 * handles it in 64 KiB pieces, each a fresh buffer, a stream hop and a write call. Here the tool's
 * stdout IS the partial file (opened 0600 by us, so the tool never creates it with the umask's
 * mode), and this process follows the file as it grows with 4 MiB reads into one reused buffer:
 * sha256, the caller's observer (a row counter) and progress see every byte once, in order, from
 * the page cache. What is hashed is what the file holds, read back from it.
 *
 * Only for a tool that writes its output once, front to back: the file is hashed as it grows, so a
 * tool that seeks back and rewrites what it wrote (pg_dump's custom archive does, given a file it
 * can seek in) would leave a file that no longer matches its hash. Used for plain SQL dumps; a
 * compressed dump or a custom archive goes through a pipe.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { ArtifactRef, ArtifactWriter, FileDigest } from '../../core/artifact-writer.js';
import type { ChildExit } from '../../core/child.js';
import { BackgroundFlush, PRIVATE_FILE } from '../../core/fs.js';
import { spawnTool, type ToolCommand, wrapperCouldNotRun } from './spawn.js';

/** Bytes per read of the growing file. */
const READ_SIZE = 4 << 20;
/** Milliseconds to wait for more bytes once the reader has caught up with the tool. */
const POLL_MS = 5;

/** Options of {@link toolIntoArtifact}. */
export interface ToolIntoArtifactOptions {
  readonly cmd: ToolCommand;
  readonly artifacts: ArtifactWriter;
  readonly name: string;
  /** The name to commit under when it is known only later (`ArtifactWriteOptions.commitAs`). */
  readonly commitAs?: PromiseLike<string>;
  readonly format: string;
  readonly signal: AbortSignal;
  /** Sees every byte of the file once, in order; it must copy what it keeps (the buffer is reused). */
  readonly observe?: (chunk: Buffer) => void;
  readonly onBytes?: (n: number) => void;
  /**
   * Decide on the tool's exit (with its stderr tail): return an error to fail the artifact (it is
   * removed), or undefined to keep it.
   */
  readonly judge: (exit: ChildExit, stderrTail: string) => Error | undefined;
  /**
   * Run instead when `cmd` could not start the tool: it failed to start, or exited 125–127 (what
   * a wrapper such as `stdbuf` or `env` exits with when it cannot run the command) having written
   * nothing. `cmd` is then the wrapper and `fallback` the tool alone; `onFallback` hears of it.
   */
  readonly fallback?: ToolCommand;
  readonly onFallback?: (exit: ChildExit, stderrTail: string) => void;
}

/**
 * Run `cmd` with its stdout going into the artifact `name`, hash and observe the file as it grows,
 * and commit it (fsync, rename) when the tool exited and `judge` accepts its exit. On an abort the
 * tool is killed and the abort reason rethrown; on any failure the partial file is removed.
 */
export async function toolIntoArtifact(o: ToolIntoArtifactOptions): Promise<ArtifactRef> {
  return o.artifacts.adopt(
    o.name,
    { format: o.format, signal: o.signal, ...(o.commitAs ? { commitAs: o.commitAs } : {}) },
    async (partial, _signal, progress): Promise<FileDigest> => {
      const fh = await fsp.open(partial, 'wx+', PRIVATE_FILE);
      const flush = new BackgroundFlush(fh);
      try {
        let run = await follow(o, o.cmd, fh, flush, progress);
        if (o.fallback && run.bytes === 0 && !o.signal.aborted && wrapperCouldNotRun(run.exit)) {
          o.onFallback?.(run.exit, run.stderrTail);
          run = await follow(o, o.fallback, fh, flush, progress);
        }
        if (o.signal.aborted) throw o.signal.reason;
        const failure = o.judge(run.exit, run.stderrTail);
        if (failure) throw failure;
        await flush.done();
        return { bytes: run.bytes, sha256: run.sha256 };
      } finally {
        // A background flush still uses the descriptor.
        await flush.settled();
        await fh.close();
      }
    },
  );
}

/** One run of a tool into `fh` (empty, at its start), followed until it exits. */
async function follow(
  o: ToolIntoArtifactOptions,
  cmd: ToolCommand,
  fh: fsp.FileHandle,
  flush: BackgroundFlush,
  progress: (n: number) => void,
): Promise<{ exit: ChildExit; stderrTail: string; bytes: number; sha256: string }> {
  const { child, stderrTail } = spawnTool(cmd, { stdin: 'ignore', stdout: fh.fd }, o.signal);
  let exit: ChildExit | undefined;
  const exited = Promise.resolve(child).then((e) => {
    exit = e;
  });
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(READ_SIZE);
  let pos = 0;
  try {
    for (;;) {
      // Whether the tool had exited is read BEFORE the read: a read that then finds nothing
      // has seen every byte the tool wrote.
      const done = exit !== undefined;
      const { bytesRead } = await fh.read(buf, 0, READ_SIZE, pos);
      if (bytesRead > 0) {
        const chunk = buf.subarray(0, bytesRead);
        hash.update(chunk);
        o.observe?.(chunk);
        pos += bytesRead;
        o.onBytes?.(bytesRead);
        progress(bytesRead);
        flush.wrote(bytesRead, pos);
        continue;
      }
      if (done) break;
      await waitFor(exited, POLL_MS);
    }
  } catch (e) {
    child.kill();
    await exited;
    throw e;
  }
  await exited;
  return { exit: exit as ChildExit, stderrTail: stderrTail(), bytes: pos, sha256: hash.digest('hex') };
}

/** Resolve when `p` settles or after `ms`, whichever comes first. */
function waitFor(p: Promise<void>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    p.then(() => {
      clearTimeout(t);
      resolve();
    });
  });
}
