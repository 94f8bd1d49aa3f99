/**
 * Builders for testing Duplicati run-script hooks without a Duplicati server: the environment
 * Duplicati gives a script, and result files in both formats.
 *
 * @module
 */
import type { HookEvent, OperationName, ParsedResult } from '../hooks/protocol.js';
import { variableFromOptionName } from '../hooks/options.js';

/** Options of {@link buildHookEnv}. */
export interface HookEnvOptions {
  readonly event: HookEvent;
  /** @default 'Backup' */
  readonly operation?: OperationName;
  /** Server backup ID; written as the `backup-id=DB-<id>` option. Null leaves it out (CLI run). @default '1' */
  readonly backupId?: string | null;
  /** Job name (`backup-name`). @default 'Family photos' */
  readonly backupName?: string;
  /** `DUPLICATI__REMOTEURL`. @default 'file:///srv/backup/target' */
  readonly remoteUrl?: string;
  /** Source paths, joined into `DUPLICATI__LOCALPATH`. @default none (variable not set) */
  readonly localPaths?: readonly string[];
  /** AFTER/POST-BACKUP: `DUPLICATI__PARSED_RESULT`. @default 'Success' */
  readonly parsedResult?: ParsedResult;
  /** AFTER/POST-BACKUP: `DUPLICATI__RESULTFILE`. */
  readonly resultFile?: string;
  /** `run-script-timeout` (Duplicati timespan); not set means Duplicati's default of 60 s. */
  readonly timeout?: string;
  /** Configure the script as `run-script-before-required` instead of `run-script-before`. */
  readonly required?: boolean;
  /** Path of the hook as configured in the job. @default '/usr/local/bin/duplicati-hook' */
  readonly scriptPath?: string;
  /** Extra job options, by Duplicati option name (`dblock-size`, `passphrase`, `filter`, …). */
  readonly options?: Readonly<Record<string, string>>;
  /** `:` on Unix, `;` on Windows. @default ':' */
  readonly pathSeparator?: string;
  /** Inherited environment the variables are added to (e.g. `{ PATH: process.env.PATH }`). @default {} */
  readonly base?: Readonly<Record<string, string | undefined>>;
}

/**
 * Build the environment Duplicati gives a run-script hook for a server-run job: one
 * `DUPLICATI__<option>` per option (dashes turned into underscores, case kept), the job options a
 * server always sets (`backup-name`, `backup-id=DB-<id>`, `dbpath`, `main-action`,
 * `disable-module`), and `EVENTNAME`, `OPERATIONNAME`, `REMOTEURL`, `LOCALPATH`,
 * `PARSED_RESULT`, `RESULTFILE` as the event calls for.
 *
 * @example
 * ```ts
 * import { buildHookEnv } from 'duplicati-kit/testing';
 * const env = buildHookEnv({ event: 'BEFORE', operation: 'Backup', timeout: '10m' });
 * const code = await hook.run(env, { stdout, stderr });
 * expect(code).toBe(0);
 * ```
 */
export function buildHookEnv(options: HookEnvOptions): Record<string, string> {
  const operation = options.operation ?? 'Backup';
  const sep = options.pathSeparator ?? ':';
  const script = options.scriptPath ?? '/usr/local/bin/duplicati-hook';
  const jobOptions: Record<string, string> = {
    'backup-name': options.backupName ?? 'Family photos',
    dbpath: '/var/lib/duplicati/ABCDEFGHIJ.sqlite',
    'disable-module': 'console-password-input',
    'main-action': operation,
    [options.required ? 'run-script-before-required' : 'run-script-before']: script,
    'run-script-after': script,
  };
  if (options.backupId !== null) jobOptions['backup-id'] = `DB-${options.backupId ?? '1'}`;
  if (operation !== 'Backup') jobOptions['disable-autocreate-folder'] = 'true';
  if (options.timeout !== undefined) jobOptions['run-script-timeout'] = options.timeout;
  Object.assign(jobOptions, options.options ?? {});

  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(options.base ?? {})) if (v !== undefined) env[k] = v;
  for (const [k, v] of Object.entries(jobOptions)) env[variableFromOptionName(k)] = v;
  env['DUPLICATI__EVENTNAME'] = options.event;
  env['DUPLICATI__OPERATIONNAME'] = operation;
  env['DUPLICATI__REMOTEURL'] = options.remoteUrl ?? 'file:///srv/backup/target';
  if (options.localPaths !== undefined) env['DUPLICATI__LOCALPATH'] = options.localPaths.join(sep);
  if (options.event !== 'BEFORE') {
    env['DUPLICATI__PARSED_RESULT'] = options.parsedResult ?? 'Success';
    if (options.resultFile !== undefined) env['DUPLICATI__RESULTFILE'] = options.resultFile;
  }
  return env;
}

/** Alias of {@link buildHookEnv}, the name used in the project's issue tracker. */
export const duplicatiHookEnv = buildHookEnv;

