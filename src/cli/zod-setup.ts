/**
 * zod's settings for the CLI, loaded before any command module (so before any schema is built: zod
 * decides at construction whether an object schema may compile itself).
 *
 * A command parses its config once. zod's JIT — code generated with `new Function` for each object
 * schema at its first parse — costs more than it saves there: ~15 ms of every start. The CLI bundles
 * its own copy of zod, so this reaches no library user's schemas.
 *
 * @module
 */
import { z } from 'zod';

z.config({ jitless: true });
