/**
 * `duplicati-kit/ops`: operations around backups. For now the end-to-end demo; restore drills,
 * retention, schedules, notifications and the 3-2-1 audit come next.
 *
 * @module
 */
export { runDemo } from './demo.js';
export type { DemoOptions, DemoReport, DemoStep } from './demo.js';
export type { BackupSource, PreparedSource, ProgressEvent, RestoreTarget, SourceContext } from '../sources/types.js';
