/**
 * `duplicati-kit/duplicati`: work in progress.
 *
 * @module
 */
export type { Logger } from '../core/logger.js';
