import type { Edge } from '../../runtime/manifest.js';

export type { Edge };

/** Called with the settled level and the time (ms since epoch) it settled at. */
export type EdgeCallback = (value: boolean, atMs: number) => void;

/**
 * One GPIO controller. Reads and writes are synchronous because host imports are synchronous on
 * Node 20 (no JSPI): a component's `gpio.read` must return before the guest continues.
 * Pins are BCM line numbers; the driver maps them to whatever the kernel uses.
 */
export interface GpioDriver {
  /** Inclusive range of valid BCM pins on this board. */
  readonly pins: { readonly min: number; readonly max: number };
  read(pin: number): boolean;
  write(pin: number, value: boolean): void;
  /** Reports settled level changes matching `edge`, after `debounceMs` of stability. Returns unwatch. */
  watch(pin: number, edge: Edge, debounceMs: number, cb: EdgeCallback): () => void;
  close(): void;
}
