/**
 * JSON values, as stored in a manifest's `metadata` and in restore records.
 *
 * @module
 */

/** A JSON value, as stored in a manifest's `metadata`. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
