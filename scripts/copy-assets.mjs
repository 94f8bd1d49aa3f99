// Copies the dashboard's browser assets into dist/assets after tsup: our script and styles, and
// uPlot (with its licence), so the published package serves them offline, with no CDN.
import { copyFile, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const out = path.join(root, 'dist', 'assets');
const uplot = path.dirname(createRequire(import.meta.url).resolve('uplot/package.json'));
const files = [
  [path.join(root, 'src/serve/assets/dashboard.js'), 'dashboard.js'],
  [path.join(root, 'src/serve/assets/dashboard.css'), 'dashboard.css'],
  [path.join(uplot, 'dist/uPlot.iife.min.js'), 'uPlot.iife.min.js'],
  [path.join(uplot, 'dist/uPlot.min.css'), 'uPlot.min.css'],
  [path.join(uplot, 'LICENSE'), 'uPlot.LICENSE.txt'],
];
await mkdir(out, { recursive: true });
for (const [from, name] of files) await copyFile(from, path.join(out, name));
