/**
 * The Nginx configuration and TLS certificates engine: its backup source, its restore target, their options, and the building blocks
 * the apps (`src/apps/*`) build on. Everything outside this folder imports the engine from here.
 *
 * @module
 */
export type { CertificateInfo } from './certs.js';
export { NginxSource, NginxTarget } from './source.js';
export type { NginxSourceOptions, NginxTargetOptions } from './source.js';
export { NGINX_KIND } from './source.js';
