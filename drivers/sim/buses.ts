import { refusal } from '../../runtime/errors.js';
import { hex2 } from '../../runtime/manifest.js';
import type { I2cDriver, SimI2cDevice, SimSpiDevice, SpiDriver, SpiOptions } from '../bus/types.js';
import { Bme280 } from './bme280.js';
import { Mcp3008 } from './mcp3008.js';

/**
 * The simulated board's I2C and SPI buses: devices placed at bus+address / bus+chip-select
 * (contract 7.3, `board.options.scenario` or `airssys run --scenario`). An address with no device
 * does not acknowledge (`absent`), as on a real bus; a chip select with no device reads back zeros
 * (MISO floats low on most boards), also as on a real bus.
 */
export interface SimI2cSpec {
  bus: number;
  address: number;
  device: 'bme280';
  temperatureC: number;
  pressurePa: number;
  humidityPct: number;
}
export interface SimSpiSpec {
  bus: number;
  chipSelect: number;
  device: 'mcp3008';
  channels: number[];
}

export class SimI2c implements I2cDriver {
  readonly devices = new Map<string, SimI2cDevice>();
  attach(bus: number, address: number, device: SimI2cDevice): void {
    this.devices.set(`${bus}:${address}`, device);
  }
  transfer(bus: number, address: number, data: Uint8Array, readLen: number): Uint8Array {
    const d = this.devices.get(`${bus}:${address}`);
    if (!d) throw refusal('absent', `no device acknowledged address ${hex2(address)} on i2c bus ${bus}`);
    d.write(data);
    return readLen > 0 ? d.read(readLen) : new Uint8Array(0);
  }
}

export class SimSpi implements SpiDriver {
  readonly devices = new Map<string, SimSpiDevice>();
  /** The options of the last transfer per chip select (tests check the manifest's speed and mode arrive). */
  readonly lastOptions = new Map<string, SpiOptions>();
  attach(bus: number, chipSelect: number, device: SimSpiDevice): void {
    this.devices.set(`${bus}.${chipSelect}`, device);
  }
  transfer(bus: number, chipSelect: number, data: Uint8Array, opts: SpiOptions): Uint8Array {
    this.lastOptions.set(`${bus}.${chipSelect}`, opts);
    const d = this.devices.get(`${bus}.${chipSelect}`);
    return d ? d.transfer(data) : new Uint8Array(data.length);
  }
}

export function attachSimDevices(i2c: SimI2c, spi: SimSpi, specs: { i2c?: readonly SimI2cSpec[]; spi?: readonly SimSpiSpec[] }): void {
  for (const s of specs.i2c ?? []) i2c.attach(s.bus, s.address, new Bme280({ temperatureC: s.temperatureC, pressurePa: s.pressurePa, humidityPct: s.humidityPct }));
  for (const s of specs.spi ?? []) spi.attach(s.bus, s.chipSelect, new Mcp3008(s.channels));
}
