import { OK, strings } from './sensor-wat.js';
import { sensorWatV2 } from './sensor-wat-v2.js';

/**
 * A 0.2.0 component reading the simulated devices, as WAT. Each tick:
 * - i2c.transfer(1, 0x76, [0xD0], 1): publishes `chip` = the byte read (0x60 from a BME280);
 * - i2c.transfer(1, 0x77, [0xD0], 1): no device there, publishes `err` = 100 + the host-error case
 *   (104: absent);
 * - spi.transfer(0, 0, [0x01, 0x80, 0x00]): publishes `adc` = the 10-bit result (MCP3008 channel 0).
 * Results land at 16: [tag u8 @16, list ptr @20, len @24] (err: case @20).
 */
export const BUS_STRINGS = { chip: 'chip', err: 'err', adc: 'adc' };
const T = strings(BUS_STRINGS);
const pub = (n: keyof typeof BUS_STRINGS, value: string) => `i32.const ${T.ptr(n)} i32.const ${T.len(n)} ${value} i32.const 32 call $publish`;
const i2cRead = (address: number) => `
      i32.const 80 i32.const 0xd0 i32.store8
      i32.const 1 i32.const ${address} i32.const 80 i32.const 1 i32.const 1 i32.const 16 call $i2c_transfer
      i32.const 16 i32.load8_u
      if
        ${pub('err', 'i32.const 20 i32.load8_u f64.convert_i32_u f64.const 100 f64.add')}
      else
        ${pub('chip', 'i32.const 20 i32.load i32.load8_u f64.convert_i32_u')}
      end`;

export function busReaderWat(): string {
  return sensorWatV2({
    v2: ['i2c', 'spi'],
    strings: BUS_STRINGS,
    onTick: `
      ${i2cRead(0x76)}
      ${i2cRead(0x77)}
      i32.const 88 i32.const 0x01 i32.store8
      i32.const 89 i32.const 0x80 i32.store8
      i32.const 90 i32.const 0x00 i32.store8
      i32.const 0 i32.const 0 i32.const 88 i32.const 3 i32.const 16 call $spi_transfer
      i32.const 16 i32.load8_u
      if
        ${pub('err', 'i32.const 20 i32.load8_u f64.convert_i32_u f64.const 100 f64.add')}
      else
        ${pub('adc', `i32.const 20 i32.load i32.const 1 i32.add i32.load8_u i32.const 3 i32.and i32.const 8 i32.shl
          i32.const 20 i32.load i32.const 2 i32.add i32.load8_u i32.or f64.convert_i32_u`)}
      end
      ${OK}`,
  });
}
