/**
 * The fake's `run-script-*` module, after Duplicati 2.0.7.3's `RunScript.cs`: a job's
 * `--run-script-before-required`, `--run-script-before` and `--run-script-after` are started
 * around its backups and restores with the `DUPLICATI__*` environment, and their exit codes,
 * stderr and timeouts are read the way the real server reads them (checked against a real
 * 2.0.7.3 server by `test/conformance/`):
 *
 * - a required script continues only on 0; any other code or a timeout fails the operation
 *   (Fatal) and nothing of its output is read;
 * - a plain script: 1 skips, 2 warns, 3 skips with a warning, 4 logs an error, 5 and others skip
 *   with an error; the message of codes 2–5 carries stderr; a timeout is only a warning;
 * - stderr of a script that exits 0 is a warning (`StdErrorNotEmpty`);
 * - `LOG:INFO|WARN|ERROR` lines are read only from 2.0.9.110 on (the 2.1+ fake), never by 2.0.x;
 * - after a failed required BEFORE, AFTER starts without `DUPLICATI__OPERATIONNAME`.
 *
 * One deliberate difference: a script still running at its timeout is killed (the real server
 * leaves it running), so tests leave no stray processes.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildResultFile } from '../hook-env.js';
import { type ParsedResult, logLine } from './results.js';

/** The part of a stored job the scripts see (kept structural: state.ts imports this module). */
export interface ScriptJob {
  readonly id: string;
  readonly name: string;
  readonly targetUrl: string;
  readonly sources: readonly string[];
  readonly settings: readonly {
    readonly Name: string;
    readonly Value: string | null;
    readonly Filter: string | null;
  }[];
}

const TAG = 'Modules.Builtin.RunScript';

/** What the BEFORE scripts decided and logged. */
export interface BeforeOutcome {
  /** The operation fails (a required script exited non-zero or timed out): the exception text. */
  readonly fatal?: string;
  /** A plain script asked to skip the operation (exit 1, 3, 5…), at this level. */
  readonly abort?: ParsedResult;
  readonly messages: string[];
  readonly warnings: string[];
  readonly errors: string[];
}

/** The scripts of a job, by option (leading dashes ignored). */
export interface JobScripts {
  readonly required?: string;
  readonly before?: string;
  readonly after?: string;
  readonly timeoutMs: number;
}

function setting(b: ScriptJob, name: string): string | undefined {
  const s = b.settings.find((x) => x.Name.replace(/^-+/, '') === name && !x.Filter);
  return s?.Value ?? undefined;
}

function timespanMs(text: string): number {
  if (/^\d+$/.test(text.trim())) return Number(text) * 1000;
  const units: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, D: 86_400_000 };
  let ms = 0;
  for (const m of text.matchAll(/(\d+)([smhD])/g)) ms += Number(m[1]) * (units[m[2] as string] ?? 0);
  return ms;
}

/** The run-script settings of a job; undefined when it has none. */
export function jobScripts(b: ScriptJob): JobScripts | undefined {
  const required = setting(b, 'run-script-before-required') || undefined;
  const before = setting(b, 'run-script-before') || undefined;
  const after = setting(b, 'run-script-after') || undefined;
  if (!required && !before && !after) return undefined;
  return {
    ...(required ? { required } : {}),
    ...(before ? { before } : {}),
    ...(after ? { after } : {}),
    timeoutMs: timespanMs(setting(b, 'run-script-timeout') ?? '60s'),
  };
}

/** The `DUPLICATI__*` environment of one call, as `RunScript.Execute` builds it. */
function scriptEnv(
  b: ScriptJob,
  event: 'BEFORE' | 'AFTER',
  operation: string | undefined,
  mainAction: string,
  extra: Record<string, string>,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/' };
  for (const s of b.settings) {
    if (s.Filter) continue;
    env[`DUPLICATI__${s.Name.replace(/^-+/, '').replace(/-/g, '_')}`] = s.Value ?? '';
  }
  env.DUPLICATI__backup_name = b.name;
  env.DUPLICATI__backup_id = `DB-${b.id}`;
  env.DUPLICATI__main_action = mainAction;
  env.DUPLICATI__EVENTNAME = event;
  if (operation !== undefined) env.DUPLICATI__OPERATIONNAME = operation;
  env.DUPLICATI__REMOTEURL = b.targetUrl;
  env.DUPLICATI__LOCALPATH = b.sources.join(path.delimiter);
  return { ...env, ...extra };
}

