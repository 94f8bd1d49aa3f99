/**
 * `duplicati-kit/config`: the composition root. Config files (YAML, JSON or `.mjs` through
 * {@link defineConfig}) are validated here and turned into sources, targets and notifiers; the
 * registry loads each engine or app module only when a config names it. Also the demo, which
 * wires every layer together against an in-process Duplicati.
 *
 * @module
 */
import * as config from './config.js';
import * as registry from './registry.js';

export { defineConfig, loadConfig, resolveConfig } from './config.js';
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
  fileToolVersionCache,
  type ToolVersionCache,
  toolVersionCacheFile,
} from '../core/tool-versions.js';
export {
  type BuildExtras,
  buildNotifier,
  buildSource,
  buildTarget,
  notifierTypes,
  sourceTypes,
  targetTypes,
} from './registry.js';
export { runDemo } from './demo.js';
export type { DemoOptions, DemoReport, DemoStep } from './demo.js';

// ---------------------------------------------------------------------------------------------
// Deprecated: kept for one minor version (see CHANGELOG.md). Declarations, not `export { … }`
// lists, so that the `@deprecated` tags survive into the bundled .d.ts files.
// ---------------------------------------------------------------------------------------------

/** @deprecated Internal; will be removed in 0.3. */
export const DRILL_STATE = config.DRILL_STATE;

/** @deprecated Internal; will be removed in 0.3. */
export const directSourcePaths = registry.directSourcePaths;
/** @deprecated Internal; will be removed in 0.3. Use `new ImmichClient(…)` from duplicati-kit/immich. */
export const immichQueuePauser = registry.immichQueuePauser;
/** @deprecated Internal; will be removed in 0.3. Use `new JellyfinClient(…)` from duplicati-kit/jellyfin. */
export const jellyfinMessenger = registry.jellyfinMessenger;
