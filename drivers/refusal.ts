import { HostCallError, type HostErrorTag } from '../runtime/errors.js';

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
