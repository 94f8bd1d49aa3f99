/**
 * The commands of the `duplicati-kit` CLI, loaded lazily: running one command loads only its
 * module, so `duplicati-kit hook` for a file listing never loads axios, pg or better-sqlite3.
 *
 * @module
 */
import type { CliCommand } from '../types.js';

type Loader = () => Promise<readonly CliCommand[]>;

const plan: Loader = async () => {
  const m = await import('./plan.js');
  return [m.prepareCommand, m.cleanupCommand, m.verifyCommand];
};
const restore: Loader = async () => {
  const m = await import('./restore.js');
  return [m.restoreCommand, m.restorePointsCommand];
};
const hook: Loader = async () => [(await import('./hook.js')).hookCommand];
const duplicati: Loader = async () => (await import('./duplicati.js')).duplicatiCommands;
const systemd: Loader = async () => [(await import('./systemd.js')).systemdCommand];
const serve: Loader = async () => {
  const m = await import('./serve.js');
  return [m.serveCommand, m.reportCommand, m.metricsCommand];
};
const demo: Loader = async () => [(await import('./demo.js')).demoCommand];

/** Which module holds which command, in help order. */
const TABLE: readonly (readonly [string, Loader])[] = [
  ['prepare', plan],
  ['cleanup', plan],
  ['verify', plan],
  ['restore', restore],
  ['restore-points', restore],
  ['hook', hook],
  ['jobs', duplicati],
  ['run', duplicati],
  ['versions', duplicati],
  ['files', duplicati],
  ['restore-files', duplicati],
  ['systemd', systemd],
  ['demo', demo],
  ['drill', async () => [(await import('./drill.js')).drillCommand]],
  ['status', async () => [(await import('./status.js')).statusCommand]],
  ['serve', serve],
  ['report', serve],
  ['metrics', serve],
  ['recover', async () => [(await import('./recover.js')).recoverCommand]],
];

/**
 * The commands: only the module of `name` when it is a known command, every command otherwise
 * (for help and for the "unknown command" message).
 */
export async function loadCommands(name?: string): Promise<readonly CliCommand[]> {
  await import('../zod-setup.js');
  const hit = TABLE.find(([n]) => n === name);
  const loaders = hit ? [hit[1]] : [...new Set(TABLE.map(([, l]) => l))];
  const loaded = (await Promise.all(loaders.map((l) => l()))).flat();
  const order = TABLE.map(([n]) => n);
  return loaded.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
}