interface Exit {
  readonly code: number | null;
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

function execute(script: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Exit> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const child = spawn(script, [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    // At the timeout the server stops waiting; a grandchild may still hold the pipes open.
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
            child.stdout.destroy();
            child.stderr.destroy();
            resolve({ code: null, timedOut, stdout, stderr });
          }, timeoutMs)
        : undefined;
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: null, timedOut: false, stdout, stderr: e.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, timedOut, stdout, stderr });
    });
  });
}

/** Handles one call's output and exit code; pushes log lines into `into`. */
function read(
  script: string,
  event: 'BEFORE' | 'AFTER',
  required: boolean,
  r: Exit,
  readsLogLines: boolean,
  into: BeforeOutcome,
): { fatal?: string; abort?: ParsedResult } {
  const at = new Date();
  const line = (level: 'Information' | 'Warning' | 'Error', id: string, text: string) =>
    (level === 'Information' ? into.messages : level === 'Warning' ? into.warnings : into.errors).push(
      logLine(at, level, `${TAG}-${id}`, text),
    );
  if (required && (r.timedOut || r.code !== 0)) {
    const why = r.timedOut
      ? `Execution of the script "${script}" timed out`
      : `The script "${script}" returned with exit code ${r.code ?? -1}`;
    line('Warning', 'ScriptExecuteError', `Error while executing script "${script}": ${why}`);
    return { fatal: why };
  }
  if (r.timedOut) {
    line('Warning', 'ScriptTimeout', `Execution of the script "${script}" timed out`);
    return {};
  }
  let stderr = r.stderr.trim();
  const code = r.code ?? -1;
  const withErr = `The script "${script}" returned with exit code ${code}${stderr ? `: ${stderr}` : ''}`;
  if (code === 2 || code === 3) {
    line('Warning', 'InvalidExitCode', withErr);
    stderr = '';
  } else if (code !== 0 && code !== 1) {
    line('Error', 'InvalidExitCode', withErr);
    stderr = '';
  }
  if (stderr) line('Warning', 'StdErrorNotEmpty', `The script "${script}" reported error messages: ${stderr}`);
  if (readsLogLines) {
    for (const raw of r.stdout.split(/\r?\n/)) {
      const m = /^LOG:(INFO|WARN|ERROR)\s?(.*)$/.exec(raw.trim());
      if (m) line(m[1] === 'INFO' ? 'Information' : m[1] === 'WARN' ? 'Warning' : 'Error', 'ScriptOutput', m[2] ?? '');
    }
  }
  if (event === 'BEFORE' && code === 1) return { abort: 'Success' };
  if (event === 'BEFORE' && code === 3) return { abort: 'Warning' };
  if (event === 'BEFORE' && code !== 0 && code !== 2 && code !== 4) return { abort: 'Error' };
  return {};
}

/** Run the BEFORE scripts of an operation: the required one first, then the plain one. */
export async function runBefore(
  b: ScriptJob,
  scripts: JobScripts,
  operation: string,
  readsLogLines: boolean,
): Promise<BeforeOutcome> {
  const out: BeforeOutcome = { messages: [], warnings: [], errors: [] };
  const calls: [string, boolean][] = [];
  if (scripts.required) calls.push([scripts.required, true]);
  if (scripts.before) calls.push([scripts.before, false]);
  for (const [script, required] of calls) {
    const r = await execute(script, scriptEnv(b, 'BEFORE', operation, operation, {}), scripts.timeoutMs);
    const decided = read(script, 'BEFORE', required, r, readsLogLines, out);
    if (decided.fatal) return { ...out, fatal: decided.fatal };
    if (decided.abort) return { ...out, abort: decided.abort };
  }
  return out;
}

/**
 * Run the AFTER script; what it logs is returned (the real server writes the Result row first, so
 * none of it reaches the job's log). `operation` undefined: the AFTER of a failed required BEFORE.
 */
export async function runAfter(
  b: ScriptJob,
  scripts: JobScripts,
  run: { operation: string | undefined; mainAction: string; parsed: ParsedResult; readsLogLines: boolean },
): Promise<BeforeOutcome> {
  const out: BeforeOutcome = { messages: [], warnings: [], errors: [] };
  if (!scripts.after) return out;
  const file = path.join(tmpdir(), `dup-fake-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  await writeFile(
    file,
    buildResultFile({ parsedResult: run.parsed, mainOperation: run.mainAction, version: '2.0.7.3 (fake)' }),
  );
  try {
    const env = scriptEnv(b, 'AFTER', run.operation, run.mainAction, {
      DUPLICATI__PARSED_RESULT: run.parsed,
      DUPLICATI__RESULTFILE: file,
    });
    const r = await execute(scripts.after, env, scripts.timeoutMs);
    read(scripts.after, 'AFTER', false, r, run.readsLogLines, out);
  } finally {
    await rm(file, { force: true });
  }
  return out;
}
