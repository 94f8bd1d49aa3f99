/**
 * Validation helpers shared by every layer: zod issues become one {@link ConfigError} naming each
 * bad field by its path.
 *
 * @module
 */
import type { z } from 'zod';
import { ConfigError } from './errors.js';

/** Turn zod issues into a ConfigError naming every bad field. */
export function configErrorFrom(message: string, error: z.ZodError, prefix = ''): ConfigError {
  return new ConfigError(
    message,
    error.issues.map((i) => ({
      path: [prefix, ...i.path.map(String)].filter(Boolean).join('.'),
      message: i.message,
    })),
  );
}

/**
 * Parse `value` with `schema` and return the parsed data; a ConfigError (`invalid <what> options`)
 * names every bad field.
 */
export function parseOptions<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw configErrorFrom(`invalid ${what} options`, parsed.error);
  return parsed.data;
}
