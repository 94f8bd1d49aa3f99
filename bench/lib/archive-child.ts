/**
 * Child process of bench/archive.ts: runs ArchiveSource.prepare once on `root` into `workDir`
 * and prints `{ ms, maxRssKb, baseRssKb, bytes, files }` as JSON, so peak RSS is the library's
 * alone (`baseRssKb`: after loading tsx and the modules, before the work).
 *
 *   node --import tsx bench/lib/archive-child.ts <root> <workDir> <gzipLevel|none>
 */
import { ArtifactWriter } from '../../src/core/artifact-writer.js';
import { silentLogger } from '../../src/core/logger.js';
import { ArchiveSource } from '../../src/engines/archive/source.js';
import type { SourceContext } from '../../src/contracts/types.js';

const [root, workDir, level] = process.argv.slice(2) as [string, string, string];
const source = new ArchiveSource({
  name: 'bench',
  root,
  ...(level === 'none' ? {} : { gzip: { level: Number(level) } }),
});
const ctx: SourceContext = {
  signal: new AbortController().signal,
  logger: silentLogger,
  workDir,
  sourceDir: `${workDir}/bench`,
  dryRun: false,
  artifacts: new ArtifactWriter(workDir, 'bench'),
  onProgress: () => {},
};
const baseRssKb = process.resourceUsage().maxRSS;
const t0 = performance.now();
const result = await source.prepare(ctx);
const ms = performance.now() - t0;
console.log(
  JSON.stringify({
    ms,
    maxRssKb: process.resourceUsage().maxRSS,
    baseRssKb,
    bytes: result.artifacts[0]?.bytes,
    files: result.metadata?.files,
  }),
);
