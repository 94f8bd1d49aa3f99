/**
 * `duplicati-kit/hooks`: the Duplicati `run-script-before/-after/-post-backup` protocol as a typed
 * runtime. {@link readDuplicatiEnv} parses the `DUPLICATI__*` environment, {@link HookOutput}
 * writes the only lines Duplicati reads, and {@link defineHook} runs typed handlers and maps
 * their outcome to Duplicati's exit codes. This entry loads no database driver and no HTTP
 * client, so a hook invoked for a file listing exits in a blink.
 *
 * @module
 */
import * as budget from './budget.js';
import * as output from './output.js';
import * as resultFile from './result-file.js';

export type { Logger } from '../core/logger.js';
export {
  type ControlledHookBudget,
  createHookBudget,
  formatDuplicatiTimespan,
  type HookBudget,
  type HookBudgetOptions,
} from './budget.js';
export {
  type DefineHookOptions,
  defineHook,
  type DuplicatiHook,
  type HookContext,
  type HookHandler,
  type HookIO,
  type HookOutcome,
} from './define-hook.js';
export {
  type DuplicatiHookEnv,
  guessRequired,
  type ReadDuplicatiEnvOptions,
  readDuplicatiEnv,
  readHookEvent,
  readHookOperation,
} from './env.js';
export { HookEnvError, HookProtocolError, isHookEnvError, isHookProtocolError } from './errors.js';
export {
  type DuplicatiFilter,
  DuplicatiOptions,
  ENV_PREFIX,
  optionNameFromVariable,
  parseFilterOption,
  RESERVED_VARIABLES,
  variableFromOptionName,
} from './options.js';
export {
  duplicatiScriptLogger,
  HookOutput,
  type HookOutputCounts,
  type HookOutputOptions,
  type LineSink,
  type ScriptLogLevel,
  teeLogger,
} from './output.js';
export {
  DEFAULT_SCRIPT_TIMEOUT,
  HOOK_EVENTS,
  type HookEvent,
  HookExitCode,
  isListingOperation,
  KNOWN_OPERATIONS,
  type KnownOperation,
  LISTING_OPERATIONS,
  type OperationName,
  PARSED_RESULTS,
  type ParsedResult,
  parseDuplicatiBool,
  parseDuplicatiSize,
  parseDuplicatiTimespan,
} from './protocol.js';
export {
  type DuplicatiResult,
  parseResultFile,
  readResultFile,
  type ResultException,
  type ResultFileFormat,
  type ResultLogLine,
} from './result-file.js';

// ---------------------------------------------------------------------------------------------
// Deprecated: kept for one minor version (see CHANGELOG.md). Declarations, not `export { … }`
// lists, so that the `@deprecated` tags survive into the bundled .d.ts files.
// ---------------------------------------------------------------------------------------------

/** @deprecated Internal; will be removed in 0.3. */
export const deadlineMarginMs = budget.deadlineMarginMs;

/** @deprecated Internal; will be removed in 0.3. */
export const foldLines = output.foldLines;

/** @deprecated Internal; will be removed in 0.3. */
export const MAX_RESULT_FILE_BYTES = resultFile.MAX_RESULT_FILE_BYTES;
/** @deprecated Internal; will be removed in 0.3. */
export const parseDotNetTimeSpan = resultFile.parseDotNetTimeSpan;
/** @deprecated Internal; will be removed in 0.3. Use `parseResultFile`. */
export const parseDuplicatiResultJson = resultFile.parseDuplicatiResultJson;
/** @deprecated Internal; will be removed in 0.3. Use `parseResultFile`. */
export const parseDuplicatiResultText = resultFile.parseDuplicatiResultText;
