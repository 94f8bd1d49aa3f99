/**
 * The evidence of a restore drill: its shape, the JSON and Markdown files it is kept in, and
 * `last-drill.json`, where a status command finds the newest drill.
 *
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../core/fs.js';
import type { DrillConsistency } from '../contracts/drill.js';

/** Name of the file holding the newest drill's evidence inside an evidence folder. */
export const LAST_DRILL_FILE = 'last-drill.json';

/** One manifest entry as the drill saw it. */
export interface DrillEntry {
  readonly name: string;
  readonly kind: string;
  /** The target that took it, or null when none did. */
  readonly target: string | null;
  /** `verified` (checks only), `restored` (restored into a scratch target), `skipped`, `failed`… */
  readonly status: string;
  readonly ok: boolean;
  readonly durationMs: number;
  /** The target's named checks (integrity, row and file counts against the manifest…). */
  readonly checks: readonly { readonly name: string; readonly ok: boolean; readonly detail?: string }[];
  readonly error?: string;
}

/** What a restore drill proves (or fails to). Plain JSON. */
export interface DrillEvidence {
  readonly ok: boolean;
  readonly verdict: 'pass' | 'fail';
  /** The Duplicati job (id null when it was not found). */
  readonly job: { readonly id: string | null; readonly name: string };
  /** The drilled version number (0 = newest at drill time) and its time as the server listed it. */
  readonly version: number | null;
  readonly versionTime: string | null;
  /** The plan's work folder as Duplicati saw it. */
  readonly workDir: string | null;
  /** `verify`: checks only; `scratch-restore`: each target also restored into a throwaway target. */
  readonly mode: 'verify' | 'scratch-restore';
  /** The Duplicati restore's true outcome. */
  readonly duplicati: {
    readonly result: string;
    readonly taskId: string | null;
    readonly warnings: readonly string[];
    readonly errors: readonly string[];
  } | null;
  /** Files and bytes Duplicati restored into the scratch folder. */
  readonly restoredFiles: number;
  readonly restoredBytes: number;
  /** The restored manifest: where and when the backup was prepared, and its sources. */
  readonly manifest: {
    readonly host: string;
    readonly tool: string;
    readonly startedAt: string;
    readonly finishedAt: string;
    readonly sources: readonly string[];
  } | null;
  /** Every artifact's sha256 check against the manifest. */
  readonly checksums: readonly {
    readonly path: string;
    readonly ok: boolean;
    readonly bytes: number;
    /** Why it failed (`missing`, `size differs: …`, `sha256 differs from the manifest`). */
    readonly problem?: string;
  }[];
  readonly entries: readonly DrillEntry[];
  /** Consistency checks run after the targets (e.g. the Immich database against the version's files). */
  readonly consistency: readonly DrillConsistency[];
  readonly durations: {
    readonly restoreMs: number;
    readonly verifyMs: number;
    /** Time spent in consistency checks. */
    readonly checksMs: number;
    readonly totalMs: number;
  };
  readonly startedAt: string;
  readonly finishedAt: string;
  /** The drill's scratch folder, and whether it was kept (`keep`). */
  readonly scratch: { readonly dir: string; readonly kept: boolean };
  /** Why the drill failed, one line each; empty on a pass. */
  readonly errors: readonly string[];
}

/** Where {@link writeDrillEvidence} wrote the evidence. */
export interface DrillEvidenceFiles {
  readonly json: string;
  readonly markdown: string;
  readonly last: string;
}

