import { createRequire } from 'node:module';

/**
 * Loads the CommonJS packages of the Linux bus drivers (i2c-bus, spi-device, our I2C_RDWR addon)
 * synchronously on first use: host calls are synchronous, and a board whose components never touch a
 * bus never loads them (a simulated board never even constructs these drivers).
 */
const require = createRequire(import.meta.url);

export type ModuleLoader = (id: string) => unknown;

export const requireModule: ModuleLoader = (id) => require(id);

/**
 * Our addon lives in drivers/bus/native/ and builds on install (its package.json, named in the root
 * package.json's dependencies and allowScripts). Resolved by path so it is found from the sources
 * (drivers/bus/) and from the compiled build (dist/drivers/bus/) alike.
 */
export const RDWR_ADDON_PATHS = ['./native/build/Release/airssys_i2c.node', '../../../drivers/bus/native/build/Release/airssys_i2c.node'];

export interface RdwrAddon {
  /** The adapter's I2C_FUNC_* bits. */
  funcs(fd: number): number;
  /** Write `data` then read `readLen` bytes as one I2C_RDWR transaction (repeated start). */
  rdwr(fd: number, address: number, data: Uint8Array, readLen: number): Uint8Array;
}

/** The addon, or the reason it is not there (the caller logs it once and uses its fallback). */
export function loadRdwrAddon(load: ModuleLoader = requireModule): RdwrAddon | Error {
  let first: unknown;
  for (const p of RDWR_ADDON_PATHS) {
    try {
      return load(new URL(p, import.meta.url).pathname) as RdwrAddon;
    } catch (err) {
      first ??= err;
    }
  }
  return new Error(`the I2C_RDWR addon (drivers/bus/native) is not built: ${(first as Error).message.split('\n')[0]}`);
}
