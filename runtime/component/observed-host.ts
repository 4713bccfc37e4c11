import { HostCallError, type HostErrorTag } from '../errors.js';
import type { HostApi } from '../host-api.js';
import { HOST_FUNCTIONS } from '../interfaces/index.js';

/**
 * Wraps a HostApi so every refused host call (denied, invalid, io, limited) is also reported to
 * `onRefusal` before it reaches the guest. `airssys run` prints these; the gateway counts them.
 */
export function observeRefusals(api: HostApi, onRefusal: (tag: HostErrorTag, message: string, op: string) => void): HostApi {
  const source = api as unknown as Record<string, (...a: unknown[]) => unknown>;
  const out: Record<string, (...a: unknown[]) => unknown> = {};
  // Derived from the descriptors: functions with an error channel are observed, the rest pass through.
  for (const { fn, label } of HOST_FUNCTIONS) {
    const call = source[fn.method]!.bind(api);
    out[fn.method] = fn.fallible
      ? (...a: unknown[]) => {
          try {
            return call(...a);
          } catch (err) {
            if (err instanceof HostCallError) onRefusal(err.tag, err.payload.val, label);
            throw err;
          }
        }
      : call;
  }
  return out as unknown as HostApi;
}
