import { promises as fsp } from 'node:fs';
import type {
  BackupSource,
  ManifestEntry,
  PreparedSource,
  RestoreInput,
  RestoreOutput,
  RestoreTarget,
  SourceContext,
  VerificationReport,
} from '../../src/contracts/types.js';

/** A source that writes `files` (name → content) as artifacts; can fail on demand. */
export class TextSource implements BackupSource {
  readonly kind = 'text';
  cleanups = 0;
  constructor(
    readonly name: string,
    private readonly files: Record<string, string>,
    private readonly fail?: { phase: 'check' | 'prepare'; error: Error },
  ) {}
  async check(): Promise<void> {
    if (this.fail?.phase === 'check') throw this.fail.error;
  }
  async prepare(ctx: SourceContext): Promise<PreparedSource> {
    if (this.fail?.phase === 'prepare') throw this.fail.error;
    const artifacts = [];
    for (const [name, content] of Object.entries(this.files)) {
      artifacts.push(await ctx.artifacts.write(name, [content], { format: 'txt', signal: ctx.signal }));
    }
    return { artifacts, includePaths: [`/live/${this.name}`], metadata: { files: Object.keys(this.files).length } };
  }
  async cleanup(): Promise<void> {
    this.cleanups++;
  }
}

/** A target that "restores" text artifacts into a map; records calls; can fail on demand. */
export class MemoryTarget implements RestoreTarget {
  readonly kind = 'text';
  readonly live = new Map<string, string>();
  readonly calls: string[] = [];
  constructor(
    readonly name: string,
    private readonly opts: {
      source?: string;
      failRestore?: boolean;
      failVerify?: boolean;
      failRollback?: boolean;
    } = {},
  ) {}
  accepts(entry: ManifestEntry): boolean {
    return (
      entry.kind === 'text' &&
      (!this.opts.source || entry.name === this.opts.source || entry.name.endsWith(`/${this.opts.source}`))
    );
  }
  async verify(input: RestoreInput): Promise<VerificationReport> {
    this.calls.push(`verify:${input.entry.name}`);
    const ok = !this.opts.failVerify && input.artifacts.length === input.entry.metadata.files;
    return { ok, checks: [{ name: 'file count', ok }] };
  }
  async restore(input: RestoreInput): Promise<RestoreOutput> {
    this.calls.push(`restore:${input.entry.name}`);
    if (this.opts.failRestore) throw new Error(`restore of ${input.entry.name} exploded`);
    const before = JSON.stringify([...this.live]);
    for (const a of input.artifacts) this.live.set(a.path, await fsp.readFile(a.file, 'utf8'));
    return { restored: input.artifacts.map((a) => a.path), state: { before } };
  }
  async rollback(output: RestoreOutput): Promise<void> {
    this.calls.push('rollback');
    if (this.opts.failRollback) throw new Error('rollback exploded');
    this.live.clear();
    for (const [k, v] of JSON.parse(String(output.state?.before)) as [string, string][]) this.live.set(k, v);
  }
  async finalize(): Promise<void> {
    this.calls.push('finalize');
  }
}
