/**
 * The shape of one host interface, declared once (see docs/contributing-interfaces.md).
 *
 * Wasmtime's `bindgen!` generates, per WIT interface, a host trait plus an `add_to_linker` that
 * wires it; here the equivalent is a plain data descriptor per interface (runtime/interfaces/<name>.ts)
 * from which everything mechanical is derived: the HostApi type, the linker's import object, the
 * world check's expected jco declarations, the worker op codes and their payload encoding, host-call
 * fuel, refusal observation, rate classes, metrics counters and the SDK's core-import check.
 * What is not mechanical (validation, grants, the device work) is the interface's implementation
 * in drivers/interfaces/<name>.ts.
 */
import type { LogLevel } from '../host-api-types.js';

/** How a value crosses the WIT boundary, as jco's glue hands it to the host. */
export type WireType =
  | 'u8'
  | 'u16'
  | 'u32'
  | 'u64'
  | 'f64'
  | 'bool'
  | 'string'
  | 'bytes'
  | 'log-level'
  | 'option<string>'
  | 'option<bytes>'
  | 'list<string>'
  | 'void';

/** The TypeScript type jco's glue uses for a wire type. */
export type TsOf<W> = W extends 'u8' | 'u16' | 'u32' | 'f64'
  ? number
  : W extends 'u64'
    ? bigint
    : W extends 'bool'
      ? boolean
      : W extends 'string'
        ? string
        : W extends 'bytes'
          ? Uint8Array
          : W extends 'log-level'
            ? LogLevel
            : W extends 'option<string>'
              ? string | undefined
              : W extends 'option<bytes>'
                ? Uint8Array | undefined
                : W extends 'list<string>'
                  ? string[]
                  : W extends 'void'
                    ? void
                    : never;

export interface HostFunction {
  /** The WIT name (`publish-json`). */
  readonly wit: string;
  /** The HostApi method the linker binds it to (unique across all interfaces). */
  readonly method: string;
  readonly params: readonly { readonly name: string; readonly type: WireType }[];
  readonly result: WireType;
  /** Returns `result<_, host-error>` in WIT (refusals reach the guest as `err(..)`). */
  readonly fallible: boolean;
  /**
   * Host-call fuel base (runtime/metering/host-charge.ts): `sink` for calls whose work goes on after
   * the call (formatting, the outbox, the broker, a device), `base` for the rest.
   */
  readonly charge: 'base' | 'sink';
  /** The rate class whose token bucket the call takes (drivers/pipeline/rate-limit.ts); none: unlimited. */
  readonly rate?: string;
  /**
   * An infallible function's arguments that do not fit the worker channel: `truncate-last` cuts the
   * last string argument to fit (log), `undefined` returns nothing (config). Fallible functions are
   * refused with `invalid`.
   */
  readonly overflow?: 'truncate-last' | 'undefined';
}

export interface RateClass {
  readonly name: string;
  /** Default calls per second sustained and burst, per component. */
  readonly rate: number;
  readonly burst: number;
}

export interface HostInterface {
  /** The WIT interface name (`gpio`). */
  readonly name: string;
  /** The world versions that import it. */
  readonly worlds: readonly string[];
  readonly functions: readonly HostFunction[];
  /** Rate classes this interface introduces (their defaults), in the order metrics list them. */
  readonly rateClasses?: readonly RateClass[];
}

export const fn = <const F extends HostFunction>(f: F): F => f;
export const iface = <const I extends HostInterface>(i: I): I => i;

/** camelCase of a WIT name, as jco names functions (`publish-json` → `publishJson`). */
export function camel(wit: string): string {
  return wit.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
