/**
 * What a running component may ask of the host: the HostApi type is derived from the interface
 * descriptors (runtime/interfaces/), one method per WIT host function.
 */
export type { HostApi, HostMethod } from './interfaces/index.js';
export type { LogLevel } from './host-api-types.js';
