export { loadConfig, parseConfig, ConfigError, DEFAULTS, isBrokerUrl, sanitizeId, type LoadOptions, type ParseOptions } from './load.js';
export type * from './types.js';
