import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The folder rules of docs/architecture.md live in biome.json. These probes run the repository's own
// biome.json over a scratch tree, so a rule that silently stopped matching (a pattern typo, a moved
// folder) fails here instead of letting a wrong arrow through `npm run lint`.

const root = path.resolve(import.meta.dirname, '../../..');
const biome = path.join(root, 'node_modules', '.bin', 'biome');

interface Probe {
  readonly file: string;
  readonly spec: string;
  readonly allowed: boolean;
  readonly typeOnly?: boolean;
}

const probes: readonly Probe[] = [
  { file: 'src/core/p1.ts', spec: '../contracts/types.js', allowed: false },
  { file: 'src/core/p2.ts', spec: './errors.js', allowed: true },
  { file: 'src/contracts/p3.ts', spec: '../plan/backup-plan.js', allowed: false, typeOnly: true },
  { file: 'src/contracts/p4.ts', spec: '../core/logger.js', allowed: true, typeOnly: true },
  { file: 'src/plan/p5.ts', spec: '../engines/directory/index.js', allowed: false },
  { file: 'src/plan/p6.ts', spec: '../ops/drill.js', allowed: false },
  { file: 'src/engines/mysql/p7.ts', spec: '../../plan/backup-plan.js', allowed: false },
  { file: 'src/engines/mysql/p8.ts', spec: '../postgres/index.js', allowed: false },
  { file: 'src/engines/mysql/p9.ts', spec: '../postgres/executor.js', allowed: false, typeOnly: true },
  { file: 'src/engines/mysql/p10.ts', spec: '../_shared/spawn.js', allowed: true },
  { file: 'src/engines/mysql/p11.ts', spec: '../../contracts/types.js', allowed: true, typeOnly: true },
  { file: 'src/engines/_shared/p12.ts', spec: '../sqlite/index.js', allowed: false },
  { file: 'src/duplicati/p13.ts', spec: '../contracts/types.js', allowed: false, typeOnly: true },
  { file: 'src/duplicati/resources/p14.ts', spec: '../../hooks/protocol.js', allowed: false },
  { file: 'src/hooks/p15.ts', spec: '../ops/notify.js', allowed: false },
  { file: 'src/apps/immich/p16.ts', spec: '../../engines/postgres/dump.js', allowed: false },
  { file: 'src/apps/immich/p17.ts', spec: '../../engines/postgres/index.js', allowed: true },
  { file: 'src/apps/immich/p18.ts', spec: '../jellyfin/index.js', allowed: false },
  { file: 'src/apps/immich/p19.ts', spec: '../../ops/drill.js', allowed: false },
  { file: 'src/ops/p20.ts', spec: '../apps/immich/index.js', allowed: false },
  { file: 'src/ops/p21.ts', spec: '../engines/sqlite/index.js', allowed: false },
  { file: 'src/ops/p22.ts', spec: '../app/config.js', allowed: false },
  { file: 'src/ops/p23.ts', spec: '../hooks/protocol.js', allowed: true },
  { file: 'src/app/p24.ts', spec: '../engines/directory/index.js', allowed: false },
  { file: 'src/app/p25.ts', spec: '../ops/notify.js', allowed: true },
  { file: 'src/cli/commands/p26.ts', spec: '../../engines/directory/index.js', allowed: false },
  { file: 'src/cli/commands/p27.ts', spec: '../../apps/jellyfin/index.js', allowed: false },
  { file: 'src/cli/commands/p28.ts', spec: '../../app/registry.js', allowed: true },
  { file: 'src/testing/fake-duplicati/p29.ts', spec: '../../engines/archive/index.js', allowed: false },
  { file: 'src/testing/p30.ts', spec: '../hooks/protocol.js', allowed: true },
  { file: 'src/index.ts', spec: './apps/immich/index.js', allowed: false },
  { file: 'src/serve/p31.ts', spec: '../engines/nginx/index.js', allowed: false },
  { file: 'src/serve/p32.ts', spec: '../cli/run.js', allowed: false },
  { file: 'src/serve/p33.ts', spec: '../ops/audit.js', allowed: true },
  { file: 'src/serve/p34.ts', spec: '../app/registry.js', allowed: true },
  { file: 'src/serve/sub/p35.ts', spec: '../../testing/index.js', allowed: false },
  { file: 'src/cli/commands/p36.ts', spec: '../../serve/server.js', allowed: true },
];

let dir: string;
let output: string;

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'dk-import-rules-'));
  await fsp.copyFile(path.join(root, 'biome.json'), path.join(dir, 'biome.json'));
  for (const p of probes) {
    const file = path.join(dir, p.file);
    await fsp.mkdir(path.dirname(file), { recursive: true });
    const line = p.typeOnly
      ? `import type { Probe } from '${p.spec}';\n\nexport type Used = Probe;\n`
      : `import { probe } from '${p.spec}';\n\nexport const used = probe;\n`;
    await fsp.writeFile(file, line);
  }
  // A cycle made of type imports only: still a cycle.
  await fsp.mkdir(path.join(dir, 'src/plan'), { recursive: true });
  await fsp.writeFile(
    path.join(dir, 'src/plan/cycle-a.ts'),
    "import type { B } from './cycle-b.js';\n\nexport interface A {\n  b?: B;\n}\n",
  );
  await fsp.writeFile(
    path.join(dir, 'src/plan/cycle-b.ts'),
    "import type { A } from './cycle-a.js';\n\nexport interface B {\n  a?: A;\n}\n",
  );
  const run = promisify(execFile);
  const r = await run(biome, ['lint', '--max-diagnostics=1000', '--colors=off', 'src'], { cwd: dir }).catch(
    (e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout ?? '', stderr: e.stderr ?? '' }),
  );
  output = `${r.stdout}\n${r.stderr}`;
}, 60_000);

afterAll(async () => {
  if (dir) await fsp.rm(dir, { recursive: true, force: true });
});

const flagged = (file: string, rule: string): boolean =>
  output.split('\n').some((l) => l.startsWith(`${file}:`) && l.includes(rule));

describe('the import rules of biome.json', () => {
  it.each(probes)('$file importing $spec is allowed: $allowed', (p) => {
    expect(flagged(p.file, 'lint/style/noRestrictedImports')).toBe(!p.allowed);
  });

  it('reports a cycle made of type imports', () => {
    expect(flagged('src/plan/cycle-a.ts', 'lint/suspicious/noImportCycles')).toBe(true);
  });
});
