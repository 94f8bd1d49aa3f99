/**
 * `duplicati-kit/config`: the composition root. Config files (YAML, JSON or `.mjs` through
 * {@link defineConfig}) are validated here and turned into sources, targets and notifiers; the
 * registry loads each engine or app module only when a config names it. Also the demo, which
 * wires every layer together against an in-process Duplicati.
 *
 * @module
 */
export { DRILL_STATE, defineConfig, loadConfig, resolveConfig } from './config.js';
export type {
  AppApiConfig,
  AuditConfig,
  DuplicatiKitConfig,
  DuplicatiServerConfig,
  LoadedConfig,
  RestoreMaintenanceConfig,
  ScheduleConfig,
  TypedEntry,
} from './config.js';
export {
  buildNotifier,
  buildSource,
  buildTarget,
  directSourcePaths,
  immichQueuePauser,
  jellyfinMessenger,
  notifierTypes,
  sourceTypes,
  targetTypes,
} from './registry.js';
export { runDemo } from './demo.js';
export type { DemoOptions, DemoReport, DemoStep } from './demo.js';
