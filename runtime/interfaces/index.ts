import { camel, type HostFunction, type HostInterface, type RateClass, type TsOf, type WireType } from './descriptor.js';
import { gpio } from './gpio.js';
import { host } from './host.js';
import { i2c } from './i2c.js';
import { messaging } from './messaging.js';
import { serial } from './serial.js';
import { spi } from './spi.js';
import { storage } from './storage.js';
import { telemetry } from './telemetry.js';

export { camel, type HostFunction, type HostInterface, type RateClass, type WireType } from './descriptor.js';

/**
 * Every host interface the gateway offers, in WIT declaration order. Adding one here (plus its
 * descriptor file, its WIT and its implementation in drivers/interfaces/) is all it takes for the
 * linker, the world check, the worker channel, fuel charging, rate limits, metrics and the SDK to
 * know it. Order matters only for worker op codes (derived: index + 1) and metrics listing.
 */
export const INTERFACES = [gpio, serial, telemetry, messaging, host, i2c, spi, storage] as const;

export const WORLD_NAMESPACE = 'airssys:gateway';

/** A world version: its host-error cases and the interfaces it imports. */
export interface WorldVersion {
  readonly version: string;
  readonly errorTags: readonly string[];
  readonly interfaces: readonly HostInterface[];
}

function world(version: string, errorTags: readonly string[]): WorldVersion {
  return { version, errorTags, interfaces: INTERFACES.filter((i) => (i.worlds as readonly string[]).includes(version)) };
}

/** The worlds the gateway loads, oldest first. */
export const WORLDS: readonly WorldVersion[] = [world('0.1.0', ['denied', 'invalid', 'io', 'limited']), world('0.2.0', ['denied', 'invalid', 'io', 'limited', 'absent'])];

/** The world a version names, or undefined. */
export const worldVersion = (version: string): WorldVersion | undefined => WORLDS.find((w) => w.version === version);

/** `airssys:gateway/gpio@0.1.0` */
export const importName = (name: string, version: string): string => `${WORLD_NAMESPACE}/${name}@${version}`;

// ---------------------------------------------------------------------------------------------
// The HostApi type, derived: one method per host function, typed from its wire types.

type AnyInterface = (typeof INTERFACES)[number];
type FunctionOf<I> = I extends { readonly functions: readonly (infer F)[] } ? F : never;
type AllFunctions = FunctionOf<AnyInterface>;
type ParamTypes<P> = { -readonly [K in keyof P]: P[K] extends { readonly type: infer T } ? TsOf<T> : never };
type Method<F> = F extends { readonly params: infer P; readonly result: infer R } ? (...args: ParamTypes<P> & unknown[]) => TsOf<R> : never;

/**
 * What a running component may ask of the host, one method per WIT host function. The linker binds
 * these to the component's imports; the driver layer implements them behind its pipeline. Host
 * imports are synchronous (no JSPI on Node 20), so every method returns at once. A refusal is a
 * thrown HostCallError (runtime/errors.ts), which the guest sees as `err(host-error)`; any other
 * throw traps the guest.
 */
export type HostApi = { [F in AllFunctions as F['method']]: Method<F> };
export type HostMethod = keyof HostApi;

/** Rate classes (operation classes) in interface order, with their defaults. */
export const RATE_CLASSES: readonly RateClass[] = (INTERFACES as readonly HostInterface[]).flatMap((i) => i.rateClasses ?? []);
type RateClassOf<I> = I extends { readonly rateClasses: readonly (infer R)[] } ? (R extends { readonly name: infer N } ? N : never) : never;
export type OpClass = RateClassOf<AnyInterface>;
export const OP_CLASSES = RATE_CLASSES.map((r) => r.name) as readonly OpClass[];

// ---------------------------------------------------------------------------------------------
// Flat table: every host function with its interface and its worker op code.

export interface HostFunctionEntry {
  readonly iface: HostInterface;
  readonly fn: HostFunction;
  /** Worker channel op code: position in this table + 1 (never hand-numbered). */
  readonly op: number;
  /** `gpio.read`: how audit, refusal reports and errors name the call. */
  readonly label: string;
}

