import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GatewayError } from '../../runtime/errors.js';
import { bcmToSysfs, findHeaderChip } from '../../drivers/gpio/sysfs-map.js';

const roots: string[] = [];
function fakeSysfs(chips: Array<{ name: string; label: string; base: number | string; ngpio?: number }>): string {
  const root = mkdtempSync(join(tmpdir(), 'airssys-sysfs-'));
  roots.push(root);
  for (const c of chips) {
    mkdirSync(join(root, c.name));
    writeFileSync(join(root, c.name, 'label'), `${c.label}\n`);
    writeFileSync(join(root, c.name, 'base'), `${c.base}\n`);
    if (c.ngpio !== undefined) writeFileSync(join(root, c.name, 'ngpio'), `${c.ngpio}\n`);
  }
  // Files that live next to the chips in real sysfs and must be ignored.
  writeFileSync(join(root, 'export'), '');
  writeFileSync(join(root, 'unexport'), '');
  return root;
}
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

describe('findHeaderChip', () => {
  it('Pi 4 on kernel 6.6+: bcm2711 at base 512, next to the expander chip', () => {
    const root = fakeSysfs([
      { name: 'gpiochip512', label: 'pinctrl-bcm2711', base: 512, ngpio: 58 },
      { name: 'gpiochip570', label: 'raspberrypi-exp-gpio', base: 570, ngpio: 8 },
    ]);
    const chip = findHeaderChip(root);
    expect(chip).toEqual({ label: 'pinctrl-bcm2711', base: 512, ngpio: 58 });
    expect(bcmToSysfs(chip, 17)).toBe(529);
  });

  it('Pi 5: rp1 at base 571', () => {
    const root = fakeSysfs([
      { name: 'gpiochip512', label: 'gpio-brcmstb@107d508500', base: 512, ngpio: 32 },
      { name: 'gpiochip571', label: 'pinctrl-rp1', base: 571, ngpio: 54 },
    ]);
    const chip = findHeaderChip(root);
    expect(chip.label).toBe('pinctrl-rp1');
    expect(bcmToSysfs(chip, 17)).toBe(588);
    expect(bcmToSysfs(chip, 0)).toBe(571);
  });

  it('old kernel: bcm2835 at base 0, BCM numbers are sysfs numbers', () => {
    const root = fakeSysfs([
      { name: 'gpiochip0', label: 'pinctrl-bcm2835', base: 0, ngpio: 54 },
      { name: 'gpiochip504', label: 'raspberrypi-exp-gpio', base: 504, ngpio: 8 },
    ]);
    const chip = findHeaderChip(root);
    expect(chip.base).toBe(0);
    expect(bcmToSysfs(chip, 17)).toBe(17);
  });

  it('defaults ngpio to 54 when the file is missing', () => {
    const root = fakeSysfs([{ name: 'gpiochip0', label: 'pinctrl-bcm2835', base: 0 }]);
    expect(findHeaderChip(root).ngpio).toBe(54);
  });

  it('no header chip: one clear GatewayError listing what was found', () => {
    const root = fakeSysfs([{ name: 'gpiochip0', label: 'some-i2c-expander', base: 0, ngpio: 16 }]);
    let err: unknown;
    try {
      findHeaderChip(root);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('GPIO_HEADER_NOT_FOUND');
    expect((err as Error).message).toContain('gpiochip0=some-i2c-expander');
    expect((err as Error).message).toContain('board: sim');
    expect((err as Error).message).not.toContain('\n');
  });

  it('empty or missing sysfs root', () => {
    const root = fakeSysfs([]);
    expect(() => findHeaderChip(root)).toThrow(/no gpiochip entries/);
    expect(() => findHeaderChip(join(root, 'nope'))).toThrow(/cannot read .*ENOENT/);
  });

  it('garbage base is reported, not turned into NaN', () => {
    const root = fakeSysfs([{ name: 'gpiochip0', label: 'pinctrl-bcm2711', base: 'x12' }]);
    expect(() => findHeaderChip(root)).toThrow(GatewayError);
  });

  it('bcmToSysfs rejects pins the chip does not have', () => {
    const chip = { label: 'pinctrl-rp1', base: 571, ngpio: 54 };
    expect(() => bcmToSysfs(chip, 54)).toThrow(RangeError);
    expect(() => bcmToSysfs(chip, -1)).toThrow(RangeError);
    expect(() => bcmToSysfs(chip, 1.5)).toThrow(RangeError);
  });
});
