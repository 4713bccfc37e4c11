import type { Check, CheckResult } from '../types.js';

/** OTA expiry and TLS certificates need a sane clock; a Pi has no RTC (the Pi 5's needs a battery). */
export const MIN_YEAR = 2024;

export const checkClock: Check = async (ctx) => {
  const now = ctx.now();
  const results: CheckResult[] = [];
  if (now.getUTCFullYear() < MIN_YEAR) {
    results.push({
      name: 'clock',
      status: 'fail',
      detail: `the clock says ${now.toISOString()}: TLS certificates and OTA release expiry will be judged wrong`,
      fix: 'get NTP going (network up, sudo timedatectl set-ntp true); with no network at all set it by hand: sudo date -s "2025-01-01 12:00"',
    });
  } else {
    results.push({ name: 'clock', status: 'ok', detail: now.toISOString() });
  }
  const r = await ctx.run('timedatectl', ['show', '-p', 'NTPSynchronized', '--value']);
  if (!r) {
    results.push({ name: 'ntp', status: 'warn', detail: 'timedatectl not found: NTP sync not checked', fix: 'make sure an NTP client runs (systemd-timesyncd or chrony)' });
  } else if (r.code !== 0) {
    results.push({ name: 'ntp', status: 'warn', detail: `timedatectl failed (${(r.stderr.trim().split('\n')[0] || `exit ${r.code}`)}): NTP sync not checked`, fix: 'normal in a container; on the Pi check systemctl status systemd-timesyncd' });
  } else if (r.stdout.trim() === 'yes') {
    results.push({ name: 'ntp', status: 'ok', detail: 'synchronized (timedatectl)' });
  } else {
    results.push({
      name: 'ntp',
      status: 'warn',
      detail: 'not synchronized yet (timedatectl NTPSynchronized=no)',
      fix: 'sudo timedatectl set-ntp true; check the network and systemctl status systemd-timesyncd (it can take a minute after boot)',
    });
  }
  return results;
};
