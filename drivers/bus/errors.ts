import type { HostCallError } from '../../runtime/errors.js';
import { hex2 } from '../../runtime/manifest.js';
import { refusal } from '../refusal.js';

/**
 * errno -> contract code for the Linux I2C and SPI drivers (contract 7.1). An address phase without an
 * acknowledge is ENXIO on most adapters and EREMOTEIO on the Pi's (i2c-bcm2835); i2c-stub answers an
 * address it does not simulate with ENODEV. Those are `absent`. A request the adapter or kernel cannot
 * carry out as asked is `invalid`; everything else (timeouts, arbitration lost, EIO) is `io`.
 */
const ABSENT = new Set(['ENXIO', 'EREMOTEIO', 'ENODEV']);
const INVALID = new Set(['EINVAL', 'EOPNOTSUPP', 'ENOTSUP', 'EMSGSIZE']);

export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return code;
  // Some addons throw `Error: EREMOTEIO, Remote I/O error` with no code property.
  const m = /^(E[A-Z0-9]+)\b/.exec(err instanceof Error ? err.message : String(err));
  return m?.[1];
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A failed I2C transfer as the refusal the component sees. */
export function i2cTransferError(err: unknown, bus: number, address: number): HostCallError {
  const code = errnoCode(err);
  if (code && ABSENT.has(code)) return refusal('absent', `no device acknowledged address ${hex2(address)} on i2c bus ${bus} (${code}); check the wiring, the address and the sensor's power`);
  if (code && INVALID.has(code)) return refusal('invalid', `i2c bus ${bus} address ${hex2(address)}: the adapter refused the transfer (${messageOf(err)})`);
  if (code === 'EBUSY') return refusal('io', `i2c bus ${bus} address ${hex2(address)} is claimed by a kernel driver (a dtoverlay such as i2c-sensor); remove that dtoverlay from /boot/firmware/config.txt and reboot`);
  return refusal('io', `i2c bus ${bus} address ${hex2(address)}: ${messageOf(err)}`);
}

/** A failed SPI transfer as the refusal the component sees. */
export function spiTransferError(err: unknown, bus: number, chipSelect: number): HostCallError {
  const code = errnoCode(err);
  if (code && INVALID.has(code)) return refusal('invalid', `spi bus ${bus} chip-select ${chipSelect}: the controller refused the transfer (${messageOf(err)}); check speed-hz and mode in the manifest`);
  return refusal('io', `spi bus ${bus} chip-select ${chipSelect}: ${messageOf(err)}`);
}

/**
 * Opening /dev/i2c-<bus> or /dev/spidev<bus>.<cs> failed: one line naming the device and the fix.
 * A missing device is `invalid` (that bus does not exist on this board until it is enabled).
 */
export function openBusError(kind: 'i2c' | 'spi', path: string, err: unknown): HostCallError {
  const code = errnoCode(err);
  if (code === 'ENOENT' || code === 'ENODEV') return refusal('invalid', missingDeviceLine(kind, path));
  if (code === 'EACCES' || code === 'EPERM') {
    return refusal('io', `no permission to open ${path}; add the gateway user to the ${kind} group (sudo usermod -aG ${kind} airssys) and restart the service`);
  }
  if (code === 'EBUSY') return refusal('io', `${path} is in use by a kernel driver; remove the dtoverlay that claims it from /boot/firmware/config.txt`);
  return refusal('io', `cannot open ${path}: ${messageOf(err)}`);
}

/** `/dev/i2c-1 does not exist ...; enable I2C: ...` (also used by checks at config load). */
export function missingDeviceLine(kind: 'i2c' | 'spi', path: string): string {
  return kind === 'i2c'
    ? `${path} does not exist: I2C is not enabled; run sudo raspi-config nonint do_i2c 0 and reboot (docs/sensors.md)`
    : `${path} does not exist: SPI is not enabled; run sudo raspi-config nonint do_spi 0 and reboot (docs/sensors.md)`;
}

/** The npm package of a real bus could not be loaded (not installed, or its addon did not build). */
export function packageLoadError(pkg: string, err: unknown): HostCallError {
  return refusal('io', `the ${pkg} package could not be loaded (${messageOf(err).split('\n')[0]}); run npm ci in the gateway directory (needs python3, make, g++)`);
}
