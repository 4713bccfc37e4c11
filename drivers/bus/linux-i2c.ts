import { closeSync, existsSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { HostCallError } from '../../runtime/errors.js';
import { refusal } from '../refusal.js';
import { i2cTransferError, missingDeviceLine, openBusError, packageLoadError } from './errors.js';
import { funcsFromBits, planI2c, SMBUS_BLOCK_MAX, type I2cFuncs, type I2cPlan } from './i2c-plan.js';
import { loadRdwrAddon, requireModule, type ModuleLoader, type RdwrAddon } from './native-loader.js';
import type { I2cDriver } from './types.js';

/** The parts of i2c-bus (https://github.com/fivdi/i2c-bus) this driver uses, all synchronous. */
export interface I2cBusModule {
  openSync(bus: number): I2cBusHandle;
}
export interface I2cBusHandle {
  i2cFuncsSync(): I2cFuncs;
  writeQuickSync(addr: number, bit: number): void;
  receiveByteSync(addr: number): number;
  sendByteSync(addr: number, byte: number): void;
  readByteSync(addr: number, cmd: number): number;
  readWordSync(addr: number, cmd: number): number;
  readI2cBlockSync(addr: number, cmd: number, length: number, buffer: Buffer): number;
  writeByteSync(addr: number, cmd: number, byte: number): void;
  writeI2cBlockSync(addr: number, cmd: number, length: number, buffer: Buffer): number;
  i2cReadSync(addr: number, length: number, buffer: Buffer): number;
  i2cWriteSync(addr: number, length: number, buffer: Buffer): number;
  closeSync(): void;
}

export interface LinuxI2cOptions {
  /** Where the device files are (default /dev); the fd for I2C_RDWR and the config-load check use it. */
  devRoot?: string;
  /** How CommonJS packages are loaded (default: require, on first use). */
  load?: ModuleLoader;
  /** Whether to use our I2C_RDWR addon when it is built (default true). */
  useAddon?: boolean;
  /** One line per notable event (which path a bus takes, a missing addon). */
  log?: (level: 'info' | 'warn', message: string) => void;
}

interface OpenBus {
  path: string;
  funcs: I2cFuncs;
  /** Our own fd on the device, for the addon's I2C_RDWR (no I2C_SLAVE needed). */
  fd?: number;
  handle?: I2cBusHandle;
}

/**
 * I2C on /dev/i2c-<bus>. A bus is opened on its first transfer and kept open; its capabilities
 * (I2C_FUNCS) pick the path each transfer takes (i2c-plan.ts). A bus that fails to open is not
 * remembered, so enabling it (and the reboot that takes) needs no gateway change.
 */
export class LinuxI2c implements I2cDriver {
  private readonly devRoot: string;
  private readonly load: ModuleLoader;
  private readonly log: NonNullable<LinuxI2cOptions['log']>;
  private readonly useAddon: boolean;
  private readonly buses = new Map<number, OpenBus>();
  private addon: RdwrAddon | null | undefined;
  private module: I2cBusModule | undefined;

  constructor(opts: LinuxI2cOptions = {}) {
    this.devRoot = opts.devRoot ?? '/dev';
    this.load = opts.load ?? requireModule;
    this.log = opts.log ?? (() => {});
    this.useAddon = opts.useAddon ?? true;
  }

  /** A config-load problem for a bus whose device file is missing, with the fix; else undefined. */
  checkBus(bus: number): string | undefined {
    const path = join(this.devRoot, `i2c-${bus}`);
    return existsSync(path) ? undefined : `i2c bus ${bus}: ${missingDeviceLine('i2c', path)}`;
  }

  /** The path transfers on this bus take (opens it): for the log, doctor and the kernel check. */
  describe(bus: number): { funcs: I2cFuncs; addon: boolean } {
    const b = this.open(bus);
    return { funcs: b.funcs, addon: b.fd !== undefined };
  }

  transfer(bus: number, address: number, data: Uint8Array, readLen: number): Uint8Array {
    const b = this.open(bus);
    const plan = planI2c(b.funcs, b.fd !== undefined, data.length, readLen);
    if (plan.kind === 'unsupported') throw refusal('invalid', `i2c bus ${bus}: ${plan.why}`);
    try {
      return this.run(b, bus, plan, address, data, readLen);
    } catch (err) {
      if ((err as HostCallError).payload !== undefined) throw err;
      throw i2cTransferError(err, bus, address);
    }
  }

  close(): void {
    for (const b of this.buses.values()) {
      try {
        b.handle?.closeSync();
        if (b.fd !== undefined) closeSync(b.fd);
      } catch {
        // closing on the way down: nothing left to tell
      }
    }
    this.buses.clear();
  }

  private run(b: OpenBus, bus: number, plan: Exclude<I2cPlan, { kind: 'unsupported' }>, addr: number, data: Uint8Array, readLen: number): Uint8Array {
    if (plan.kind === 'rdwr') return new Uint8Array(this.addon!.rdwr(b.fd!, addr, data, readLen));
    const h = this.handle(b, bus);
    const out = new Uint8Array(readLen);
    switch (plan.kind) {
      case 'write-read': {
        // No addon: a write, a stop, then a read. i2c-bus's i2cWriteSync/i2cReadSync are write(2)/read(2).
        if (data.length > 0 || readLen === 0) h.i2cWriteSync(addr, data.length, Buffer.from(data.buffer, data.byteOffset, data.length));
        if (readLen > 0) {
          const buf = Buffer.alloc(readLen);
          const n = h.i2cReadSync(addr, readLen, buf);
          if (n !== readLen) throw new Error(`EIO, short read: ${n} of ${readLen} bytes`);
          out.set(buf);
        }
        return out;
      }
      case 'smbus-quick':
        h.writeQuickSync(addr, 0);
        return out;
      case 'smbus-receive-byte':
        out[0] = h.receiveByteSync(addr);
        return out;
      case 'smbus-send-byte':
        h.sendByteSync(addr, data[0]!);
        return out;
      case 'smbus-read-byte':
        out[0] = h.readByteSync(addr, data[0]!);
        return out;
      case 'smbus-read-word': {
        // SMBus words travel low byte first: the bytes in bus order are [low, high].
        const w = h.readWordSync(addr, data[0]!);
        out[0] = w & 0xff;
        out[1] = w >> 8;
        return out;
      }
      case 'smbus-read-i2c-block': {
        for (let off = 0; off < readLen; off += SMBUS_BLOCK_MAX) {
          const n = Math.min(SMBUS_BLOCK_MAX, readLen - off);
          const buf = Buffer.alloc(n);
          const got = h.readI2cBlockSync(addr, (data[0]! + off) & 0xff, n, buf);
          if (got !== n) throw new Error(`EIO, short SMBus block read: ${got} of ${n} bytes`);
          out.set(buf, off);
        }
        return out;
      }
      case 'smbus-write-byte':
        h.writeByteSync(addr, data[0]!, data[1]!);
        return out;
      case 'smbus-write-i2c-block': {
        const body = data.subarray(1);
        for (let off = 0; off < body.length; off += SMBUS_BLOCK_MAX) {
          const piece = body.subarray(off, off + SMBUS_BLOCK_MAX);
          h.writeI2cBlockSync(addr, (data[0]! + off) & 0xff, piece.length, Buffer.from(piece));
        }
        return out;
      }
    }
  }

  private open(bus: number): OpenBus {
    const known = this.buses.get(bus);
    if (known) return known;
    const path = join(this.devRoot, `i2c-${bus}`);
    const addon = this.rdwrAddon();
    let b: OpenBus;
    if (addon) {
      let fd: number;
      try {
        fd = openSync(path, 'r+');
      } catch (err) {
        throw openBusError('i2c', path, err);
      }
      try {
        b = { path, fd, funcs: funcsFromBits(addon.funcs(fd)) };
      } catch (err) {
        closeSync(fd);
        throw openBusError('i2c', path, err);
      }
    } else {
      let handle: I2cBusHandle;
      let funcs: I2cFuncs;
      try {
        handle = this.i2cBus().openSync(bus);
        funcs = handle.i2cFuncsSync();
      } catch (err) {
        if ((err as HostCallError).payload !== undefined) throw err;
        throw openBusError('i2c', path, err);
      }
      b = { path, funcs, handle };
    }
    const how = b.funcs.i2c ? (b.fd !== undefined ? 'I2C_RDWR with a repeated start' : 'a write then a read (no repeated start: the addon is not built)') : 'SMBus only (the adapter has no plain I2C)';
    this.log('info', `i2c bus ${bus} (${path}): transfers use ${how}`);
    this.buses.set(bus, b);
    return b;
  }

  private handle(b: OpenBus, bus: number): I2cBusHandle {
    if (!b.handle) {
      try {
        b.handle = this.i2cBus().openSync(bus);
      } catch (err) {
        if ((err as HostCallError).payload !== undefined) throw err;
        throw openBusError('i2c', b.path, err);
      }
    }
    return b.handle;
  }

  private i2cBus(): I2cBusModule {
    if (!this.module) {
      try {
        this.module = this.load('i2c-bus') as I2cBusModule;
      } catch (err) {
        throw packageLoadError('i2c-bus', err);
      }
    }
    return this.module;
  }

  private rdwrAddon(): RdwrAddon | undefined {
    if (this.addon === undefined) {
      if (!this.useAddon) this.addon = null;
      else {
        const a = loadRdwrAddon(this.load);
        if (a instanceof Error) {
          this.log('warn', `${a.message}; I2C uses a write then a read (or SMBus) instead`);
          this.addon = null;
        } else this.addon = a;
      }
    }
    return this.addon ?? undefined;
  }
}