export const HOST_FUNCTIONS: readonly HostFunctionEntry[] = INTERFACES.flatMap((i) => i.functions.map((f) => ({ iface: i as HostInterface, fn: f as HostFunction, label: `${i.name}.${f.wit}` }))).map((e, n) => ({ ...e, op: n + 1 }));

/** Host-call fuel class by unversioned interface name and jco (camelCase) function name. */
export function chargeClass(unversionedIface: string, jsName: string): 'base' | 'sink' | undefined {
  const name = unversionedIface.startsWith(`${WORLD_NAMESPACE}/`) ? unversionedIface.slice(WORLD_NAMESPACE.length + 1) : undefined;
  return HOST_FUNCTIONS.find((e) => e.iface.name === name && camel(e.fn.wit) === jsName)?.fn.charge;
}

// ---------------------------------------------------------------------------------------------
// What jco generates for each interface (world check) and the core signature wit-component lowers
// each function to (SDK check).

const TS_NAME: Record<WireType, string> = {
  u8: 'number',
  u16: 'number',
  u32: 'number',
  f64: 'number',
  u64: 'bigint',
  bool: 'boolean',
  string: 'string',
  bytes: 'Uint8Array',
  'log-level': 'LogLevel',
  'option<string>': 'string | undefined',
  'option<bytes>': 'Uint8Array | undefined',
  'list<string>': 'Array<string>',
  void: 'void',
};

/** JavaScript reserved words jco cannot use as function names (it declares `_name` and re-exports it). */
const RESERVED = new Set(['delete', 'new', 'function', 'default', 'class', 'return', 'switch', 'case', 'export', 'import', 'in', 'typeof', 'void', 'with', 'var', 'const', 'let', 'if', 'else', 'for', 'while', 'do', 'break', 'continue', 'try', 'catch', 'finally', 'throw', 'this', 'super', 'null', 'true', 'false', 'instanceof', 'yield', 'await', 'enum', 'debugger', 'extends']);

/**
 * The declaration line jco 1.11.2 writes in `interfaces/<file>.d.ts` for a host function
 * (`export function read(..)`, or `declare function _delete(..)` for a reserved word).
 */
export function jcoDecl(f: HostFunction): string {
  const name = camel(f.wit);
  const head = RESERVED.has(name) ? `declare function _${name}` : `export function ${name}`;
  return `${head}(${f.params.map((p) => `${camel(p.name)}: ${TS_NAME[p.type]}`).join(', ')}): ${TS_NAME[f.result]};`;
}

/** The file stem jco uses for an interface's declarations. */
export const jcoFile = (name: string): string => `airssys-gateway-${name}`;

type Core = 'i32' | 'i64' | 'f64';
const FLAT: Record<WireType, Core[]> = {
  u8: ['i32'],
  u16: ['i32'],
  u32: ['i32'],
  bool: ['i32'],
  'log-level': ['i32'],
  u64: ['i64'],
  f64: ['f64'],
  string: ['i32', 'i32'],
  bytes: ['i32', 'i32'],
  'list<string>': ['i32', 'i32'],
  'option<string>': ['i32', 'i32', 'i32'],
  'option<bytes>': ['i32', 'i32', 'i32'],
  void: [],
};

/**
 * The canonical ABI's flattened core type of an imported function: parameters flattened (more than
 * 16 would spill, none of ours do); a result that flattens to more than one value (any
 * `result<_, host-error>`, options, lists) is written through a trailing return-pointer parameter.
 */
export function coreSignature(f: HostFunction): { params: Core[]; results: Core[] } {
  const params = f.params.flatMap((p) => FLAT[p.type]);
  const flatResult = f.fallible ? ['i32', 'i32', 'i32'] : FLAT[f.result];
  if (flatResult.length > 1) return { params: [...params, 'i32'], results: [] };
  return { params, results: flatResult as Core[] };
}
