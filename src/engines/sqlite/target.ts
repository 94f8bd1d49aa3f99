/**
 * `SqliteTarget`: verifies a restored `SqliteSource` snapshot and puts it in place of the live file
 * with a safety copy, or restores it into a throwaway copy (`scratch: true`) for drills.
 *
 * @module
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { z } from 'zod';
import { RestoreError, VerificationError } from '../../core/errors.js';
import type {
  JsonValue,
  ManifestEntry,
  ResolvedArtifact,
  RestoreInput,
  RestoreOutput,
  RestoreTarget,
  SourceContext,
  VerificationReport,
} from '../../contracts/types.js';
import {
  type Check,
  checkDatabaseFile,
  dropSafetyCopy,
  InstallFailure,
  type InstallState,
  installDatabase,
  liveInUseChecks,
  putBack,
} from './install.js';
import { SQLITE_KIND, SQLITE_TARGET_DEFAULTS, type SqliteTargetOptions, sqliteTargetSchema } from './options.js';
import { parseOptions } from '../../core/validate.js';

/** The `counts` record of a manifest entry's metadata, if it has one. */
export function manifestCounts(metadata: Readonly<Record<string, JsonValue>>): Record<string, number> {
  const counts = metadata.counts;
  const out: Record<string, number> = {};
  if (counts && typeof counts === 'object' && !Array.isArray(counts)) {
    for (const [k, v] of Object.entries(counts)) if (typeof v === 'number') out[k] = v;
  }
  return out;
}

/** The one `sqlite` artifact of an entry (or the one named `name`). */
export function sqliteArtifact(input: RestoreInput, name?: string): ResolvedArtifact {
  const found = input.artifacts.filter(
    (a) => a.format === 'sqlite' && (name === undefined || path.posix.basename(a.path) === name),
  );
  if (found.length !== 1) {
    throw new Error(
      `expected one sqlite artifact${name ? ` named ${name}` : ''} in ${input.entry.name}, found ${found.length}`,
    );
  }
  return found[0] as ResolvedArtifact;
}

/**
 * Restore a {@link SqliteSource} snapshot: verify it (integrity, row counts against the manifest,
 * optional version gate), then put it in place of the live file. The live file and its
 * `-wal`/`-shm` are moved aside as a safety copy; the snapshot is copied in through a temp file,
 * fsync and rename; the result is verified again. `rollback` puts the safety copy back,
 * `finalize` deletes it. **Stop the application first**: the target refuses a file another
 * process holds open unless `force: true`.
 *
 * @example
 * ```ts
 * import { createRestorePlan, SqliteTarget } from 'duplicati-kit';
 * const plan = createRestorePlan({
 *   targets: [new SqliteTarget({ source: 'vaultwarden', path: '/srv/vaultwarden/db.sqlite3' })],
 * });
 * await plan.run({ from: '/restore/staging' });
 * ```
 */
export class SqliteTarget implements RestoreTarget {
  readonly name: string;
  readonly kind = SQLITE_KIND;
  readonly #o: z.infer<typeof sqliteTargetSchema>;

  constructor(options: SqliteTargetOptions) {
    this.#o = parseOptions(sqliteTargetSchema, options, 'SqliteTarget');
    this.name = this.#o.name ?? this.#o.source ?? SQLITE_TARGET_DEFAULTS.name;
  }

  /** The live file, unless this target restores into scratch copies. */
  replaces(): readonly string[] {
    return this.#o.scratch ? [] : [path.resolve(this.#o.path)];
  }

  accepts(entry: ManifestEntry): boolean {
    return entry.kind === SQLITE_KIND && (this.#o.source === undefined || entry.name === this.#o.source);
  }

  #where<P extends 'verify' | 'restore' | 'rollback' | 'finalize'>(phase: P) {
    return { source: this.name, kind: this.kind, phase };
  }

  async #checks(file: string, input: RestoreInput, signal: AbortSignal, readWrite: boolean): Promise<Check[]> {
    const checks = await checkDatabaseFile(file, {
      counts: manifestCounts(input.entry.metadata),
      readWrite,
      ...(this.#o.integrity ? { integrity: this.#o.integrity } : {}),
    });
    if (this.#o.versionGate && checks.every((c) => c.ok)) {
      const refusal = await this.#o.versionGate({ metadata: input.entry.metadata, file, signal });
      checks.push(refusal ? { name: 'version', ok: false, detail: refusal } : { name: 'version', ok: true });
    }
    return checks;
  }

  /** Integrity, row counts and the version gate, on the restored artifact, read-only. */
  async verify(input: RestoreInput, ctx: SourceContext): Promise<VerificationReport> {
    let artifact: ResolvedArtifact;
    try {
      artifact = sqliteArtifact(input);
    } catch (e) {
      return { ok: false, checks: [{ name: 'artifact', ok: false, detail: (e as Error).message }] };
    }
    const checks = await this.#checks(artifact.file, input, ctx.signal, false);
    return { ok: checks.every((c) => c.ok), checks };
  }

