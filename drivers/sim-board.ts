import type { DebounceTimers } from './gpio/debounce.js';
import { SimGpio, type SimGpioOptions } from './gpio/sim-gpio.js';
import { OutputClaims } from './ownership.js';
import { SimSerial, type SimSerialOptions } from './serial/sim-serial.js';
import type { Board } from './board.js';
import { attachSimDevices, SimI2c, SimSpi, type SimI2cSpec, type SimSpiSpec } from './sim/buses.js';

export interface SimBoardOptions {
  /** Inclusive pin range, default 0-53. */
  pins?: { min: number; max: number };
  serial?: SimSerialOptions;
  now?: () => number;
  /** Debounce timers for GPIO watches (virtual time); default the process timers. Not a config key. */
  timers?: DebounceTimers;
  /** Simulated I2C/SPI devices (from the scenario's `i2c` and `spi` lists, drivers/sim-scenario.ts). */
  devices?: { i2c?: readonly SimI2cSpec[]; spi?: readonly SimSpiSpec[] };
}

/** The simulated board, with its concrete drivers exposed so tests and scripts can drive them. */
export interface SimBoard extends Board {
  readonly kind: 'sim';
  readonly gpio: SimGpio;
  readonly serial: SimSerial;
  readonly i2c: SimI2c;
  readonly spi: SimSpi;
  readonly sim: { gpio: SimGpio; serial: SimSerial; i2c: SimI2c; spi: SimSpi };
}

export function createSimBoard(opts: SimBoardOptions = {}): SimBoard {
  const gpioOpts: SimGpioOptions = {};
  if (opts.pins) gpioOpts.pins = opts.pins;
  if (opts.now) gpioOpts.now = opts.now;
  if (opts.timers) gpioOpts.timers = opts.timers;
  const gpio = new SimGpio(gpioOpts);
  const serial = new SimSerial(opts.serial);
  const i2c = new SimI2c();
  const spi = new SimSpi();
  attachSimDevices(i2c, spi, opts.devices ?? {});
  return {
    kind: 'sim',
    gpio,
    serial,
    i2c,
    spi,
    sim: { gpio, serial, i2c, spi },
    claims: new OutputClaims(),
    async close() {
      gpio.close();
      await serial.close();
    },
  };
}
