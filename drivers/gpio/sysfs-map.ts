import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GatewayError } from '../../runtime/errors.js';

/**
 * Since kernel 6.6 the sysfs GPIO numbers of the Raspberry Pi header are no longer the BCM numbers:
 * the header chip's `base` is 512 on Pi 0-4 and 571 on the Pi 5, so `new Gpio(17)` fails with EINVAL.
 * We find the header chip by its label and add its base at runtime.
 */

export const HEADER_CHIP_LABELS = ['pinctrl-bcm2835', 'pinctrl-bcm2711', 'pinctrl-rp1'] as const;
export const DEFAULT_SYSFS_GPIO_ROOT = '/sys/class/gpio';

export interface HeaderChip {
  label: string;
  base: number;
  ngpio: number;
}

function readTrim(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Finds the GPIO chip that drives the 40-pin header. Throws GatewayError GPIO_HEADER_NOT_FOUND. */
export function findHeaderChip(root: string = DEFAULT_SYSFS_GPIO_ROOT): HeaderChip {
  let entries: string[];
  try {
    entries = readdirSync(root).filter((e) => e.startsWith('gpiochip'));
  } catch (err) {
    throw new GatewayError(
      'GPIO_HEADER_NOT_FOUND',
      `cannot read ${root} (${(err as NodeJS.ErrnoException).code ?? String(err)}); run on a Raspberry Pi with the sysfs GPIO interface enabled, or set board: sim`,
    );
  }
  // Several chips may match on odd setups; the lowest base wins so results are stable.
  entries.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const labels: string[] = [];
  let found: HeaderChip | undefined;
  for (const entry of entries) {
    const label = readTrim(join(root, entry, 'label'));
    if (label === undefined) continue;
    labels.push(`${entry}=${label}`);
    if (!(HEADER_CHIP_LABELS as readonly string[]).includes(label)) continue;
    const baseText = readTrim(join(root, entry, 'base'));
    const base = baseText === undefined ? NaN : Number(baseText);
    if (!Number.isInteger(base) || base < 0) {
      throw new GatewayError('GPIO_HEADER_NOT_FOUND', `${join(root, entry, 'base')} holds ${JSON.stringify(baseText)}, not a GPIO number; check the kernel's sysfs GPIO interface`);
    }
    const ngpioText = readTrim(join(root, entry, 'ngpio'));
    const ngpio = ngpioText !== undefined && /^\d+$/.test(ngpioText) ? Number(ngpioText) : 54;
    if (found === undefined || base < found.base) found = { label, base, ngpio };
  }
  if (!found) {
    throw new GatewayError(
      'GPIO_HEADER_NOT_FOUND',
      `no Raspberry Pi header GPIO chip under ${root} (looked for label ${HEADER_CHIP_LABELS.join(', ')}; found ${labels.length ? labels.join(', ') : 'no gpiochip entries'}); run on a Raspberry Pi or set board: sim`,
    );
  }
  return found;
}

/** BCM line number -> sysfs GPIO number for this chip. */
export function bcmToSysfs(chip: HeaderChip, bcm: number): number {
  if (!Number.isInteger(bcm) || bcm < 0 || bcm >= chip.ngpio) {
    throw new RangeError(`BCM pin ${bcm} is outside chip ${chip.label} (0-${chip.ngpio - 1})`);
  }
  return chip.base + bcm;
}
