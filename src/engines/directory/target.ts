/**
 * `DirectoryTarget`: checks folders Duplicati restored against the file counts and bytes the
 * directory source recorded.
 *
 * @module
 */
import path from 'node:path';
import type { z } from 'zod';
import { VerificationError } from '../../core/errors.js';
import { compileFilters } from '../../core/filters.js';
import { configErrorFrom } from '../../core/validate.js';
import type {
  ManifestEntry,
  RestoreInput,
  RestoreOutput,
  RestoreTarget,
  SourceContext,
  VerificationReport,
} from '../../contracts/types.js';
import {
  DIRECTORY_KIND,
  DIRECTORY_TARGET_DEFAULTS,
  type DirectoryTargetOptions,
  directoryTargetSchema,
} from './options.js';
import { type TreeStats, walkTree } from './walk.js';

/**
 * Checks folders Duplicati restored against the manifest's file counts and bytes. Duplicati writes
 * the files itself; this target proves they are all there. Restored paths are found through `map`
 * (original path → restored path) or under `restoredRoot` (`<restoredRoot>/<original absolute
 * path>`, how Duplicati restores several roots to another folder); by default in place.
 *
 * @example
 * ```ts
 * new DirectoryTarget({ source: 'photos', restoredRoot: '/restore/files' });
 * ```
 */
export class DirectoryTarget implements RestoreTarget {
  readonly name: string;
  readonly kind = DIRECTORY_KIND;
  readonly options: Readonly<z.output<typeof directoryTargetSchema>>;

  constructor(options: DirectoryTargetOptions = {}) {
    const parsed = directoryTargetSchema.safeParse(options);
    if (!parsed.success) throw configErrorFrom('invalid DirectoryTarget options', parsed.error);
    this.options = parsed.data;
    this.name =
      parsed.data.name ?? `${DIRECTORY_TARGET_DEFAULTS.name}${parsed.data.source ? `:${parsed.data.source}` : ''}`;
  }

  accepts(entry: ManifestEntry): boolean {
    return (
      entry.kind === DIRECTORY_KIND &&
      (this.options.source === undefined ||
        entry.name === this.options.source ||
        entry.name.endsWith(`/${this.options.source}`))
    );
  }

  /** Where the folder originally at `original` was restored. */
  resolve(original: string): string {
    const mapped = this.options.map?.[original];
    if (mapped) return mapped;
    if (this.options.restoredRoot) return path.join(this.options.restoredRoot, original);
    return original;
  }

  async verify(input: RestoreInput, ctx: SourceContext): Promise<VerificationReport> {
    const filter = compileFilters(input.entry.excludePatterns);
    const paths = (input.entry.metadata.paths ?? {}) as Record<string, Partial<TreeStats>>;
    const checks: { name: string; ok: boolean; detail?: string }[] = [];
    for (const [original, expected] of Object.entries(paths)) {
      const where = this.resolve(original);
      let got: TreeStats;
      try {
        // Filters apply to original paths; a restored copy elsewhere has none of the excluded parts.
        got = await walkTree(where, { signal: ctx.signal, ...(where === original ? { filter } : {}) });
      } catch (e) {
        checks.push({
          name: `${original} exists`,
          ok: false,
          detail: `${where}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        });
        continue;
      }
      const cmp = (what: 'files' | 'bytes') => {
        const want = expected[what] ?? 0;
        const ok = this.options.allowExtra ? got[what] >= want : got[what] === want;
        checks.push({ name: `${original} ${what}`, ok, detail: `expected ${want}, found ${got[what]} in ${where}` });
      };
      cmp('files');
      cmp('bytes');
    }
    return { ok: checks.every((c) => c.ok), checks };
  }

  async restore(input: RestoreInput, ctx: SourceContext): Promise<RestoreOutput> {
    const report = await this.verify(input, ctx);
    if (!report.ok) {
      throw new VerificationError(
        'restored folders do not match the manifest',
        { source: input.entry.name, kind: this.kind, phase: 'restore' },
        report.checks.filter((c) => !c.ok).map((c) => ({ check: c.name, message: c.detail ?? 'failed' })),
      );
    }
    return { restored: Object.keys((input.entry.metadata.paths ?? {}) as object).map((p) => this.resolve(p)) };
  }
}
