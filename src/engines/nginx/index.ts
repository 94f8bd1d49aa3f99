/**
 * The Nginx configuration and TLS certificates engine: its backup source, its restore target, their options, and the building blocks
 * the apps (`src/apps/*`) build on. Everything outside this folder imports the engine from here.
 *
 * @module
 */
export type { CertificateInfo } from './certs.js';
export { NGINX_KIND, NGINX_SOURCE_DEFAULTS, NGINX_TARGET_DEFAULTS } from './options.js';
export type { NginxSourceOptions, NginxTargetOptions } from './options.js';
export { NginxSource } from './source.js';
export { NginxTarget } from './target.js';
