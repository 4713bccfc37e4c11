/** Plain-data helpers shared by every parser of YAML/JSON input (config, manifest, policy, OTA envelope). */

export type Obj = Record<string, unknown>;

/** A mapping: an object that is neither null nor an array. */
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