  /** The live side, read-only: the database is not held open by another process. */
  async precheck(_input: RestoreInput, _ctx: SourceContext): Promise<VerificationReport> {
    if (this.#o.scratch || this.#o.force) return { ok: true, checks: [] };
    const checks = await liveInUseChecks([this.#o.path], '*');
    return { ok: checks.every((c) => c.ok), checks };
  }

  /** Put the snapshot in place (or into a scratch copy), verified before and after. */
  async restore(input: RestoreInput, ctx: SourceContext): Promise<RestoreOutput> {
    const artifact = (() => {
      try {
        return sqliteArtifact(input);
      } catch (e) {
        throw new RestoreError((e as Error).message, this.#where('restore'), { cause: e });
      }
    })();
    if (this.#o.scratch) return this.#scratch(input, artifact, ctx);
    if (ctx.dryRun) {
      ctx.logger.info('dry run: would replace the live database', { live: this.#o.path, from: artifact.file });
      return { restored: [], metadata: { dryRun: true, live: this.#o.path } };
    }
    const journal = input.entry.metadata.journalMode;
    try {
      const state = await installDatabase({
        snapshot: artifact.file,
        live: this.#o.path,
        check: (file) => this.#checks(file, input, ctx.signal, true),
        signal: ctx.signal,
        ...(typeof journal === 'string' && journal !== 'delete' ? { journalMode: journal } : {}),
        ...(this.#o.force ? { force: true } : {}),
        ...(ctx.restoreJournal
          ? { beforeSwap: (s) => ctx.restoreJournal?.record(outputOf(s)) ?? Promise.resolve() }
          : {}),
      });
      ctx.logger.info('sqlite database restored', { live: this.#o.path, safety: state.safety });
      return outputOf(state);
    } catch (e) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      throw installError(e, this.#where('restore'));
    }
  }

  async #scratch(input: RestoreInput, artifact: ResolvedArtifact, ctx: SourceContext): Promise<RestoreOutput> {
    const dir = await mkdtemp(path.join(this.#o.scratchDir ?? tmpdir(), 'dk-sqlite-scratch-'));
    try {
      const live = path.join(dir, path.basename(this.#o.path));
      const state = await installDatabase({
        snapshot: artifact.file,
        live,
        check: (file) => this.#checks(file, input, ctx.signal, true),
        signal: ctx.signal,
      });
      return { restored: [], metadata: { scratch: true, verified: true, safety: state.safety } };
    } catch (e) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      throw installError(e, this.#where('restore'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Put the safety copy back. */
  async rollback(output: RestoreOutput, ctx: SourceContext): Promise<void> {
    const state = installState(output);
    if (!state) return;
    try {
      await putBack(state);
      ctx.logger.info('sqlite restore rolled back', { live: state.live });
    } catch (e) {
      throw new RestoreError(`rolling back ${state.live} failed`, this.#where('rollback'), { cause: e });
    }
  }

  /** Delete the safety copy. */
  async finalize(output: RestoreOutput, _ctx: SourceContext): Promise<void> {
    const state = installState(output);
    if (!state) return;
    try {
      await dropSafetyCopy(state);
    } catch (e) {
      throw new RestoreError(`removing the safety copy of ${state.live} failed`, this.#where('finalize'), {
        cause: e,
      });
    }
  }
}

/** A restore's output for an install state (also what is written ahead before the swap). */
function outputOf(state: InstallState): RestoreOutput {
  return { restored: [state.live], ...(state.safety ? { safetyCopy: state.safety } : {}), state };
}

/** The install state a target stored in its RestoreOutput, if any. */
export function installState(output: RestoreOutput): InstallState | undefined {
  const s = output.state as Partial<InstallState> | undefined;
  if (!s || typeof s.live !== 'string' || !Array.isArray(s.sidecars)) return undefined;
  return {
    live: s.live,
    safety: typeof s.safety === 'string' ? s.safety : null,
    sidecars: s.sidecars.map(String),
    ...(typeof s.tmp === 'string' ? { tmp: s.tmp } : {}),
    ...(typeof s.liveInode === 'string' ? { liveInode: s.liveInode } : {}),
  };
}

/** Map an install failure to the error a restore plan reports. */
export function installError(
  e: unknown,
  where: { source: string; kind: string; phase: 'verify' | 'restore' },
): VerificationError | RestoreError {
  if (e instanceof InstallFailure && e.checks.length > 0) {
    return new VerificationError(
      e.message,
      where,
      e.checks.map((c) => ({ check: c.name, message: c.detail ?? 'failed' })),
      { cause: e },
    );
  }
  const code = e instanceof InstallFailure && e.stage === 'in-use' ? 'ERR_SQLITE_IN_USE' : undefined;
  return new RestoreError((e as Error).message, where, { cause: e, ...(code ? { code } : {}) });
}
