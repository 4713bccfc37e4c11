import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { HostCallError } from '../../runtime/errors.js';
import { refusal } from '../refusal.js';
import { missingDeviceLine, openBusError, packageLoadError, spiTransferError } from './errors.js';
import { requireModule, type ModuleLoader } from './native-loader.js';
import type { SpiDriver, SpiOptions } from './types.js';

/** The parts of spi-device (https://github.com/fivdi/spi-device) this driver uses, all synchronous. */
export interface SpiDeviceModule {
  openSync(bus: number, device: number, options?: { mode?: number; maxSpeedHz?: number }): SpiDeviceHandle;
}
export interface SpiDeviceHandle {
  transferSync(message: { byteLength: number; sendBuffer?: Buffer; receiveBuffer?: Buffer; speedHz?: number }[]): unknown;
  setOptionsSync(options: { mode?: number; maxSpeedHz?: number }): unknown;
  closeSync(): void;
}

export interface LinuxSpiOptions {
  /** Where the device files are (default /dev): for the config-load check and the error lines. */
  devRoot?: string;
  load?: ModuleLoader;
  log?: (level: 'info' | 'warn', message: string) => void;
}

interface OpenDevice {
  handle: SpiDeviceHandle;
  mode: number;
  speedHz: number;
}

/**
 * SPI on /dev/spidev<bus>.<cs>, through spi-device's SPI_IOC_MESSAGE. Each chip select is opened on
 * its first transfer with the manifest's mode and speed (contract 7.2) and kept open; the mode is
 * set on the device (SPI_IOC_WR_MODE) and the speed both as the device's maximum and on each
 * message, so two components on one bus at different speeds each get their own.
 */
export class LinuxSpi implements SpiDriver {
  private readonly devRoot: string;
  private readonly load: ModuleLoader;
  private readonly log: NonNullable<LinuxSpiOptions['log']>;
  private readonly devices = new Map<string, OpenDevice>();
  private module: SpiDeviceModule | undefined;

  constructor(opts: LinuxSpiOptions = {}) {
    this.devRoot = opts.devRoot ?? '/dev';
    this.load = opts.load ?? requireModule;
    this.log = opts.log ?? (() => {});
  }

  checkDevice(bus: number, chipSelect: number): string | undefined {
    const path = join(this.devRoot, `spidev${bus}.${chipSelect}`);
    return existsSync(path) ? undefined : `spi bus ${bus} chip-select ${chipSelect}: ${missingDeviceLine('spi', path)}`;
  }

  transfer(bus: number, chipSelect: number, data: Uint8Array, opts: SpiOptions): Uint8Array {
    if (!(opts.mode >= 0 && opts.mode <= 3) || !Number.isInteger(opts.mode)) throw refusal('invalid', `spi mode ${opts.mode}: expected 0-3`);
    if (!(opts.speedHz > 0) || !Number.isInteger(opts.speedHz)) throw refusal('invalid', `spi speed-hz ${opts.speedHz}: expected a positive integer`);
    const d = this.open(bus, chipSelect, opts);
    if (data.length === 0) return new Uint8Array(0);
    try {
      if (d.mode !== opts.mode || d.speedHz !== opts.speedHz) {
        d.handle.setOptionsSync({ mode: opts.mode, maxSpeedHz: opts.speedHz });
        d.mode = opts.mode;
        d.speedHz = opts.speedHz;
      }
      const receiveBuffer = Buffer.alloc(data.length);
      d.handle.transferSync([{ byteLength: data.length, sendBuffer: Buffer.from(data.buffer, data.byteOffset, data.length), receiveBuffer, speedHz: opts.speedHz }]);
      return new Uint8Array(receiveBuffer.buffer, receiveBuffer.byteOffset, receiveBuffer.length);
    } catch (err) {
      throw spiTransferError(err, bus, chipSelect);
    }
  }

  close(): void {
    for (const d of this.devices.values()) {
      try {
        d.handle.closeSync();
      } catch {
        // closing on the way down
      }
    }
    this.devices.clear();
  }

  private open(bus: number, chipSelect: number, opts: SpiOptions): OpenDevice {
    const key = `${bus}.${chipSelect}`;
    const known = this.devices.get(key);
    if (known) return known;
    const path = join(this.devRoot, `spidev${key}`);
    let handle: SpiDeviceHandle;
    try {
      handle = this.spiDevice().openSync(bus, chipSelect, { mode: opts.mode, maxSpeedHz: opts.speedHz });
    } catch (err) {
      if ((err as HostCallError).payload !== undefined) throw err;
      throw openBusError('spi', path, err);
    }
    const d = { handle, mode: opts.mode, speedHz: opts.speedHz };
    this.devices.set(key, d);
    this.log('info', `spi ${path}: opened, mode ${opts.mode}, ${opts.speedHz} Hz`);
    return d;
  }

  private spiDevice(): SpiDeviceModule {
    if (!this.module) {
      try {
        this.module = this.load('spi-device') as SpiDeviceModule;
      } catch (err) {
        throw packageLoadError('spi-device', err);
      }
    }
    return this.module;
  }
}
