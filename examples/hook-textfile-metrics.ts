/**
 * An after-script that turns each Duplicati backup result into Prometheus metrics for
 * node_exporter's textfile collector, so a missed or failed backup raises an alert.
 *
 *   --run-script-after=/usr/local/bin/duplicati-metrics
 *   --run-script-result-output-format=Json   (either format works; Json carries every field)
 *
 * It reads the result file first: Duplicati deletes it as soon as the script exits or times out.
 */
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { defineHook } from 'duplicati-kit/hooks';

const DIR = process.env['TEXTFILE_DIR'] ?? '/var/lib/node_exporter/textfile';
const LEVEL = { Unknown: -1, Success: 0, Warning: 1, Error: 2, Fatal: 3 } as const;

defineHook({
  after: async (ctx) => {
    const job = (ctx.env.backupName ?? 'unknown').replace(/["\\\n]/g, '_');
    const r = ctx.result;
    const labels = `job="${job}",backup_id="${ctx.env.backupId ?? ''}"`;
    const lines = [
      `duplicati_backup_result{${labels}} ${LEVEL[ctx.env.parsedResult ?? 'Unknown']}`,
      `duplicati_backup_end_timestamp_seconds{${labels}} ${Math.floor((r?.endTime ?? new Date()).getTime() / 1000)}`,
      `duplicati_backup_duration_seconds{${labels}} ${(r?.durationMs ?? 0) / 1000}`,
      `duplicati_backup_warnings{${labels}} ${r?.warningCount ?? 0}`,
      `duplicati_backup_errors{${labels}} ${r?.errorCount ?? 0}`,
    ];
    const file = path.join(DIR, `duplicati-${ctx.env.backupId ?? job}.prom`);
    // Write then rename, so the collector never reads half a file.
    await writeFile(`${file}.tmp`, `${lines.join('\n')}\n`, { signal: ctx.signal });
    await rename(`${file}.tmp`, file);
    if (ctx.env.resultError)
      return { warning: `metrics written without the result file: ${ctx.env.resultError.message}` };
    return undefined;
  },
});
