// Child of bench/immich.ts: one library operation on the BUILT package (dist/), the way users run
// it, reporting its own wall time and peak RSS as one JSON line on stdout.
//
//   node bench/lib/immich-child.mjs <sql|sql.gz|restore> <database> <workDir>
import { createBackupPlan, createRestorePlan } from '../../dist/index.js';
import { ImmichDatabaseSource, ImmichDatabaseTarget } from '../../dist/immich/index.js';

const [mode, database, workDir] = process.argv.slice(2);
const connection = { host: '127.0.0.1', port: 5432, user: 'postgres', database };
const executor = 'local';
const baseRssKb = process.resourceUsage().maxRSS;
const t0 = performance.now();
let extra = {};
if (mode === 'sql' || mode === 'sql.gz') {
  const source = new ImmichDatabaseSource({ name: 'immich-db', connection, executor, format: mode });
  const result = await createBackupPlan({ sources: [source], workDir }).prepare();
  const entry = result.manifest.sources[0];
  extra = { bytes: entry.artifacts[0].bytes, file: entry.artifacts[0].path, immich: entry.metadata.immich };
} else if (mode === 'restore') {
  const target = new ImmichDatabaseTarget({ connection, executor, scratch: true });
  const report = await createRestorePlan({ targets: [target] }).run({ from: workDir });
  extra = { ok: report.ok };
} else {
  throw new Error(`unknown mode ${mode}`);
}
console.log(
  JSON.stringify({ ms: performance.now() - t0, maxRssKb: process.resourceUsage().maxRSS, baseRssKb, ...extra }),
);
