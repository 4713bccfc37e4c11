/**
 * Which kernel interface carries one i2c.transfer on a given adapter. An adapter that speaks plain I2C
 * (I2C_FUNC_I2C: the Pi's i2c-bcm2835, USB adapters) takes the write and the read as one I2C_RDWR
 * transaction with a repeated start (our addon, native/), or without the addon a write then a read
 * (a stop between: most sensors accept it, a few reset their register pointer). An SMBus-only adapter
 * (the kernel's i2c-stub, some PC SMBus controllers) can only do SMBus's fixed shapes, so the
 * transfer is mapped onto the one that matches, or refused as `invalid` with the shape that would work.
 */

/** The adapter's capabilities, as i2c-bus's I2cFuncs names them (from the I2C_FUNCS ioctl). */
export interface I2cFuncs {
  i2c: boolean;
  smbusQuick: boolean;
  smbusReceiveByte: boolean;
  smbusSendByte: boolean;
  smbusReadByte: boolean;
  smbusWriteByte: boolean;
  smbusReadWord: boolean;
  smbusWriteWord: boolean;
  smbusReadI2cBlock: boolean;
  smbusWriteI2cBlock: boolean;
}

/** I2C_FUNC_* bits (linux/i2c.h), for funcs read by our addon. */
const BIT = {
  i2c: 0x00000001,
  smbusQuick: 0x00010000,
  smbusReceiveByte: 0x00020000,
  smbusSendByte: 0x00040000,
  smbusReadByte: 0x00080000,
  smbusWriteByte: 0x00100000,
  smbusReadWord: 0x00200000,
  smbusWriteWord: 0x00400000,
  smbusReadI2cBlock: 0x04000000,
  smbusWriteI2cBlock: 0x08000000,
} as const;

export function funcsFromBits(bits: number): I2cFuncs {
  const out = {} as Record<keyof I2cFuncs, boolean>;
  for (const [k, b] of Object.entries(BIT)) out[k as keyof I2cFuncs] = (bits & b) !== 0;
  return out;
}

/** SMBus block transfers carry at most 32 data bytes. */
export const SMBUS_BLOCK_MAX = 32;

export type I2cPlan =
  | { kind: 'rdwr' }
  | { kind: 'write-read' }
  | { kind: 'smbus-quick' }
  | { kind: 'smbus-receive-byte' }
  | { kind: 'smbus-send-byte' }
  | { kind: 'smbus-read-byte' }
  | { kind: 'smbus-read-word' }
  | { kind: 'smbus-read-i2c-block' }
  | { kind: 'smbus-write-byte' }
  | { kind: 'smbus-write-i2c-block' }
  | { kind: 'unsupported'; why: string };

/**
 * The plan for writing `writeLen` bytes then reading `readLen`. SMBus block transfers longer than 32
 * bytes are split into 32-byte pieces at register+0, +32, ... (the register auto-increment every
 * register-mapped sensor has; a device without it needs a plain-I2C adapter anyway).
 */
export function planI2c(funcs: I2cFuncs, haveRdwr: boolean, writeLen: number, readLen: number): I2cPlan {
  if (funcs.i2c) return haveRdwr ? { kind: 'rdwr' } : { kind: 'write-read' };
  const smbusOnly = 'this adapter is SMBus-only (no plain I2C)';
  const need = (ok: boolean, kind: Exclude<I2cPlan['kind'], 'unsupported' | 'rdwr' | 'write-read'>, what: string): I2cPlan =>
    ok ? ({ kind } as I2cPlan) : { kind: 'unsupported', why: `${smbusOnly} and does not offer SMBus ${what}` };
  if (writeLen === 0 && readLen === 0) return need(funcs.smbusQuick, 'smbus-quick', 'quick');
  if (writeLen === 0 && readLen === 1) return need(funcs.smbusReceiveByte, 'smbus-receive-byte', 'receive byte');
  if (writeLen === 0) return { kind: 'unsupported', why: `${smbusOnly}: a read of ${readLen} bytes needs a register to start at; write the register (1 byte) with the read` };
  if (writeLen === 1 && readLen === 0) return need(funcs.smbusSendByte, 'smbus-send-byte', 'send byte');
  if (writeLen === 1 && readLen === 1) return need(funcs.smbusReadByte, 'smbus-read-byte', 'read byte data');
  if (writeLen === 1) {
    if (funcs.smbusReadI2cBlock) return { kind: 'smbus-read-i2c-block' };
    if (readLen === 2) return need(funcs.smbusReadWord, 'smbus-read-word', 'read word data');
    return { kind: 'unsupported', why: `${smbusOnly} and does not offer SMBus I2C block reads; read 1 or 2 bytes at a time` };
  }
  if (readLen > 0) return { kind: 'unsupported', why: `${smbusOnly}: it cannot write ${writeLen} bytes then read; write the register alone (1 byte) with the read` };
  if (writeLen === 2) return need(funcs.smbusWriteByte, 'smbus-write-byte', 'write byte data');
  return need(funcs.smbusWriteI2cBlock, 'smbus-write-i2c-block', 'I2C block writes');
}