/** `2026-11-29T09-10-30-123Z`: an ISO time usable in a file name on every system. */
function stamp(iso: string): string {
  return iso.replace(/:/g, '-').replace('.', '-');
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

/** What a drill of this mode did, in words, for the evidence. */
export function drillKind(mode: DrillEvidence['mode']): string {
  return mode === 'scratch-restore'
    ? 'load drill: the dumps were loaded into throwaway targets and checked'
    : 'verify-only drill: checksums and dump headers checked, nothing loaded';
}

/**
 * A short Markdown report of a drill.
 *
 * @example
 * ```ts
 * await writeFile('drill.md', renderDrillMarkdown(evidence));
 * ```
 */
export function renderDrillMarkdown(e: DrillEvidence): string {
  const lines: string[] = [];
  lines.push(`# Restore drill: ${e.verdict.toUpperCase()} — ${e.job.name}`, '');
  lines.push(`- Version: ${e.version ?? '—'}${e.versionTime ? ` (${e.versionTime})` : ''}`);
  lines.push(`- Drilled: ${e.startedAt} → ${e.finishedAt} (${e.mode})`);
  lines.push(`- Kind: ${drillKind(e.mode)}`);
  if (e.manifest) {
    lines.push(`- Backup prepared on ${e.manifest.host} at ${e.manifest.startedAt} by ${e.manifest.tool}`);
  }
  if (e.duplicati) {
    lines.push(`- Duplicati restore: ${e.duplicati.result}, ${e.restoredFiles} file(s), ${e.restoredBytes} bytes`);
  }
  const okSums = e.checksums.filter((c) => c.ok).length;
  lines.push(`- Checksums: ${okSums}/${e.checksums.length} ok`);
  lines.push(
    `- Durations: restore ${e.durations.restoreMs} ms, verify ${e.durations.verifyMs} ms, checks ${e.durations.checksMs ?? 0} ms, total ${e.durations.totalMs} ms`,
  );
  if (e.errors.length) {
    lines.push('', '## Problems', '');
    // A failed consistency check's detail (with its missing paths) is listed once, below.
    const checks = new Map((e.consistency ?? []).map((c) => [`${c.name}: ${c.detail}`, c.name]));
    for (const x of e.errors) lines.push(`- ${checks.has(x) ? `${checks.get(x)} failed (see Consistency checks)` : x}`);
  }
  if (e.entries.length) {
    lines.push('', '## Entries', '', '| Entry | Kind | Target | Status | Checks |', '| --- | --- | --- | --- | --- |');
    for (const en of e.entries) {
      const checks = en.checks.map((c) => `${c.ok ? '✓' : '✗'} ${c.name}${c.detail ? `: ${c.detail}` : ''}`);
      if (en.error && !en.checks.some((c) => !c.ok)) checks.push(`✗ ${en.error.split('\n')[0]}`);
      lines.push(
        `| ${cell(en.name)} | ${cell(en.kind)} | ${cell(en.target ?? '—')} | ${en.status} | ${cell(checks.join('; ') || '—')} |`,
      );
    }
  }
  const consistency = e.consistency ?? [];
  if (consistency.length) {
    lines.push('', '## Consistency checks', '');
    for (const c of consistency) {
      const figures = Object.entries(c.figures ?? {})
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
      lines.push(`- ${c.ok ? '✓' : '✗'} ${c.name} (${c.status}): ${c.detail}${figures ? ` [${figures}]` : ''}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Write a drill's evidence into `dir`: `drill-<time>.json`, `drill-<time>.md` and
 * `last-drill.json` (same content as the JSON), each atomically.
 *
 * @example
 * ```ts
 * const files = await writeDrillEvidence('/var/lib/duplicati-kit/drills', evidence);
 * ```
 */
export async function writeDrillEvidence(
  dir: string,
  evidence: DrillEvidence,
  options: { signal?: AbortSignal } = {},
): Promise<DrillEvidenceFiles> {
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const base = `drill-${stamp(evidence.startedAt)}`;
  const files = {
    json: path.join(dir, `${base}.json`),
    markdown: path.join(dir, `${base}.md`),
    last: path.join(dir, LAST_DRILL_FILE),
  };
  const json = `${JSON.stringify(evidence, null, 2)}\n`;
  await writeFileAtomic(files.json, json, options);
  await writeFileAtomic(files.markdown, renderDrillMarkdown(evidence), options);
  await writeFileAtomic(files.last, json, options);
  return files;
}

/**
 * The newest drill's evidence kept in `dir`, or undefined when no drill ran there yet.
 *
 * @example
 * ```ts
 * const last = await readLastDrill('/var/lib/duplicati-kit/drills');
 * if (!last || last.verdict !== 'pass') console.log('no passing drill on record');
 * ```
 */
export async function readLastDrill(
  dir: string,
  options: { signal?: AbortSignal } = {},
): Promise<DrillEvidence | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(path.join(dir, LAST_DRILL_FILE), {
      encoding: 'utf8',
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return JSON.parse(text) as DrillEvidence;
}
