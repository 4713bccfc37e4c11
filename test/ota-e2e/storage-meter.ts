import { buildWat } from '../../runtime/build/wat.js';
import { OK, strings } from '../helpers/sensor-wat.js';
import { sensorWatV2 } from '../helpers/sensor-wat-v2.js';
import { countStepWat } from '../helpers/storage-components.js';
import { CHANNEL, COMPONENT, TICK_MS } from './helpers.js';

/**
 * The `meter` component rebuilt for world 0.2.0, for the OTA tests that move it from its 0.1.0
 * build (helpers.ts `buildMeter`) to a 0.2.0 build and back. Every tick it:
 * - reads the BME280's chip id over i2c (bus 1, 0x76, register 0xD0) and publishes `chip` (0x60 = 96
 *   from the simulated board), or `err` = 100 + the host-error case;
 * - adds `step` to the 4-byte little-endian counter under storage key `count` (absent = 0), and
 *   publishes `count` = the new value, or `err` = 100 + the host-error case when the set fails;
 * - publishes `level` = now-ms * 10 + `marker`, as the 0.1.0 build does (helpers.ts GatewayWatch);
 * - with `trapAtTick`, traps on that tick (counted per instance) after all of the above.
 */
export interface MeterV2Options {
  marker: number;
  step: number;
  trapAtTick?: number;
}

const S = { level: CHANNEL, chip: 'chip', count: 'count', err: 'err' };
const T = strings(S);
const str = (n: keyof typeof S) => `i32.const ${T.ptr(n)} i32.const ${T.len(n)}`;
const publish = (n: keyof typeof S, value: string) => `${str(n)} ${value} i32.const 32 call $publish`;
const publishErr = publish('err', 'i32.const 20 i32.load8_u f64.convert_i32_u f64.const 100 f64.add');

export function meterV2Wat(o: MeterV2Options): string {
  const trap = o.trapAtTick ? `global.get $ticks i32.const 1 i32.add global.set $ticks (if (i32.eq (global.get $ticks) (i32.const ${o.trapAtTick})) (then unreachable))` : '';
  return sensorWatV2({
    v2: ['i2c', 'storage'],
    strings: S,
    extra: '(global $ticks (mut i32) (i32.const 0))',
    onTick: `
      (local $n i32)
      ;; i2c.transfer(1, 0x76, [0xD0], 1) → [tag @16, list ptr @20, len @24] (err: case @20)
      i32.const 80 i32.const 0xd0 i32.store8
      i32.const 1 i32.const 0x76 i32.const 80 i32.const 1 i32.const 1 i32.const 16 call $i2c_transfer
      i32.const 16 i32.load8_u
      if
        ${publishErr}
      else
        ${publish('chip', 'i32.const 20 i32.load i32.load8_u f64.convert_i32_u')}
      end
      ${countStepWat(str('count'), o.step)}
      i32.const 16 i32.load8_u
      if
        ${publishErr}
      else
        ${publish('count', 'local.get $n f64.convert_i32_u')}
      end
      ${publish('level', `local.get $now f64.convert_i64_u f64.const 10 f64.mul f64.const ${o.marker} f64.add`)}
      ${trap}
      ${OK}`,
  });
}

export const buildMeterV2 = (o: MeterV2Options): Promise<Uint8Array> => buildWat(meterV2Wat(o));

/** The 0.2.0 build's manifest: the bus address and a storage quota besides its channels. */
export function meterV2Manifest(version: string): Record<string, unknown> {
  return {
    name: COMPONENT,
    version,
    'tick-ms': TICK_MS,
    capabilities: { telemetry: [CHANNEL, 'chip', 'count', 'err'], i2c: [{ bus: 1, address: '0x76' }], storage: { 'max-bytes': 1024, 'max-keys': 8 } },
    limits: { 'memory-mb': 16 },
  };
}

/** Policy for both builds: the 0.2.0 one needs the BME280's address and storage. */
export const POLICY_V2 = {
  roles: { metering: { telemetry: [CHANNEL, 'chip', 'count', 'err'], i2c: [{ bus: 1, address: '0x76' }], storage: { 'max-bytes': 4096, 'max-keys': 64 } } },
  components: { [COMPONENT]: ['metering'] },
};

/** The simulated board with a BME280 at 1/0x76 (contract 7.3). */
export const SIM_BME280 = { kind: 'sim', options: { scenario: { i2c: [{ bus: 1, address: '0x76', device: 'bme280', 'temperature-c': 21.5, 'pressure-pa': 101325, 'humidity-pct': 40 }] } } };

/** A bucket file as the gateway writes it, holding `count` = n (4 bytes little-endian). */
export function bucketWithCount(n: number): string {
  const v = Buffer.alloc(4);
  v.writeUInt32LE(n);
  return JSON.stringify({ version: 1, component: COMPONENT, entries: { count: v.toString('base64') } });
}