/** Contents of a result file built by {@link buildResultFile}. */
export interface ResultFileOptions {
  readonly parsedResult: ParsedResult;
  /** @default 'Backup' */
  readonly mainOperation?: string;
  /** @default false */
  readonly interrupted?: boolean;
  /** @default 2026-01-01T02:00:00Z */
  readonly beginTime?: Date;
  /** @default beginTime + 3 min */
  readonly endTime?: Date;
  /** @default '2.1.0.5 (2.1.0.5_stable_2025-03-04)' */
  readonly version?: string;
  /** More result properties (e.g. `ExaminedFiles: 120`). */
  readonly data?: Readonly<Record<string, string | number | boolean>>;
  /** Warning texts, counted into `WarningsActualLength` and listed as `LimitedWarnings`. */
  readonly warnings?: readonly string[];
  /** Error texts, counted into `ErrorsActualLength` and listed as `LimitedErrors`. */
  readonly errors?: readonly string[];
  /** Captured log lines (`Log data:` / `LogLines`). */
  readonly logLines?: readonly string[];
  /** The exception of a failed operation. */
  readonly exception?: { readonly type?: string; readonly message: string; readonly stack?: string };
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** .NET's en-US `DateTime.ToString()` (in UTC here) followed by the unix time, as the text format prints it. */
function textDate(d: Date): string {
  const h = d.getUTCHours();
  const clock = `${h % 12 === 0 ? 12 : h % 12}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())} ${h < 12 ? 'AM' : 'PM'}`;
  return `${d.getUTCMonth() + 1}/${d.getUTCDate()}/${d.getUTCFullYear()} ${clock} (${Math.floor(d.getTime() / 1000)})`;
}

function dotNetSpan(ms: number): string {
  const totalSecs = Math.floor(ms / 1000);
  const frac = String((ms % 1000) * 10_000).padStart(7, '0');
  return `${pad2(Math.floor(totalSecs / 3600))}:${pad2(Math.floor(totalSecs / 60) % 60)}:${pad2(totalSecs % 60)}.${frac}`;
}

/**
 * Build a result file as Duplicati writes it for an after-script, in the `Duplicati` text
 * format or the `Json` format, to test AFTER hooks with every parsed result.
 *
 * @example
 * ```ts
 * await writeFile(file, buildResultFile({ parsedResult: 'Warning', warnings: ['file locked'] }, 'Json'));
 * const env = buildHookEnv({ event: 'AFTER', parsedResult: 'Warning', resultFile: file,
 *   options: { 'run-script-result-output-format': 'Json' } });
 * ```
 */
export function buildResultFile(result: ResultFileOptions, format: 'Duplicati' | 'Json' = 'Duplicati'): string {
  const begin = result.beginTime ?? new Date('2026-01-01T02:00:00Z');
  const end = result.endTime ?? new Date(begin.getTime() + 180_000);
  const warnings = result.warnings ?? [];
  const errors = result.errors ?? [];
  const ex = result.exception;
  const exceptionText = ex
    ? `${ex.type ?? 'System.Exception'}: ${ex.message}\n${ex.stack ?? '   at Duplicati.Library.Main.Controller.RunAction(Object result)'}`
    : undefined;
  const props: [string, string | number | boolean | readonly string[]][] = [
    ...Object.entries(result.data ?? {}),
    ['MainOperation', result.mainOperation ?? 'Backup'],
    ['ParsedResult', result.parsedResult],
    ['Interrupted', result.interrupted ?? false],
    ['Version', result.version ?? '2.1.0.5 (2.1.0.5_stable_2025-03-04)'],
    ['EndTime', end.toISOString()],
    ['BeginTime', begin.toISOString()],
    ['Duration', dotNetSpan(end.getTime() - begin.getTime())],
    ['MessagesActualLength', 0],
    ['WarningsActualLength', warnings.length],
    ['ErrorsActualLength', errors.length],
    ['LimitedMessages', []],
    ['LimitedWarnings', warnings],
    ['LimitedErrors', errors],
  ];
  if (format === 'Json') {
    const data: Record<string, unknown> = {};
    for (const [k, v] of props) data[k] = v;
    return JSON.stringify({
      Data: data,
      Extra: null,
      LogLines: result.logLines ?? [],
      Exception: exceptionText ?? null,
    });
  }
  const lines: string[] = [];
  if (ex && exceptionText) lines.push(`Failed: ${ex.message}`, `Details: ${exceptionText}`, '');
  const body = props.map(([k, v]) => {
    if (Array.isArray(v)) return v.length === 0 ? `${k}: []` : `${k}: [\n${v.map((x) => `    ${x}`).join(',\n')}\n]`;
    if (k === 'EndTime' || k === 'BeginTime') return `${k}: ${textDate(new Date(v as string))}`;
    if (typeof v === 'boolean') return `${k}: ${v ? 'True' : 'False'}`;
    return `${k}: ${String(v)}`;
  });
  let text = [...lines, body.join('\n')].join('\n');
  // Duplicati ends the last property line and starts `Log data:` on the next one (no blank line).
  if (result.logLines && result.logLines.length > 0) text += `\nLog data:\n${result.logLines.join('\n')}\n`;
  return text;
}
