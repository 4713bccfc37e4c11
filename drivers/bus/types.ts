/**
 * The board's I2C and SPI drivers. Host calls are synchronous (no JSPI on Node 20), so both are
 * too: a Linux driver uses the synchronous ioctl paths (i2c-bus's `*Sync`, spi-device's
 * `transferSync`). A driver throws `refusal('absent', ..)` when nothing acknowledged (an I2C address
 * with no device), `refusal('invalid', ..)` for a bus that does not exist, anything else for an I/O
 * failure (the pipeline reports it as `io`).
 */
export interface I2cDriver {
  /** Writes `data` (may be empty), then reads `readLen` bytes (0: write only), as one transaction. */
  transfer(bus: number, address: number, data: Uint8Array, readLen: number): Uint8Array;
  /** At config load: one line with the fix when this bus cannot exist right now (e.g. /dev/i2c-1 missing). */
  checkBus?(bus: number): string | undefined;
  close?(): void;
}

export interface SpiOptions {
  speedHz: number;
  /** 0-3 (CPOL/CPHA). */
  mode: number;
}

export interface SpiDriver {
  /** Full duplex: clocks `data` out and returns the same number of bytes clocked in. */
  transfer(bus: number, chipSelect: number, data: Uint8Array, opts: SpiOptions): Uint8Array;
  /** At config load: one line with the fix when this device cannot exist right now. */
  checkDevice?(bus: number, chipSelect: number): string | undefined;
  close?(): void;
}

/** A simulated device on an I2C bus (drivers/sim/). */
export interface SimI2cDevice {
  write(data: Uint8Array): void;
  read(len: number): Uint8Array;
}

/** A simulated device on an SPI chip select. */
export interface SimSpiDevice {
  transfer(data: Uint8Array): Uint8Array;
}

export const MAX_BUS_TRANSFER_BYTES = 4096;
