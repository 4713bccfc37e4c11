import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { canAccess, statOrUndefined } from '../identity.js';
import type { Check, CheckResult, DoctorContext } from '../types.js';

/**
 * The I2C and SPI device files the configured components need (/dev/i2c-<bus>, /dev/spidev<bus>.<cs>):
 * present (the interface is enabled) and openable read/write by the service user (groups i2c, spi).
 * One line each for i2c and spi.
 */

function present(devRoot: string, re: RegExp): string[] {
  try {
    return readdirSync(devRoot)
      .filter((n) => re.test(n))
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  } catch {
    return [];
  }
}

function enableFix(kind: 'i2c' | 'spi', bus: number): string {
  // raspi-config enables the header's bus (I2C 1 on pins 3/5, SPI 0 on pins 19/21/23/24/26); any
  // other bus is a dtoverlay.
  if (kind === 'i2c') return bus === 1 ? 'sudo raspi-config nonint do_i2c 0, then reboot' : `add a dtoverlay for I2C bus ${bus} (e.g. dtoverlay=i2c${bus} on a Pi 4/5) to /boot/firmware/config.txt, then reboot`;
  return bus === 0 ? 'sudo raspi-config nonint do_spi 0, then reboot' : `add dtoverlay=spi${bus}-1cs (or -2cs, -3cs) to /boot/firmware/config.txt, then reboot`;
}

function checkKind(ctx: DoctorContext, kind: 'i2c' | 'spi', needed: { file: string; bus: number; who: string }[]): CheckResult {
  const have = present(ctx.devRoot, kind === 'i2c' ? /^i2c-\d+$/ : /^spidev\d+\.\d+$/);
  const shown = have.join(', ') || 'none';
  const upper = kind.toUpperCase();
  if (needed.length === 0) return { name: kind, status: 'ok', detail: `no component uses ${upper} (present: ${shown})` };
  const missing = needed.filter((n) => !statOrUndefined(join(ctx.devRoot, n.file)));
  if (missing.length > 0) {
    const m = missing[0]!;
    return {
      name: kind,
      status: 'fail',
      detail: `/dev/${m.file} (for ${m.who}) does not exist: ${upper} bus ${m.bus} is not enabled${missing.length > 1 ? ` (and ${missing.length - 1} more missing)` : ''}; present: ${shown}`,
      fix: enableFix(kind, m.bus),
    };
  }
  const who = ctx.identity.name;
  const denied = needed.filter((n) => !canAccess(statOrUndefined(join(ctx.devRoot, n.file))!, ctx.identity, 'rw'));
  if (denied.length > 0) {
    const st = statOrUndefined(join(ctx.devRoot, denied[0]!.file))!;
    return {
      name: kind,
      status: 'fail',
      detail: `${who} cannot open /dev/${denied[0]!.file} (mode ${(st.mode & 0o777).toString(8)}, gid ${st.gid})`,
      fix: `sudo usermod -aG ${kind} ${who} and restart the service (the installer does this; Raspberry Pi OS's udev rules give group ${kind} the devices)`,
    };
  }
  return { name: kind, status: 'ok', detail: `${[...new Set(needed.map((n) => `/dev/${n.file}`))].join(', ')}: read/write for ${who}` };
}

export const checkBuses: Check = async (ctx) => {
  if (ctx.board === 'sim') {
    return [
      { name: 'i2c', status: 'ok', detail: 'board is sim: I2C devices are simulated' },
      { name: 'spi', status: 'ok', detail: 'board is sim: SPI devices are simulated' },
    ];
  }
  const i2c: { file: string; bus: number; who: string }[] = [];
  const spi: { file: string; bus: number; who: string }[] = [];
  for (const c of ctx.config?.components ?? []) {
    const caps = c.manifest.capabilities;
    for (const d of caps.i2c ?? []) i2c.push({ file: `i2c-${d.bus}`, bus: d.bus, who: c.manifest.name });
    for (const d of caps.spi ?? []) spi.push({ file: `spidev${d.bus}.${d.chipSelect}`, bus: d.bus, who: c.manifest.name });
  }
  return [checkKind(ctx, 'i2c', i2c), checkKind(ctx, 'spi', spi)];
};
