import { GatewayError } from '../runtime/errors.js';
import { hex2, type Manifest } from '../runtime/manifest.js';

/**
 * Exclusive devices. An output pin is driven by exactly one component and a serial port is read
 * by exactly one (frames go to their owner), so two manifests claiming the same one is a config
 * error, reported one line per clash.
 */
export function checkOutputOwnership(manifests: readonly Manifest[]): string[] {
  return clashes(manifests, (m) => m.capabilities.gpio.write, (pin, a, b) => `gpio output pin ${pin} is granted to both ${a} and ${b}; give each output pin to one component`);
}

export function checkSerialOwnership(manifests: readonly Manifest[]): string[] {
  return clashes(manifests, (m) => m.capabilities.serial.map((s) => s.port), (port, a, b) => `serial port ${port} is granted to both ${a} and ${b}; give each port to one component`);
}

/** Contract 7.2: two components may not hold the same I2C address or the same SPI chip select. */
export function checkBusOwnership(manifests: readonly Manifest[]): string[] {
  return [
    ...clashes(manifests, (m) => (m.capabilities.i2c ?? []).map((d) => `bus ${d.bus} address ${hex2(d.address)}`), (dev, a, b) => `i2c ${dev} is granted to both ${a} and ${b}; give each I2C device to one component`),
    ...clashes(manifests, (m) => (m.capabilities.spi ?? []).map((d) => `bus ${d.bus} chip-select ${d.chipSelect}`), (dev, a, b) => `spi ${dev} is granted to both ${a} and ${b}; give each chip select to one component`),
  ];
}

/** Every check; empty when the set of manifests can run together. */
export function checkDeviceConflicts(manifests: readonly Manifest[]): string[] {
  return [...checkOutputOwnership(manifests), ...checkSerialOwnership(manifests), ...checkBusOwnership(manifests)];
}

function clashes<T>(manifests: readonly Manifest[], items: (m: Manifest) => T[], line: (item: T, a: string, b: string) => string): string[] {
  const owner = new Map<T, string>();
  const out: string[] = [];
  for (const m of manifests) {
    for (const item of new Set(items(m))) {
      const prev = owner.get(item);
      if (prev === undefined) owner.set(item, m.name);
      else if (prev !== m.name) out.push(line(item, prev, m.name));
    }
  }
  return out;
}

/**
 * Run-time side of the same rule: which component holds which output pin on a board. A new
 * version of the same component may take over its predecessor's pins (OTA hand-over).
 */
export class OutputClaims {
  private readonly owners = new Map<number, string>();
  claim(component: string, pins: readonly number[]): void {
    for (const pin of pins) {
      const o = this.owners.get(pin);
      if (o !== undefined && o !== component) {
        throw new GatewayError('GPIO_OUTPUT_CONFLICT', `gpio output pin ${pin} is already driven by ${o}; ${component} cannot drive it too — give each output pin to one component`);
      }
    }
    for (const pin of pins) this.owners.set(pin, component);
  }
  release(component: string, pins: readonly number[]): void {
    for (const pin of pins) if (this.owners.get(pin) === component) this.owners.delete(pin);
  }
  owner(pin: number): string | undefined {
    return this.owners.get(pin);
  }
}
