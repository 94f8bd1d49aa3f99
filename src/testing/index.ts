/**
 * `duplicati-kit/testing`: what users' own tests need, starting with `FakeDuplicatiServer`, an
 * in-process Duplicati server (2.0.x or 2.1+ wire format) with a real state machine.
 *
 * @module
 */
export type { Logger } from '../core/logger.js';
export {
  type FakeAuthCounters,
  type FakeBackupInfo,
  type FakeBackupSeed,
  FakeDuplicatiServer,
  type FakeDuplicatiServerOptions,
  type FakeGeneration,
  type FakeLogRow,
  type FakeRequestMatch,
  type FakeRequestRecord,
  type FakeRestartOptions,
  type FakeTaskInfo,
  type FakeVersionInfo,
  type TaskHold,
  type FakeSeedRun,
} from './fake-duplicati/server.js';
export { buildHookEnv, buildResultFile, duplicatiHookEnv } from './hook-env.js';
export type { HookEnvOptions, ResultFileOptions } from './hook-env.js';
