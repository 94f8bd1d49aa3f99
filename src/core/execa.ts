/**
 * execa, loaded on first use. Loading it costs ~80 ms and ~15 MB of RSS, and most commands (the
 * dashboard, `status`, `versions`, a SQLite or folder backup) never spawn a tool.
 *
 * @module
 */
import type { execa } from 'execa';

/** The `execa` function, imported when first needed (Node caches the module after that). */
export async function loadExeca(): Promise<typeof execa> {
  return (await import('execa')).execa;
}
