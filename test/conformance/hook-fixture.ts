/**
 * A run-script hook built with `defineHook`, started by a Duplicati server (the fake or a real
 * one) in the conformance suite. What BEFORE does is read from the file `$CONFORMANCE_DIR/mode`
 * (`ok`, `warn`, `fail`, `logwarn`); every call appends what the hook saw to `$CONFORMANCE_DIR/calls`.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { defineHook } from '../../src/hooks/index.js';

const dir = process.env.CONFORMANCE_DIR ?? '';
const record = (what: Record<string, unknown>): void => {
  appendFileSync(path.join(dir, 'calls'), `${JSON.stringify(what)}\n`);
};

const hook = defineHook({
  autoRun: false,
  before: (ctx) => {
    const mode = readFileSync(path.join(dir, 'mode'), 'utf8').trim();
    record({ event: ctx.event, operation: ctx.operation, mode });
    if (mode === 'warn') return { warning: 'conformance: the dump is older than expected' };
    if (mode === 'fail') throw new Error('conformance: pg_dump exited 1 (role "immich" does not exist)');
    if (mode === 'logwarn') ctx.output.log('WARN', 'conformance: a LOG:WARN line');
    return undefined;
  },
  after: (ctx) => {
    record({ event: ctx.event, operation: ctx.operation, parsedResult: ctx.env.parsedResult ?? null });
    return undefined;
  },
});
await hook.main();
