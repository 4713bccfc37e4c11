import { describe, expect, it } from 'vitest';
import { mqttRoundTripInFreshProcess } from '../helpers/mqtt-fresh-process.js';

/**
 * mqtt-packet (under both MQTT.js and aedes) fills a module-wide cache of 65,536 two-byte Buffers
 * on its first write unless told not to: ~6 MB of V8 heap for the life of the gateway
 * (docs/memory.md). The gateway's connection turns it off; this runs the gateway's connection and
 * embedded broker in a fresh process (the cache is per process) and looks at the cache after
 * real traffic both ways.
 */
describe('MQTT packet-id cache', () => {
  it('the gateway connection and the embedded broker exchange messages without building the 65,536-entry cache', () => {
    const out = mqttRoundTripInFreshProcess<{ cached: number }>(20, `{ cached: Object.keys(require('mqtt-packet/numbers.js').cache).length }`);
    expect(out.got).toBe(20);
    expect(out.cached).toBe(0);
  }, 90_000);
});
