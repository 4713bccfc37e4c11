import { GatewayError, HostCallError } from '../runtime/errors.js';
import type { Board } from './board.js';
import type { ComponentId, DeviceLease } from './interfaces/index.js';
export type { DeviceLease } from './interfaces/index.js';
import type { Audit } from './pipeline/audit.js';
import type { Grant } from './policy/grant.js';
import type { SerialLink } from './serial/types.js';

/**
 * Devices: the serial ports and GPIO watches a component holds while it runs, claimed from its
 * grant when it starts (or when a new version's grant differs) and released when it stops.
 */

export interface DeviceCallbacks {
  /** A frame from one of the component's ports (becomes an on-serial event). */
  onSerial(port: string, frame: Uint8Array): void;
  /** A debounced edge on a watched pin (becomes an on-gpio event). */
  onGpio(pin: number, value: boolean, atMs: number): void;
  /** A callback threw; the device keeps running. Default: ignored. */
  onError?(err: unknown): void;
}


interface LeaseState extends DeviceLease {
  serial: Map<string, SerialLink>;
  unwatch: Array<() => void>;
  outputs: number[];
  watches: number[];
  released: boolean;
  board: Board;
  audit: Audit | undefined;
}

export interface AcquireOptions {
  component: ComponentId;
  grant: Grant;
  board: Board;
  callbacks: DeviceCallbacks;
  audit?: Audit;
  /** Frame buffer bound per port; default 4096. */
  maxFrameBytes?: number;
}

/**
 * Claims the component's output pins, opens its serial ports and starts its GPIO watches, each
 * audited as `granted`. On any failure everything taken so far is released and a GatewayError
 * (one line: unknown port, refused baud, pin outside the board, output owned by another) is thrown.
 */
export async function acquireDevices(opts: AcquireOptions): Promise<DeviceLease> {
  const { component, grant, board, callbacks, audit } = opts;
  const lease: LeaseState = { component, serial: new Map(), unwatch: [], outputs: [], watches: [], released: false, board, audit };
  const who = { component: component.name, version: component.version };
  const guard = <A extends unknown[]>(fn: (...a: A) => void) => (...a: A) => {
    try {
      fn(...a);
    } catch (err) {
      callbacks.onError?.(err);
    }
  };
  const { min, max } = board.gpio.pins;
  const inRange = (pin: number, what: string) => {
    if (pin < min || pin > max) throw new GatewayError('GPIO_PIN_OUT_OF_RANGE', `component ${component.name}: ${what} pin ${pin} is outside the ${board.kind} board (${min}-${max}); correct the manifest`);
  };
  try {
    for (const pin of grant.outputPins) inRange(pin, 'gpio.write');
    for (const w of grant.watches) inRange(w.pin, 'gpio.watch');
    board.claims.claim(component.name, grant.outputPins);
    for (const pin of grant.outputPins) {
      lease.outputs.push(pin);
      audit?.granted({ ...who, op: 'gpio.output', target: `pin ${pin}` });
    }
    for (const s of grant.serial.values()) {
      const onFrame = guard((frame: Uint8Array) => callbacks.onSerial(s.port, frame));
      const link = await board.serial.open({ port: s.port, baud: s.baud, framing: s.framing, ...(opts.maxFrameBytes ? { maxFrameBytes: opts.maxFrameBytes } : {}) }, onFrame);
      lease.serial.set(s.port, link);
      audit?.granted({ ...who, op: 'serial.open', target: s.port, reason: `baud ${s.baud}, framing ${s.framingText}` });
    }
    for (const w of grant.watches) {
      let unwatch: () => void;
      try {
        unwatch = board.gpio.watch(w.pin, w.edge, w.debounceMs, guard((value: boolean, atMs: number) => callbacks.onGpio(w.pin, value, atMs)));
      } catch (err) {
        throw new GatewayError('GPIO_WATCH_FAILED', `component ${component.name}: cannot watch pin ${w.pin}: ${err instanceof HostCallError ? err.payload.val : (err as Error).message}`, { cause: err });
      }
      lease.unwatch.push(unwatch);
      lease.watches.push(w.pin);
      audit?.granted({ ...who, op: 'gpio.watch', target: `pin ${w.pin}`, reason: `edge ${w.edge}, debounce ${w.debounceMs} ms` });
    }
  } catch (err) {
    await releaseDevices(lease);
    throw err;
  }
  return lease;
}

/** Stops watches, closes ports and frees output pins, each audited as `released`. Idempotent. */
export async function releaseDevices(lease: DeviceLease): Promise<void> {
  const l = lease as LeaseState;
  if (l.released) return;
  l.released = true;
  const who = { component: l.component.name, version: l.component.version };
  for (const u of l.unwatch) u();
  for (const pin of l.watches) l.audit?.released({ ...who, op: 'gpio.watch', target: `pin ${pin}` });
  for (const [port, link] of l.serial) {
    await link.close();
    l.audit?.released({ ...who, op: 'serial.open', target: port });
  }
  l.board.claims.release(l.component.name, l.outputs);
  for (const pin of l.outputs) l.audit?.released({ ...who, op: 'gpio.output', target: `pin ${pin}` });
}
