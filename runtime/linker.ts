import type { HostApi } from './host-api.js';

/**
 * Holds host functions by WIT interface, in the shape jco's glue expects: an import object keyed by
 * versioned interface name, with camelCase function names. Results cross as return values; a
 * refusal is a thrown HostCallError, which the glue turns into `err(host-error)`.
 *
 * `bind(api)` returns a fresh import object for one instance; it closes over that instance's HostApi
 * and nothing else, so instances never share state through the linker.
 */
export type ImportObject = Record<string, Record<string, (...args: never[]) => unknown>>;

export class Linker {
  bind(api: HostApi): ImportObject {
    const byInterface: ImportObject = {
      'airssys:gateway/types@0.1.0': {},
      'airssys:gateway/gpio@0.1.0': {
        read: (pin: number) => api.gpioRead(pin),
        write: (pin: number, value: boolean) => api.gpioWrite(pin, value),
      },
      'airssys:gateway/serial@0.1.0': {
        write: (port: string, data: Uint8Array) => api.serialWrite(port, data),
      },
      'airssys:gateway/telemetry@0.1.0': {
        publish: (channel: string, value: number) => api.publish(channel, value),
        publishJson: (channel: string, json: string) => api.publishJson(channel, json),
      },
      'airssys:gateway/messaging@0.1.0': {
        send: (topic: string, payload: Uint8Array) => api.send(topic, payload),
      },
      'airssys:gateway/host@0.1.0': {
        log: (level: Parameters<HostApi['log']>[0], message: string) => api.log(level, message),
        nowMs: () => api.nowMs(),
        config: (key: string) => api.config(key),
      },
    };
    // jco 1.11 glue looks imports up without the version; newer glue with it. Offer both.
    for (const name of Object.keys(byInterface)) byInterface[name.replace(/@[^@]+$/, '')] = byInterface[name]!;
    return byInterface;
  }
}
