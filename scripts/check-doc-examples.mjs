#!/usr/bin/env node
// Type-checks every ```ts block of README.md and docs/*.md the way examples/ are checked: docs that
// compile cannot drift from the API. Node only (no new dependency): the blocks are written as modules
// into .doc-examples/ (gitignored) and tsc runs on them with examples/tsconfig.json's path mapping.
// A block that is deliberately not compilable uses another fence language, or is preceded by
// `<!-- no-check -->`.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, '.doc-examples');
const NO_CHECK = '<!-- no-check -->';

function markdownFiles() {
  const docs = join(root, 'docs');
  const pages = readdirSync(docs, { recursive: true })
    .map(String)
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => join(docs, name));
  return [join(root, 'README.md'), ...pages];
}

/** Every ```ts block of one file with the line of its opening fence (1-based). */
function tsBlocks(file) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const blocks = [];
  let previous = '';
  let index = 0;
  while (index < lines.length) {
    const fence = /^\s*```(\S*)/.exec(lines[index]);
    if (!fence) {
      if (lines[index].trim() !== '') previous = lines[index];
      index++;
      continue;
    }
    const close = lines.findIndex((line, i) => i > index && /^\s*```\s*$/.test(line));
    if (close < 0) throw new Error(`${relative(root, file)}:${index + 1}: a fenced block is never closed`);
    const lang = fence[1];
    if ((lang === 'ts' || lang === 'typescript') && previous.trim() !== NO_CHECK) {
      blocks.push({ fenceLine: index + 1, lines: lines.slice(index + 1, close) });
    }
    previous = lines[close];
    index = close + 1;
  }
  return blocks;
}

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });

/** Generated file name -> where its first line sits in the Markdown. */
const origin = new Map();
let count = 0;
for (const file of markdownFiles()) {
  const rel = relative(root, file);
  for (const [n, block] of tsBlocks(file).entries()) {
    const name = `${rel.replace(/[^A-Za-z0-9]+/g, '_')}_${n + 1}.ts`;
    // `export {}` makes every block a module of its own: top-level await works and names never clash.
    writeFileSync(join(outDir, name), `${block.lines.join('\n')}\nexport {};\n`);
    origin.set(name, { rel, firstLine: block.fenceLine + 1 });
    count++;
  }
}

writeFileSync(
  join(outDir, 'tsconfig.json'),
  `${JSON.stringify({ extends: '../examples/tsconfig.json', include: ['./*.ts'] }, null, 2)}\n`,
);

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const result = spawnSync(process.execPath, [tsc, '--noEmit', '--pretty', 'false', '-p', outDir], {
  cwd: root,
  encoding: 'utf8',
});
// Point each error at the Markdown line it comes from, not at the generated file.
const output = `${result.stdout}${result.stderr}`.replace(
  /(?:\.doc-examples[\\/])?([A-Za-z0-9_]+\.ts)\((\d+),(\d+)\)/g,
  (match, name, line, column) => {
    const at = origin.get(name);
    return at ? `${at.rel}:${at.firstLine + Number(line) - 1}:${column}` : match;
  },
);
if (result.status !== 0) {
  process.stderr.write(output);
  process.stderr.write(`\ndoc examples: type errors in the \`\`\`ts blocks above (${count} blocks checked)\n`);
  process.exit(1);
}
process.stdout.write(`doc examples: ${count} \`\`\`ts blocks type-check\n`);
