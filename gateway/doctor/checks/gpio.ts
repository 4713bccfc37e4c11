import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { findHeaderChip, type HeaderChip } from '../../../drivers/gpio/sysfs-map.js';
import { canAccess, groupNames, readGroups, statOrUndefined } from '../identity.js';
import type { Check, CheckResult } from '../types.js';

/** Which Pi a header chip label means (the base tells old kernels from 6.6+). */
const MODEL: Record<string, string> = {
  'pinctrl-bcm2835': 'Pi Zero-3',
  'pinctrl-bcm2711': 'Pi 4 / 400 / CM4',
  'pinctrl-rp1': 'Pi 5',
};

const SIM: CheckResult = { name: 'gpio', status: 'ok', detail: 'board is sim: no GPIO hardware needed' };

/**
 * The header GPIO chip (found by label: its base is 512 on Pi 0-4 and 571 on Pi 5 with kernel 6.6+,
 * 0 before) and whether the service may export pins through /sys/class/gpio/export.
 */
export const checkGpio: Check = async (ctx) => {
  if (ctx.board === 'sim') return SIM;
  const gpioDir = join(ctx.sysfsRoot, 'class', 'gpio');
  if (!existsSync(gpioDir)) {
    return {
      name: 'gpio',
      status: 'fail',
      detail: `${gpioDir} does not exist: this kernel has no sysfs GPIO interface (or this is not a Raspberry Pi)`,
      fix: 'run Raspberry Pi OS Bookworm (its kernel has CONFIG_GPIO_SYSFS), or set board: sim in the config',
    };
  }
  let chip: HeaderChip;
  try {
    chip = findHeaderChip(gpioDir);
  } catch (err) {
    return {
      name: 'gpio',
      status: 'fail',
      detail: (err as Error).message.replace(/; run on a Raspberry Pi.*$/, ''),
      fix: 'run on a Raspberry Pi (Raspberry Pi OS Bookworm), or set board: sim in the config',
    };
  }
  const what = `header chip ${chip.label} (${MODEL[chip.label] ?? 'unknown Pi'}) base ${chip.base}, ${chip.ngpio} lines: BCM 17 = gpio${chip.base + 17}`;
  const exportPath = join(gpioDir, 'export');
  const st = statOrUndefined(exportPath);
  if (!st) {
    return { name: 'gpio', status: 'fail', detail: `${what}; but ${exportPath} is missing`, fix: 'the kernel lacks sysfs GPIO export; use the Raspberry Pi OS kernel' };
  }
  if (!canAccess(st, ctx.identity, 'w')) {
    return {
      name: 'gpio',
      status: 'fail',
      detail: `${what}; but ${exportPath} is not writable by ${ctx.identity.name} (mode ${(st.mode & 0o777).toString(8)}, gid ${st.gid})`,
      fix: `sudo usermod -aG gpio ${ctx.identity.name} and restart the service (Raspberry Pi OS's udev rules give group gpio write access; elsewhere see docs/raspberry-pi.md for a udev rule)`,
    };
  }
  return { name: 'gpio', status: 'ok', detail: `${what}; ${exportPath} writable by ${ctx.identity.name}` };
};

/** Membership in gpio and dialout, the two groups the unit file's SupplementaryGroups names. */
export const checkGroups: Check = async (ctx) => {
  if (ctx.board === 'sim') return { name: 'groups', status: 'ok', detail: 'board is sim: gpio/dialout membership not needed' };
  const who = ctx.identity;
  if (who.uid === 0) return { name: 'groups', status: 'ok', detail: 'running as root (the service runs as airssys: rerun as root after install to check it)' };
  const have = new Set(groupNames(ctx.etcRoot, who));
  const known = new Set(readGroups(ctx.etcRoot).map((g) => g.name));
  const missing = ['gpio', 'dialout'].filter((g) => !have.has(g));
  if (missing.length === 0) return { name: 'groups', status: 'ok', detail: `${who.name} is in gpio and dialout` };
  const absent = missing.filter((g) => !known.has(g));
  const relog = who.source === 'process' ? ', then log out and back in (or restart the service)' : ', then restart the service';
  return {
    name: 'groups',
    status: 'fail',
    detail: `${who.name} is not in ${missing.join(', ')}${absent.length ? ` (no ${absent.join(', ')} group on this system)` : ''}`,
    fix: `${absent.length ? `sudo groupadd --system ${absent.join(' ')} && ` : ''}sudo usermod -aG ${missing.join(',')} ${who.name}${relog}`,
  };
};
