import { GatewayError } from '../runtime/errors.js';
import { hex2, type Manifest } from '../runtime/manifest.js';
import type { I2cDriver, SpiDriver } from './bus/types.js';
import type { GpioDriver } from './gpio/types.js';
import { OutputClaims } from './ownership.js';
import type { SerialDriver } from './serial/types.js';
import type { SerialportSerialOptions } from './serial/serialport-serial.js';
import { createSimBoard, type SimBoardOptions } from './sim-board.js';

export type BoardKind = 'sim' | 'raspberry-pi';

export interface Board {
  readonly kind: BoardKind;
  readonly gpio: GpioDriver;
  readonly serial: SerialDriver;
  /** The I2C buses; absent on a board without an I2C driver yet (grants are refused at load). */
  readonly i2c?: I2cDriver;
  /** The SPI buses; absent on a board without an SPI driver yet. */
  readonly spi?: SpiDriver;
  /** Which component drives which output pin right now. */
  readonly claims: OutputClaims;
  close(): Promise<void>;
}

export interface RaspberryPiOptions {
  /** Where to find the header chip; default /sys/class/gpio. */
  sysfsRoot?: string;
  /** Serial driver options (reopen backoff, send queue). */
  serial?: Omit<SerialportSerialOptions, 'binding'>;
  /** Where /dev/i2c-N and /dev/spidevB.C are looked for at config load (default /dev). */
  devRoot?: string;
  /** Where the bus drivers report the path a bus takes and a missing addon (not a config key). */
  log?: (level: 'info' | 'warn', message: string) => void;
}

/** Gateway config `board:` (contract section 3). */
export type BoardSpec = BoardKind | { kind: 'sim'; options?: SimBoardOptions } | { kind: 'raspberry-pi'; options?: RaspberryPiOptions };

/**
 * Builds the board named in the config. The Raspberry Pi drivers (onoff, serialport) are imported
 * only here, so a sim gateway never loads native addons; the I2C and SPI drivers load i2c-bus and
 * spi-device (and our I2C_RDWR addon) only on a bus's first transfer, so neither does a Pi whose
 * components use no bus. Throws GatewayError for an unknown kind
 * or a Pi without a findable header chip.
 */
export async function createBoard(spec: BoardSpec): Promise<Board> {
  const obj = typeof spec === 'object' && spec !== null ? (spec as { kind?: unknown; options?: unknown }) : undefined;
  const kind = typeof spec === 'string' ? spec : obj?.kind;
  const options = obj?.options;
  if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
    throw new GatewayError('INVALID_CONFIG', 'config board.options: expected a mapping; see docs/drivers.md');
  }
  if (kind === 'sim') {
    try {
      return createSimBoard(options as SimBoardOptions | undefined);
    } catch (err) {
      throw new GatewayError('INVALID_CONFIG', `config board.options: ${(err as Error).message}; see docs/drivers.md`, { cause: err });
    }
  }
  if (kind === 'raspberry-pi') {
    const o = (options ?? {}) as RaspberryPiOptions;
    const { createOnoffGpio } = await import('./gpio/onoff-gpio.js');
    const gpio = await createOnoffGpio(o.sysfsRoot !== undefined ? { sysfsRoot: o.sysfsRoot } : {});
    const { createSerialportSerial } = await import('./serial/serialport-serial.js');
    const serial = await createSerialportSerial(o.serial);
    const { LinuxI2c } = await import('./bus/linux-i2c.js');
    const { LinuxSpi } = await import('./bus/linux-spi.js');
    const dev = { ...(o.devRoot !== undefined ? { devRoot: o.devRoot } : {}), ...(o.log ? { log: o.log } : {}) };
    const i2c = new LinuxI2c(dev);
    const spi = new LinuxSpi(dev);
    return {
      kind: 'raspberry-pi',
      gpio,
      serial,
      i2c,
      spi,
      claims: new OutputClaims(),
      async close() {
        i2c.close();
        spi.close();
        await serial.close();
        gpio.close();
      },
    };
  }
  throw new GatewayError('INVALID_CONFIG', `config board: unknown board ${JSON.stringify(kind)}; use sim or raspberry-pi (or { kind, options })`);
}

/**
 * One line per pin or port in a manifest that this board cannot provide (pins outside its range;
 * on a sim board with a fixed port list, ports it does not have). Checked at config load.
 */
export function checkManifestAgainstBoard(manifest: Manifest, board: Board): string[] {
  const { min, max } = board.gpio.pins;
  const out: string[] = [];
  const c = manifest.capabilities.gpio;
  const seen = new Set<number>();
  for (const pin of [...c.read, ...c.write, ...c.watch.map((w) => w.pin)]) {
    if (seen.has(pin)) continue;
    seen.add(pin);
    if (pin < min || pin > max) out.push(`component ${manifest.name}: gpio pin ${pin} is outside the ${board.kind} board (${min}-${max})`);
  }
  // A board without a bus driver refuses the grant in one line instead of failing at the first call.
  const linuxLater = 'not supported on this board yet; use board: sim, or wait for the Linux i2c/spi drivers (docs/drivers.md)';
  if (!board.i2c) for (const d of manifest.capabilities.i2c ?? []) out.push(`component ${manifest.name}: i2c bus ${d.bus} address ${hex2(d.address)}: ${linuxLater}`);
  if (!board.spi) for (const d of manifest.capabilities.spi ?? []) out.push(`component ${manifest.name}: spi bus ${d.bus} chip-select ${d.chipSelect}: ${linuxLater}`);
  // A bus that is not enabled on this machine (no /dev/i2c-1): refused at load with the fix.
  const i2cCheck = board.i2c?.checkBus;
  if (i2cCheck) {
    for (const bus of new Set((manifest.capabilities.i2c ?? []).map((d) => d.bus))) {
      const p = i2cCheck.call(board.i2c, bus);
      if (p) out.push(`component ${manifest.name}: ${p}`);
    }
  }
  const spiCheck = board.spi?.checkDevice;
  if (spiCheck) {
    for (const d of manifest.capabilities.spi ?? []) {
      const p = spiCheck.call(board.spi, d.bus, d.chipSelect);
      if (p) out.push(`component ${manifest.name}: ${p}`);
    }
  }
  const knows = (board.serial as { knows?: (p: string) => boolean }).knows;
  if (knows) {
    for (const s of manifest.capabilities.serial) {
      if (!knows.call(board.serial, s.port)) out.push(`component ${manifest.name}: serial port ${s.port} does not exist on the ${board.kind} board`);
    }
  }
  return out;
}
