import type { Framing } from '../../runtime/manifest.js';
import type { FramerOptions, FramerStats } from './framer.js';

export interface SerialOpenOptions extends FramerOptions {
  port: string;
  baud: number;
  framing: Framing;
}

export type SerialState = 'open' | 'reconnecting' | 'closed';

export interface SerialLinkStats extends FramerStats {
  bytesIn: number;
  bytesOut: number;
  /** Successful reopens after the port went away. */
  reopens: number;
  /** Bytes refused by `write` because the send queue was full. */
  refusedBytes: number;
}

/** An open port. Frames go to the callback given to `open`. */
export interface SerialLink {
  readonly port: string;
  readonly baud: number;
  readonly state: SerialState;
  readonly stats: SerialLinkStats;
  /**
   * Queues bytes for sending and returns how many were accepted (fewer than given when the send
   * queue is full). Throws HostCallError io while the port is gone, invalid once closed.
   */
  write(data: Uint8Array): number;
  close(): Promise<void>;
}

export type SerialEvent =
  | { type: 'open'; port: string }
  | { type: 'disconnected'; port: string; reason: string }
  | { type: 'reopen-failed'; port: string; attempt: number; reason: string; retryInMs: number }
  | { type: 'reopened'; port: string; attempt: number }
  | { type: 'closed'; port: string };

export interface SerialDriver {
  /**
   * Opens a port. Throws GatewayError SERIAL_PORT_NOT_FOUND (no such port), SERIAL_BAUD_REFUSED,
   * SERIAL_PORT_BUSY (already open on this board) or SERIAL_OPEN_FAILED.
   */
  open(opts: SerialOpenOptions, onFrame: (frame: Uint8Array) => void): Promise<SerialLink>;
  /** The link currently open on `port`, if any. */
  get(port: string): SerialLink | undefined;
  close(): Promise<void>;
}

/** Largest single write a component may make (the serial interface checks it; drivers rely on it). */
export const MAX_SERIAL_WRITE_BYTES = 64 * 1024;
