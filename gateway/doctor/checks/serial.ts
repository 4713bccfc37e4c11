import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { canAccess, statOrUndefined } from '../identity.js';
import type { Check } from '../types.js';

/** Device names that are serial ports on a Pi. /dev/ttyS* is left out: x86 boxes have 32 phantom ones. */
const SERIAL_RE = /^(ttyUSB\d+|ttyACM\d+|serial\d+|ttyAMA\d+)$/;

export function listSerialPorts(devRoot: string): string[] {
  // Globbing /dev, never SerialPort.list(): that spawns udevadm, which is missing in containers and
  // minimal images and then crashes the process.
  let names: string[];
  try {
    names = readdirSync(devRoot);
  } catch {
    return [];
  }
  return names.filter((n) => SERIAL_RE.test(n)).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

/** Ports present and openable by the service user; ports the configured components name must exist. */
export const checkSerial: Check = async (ctx) => {
  if (ctx.board === 'sim') return { name: 'serial', status: 'ok', detail: 'board is sim: serial ports are simulated' };
  const who = ctx.identity.name;
  const ports = listSerialPorts(ctx.devRoot);
  const shown: string[] = [];
  const denied: string[] = [];
  const dangling: string[] = [];
  for (const name of ports) {
    const path = join(ctx.devRoot, name);
    let label = name;
    try {
      if (lstatSync(path).isSymbolicLink()) label = `${name}->${readlinkSync(path).replace(/^.*\//, '')}`;
    } catch {
      // raced away
    }
    const st = statOrUndefined(path);
    if (!st) {
      dangling.push(label);
      continue;
    }
    shown.push(label);
    if (!canAccess(st, ctx.identity, 'rw')) denied.push(`${name} (mode ${(st.mode & 0o777).toString(8)}, gid ${st.gid})`);
  }
  const declared = [...new Set((ctx.config?.components ?? []).flatMap((c) => c.manifest.capabilities.serial.map((s) => s.port)))];
  const missing = declared.filter((p) => !statOrUndefined(p.startsWith('/dev/') ? join(ctx.devRoot, p.slice(5)) : p));
  if (missing.length > 0) {
    return {
      name: 'serial',
      status: 'fail',
      detail: `configured port${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not found (present: ${shown.join(', ') || 'none'})`,
      fix: 'plug the adapter in (dmesg | tail shows its name), or fix the port in the component manifest; prefer /dev/serial/by-id/... names, which do not move',
    };
  }
  if (denied.length > 0) {
    return {
      name: 'serial',
      status: 'fail',
      detail: `${who} cannot open ${denied.join(', ')}`,
      fix: `sudo usermod -aG dialout ${who} and restart the service`,
    };
  }
  if (shown.length === 0) {
    return {
      name: 'serial',
      status: 'warn',
      detail: `no serial ports in ${ctx.devRoot} (ttyUSB*, ttyACM*, serial0, ttyAMA*)${dangling.length ? `; dangling links: ${dangling.join(', ')}` : ''}`,
      fix: 'plug in the USB adapter; for the header UART: sudo raspi-config nonint do_serial_hw 0 && sudo raspi-config nonint do_serial_cons 1, then reboot',
    };
  }
  return { name: 'serial', status: 'ok', detail: `${shown.join(', ')}: read/write for ${who}${dangling.length ? `; dangling links: ${dangling.join(', ')}` : ''}` };
};
