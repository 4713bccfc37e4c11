import { HostCallError, type HostErrorTag } from '../../runtime/errors.js';
import type { HostApi } from '../../runtime/host-api.js';

/**
 * Wraps a HostApi so every refused host call (denied, invalid, io, limited) is also reported to
 * `onRefusal` before it reaches the guest. `airssys run` prints these; the gateway counts them.
 */
export function observeRefusals(api: HostApi, onRefusal: (tag: HostErrorTag, message: string, op: string) => void): HostApi {
  const wrap =
    <A extends unknown[], R>(op: string, fn: (...a: A) => R) =>
    (...a: A): R => {
      try {
        return fn(...a);
      } catch (err) {
        if (err instanceof HostCallError) onRefusal(err.tag, err.payload.val, op);
        throw err;
      }
    };
  return {
    gpioRead: wrap('gpio.read', api.gpioRead.bind(api)),
    gpioWrite: wrap('gpio.write', api.gpioWrite.bind(api)),
    serialWrite: wrap('serial.write', api.serialWrite.bind(api)),
    publish: wrap('telemetry.publish', api.publish.bind(api)),
    publishJson: wrap('telemetry.publish-json', api.publishJson.bind(api)),
    send: wrap('messaging.send', api.send.bind(api)),
    log: api.log.bind(api),
    nowMs: api.nowMs.bind(api),
    config: api.config.bind(api),
  };
}
