import { statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { canAccess, statOrUndefined } from '../identity.js';
import type { Check } from '../types.js';

const mib = (n: number) => `${Math.round(n / 1048576)} MiB`;

/** The data dir (SQLite outbox, OTA state) exists or can be created, is writable, and has room. */
export const checkDisk: Check = async (ctx) => {
  const dir = ctx.dataDir;
  const who = ctx.identity.name;
  // The nearest existing folder: the data dir itself or the parent it would be created in.
  let existing = dir;
  while (!statOrUndefined(existing) && dirname(existing) !== existing) existing = dirname(existing);
  const st = statOrUndefined(existing);
  if (!st || !st.isDirectory()) {
    return {
      name: 'disk',
      status: 'fail',
      detail: `data dir ${dir} cannot be used: ${existing} ${st ? 'is not a folder' : 'does not exist'}`,
      fix: 'set gateway.data-dir to a folder (the installer uses /var/lib/airssys)',
    };
  }
  if (!canAccess(st, ctx.identity, 'w')) {
    return {
      name: 'disk',
      status: 'fail',
      detail: existing === dir ? `data dir ${dir} is not writable by ${who}` : `data dir ${dir} does not exist and ${existing} is not writable by ${who}`,
      fix: `sudo install -d -o ${who} -m 0750 ${dir}`,
    };
  }
  let free: number;
  try {
    const fs = statfsSync(existing);
    free = fs.bavail * fs.bsize;
  } catch (err) {
    return { name: 'disk', status: 'fail', detail: `statfs ${existing}: ${(err as Error).message}`, fix: 'check the data dir\'s file system' };
  }
  const where = existing === dir ? dir : `${dir} (to be created in ${existing})`;
  if (free < ctx.disk.failBelowBytes) {
    return { name: 'disk', status: 'fail', detail: `${mib(free)} free for ${where}`, fix: 'free space (sudo apt-get clean; sudo journalctl --vacuum-size=50M) or move gateway.data-dir' };
  }
  if (free < ctx.disk.warnBelowBytes) {
    return { name: 'disk', status: 'warn', detail: `only ${mib(free)} free for ${where}`, fix: 'the telemetry outbox grows while the broker is away (telemetry.outbox-max-bytes caps it): free space or lower the cap' };
  }
  return { name: 'disk', status: 'ok', detail: `${mib(free)} free for ${where}` };
};
