/**
 * JSON values, as stored in a manifest's `metadata` and in restore records.
 *
 * @module
 */

/** A JSON value, as stored in a manifest's `metadata`. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * True when `value` nests arrays and objects deeper than `max` levels. Iterative, so a hostile
 * 50 000-level document cannot overflow the stack here; call it before a recursive validator.
 */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}
