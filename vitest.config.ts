import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Most tests wait on PostgreSQL, MariaDB, Duplicati or child processes rather than on this
    // process's CPU: two workers even on a two-core machine (the default would be one).
    maxWorkers: Math.max(2, availableParallelism()),
    // The JSON report lets .ci/run print a plain "N passed, N failed" closing line.
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest/report.json' },
  },
});
