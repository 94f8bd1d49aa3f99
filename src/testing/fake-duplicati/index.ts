/**
 * The fake Duplicati server of `duplicati-kit/testing`.
 *
 * @module
 */
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
} from './server.js';
