/**
 * Every command of the `duplicati-kit` CLI, in help order.
 *
 * @module
 */
import type { CliCommand } from '../types.js';
import { demoCommand } from './demo.js';
import { cleanupCommand, prepareCommand, restoreCommand, verifyCommand } from './plan.js';

export const commands: readonly CliCommand[] = [
  prepareCommand,
  cleanupCommand,
  verifyCommand,
  restoreCommand,
  demoCommand,
];
