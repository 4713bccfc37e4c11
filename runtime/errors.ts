/**
 * Errors shared by every layer. Two families:
 * - HostCallError: what a host function raises to hand a typed `host-error` back to the guest
 *   (jco's glue turns a thrown value with a `payload` into the `err` side of the WIT result).
 * - GatewayError: everything a user or an API caller can cause, with a stable code and a
 *   one-line message that names the fix (the CLI prints `message` and exits non-zero).
 */
import type { ErrorCode } from './error-codes.js';
export type { ErrorCode } from './error-codes.js';

/** `absent` exists in world 0.2.0 only (nothing answered: an I2C address not acknowledged). */
export type HostErrorTag = 'denied' | 'invalid' | 'io' | 'limited' | 'absent';

export interface HostErrorValue {
  tag: HostErrorTag;
  val: string;
}

/** Thrown by host functions; becomes `err(host-error)` in the guest, never a trap. */
export class HostCallError extends Error {
  readonly payload: HostErrorValue;
  constructor(tag: HostErrorTag, message: string) {
    super(`${tag}: ${message}`);
    this.payload = { tag, val: message };
  }
  get tag(): HostErrorTag {
    return this.payload.tag;
  }
}

/**
 * A GatewayError class for one catalogued code with a one-line message template whose `%s` are
 * filled in order (Fastify's createError): raise the same failure from several places with one text.
 */
export function codedError<A extends (string | number)[]>(code: ErrorCode, template: string): new (...args: A) => GatewayError {
  return class extends GatewayError {
    constructor(...args: A) {
      let i = 0;
      super(code, template.replace(/%s/g, () => String(args[i++])));
    }
  };
}

/** An error a user can cause: stable `code`, one-line `message` that says what to do. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'GatewayError';
  }
}

/** How an event delivered to a component ended badly. `returned-err` is a handled failure; the rest are crashes. */
export type FailureKind =
  | 'returned-err'
  | 'out-of-fuel'
  | 'memory-limit'
  | 'stack-overflow'
  | 'trap'
  | 'deadline';

/**
 * A HostCallError without a stack trace. The guest only ever sees the payload, and capturing a
 * stack is most of the cost of a refused call (about 10x on the bench machine), which a hostile
 * guest could repeat at will.
 */
export function refusal(tag: HostErrorTag, message: string): HostCallError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new HostCallError(tag, message);
  } finally {
    Error.stackTraceLimit = limit;
  }
}
