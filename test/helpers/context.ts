import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ArtifactWriter } from '../../src/core/artifact-writer.js';
import { silentLogger } from '../../src/core/logger.js';
import type { ProgressEvent, SourceContext } from '../../src/contracts/types.js';

/** A fresh temp folder; call the returned cleanup in afterEach/afterAll. */
export async function tempDir(prefix = 'dk-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A SourceContext like a plan builds, for testing one source or target on its own. */
export function makeContext(
  workDir: string,
  sourceName: string,
  options: { signal?: AbortSignal; dryRun?: boolean; progress?: ProgressEvent[] } = {},
): SourceContext {
  const progress = options.progress;
  return {
    signal: options.signal ?? new AbortController().signal,
    logger: silentLogger,
    workDir,
    sourceDir: path.join(workDir, sourceName),
    dryRun: options.dryRun ?? false,
    artifacts: new ArtifactWriter(workDir, sourceName),
    onProgress: (e) => progress?.push({ ...e, source: e.source ?? sourceName }),
  };
}

/** Every file under `root` (relative path → sha256), to compare two trees. */
export async function tree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(path.join(dir, e.name), `${rel}${e.name}/`);
      else
        out[`${rel}${e.name}`] = createHash('sha256')
          .update(await readFile(path.join(dir, e.name)))
          .digest('hex');
    }
  };
  await walk(root, '');
  return out;
}
