/**
 * Every command of the `duplicati-kit` CLI, in help order.
 *
 * @module
 */
import type { CliCommand } from '../types.js';
import { demoCommand } from './demo.js';
import { duplicatiCommands } from './duplicati.js';
import { hookCommand } from './hook.js';
import { cleanupCommand, prepareCommand, restoreCommand, verifyCommand } from './plan.js';
import { systemdCommand } from './systemd.js';

export const commands: readonly CliCommand[] = [
  prepareCommand,
  cleanupCommand,
  verifyCommand,
  restoreCommand,
  hookCommand,
  ...duplicatiCommands,
  systemdCommand,
  demoCommand,
];
