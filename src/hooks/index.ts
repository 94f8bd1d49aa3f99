/**
 * `duplicati-kit/hooks`: the Duplicati `run-script-before/-after/-post-backup` protocol as a typed
 * runtime. {@link readDuplicatiEnv} parses the `DUPLICATI__*` environment, {@link HookOutput}
 * writes the only lines Duplicati reads, and {@link defineHook} runs typed handlers and maps
 * their outcome to Duplicati's exit codes. This entry loads no database driver and no HTTP
 * client, so a hook invoked for a file listing exits in a blink.
 *
 * @module
 */
export type { Logger } from '../core/logger.js';
export {
  type ControlledHookBudget,
  createHookBudget,
  deadlineMarginMs,
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
  foldLines,
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
  MAX_RESULT_FILE_BYTES,
  parseDotNetTimeSpan,
  parseDuplicatiResultJson,
  parseDuplicatiResultText,
  parseResultFile,
  readResultFile,
  type ResultException,
  type ResultFileFormat,
  type ResultLogLine,
} from './result-file.js';
