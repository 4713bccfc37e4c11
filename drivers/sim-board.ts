import type { DebounceTimers } from './gpio/debounce.js';
import { SimGpio, type SimGpioOptions } from './gpio/sim-gpio.js';
import { OutputClaims } from './ownership.js';
import { SimSerial, type SimSerialOptions } from './serial/sim-serial.js';
import type { Board } from './board.js';

export interface SimBoardOptions {
  /** Inclusive pin range, default 0-53. */
  pins?: { min: number; max: number };
  serial?: SimSerialOptions;
  now?: () => number;
  /** Debounce timers for GPIO watches (virtual time); default the process timers. Not a config key. */
  timers?: DebounceTimers;
}

/** The simulated board, with its concrete drivers exposed so tests and scripts can drive them. */
export interface SimBoard extends Board {
  readonly kind: 'sim';
  readonly gpio: SimGpio;
  readonly serial: SimSerial;
  readonly sim: { gpio: SimGpio; serial: SimSerial };
}

export function createSimBoard(opts: SimBoardOptions = {}): SimBoard {
  const gpioOpts: SimGpioOptions = {};
  if (opts.pins) gpioOpts.pins = opts.pins;
  if (opts.now) gpioOpts.now = opts.now;
  if (opts.timers) gpioOpts.timers = opts.timers;
  const gpio = new SimGpio(gpioOpts);
  const serial = new SimSerial(opts.serial);
  return {
    kind: 'sim',
    gpio,
    serial,
    sim: { gpio, serial },
    claims: new OutputClaims(),
    async close() {
      gpio.close();
      await serial.close();
    },
  };
}
